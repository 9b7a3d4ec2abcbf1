//! Provider health: the engine records outage-class failures here so the editor can mark a
//! provider degraded. Stored as a small JSON file under the runs folder, shared by processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How long after its last outage-class failure a provider counts as degraded.
pub const DEGRADED_FOR_SECS: u64 = 10 * 60;

/// The last outage-class failure of one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderHealth {
    /// Unix seconds of the last failure.
    pub failed_at: u64,
    /// The failure, e.g. `overloaded (529)`.
    pub reason: String,
}

/// Recent failures by provider ID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Failures by provider ID; a success removes the entry.
    pub providers: BTreeMap<String, ProviderHealth>,
    /// The time to judge recency against (unix seconds); set when loaded.
    #[serde(skip)]
    pub now: u64,
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Health {
    /// The health file of a runs folder.
    pub fn path(runs_dir: &Path) -> PathBuf {
        runs_dir.join("health.json")
    }

    /// Loads the health file; a missing or broken file means every provider is healthy.
    pub fn load(runs_dir: &Path) -> Health {
        let mut health: Health = std::fs::read(Health::path(runs_dir))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        health.now = unix_now();
        health
    }

    /// Why `provider` is degraded, if it failed recently.
    pub fn degraded_reason(&self, provider: &str) -> Option<String> {
        let entry = self.providers.get(provider)?;
        (self.now.saturating_sub(entry.failed_at) < DEGRADED_FOR_SECS).then(|| entry.reason.clone())
    }
}
