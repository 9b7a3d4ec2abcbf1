//! Model listings fetched from the providers (`GET` models endpoints), cached on disk in
//! `runs_dir/models.json` with an age limit. Reading the cache never touches the network, so
//! the editor can call [`ModelCache::load`] on any request path and refresh in the background.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::providers::list_models;
use super::record::write_atomically;
use super::secret::ApiKey;
use crate::model::catalog::{Availability, Catalog, EnvLookup, ProviderKind};
use crate::model::health::unix_now;

/// How long a fetched listing is trusted.
pub const MODELS_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// One provider's fetched listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    /// Unix seconds of the fetch.
    pub fetched_at: u64,
    /// Model IDs.
    pub models: Vec<String>,
}

/// Fetched listings by provider ID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelCache {
    /// Listings by provider ID.
    pub providers: BTreeMap<String, Listing>,
}

impl ModelCache {
    /// The cache file of a runs folder.
    pub fn path(runs_dir: &Path) -> PathBuf {
        runs_dir.join("models.json")
    }

    /// Reads the cache (empty when missing or broken). No network.
    pub fn load(runs_dir: &Path) -> ModelCache {
        std::fs::read(ModelCache::path(runs_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The cached models of `provider` if younger than `max_age`.
    pub fn fresh(&self, provider: &str, max_age: Duration) -> Option<&[String]> {
        let listing = self.providers.get(provider)?;
        (unix_now().saturating_sub(listing.fetched_at) < max_age.as_secs()).then_some(listing.models.as_slice())
    }

    /// Fetches the listing of every available provider whose cache entry is older than
    /// `max_age`, and writes the cache. Failures leave the old entry; returns them by provider.
    pub async fn refresh(
        &mut self,
        client: &reqwest::Client,
        catalog: &Catalog,
        env: &dyn EnvLookup,
        runs_dir: &Path,
        max_age: Duration,
        timeout: Duration,
    ) -> BTreeMap<String, String> {
        let mut errors = BTreeMap::new();
        let stale: Vec<_> = catalog
            .providers()
            .iter()
            // A keyless provider nobody has probed yet is asked: the listing is its probe.
            .filter(|p| p.is_available() || p.availability == Availability::Unchecked)
            .filter(|p| self.fresh(&p.id, max_age).is_none())
            .filter(|p| p.kind == ProviderKind::Ollama || !p.api_key_env.is_empty())
            .map(|p| (p.clone(), ApiKey::for_provider(p, env)))
            .collect();
        if stale.is_empty() {
            return errors;
        }
        let fetched = futures::future::join_all(
            stale
                .iter()
                .map(|(p, key)| list_models(client, p, key.clone(), timeout)),
        )
        .await;
        for ((provider, _), result) in stale.iter().zip(fetched) {
            match result {
                Ok(models) => {
                    self.providers.insert(
                        provider.id.clone(),
                        Listing {
                            fetched_at: unix_now(),
                            models,
                        },
                    );
                }
                Err(e) => {
                    errors.insert(provider.id.clone(), e.to_string());
                }
            }
        }
        let written = serde_json::to_vec_pretty(self)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomically(&ModelCache::path(runs_dir), &bytes));
        if let Err(e) = written {
            tracing::warn!("cannot write the model cache: {e}");
        }
        errors
    }
}
