//! API keys, held so that no formatting path can print them: a key only leaves this type
//! through [`ApiKey::expose`], which the provider clients call when they set a header.

use std::fmt;

use crate::model::catalog::{EnvLookup, ProviderInfo};

/// An API key read from the environment. Debug and Display print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// The key of `provider` from the first of its key variables that is set.
    pub fn for_provider(provider: &ProviderInfo, env: &dyn EnvLookup) -> Option<ApiKey> {
        provider.api_key_env.iter().find_map(|name| env.var(name)).map(ApiKey)
    }

    /// The key itself, for the one place that needs it: the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_never_formats_its_value() {
        let key = ApiKey::new("sk-secret-value");
        assert_eq!(format!("{key} {key:?} {:?}", Some(&key)), "*** *** Some(***)");
        assert_eq!(key.expose(), "sk-secret-value");
    }
}
