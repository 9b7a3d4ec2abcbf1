//! `stepwise.toml`: found by walking up from a document; its folder is the workspace root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use super::catalog::ProviderKind;

/// The file name that marks a workspace root.
pub const CONFIG_FILE: &str = "stepwise.toml";

/// Workspace configuration (`stepwise.toml`); every field has a default, so the file is optional.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[schemars(title = "stepwise.toml")]
pub struct Config {
    /// Provider used when neither step nor workflow names one.
    pub default_provider: Option<String>,
    /// Folders (relative to the root) holding `ID.yaml` persona files.
    pub persona_dirs: Vec<String>,
    /// Where run records are written (relative to the root).
    pub runs_dir: String,
    /// Global limit of requests in flight, and the default fan-out concurrency.
    pub concurrency: u32,
    /// Retries after the first attempt on retryable failures.
    pub max_retries: u32,
    /// Per-request timeout in seconds.
    pub timeout_secs: u64,
    /// Provider additions and overrides.
    pub providers: BTreeMap<String, ProviderConfig>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            default_provider: None,
            persona_dirs: vec!["personas".to_string()],
            runs_dir: ".stepwise/runs".to_string(),
            concurrency: 8,
            max_retries: 2,
            timeout_secs: 600,
            providers: BTreeMap::new(),
        }
    }
}

/// One `[providers.ID]` table.
#[derive(Debug, Clone, PartialEq, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Wire format of a new provider (`openai` for OpenAI-compatible endpoints).
    pub kind: Option<ProviderKind>,
    /// Base URL; wins over the `*_BASE_URL` environment variables.
    pub base_url: Option<String>,
    /// Environment variable holding the key.
    pub api_key_env: Option<String>,
    /// Model used when a step names none.
    pub default_model: Option<String>,
    /// Extra model IDs to offer and accept.
    #[serde(default)]
    pub models: Vec<String>,
}

/// A configuration problem, with the byte range in `stepwise.toml` where known.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The config file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
    /// Where, in bytes.
    pub span: Option<std::ops::Range<usize>>,
}

/// The configuration of one workspace, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    /// The workspace root: the config's folder, else the document's.
    pub root: PathBuf,
    /// The config file, when one was found.
    pub path: Option<PathBuf>,
    /// The settings (defaults when the file is missing or broken).
    pub config: Config,
    /// Why the file could not be used, if it could not.
    pub error: Option<ConfigError>,
}

impl Config {
    /// Parses the text of a `stepwise.toml`.
    pub fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Finds the `stepwise.toml` governing `dir` by walking up, and loads it.
pub fn load_for_dir(dir: &Path) -> LoadedConfig {
    let found = dir.ancestors().map(|d| d.join(CONFIG_FILE)).find(|p| p.is_file());
    match found {
        None => LoadedConfig {
            root: dir.to_path_buf(),
            path: None,
            config: Config::default(),
            error: None,
        },
        Some(path) => {
            let root = path.parent().unwrap_or(dir).to_path_buf();
            let (config, error) = match std::fs::read_to_string(&path) {
                Err(e) => (
                    Config::default(),
                    Some(ConfigError {
                        path: path.clone(),
                        message: format!("cannot read: {e}"),
                        span: None,
                    }),
                ),
                Ok(text) => match Config::parse(&text) {
                    Ok(c) => (c, None),
                    Err(e) => (
                        Config::default(),
                        Some(ConfigError {
                            path: path.clone(),
                            message: e.message().to_string(),
                            span: e.span(),
                        }),
                    ),
                },
            };
            LoadedConfig {
                root,
                path: Some(path),
                config,
                error,
            }
        }
    }
}

impl LoadedConfig {
    /// Absolute folders of the persona library.
    pub fn persona_dirs(&self) -> Vec<PathBuf> {
        self.config.persona_dirs.iter().map(|d| self.root.join(d)).collect()
    }

    /// Absolute folder of run records.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join(&self.config.runs_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_config_keys_are_errors_with_spans() {
        let err = Config::parse("default_provider = \"openai\"\nconcurrncy = 3\n").unwrap_err();
        assert!(err.message().contains("concurrncy"));
        assert!(err.span().is_some());
    }

    #[test]
    fn config_is_found_by_walking_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "default_provider = \"google\"\n").unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        let loaded = load_for_dir(&nested);
        assert_eq!(loaded.root, dir.path());
        assert_eq!(loaded.config.default_provider.as_deref(), Some("google"));
    }
}
