//! `stepwise.toml`: found by walking up from a document; its folder is the workspace root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use super::catalog::ProviderKind;
use super::prices::Price;

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
    /// Prices per model ID, USD per million tokens (`"model-id" = { input = 3.0, output = 15.0 }`);
    /// they win over the built-in table, and lose to a cost the provider reports itself.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
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
    /// The settings: the user's config below the workspace's (defaults where neither says).
    pub config: Config,
    /// Why the file could not be used, if it could not.
    pub error: Option<ConfigError>,
    /// The workspace file's text, as read (for trust: its digest and spans).
    pub text: Option<String>,
    /// The settings without the workspace file: defaults and the user's config.
    pub baseline: Config,
}

impl Config {
    /// Parses the text of a `stepwise.toml`.
    pub fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }
}

/// Why a config file cannot be used, or its table.
fn read_table(path: &Path) -> Result<(String, toml::Table), ConfigError> {
    let error = |message: String, span| ConfigError {
        path: path.to_path_buf(),
        message,
        span,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}"), None))?;
    Config::parse(&text).map_err(|e| error(e.message().to_string(), e.span()))?;
    let table = text
        .parse::<toml::Table>()
        .map_err(|e| error(e.message().to_string(), e.span()))?;
    Ok((text, table))
}

/// `upper` over `lower`, merging `[providers.ID]` tables key by key.
fn layer(lower: &toml::Table, upper: &toml::Table) -> toml::Table {
    let mut merged = lower.clone();
    for (key, value) in upper {
        match (merged.get_mut(key), value) {
            (Some(toml::Value::Table(below)), toml::Value::Table(above)) if key == "providers" => {
                for (id, provider) in above {
                    match (below.get_mut(id), provider) {
                        (Some(toml::Value::Table(b)), toml::Value::Table(a)) => {
                            b.extend(a.iter().map(|(k, v)| (k.clone(), v.clone())));
                        }
                        _ => {
                            below.insert(id.clone(), provider.clone());
                        }
                    }
                }
            }
            _ => {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    merged
}

fn to_config(table: toml::Table) -> Config {
    Config::deserialize(toml::Value::Table(table)).unwrap_or_default()
}

/// Finds the `stepwise.toml` governing `dir` by walking up, and loads it (no user config).
pub fn load_for_dir(dir: &Path) -> LoadedConfig {
    load_layered(dir, None)
}

/// Finds the `stepwise.toml` governing `dir` by walking up, and loads it over the user's
/// config file `user` (always trusted, below the workspace's file). A `stepwise.toml` that
/// is a link to outside its own folder is not read.
pub fn load_layered(dir: &Path, user: Option<&Path>) -> LoadedConfig {
    let found = dir.ancestors().map(|d| d.join(CONFIG_FILE)).find(|p| p.is_file());
    let (user_table, user_error) = match user.filter(|p| p.is_file()).map(read_table) {
        Some(Ok((_, table))) => (table, None),
        Some(Err(e)) => (toml::Table::new(), Some(e)),
        None => (toml::Table::new(), None),
    };
    let baseline = to_config(user_table.clone());
    let Some(path) = found else {
        return LoadedConfig {
            root: dir.to_path_buf(),
            path: None,
            config: baseline.clone(),
            error: user_error,
            text: None,
            baseline,
        };
    };
    let root = path.parent().unwrap_or(dir).to_path_buf();
    let escapes = std::fs::canonicalize(&path)
        .ok()
        .zip(std::fs::canonicalize(&root).ok())
        .is_none_or(|(file, root)| file.parent() != Some(root.as_path()));
    let read = if escapes {
        Err(ConfigError {
            path: path.clone(),
            message: "it is a link to a file outside the workspace folder, which stepwise does not read".to_string(),
            span: None,
        })
    } else {
        read_table(&path)
    };
    let (config, error, text) = match read {
        Ok((text, table)) => (to_config(layer(&user_table, &table)), user_error, Some(text)),
        Err(e) => (baseline.clone(), Some(e), None),
    };
    LoadedConfig {
        root,
        path: Some(path),
        config,
        error,
        text,
        baseline,
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
