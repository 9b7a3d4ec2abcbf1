//! Writing the provider health file the catalog reads to mark providers degraded: an
//! outage-class failure adds an entry, a success removes it. Written atomically.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::model::health::{Health, ProviderHealth, unix_now};

use super::record::write_atomically;

/// The health file of one runs folder, cached in memory so successes cost no I/O.
#[derive(Debug)]
pub struct HealthFile {
    runs_dir: PathBuf,
    health: Mutex<Health>,
}

impl HealthFile {
    /// Loads the health file of `runs_dir`.
    pub fn load(runs_dir: PathBuf) -> HealthFile {
        let health = Health::load(&runs_dir);
        HealthFile {
            runs_dir,
            health: Mutex::new(health),
        }
    }

    /// Records an outage-class failure of `provider`, e.g. reason `overloaded (529)`.
    pub fn failure(&self, provider: &str, reason: &str) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let mut current = Health::load(&self.runs_dir);
        current.providers.insert(
            provider.to_string(),
            ProviderHealth {
                failed_at: unix_now(),
                reason: reason.to_string(),
            },
        );
        self.save(&current);
        *health = current;
    }

    /// Records a success of `provider`: it is no longer degraded.
    pub fn success(&self, provider: &str) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        if !health.providers.contains_key(provider) {
            return;
        }
        let mut current = Health::load(&self.runs_dir);
        current.providers.remove(provider);
        self.save(&current);
        *health = current;
    }

    fn save(&self, health: &Health) {
        let path = Health::path(&self.runs_dir);
        let result = serde_json::to_vec_pretty(health)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomically(&path, &bytes));
        if let Err(e) = result {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }
}
