//! Probing keyless providers (Ollama): a GET of `/api/version` with a short timeout. Any HTTP
//! answer counts as answering; a refused or timed-out connection does not. No key, no prompt.

use std::time::Duration;

use futures::future::join_all;

use crate::model::health::unix_now;
use crate::model::reach::Reachability;

/// How long a probe waits: a local server answers in milliseconds.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// Whether anything answers HTTP at `base_url`.
pub async fn answers(client: &reqwest::Client, base_url: &str, timeout: Duration) -> bool {
    let url = format!("{}/api/version", base_url.trim_end_matches('/'));
    client.get(url).timeout(timeout).send().await.is_ok()
}

/// Probes every URL at once and records the answers in `reach`.
pub async fn probe_into(client: &reqwest::Client, urls: &[String], reach: &mut Reachability) {
    let answers = join_all(urls.iter().map(|url| answers(client, url, PROBE_TIMEOUT))).await;
    let now = unix_now();
    for (url, answered) in urls.iter().zip(answers) {
        reach.record(url, answered, now);
    }
}
