//! Whether keyless providers (Ollama) answer: a key cannot tell, so the engine probes them and
//! the catalog reads the answers from here. Plain data; the probing is `engine::probe`.

use std::collections::BTreeMap;

/// How long an answer counts before the editor probes again.
pub const REACH_FRESH_SECS: u64 = 30;

/// One probe's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Whether anything answered over HTTP.
    pub answered: bool,
    /// Unix seconds of the probe.
    pub checked_at: u64,
}

/// Probe answers by base URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reachability {
    by_url: BTreeMap<String, Reach>,
}

impl Reachability {
    /// Records the answer for `url`.
    pub fn record(&mut self, url: &str, answered: bool, checked_at: u64) {
        self.by_url.insert(url.to_string(), Reach { answered, checked_at });
    }

    /// The last probe of `url`, however old.
    pub fn get(&self, url: &str) -> Option<Reach> {
        self.by_url.get(url).copied()
    }

    /// The last answer for `url`, however old.
    pub fn answer(&self, url: &str) -> Option<bool> {
        self.by_url.get(url).map(|r| r.answered)
    }

    /// Whether `url` has an answer younger than [`REACH_FRESH_SECS`] at `now`.
    pub fn is_fresh(&self, url: &str, now: u64) -> bool {
        self.by_url
            .get(url)
            .is_some_and(|r| now.saturating_sub(r.checked_at) < REACH_FRESH_SECS)
    }
}
