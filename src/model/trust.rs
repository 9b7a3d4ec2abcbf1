//! Workspace trust, in the manner of `direnv allow`: a repository controls its own
//! `stepwise.toml`, so what in it could move a key, a read or a write across the workspace
//! boundary counts only once the user has trusted that exact file. Trust is recorded per
//! canonical root with the SHA-256 of its `stepwise.toml`, and lapses when the file changes.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::catalog::{Catalog, EnvLookup, ProviderInfo};
use super::config::LoadedConfig;
use super::diagnostic::{Code, Diagnostic};
use crate::syntax::text::Span;

/// Environment variable that trusts the workspace for one process (CI), which no file in a
/// repository can set.
pub const TRUST_ENV: &str = "STEPWISE_TRUST_WORKSPACE";

/// The trust store's file name under the user's stepwise config folder.
pub const TRUST_FILE: &str = "trust.toml";

/// The user configuration's file name under the same folder.
pub const USER_CONFIG_FILE: &str = "config.toml";

/// `$XDG_CONFIG_HOME/stepwise`, else `$HOME/.config/stepwise`.
pub fn config_home(env: &dyn EnvLookup) -> Option<PathBuf> {
    env.var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| env.var("HOME").map(|h| Path::new(&h).join(".config")))
        .map(|base| base.join("stepwise"))
}

/// Known vendors' conventional key variables at their official API hosts: an untrusted
/// workspace may declare these providers, since the key goes where its owner meant it to.
const VENDOR_KEYS: &[(&str, &str)] = &[
    ("GROQ_API_KEY", "api.groq.com"),
    ("MISTRAL_API_KEY", "api.mistral.ai"),
    ("DEEPSEEK_API_KEY", "api.deepseek.com"),
    ("OPENROUTER_API_KEY", "openrouter.ai"),
    ("XAI_API_KEY", "api.x.ai"),
    ("TOGETHER_API_KEY", "api.together.xyz"),
    ("FIREWORKS_API_KEY", "api.fireworks.ai"),
    ("PERPLEXITY_API_KEY", "api.perplexity.ai"),
    ("CEREBRAS_API_KEY", "api.cerebras.ai"),
];

/// Something in the workspace's `stepwise.toml` that only trust allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// A provider that sends a key would send it to a host other than its default.
    Host {
        /// Provider ID.
        provider: String,
        /// The host (and port) the workspace names.
        host: String,
        /// The variables whose value would be sent.
        variables: Vec<String>,
    },
    /// A provider reads a key variable the workspace chose.
    KeyVariable {
        /// Provider ID.
        provider: String,
        /// The variable.
        variable: String,
    },
    /// Run records and caches would be written outside the workspace.
    RunsDir {
        /// `runs_dir` as written.
        path: String,
    },
}

/// One [`Need`] and where in `stepwise.toml` it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustNeed {
    /// What trust would allow.
    pub need: Need,
    /// Byte range in `stepwise.toml`, where known.
    pub span: Option<Range<usize>>,
}

impl TrustNeed {
    /// The provider it concerns, if any.
    pub fn provider(&self) -> Option<&str> {
        match &self.need {
            Need::Host { provider, .. } | Need::KeyVariable { provider, .. } => Some(provider),
            Need::RunsDir { .. } => None,
        }
    }

    /// What trust allows, as one line, e.g. `provider openai sends OPENAI_API_KEY to 127.0.0.1:8997`.
    pub fn describe(&self) -> String {
        match &self.need {
            Need::Host {
                provider,
                host,
                variables,
            } => format!(
                "provider `{provider}` sends {} to {host} (not its default host)",
                variables.join(" or ")
            ),
            Need::KeyVariable { provider, variable } => {
                format!("provider `{provider}` reads the environment variable {variable}")
            }
            Need::RunsDir { path } => format!("runs_dir `{path}` is outside the workspace"),
        }
    }
}

/// Why a workspace counts as trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// `stepwise trust` recorded this root and this `stepwise.toml`.
    Store,
    /// `--trust-workspace`, [`TRUST_ENV`] or the editor (VS Code's Workspace Trust): this
    /// process only.
    Process,
}

/// A workspace's trust: whether it is granted, and what it is needed for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkspaceTrust {
    /// The canonical workspace root.
    pub root: PathBuf,
    /// SHA-256 (hex) of its `stepwise.toml`, or of nothing when there is none.
    pub config_sha256: String,
    /// Why it is trusted; `None` if it is not.
    pub granted: Option<Grant>,
    /// Trust was recorded for an earlier version of `stepwise.toml`.
    pub lapsed: bool,
    /// What in `stepwise.toml` needs trust (allowed when granted).
    pub needs: Vec<TrustNeed>,
}

impl WorkspaceTrust {
    /// Whether the workspace is trusted.
    pub fn is_trusted(&self) -> bool {
        self.granted.is_some()
    }

    /// The needs in force: empty when trusted.
    pub fn blocked(&self) -> &[TrustNeed] {
        if self.is_trusted() { &[] } else { &self.needs }
    }

    /// Why `provider` may not be called, when an unmet need concerns it.
    pub fn blocks_provider(&self, provider: &str) -> Option<String> {
        let reasons: Vec<String> = self
            .blocked()
            .iter()
            .filter(|n| n.provider() == Some(provider))
            .map(TrustNeed::describe)
            .collect();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// Whether `runs_dir` is blocked (records then stay in the default folder, and runs refuse).
    pub fn blocks_runs_dir(&self) -> bool {
        self.blocked().iter().any(|n| matches!(n.need, Need::RunsDir { .. }))
    }

    /// The message refusing an action that relies on the blocked needs `relevant` picks, if any:
    /// each need and how to grant trust.
    pub fn refusal_for(&self, relevant: impl Fn(&TrustNeed) -> bool) -> Option<String> {
        let needs: Vec<String> = self
            .blocked()
            .iter()
            .filter(|n| relevant(n))
            .map(TrustNeed::describe)
            .collect();
        if needs.is_empty() {
            return None;
        }
        let lapsed = if self.lapsed {
            " (stepwise.toml changed since it was trusted)"
        } else {
            ""
        };
        Some(format!(
            "untrusted workspace{lapsed}: {}; run `stepwise trust {}` if you trust this repository",
            needs.join("; "),
            self.root.display()
        ))
    }
}

/// SHA-256 hex of a `stepwise.toml`'s bytes (`None`: there is no file).
pub fn config_digest(text: Option<&str>) -> String {
    match text {
        Some(text) => Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        None => "none".to_string(),
    }
}

/// `stepwise.toml` read again, keeping only what trust is about, with spans.
#[derive(Default)]
struct Claims {
    runs_dir: Option<toml::Spanned<String>>,
    providers: std::collections::BTreeMap<String, toml::Spanned<ProviderClaims>>,
}

#[derive(Default)]
struct ProviderClaims {
    base_url: Option<toml::Spanned<String>>,
    api_key_env: Option<toml::Spanned<String>>,
}

impl Claims {
    /// Read with the same recovering parse the settings come from (`config_file`), so a
    /// mistake elsewhere in the file cannot hide a claim whose setting is in force.
    fn read(text: &str) -> Claims {
        use toml::de::{DeTable, DeValue};
        let (root, _) = DeTable::parse_recoverable(text);
        let root = root.get_ref();
        let string = |v: &toml::Spanned<DeValue<'_>>| {
            v.get_ref()
                .as_str()
                .map(|s| toml::Spanned::new(v.span(), s.to_string()))
        };
        let providers = root
            .get("providers")
            .and_then(|p| p.get_ref().as_table())
            .into_iter()
            .flatten()
            .filter_map(|(id, p)| {
                let table = p.get_ref().as_table()?;
                let claims = ProviderClaims {
                    base_url: table.get("base_url").and_then(string),
                    api_key_env: table.get("api_key_env").and_then(string),
                };
                Some((id.get_ref().to_string(), toml::Spanned::new(p.span(), claims)))
            })
            .collect();
        Claims {
            runs_dir: root.get("runs_dir").and_then(string),
            providers,
        }
    }
}

/// `scheme://host:port` of a URL, lowercased (`None` if it does not parse).
fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization())
}

/// `host:port` for messages.
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| url.to_string())
}

/// The vendor-table variables allowed at `url`.
fn vendor_variables(url: &str) -> impl Iterator<Item = &'static str> {
    let origin = origin(url);
    VENDOR_KEYS
        .iter()
        .filter(move |(_, host)| origin.as_deref() == Some(format!("https://{host}").as_str()))
        .map(|(var, _)| *var)
}

/// What the workspace's own `stepwise.toml` (`text`) asks that needs trust, judged against
/// the providers as they stand without it (`baseline`: built-ins, environment, user config)
/// and with it (`merged`).
pub fn assess(loaded: &LoadedConfig, baseline: &Catalog, merged: &Catalog) -> Vec<TrustNeed> {
    let Some(text) = &loaded.text else {
        return Vec::new();
    };
    let claims = Claims::read(text);
    let official = Catalog::build(
        &Default::default(),
        &std::collections::BTreeMap::<String, String>::new(),
        &Default::default(),
    );
    let mut needs = Vec::new();
    for (id, claim) in &claims.providers {
        let Some(provider) = merged.provider(id).filter(|p| !p.base_url.is_empty()) else {
            continue;
        };
        let before = [baseline.provider(id), official.provider(id)];
        let claim_span = Some(claim.span());
        let claim = claim.get_ref();
        needs.extend(provider_needs(provider, before, claim, claim_span));
    }
    if let Some(runs_dir) = &claims.runs_dir
        && !inside(&loaded.root, &loaded.root.join(runs_dir.get_ref()))
    {
        needs.push(TrustNeed {
            need: Need::RunsDir {
                path: runs_dir.get_ref().clone(),
            },
            span: Some(runs_dir.span()),
        });
    }
    needs
}

/// The needs of one provider the workspace configures; `before` is the same provider without
/// the workspace file, and as built in.
fn provider_needs(
    provider: &ProviderInfo,
    before: [Option<&ProviderInfo>; 2],
    claim: &ProviderClaims,
    claim_span: Option<Range<usize>>,
) -> Vec<TrustNeed> {
    if provider.api_key_env.is_empty() {
        return Vec::new();
    }
    let before = before.into_iter().flatten();
    let mut allowed_vars: BTreeSet<&str> = vendor_variables(&provider.base_url).collect();
    allowed_vars.extend(before.clone().flat_map(|b| b.api_key_env.iter().map(String::as_str)));
    let mut needs = Vec::new();
    let var_span = claim.api_key_env.as_ref().map(|v| v.span()).or(claim_span);
    for var in &provider.api_key_env {
        if !allowed_vars.contains(var.as_str()) {
            needs.push(TrustNeed {
                need: Need::KeyVariable {
                    provider: provider.id.clone(),
                    variable: var.clone(),
                },
                span: var_span.clone(),
            });
        }
    }
    if let Some(base_url) = &claim.base_url {
        let wanted = origin(&provider.base_url);
        let default = before.filter_map(|b| origin(&b.base_url)).any(|o| Some(o) == wanted);
        let vendor = provider
            .api_key_env
            .iter()
            .all(|v| vendor_variables(&provider.base_url).any(|allowed| allowed == v));
        if wanted.is_none() || (!default && !vendor) {
            needs.push(TrustNeed {
                need: Need::Host {
                    provider: provider.id.clone(),
                    host: host_of(&provider.base_url),
                    variables: provider.api_key_env.clone(),
                },
                span: Some(base_url.span()),
            });
        }
    }
    needs
}

/// Whether `path` stays inside `root` once `..` and symlinks of its existing part are resolved.
pub fn inside(root: &Path, path: &Path) -> bool {
    let Ok(root) = std::fs::canonicalize(root) else {
        return false;
    };
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
            return false;
        };
        rest.push(name);
        if !existing.pop() {
            return false;
        }
    }
    let Ok(mut resolved) = std::fs::canonicalize(&existing) else {
        return false;
    };
    for name in rest.iter().rev() {
        match Path::new(name).components().next() {
            Some(Component::Normal(_)) => resolved.push(name),
            Some(Component::CurDir) => {}
            _ => {
                resolved.pop();
            }
        }
    }
    resolved.starts_with(&root)
}

/// One trusted workspace in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustEntry {
    /// The canonical root.
    pub root: PathBuf,
    /// SHA-256 of the `stepwise.toml` that was trusted (`none`: there was none).
    pub stepwise_toml_sha256: String,
}

/// The trust store, `$XDG_CONFIG_HOME/stepwise/trust.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustStore {
    /// Trusted workspaces.
    #[serde(default, rename = "workspace")]
    pub workspaces: Vec<TrustEntry>,
}

/// Why the trust store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    /// Neither `XDG_CONFIG_HOME` nor `HOME` is set.
    #[error("no config folder: set XDG_CONFIG_HOME or HOME")]
    NoConfigHome,
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The store file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file does not parse.
    #[error("{path} is not a valid trust store: {message}")]
    Invalid {
        /// The store file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

impl TrustStore {
    /// The store's path for this environment.
    pub fn path(env: &dyn EnvLookup) -> Result<PathBuf, TrustStoreError> {
        config_home(env)
            .map(|d| d.join(TRUST_FILE))
            .ok_or(TrustStoreError::NoConfigHome)
    }

    /// Reads the store; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<TrustStore, TrustStoreError> {
        match std::fs::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustStore::default()),
            Err(source) => Err(TrustStoreError::Io {
                path: path.to_path_buf(),
                source,
            }),
            Ok(text) => toml::from_str(&text).map_err(|e| TrustStoreError::Invalid {
                path: path.to_path_buf(),
                message: e.message().to_string(),
            }),
        }
    }

    /// Writes the store (temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), TrustStoreError> {
        let io = |source| TrustStoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = toml::to_string(self).map_err(|e| io(std::io::Error::other(e)))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = dir.join(format!(".{TRUST_FILE}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The entry of `root`, if trusted at some version.
    pub fn entry(&self, root: &Path) -> Option<&TrustEntry> {
        self.workspaces.iter().find(|e| e.root == root)
    }

    /// Trusts `root` at this `stepwise.toml` digest, replacing an older entry.
    pub fn grant(&mut self, root: &Path, digest: &str) {
        self.revoke(root);
        self.workspaces.push(TrustEntry {
            root: root.to_path_buf(),
            stepwise_toml_sha256: digest.to_string(),
        });
        self.workspaces.sort_by(|a, b| a.root.cmp(&b.root));
    }

    /// Removes `root`; `true` if it was there.
    pub fn revoke(&mut self, root: &Path) -> bool {
        let before = self.workspaces.len();
        self.workspaces.retain(|e| e.root != root);
        self.workspaces.len() != before
    }
}

/// Decides a workspace's trust: `process` (flag, environment or editor), else the store.
pub fn decide(loaded: &LoadedConfig, needs: Vec<TrustNeed>, env: &dyn EnvLookup, process: bool) -> WorkspaceTrust {
    let root = std::fs::canonicalize(&loaded.root).unwrap_or_else(|_| loaded.root.clone());
    let digest = config_digest(loaded.text.as_deref());
    let entry = TrustStore::path(env)
        .and_then(|p| TrustStore::load(&p))
        .ok()
        .and_then(|store| store.entry(&root).cloned());
    let stored = entry.as_ref().is_some_and(|e| e.stepwise_toml_sha256 == digest);
    let granted = if process || env.var(TRUST_ENV).as_deref() == Some("1") {
        Some(Grant::Process)
    } else if stored {
        Some(Grant::Store)
    } else {
        None
    };
    WorkspaceTrust {
        root,
        config_sha256: digest,
        granted,
        lapsed: entry.is_some() && !stored,
        needs,
    }
}

/// Records `trust`'s workspace as trusted at the `stepwise.toml` it was assessed on, as
/// `stepwise trust` does; returns the store's path.
pub fn record(env: &dyn EnvLookup, trust: &WorkspaceTrust) -> Result<PathBuf, TrustStoreError> {
    let path = TrustStore::path(env)?;
    let mut store = TrustStore::load(&path)?;
    store.grant(&trust.root, &trust.config_sha256);
    store.save(&path)?;
    Ok(path)
}

impl WorkspaceTrust {
    /// `untrusted-workspace` warnings on the lines of `stepwise.toml` that need trust, while
    /// it is not granted (spans are into the file's text).
    pub fn config_diagnostics(&self) -> Vec<Diagnostic> {
        self.blocked()
            .iter()
            .map(|need| {
                let span = need.span.clone().map_or(Span::empty(0), |r| Span::new(r.start, r.end));
                let message = format!(
                    "untrusted workspace: {}; allowed once you trust this workspace (`stepwise trust`)",
                    need.describe()
                );
                Diagnostic::new(Code::UntrustedWorkspace, span, message)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::config::load_layered;
    use crate::model::health::Health;

    fn needs_of(toml: &str) -> Vec<Need> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stepwise.toml"), toml).unwrap();
        let loaded = load_layered(dir.path(), None);
        let env = BTreeMap::new();
        let baseline = Catalog::build(&loaded.baseline, &env, &Health::default());
        let merged = Catalog::build(&loaded.config, &env, &Health::default());
        assess(&loaded, &baseline, &merged)
            .into_iter()
            .map(|n| n.need)
            .collect()
    }

    #[test]
    fn a_keyed_provider_off_its_default_host_needs_trust() {
        assert_eq!(
            needs_of("[providers.openai]\nbase_url = \"http://127.0.0.1:8997/v1\"\n"),
            vec![Need::Host {
                provider: "openai".into(),
                host: "127.0.0.1:8997".into(),
                variables: vec!["OPENAI_API_KEY".into()],
            }]
        );
        assert_eq!(
            needs_of("[providers.openai]\nbase_url = \"https://api.openai.com/v1/\"\n"),
            vec![]
        );
        assert_eq!(
            needs_of("[providers.ollama]\nbase_url = \"http://gpu-box:11434\"\n"),
            vec![]
        );
    }

    #[test]
    fn naming_a_key_variable_needs_trust_except_a_vendors_at_its_host() {
        let groq = "[providers.groq]\nkind = \"openai\"\nbase_url = \"https://api.groq.com/openai/v1\"\napi_key_env = \"GROQ_API_KEY\"\n";
        assert_eq!(needs_of(groq), vec![]);
        let aws = needs_of(
            "[providers.x]\nkind = \"openai\"\nbase_url = \"https://api.groq.com/openai/v1\"\napi_key_env = \"AWS_SECRET_ACCESS_KEY\"\n",
        );
        assert!(aws.contains(&Need::KeyVariable {
            provider: "x".into(),
            variable: "AWS_SECRET_ACCESS_KEY".into()
        }));
        let builtin = needs_of("[providers.anthropic]\napi_key_env = \"HOME\"\n");
        assert_eq!(builtin.len(), 1, "{builtin:?}");
    }

    #[test]
    fn runs_dir_must_stay_inside_the_root() {
        assert_eq!(needs_of("runs_dir = \"records/runs\"\n"), vec![]);
        assert_eq!(
            needs_of("runs_dir = \"../x\"\n"),
            vec![Need::RunsDir { path: "../x".into() }]
        );
        assert_eq!(needs_of("runs_dir = \"/var/tmp\"\n").len(), 1);
        assert_eq!(needs_of("runs_dir = \"a/../../b\"\n").len(), 1);
    }

    #[test]
    fn trust_lapses_when_stepwise_toml_changes() {
        let home = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let env: BTreeMap<String, String> = [("XDG_CONFIG_HOME".to_string(), home.path().display().to_string())].into();
        std::fs::write(dir.path().join("stepwise.toml"), "concurrency = 2\n").unwrap();
        let loaded = load_layered(dir.path(), None);
        let before = decide(&loaded, Vec::new(), &env, false);
        assert!(!before.is_trusted() && !before.lapsed);
        record(&env, &before).unwrap();
        assert_eq!(decide(&loaded, Vec::new(), &env, false).granted, Some(Grant::Store));
        std::fs::write(dir.path().join("stepwise.toml"), "concurrency = 3\n").unwrap();
        let after = decide(&load_layered(dir.path(), None), Vec::new(), &env, false);
        assert!(!after.is_trusted() && after.lapsed);
        let by_env: BTreeMap<String, String> = [(TRUST_ENV.to_string(), "1".to_string())].into();
        assert_eq!(
            decide(&loaded, Vec::new(), &by_env, false).granted,
            Some(Grant::Process)
        );
    }
}
