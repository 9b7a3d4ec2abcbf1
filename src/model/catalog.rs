//! The provider catalog: built-in providers and their current models, plus providers and
//! models from `stepwise.toml`, with availability taken from an environment snapshot and
//! degraded state from the engine's health file. No network I/O happens here.

use std::collections::BTreeMap;

use super::config::Config;
use super::health::Health;
use super::prices::{Price, PriceSource, Priced, builtin_price};
use super::reach::Reachability;

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Anthropic Messages API.
    Anthropic,
    /// OpenAI Chat Completions (and every OpenAI-compatible endpoint).
    Openai,
    /// Google Gemini generateContent.
    Google,
    /// Ollama's local `/api/chat`.
    Ollama,
}

/// A model the catalog knows, with a one-line description for completion.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The model ID as the API takes it.
    pub id: String,
    /// What it is good for.
    pub description: String,
}

/// Whether a provider can be called now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Its key is set, or a keyless provider answered its last probe.
    Available,
    /// None of its key variables is set.
    MissingKey,
    /// A keyless provider not probed yet (the editor probes in the background).
    Unchecked,
    /// A keyless provider that did not answer its last probe.
    NotAnswering,
    /// The untrusted workspace's `stepwise.toml` aims its key elsewhere (the reason says how).
    Untrusted(String),
}

/// A provider as the rest of the product sees it: where to call it and what it offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    /// The provider ID used in documents.
    pub id: String,
    /// Its wire format.
    pub kind: ProviderKind,
    /// Base URL, after config and environment overrides.
    pub base_url: String,
    /// Environment variables that may hold its key, in order of preference (empty: no key).
    pub api_key_env: Vec<String>,
    /// Model used when neither step nor workflow names one.
    pub default_model: String,
    /// Known models.
    pub models: Vec<ModelInfo>,
    /// Whether it can be called now.
    pub availability: Availability,
    /// Recent outage-class failures, if any (from the engine's health record).
    pub degraded: Option<String>,
    /// Whether it was declared in `stepwise.toml` rather than built in.
    pub from_config: bool,
    /// Default `max_tokens` the API requires (Anthropic's Messages API has no default).
    pub default_max_tokens: Option<u32>,
    /// Whether `base_url` was set by the workspace's `stepwise.toml` (not the user's environment
    /// or the built-in default): opening a document never probes such a host.
    pub workspace_base_url: bool,
    /// Prices set in `stepwise.toml` (`[providers.ID.prices]`), by model ID.
    pub prices: BTreeMap<String, Price>,
}

impl ProviderInfo {
    /// The price of `model`: `stepwise.toml`'s, else the built-in table's (built-in
    /// providers and every Ollama-format provider).
    pub fn price(&self, model: &str) -> Option<Priced> {
        if let Some(price) = self.prices.get(model) {
            return Some(Priced {
                price: *price,
                source: PriceSource::Config,
            });
        }
        let builtin = !self.from_config || self.kind == ProviderKind::Ollama;
        builtin
            .then(|| builtin_price(self.kind, model))
            .flatten()
            .map(|price| Priced {
                price,
                source: PriceSource::Catalog,
            })
    }

    /// Whether `model` is a model this provider is known to serve.
    pub fn knows_model(&self, model: &str) -> bool {
        self.models.iter().any(|m| m.id == model)
    }

    /// Whether the provider can be called now.
    pub fn is_available(&self) -> bool {
        self.availability == Availability::Available
    }

    /// Whether only a probe can tell if it is available (it takes no key).
    pub fn is_keyless(&self) -> bool {
        self.api_key_env.is_empty()
    }

    /// Why it cannot be called now, e.g. `OPENAI_API_KEY is not set`; `None` when it can, or
    /// when nobody has asked yet.
    pub fn unavailable_reason(&self) -> Option<String> {
        match &self.availability {
            Availability::Available | Availability::Unchecked => None,
            Availability::MissingKey => Some(format!("{} is not set", self.api_key_env.join(" or "))),
            Availability::NotAnswering => Some(format!("not answering at {}", self.base_url)),
            Availability::Untrusted(reason) => Some(format!("untrusted workspace: {reason}")),
        }
    }

    /// A short status for completion details and hovers: never the key itself.
    pub fn status_label(&self) -> String {
        let mut label = match &self.availability {
            Availability::Available if self.is_keyless() => "available (no key needed)".to_string(),
            Availability::Available => "available".to_string(),
            Availability::MissingKey => {
                format!("unavailable: {} not set", self.api_key_env.join(" or "))
            }
            Availability::Unchecked => "not checked yet (no key needed)".to_string(),
            Availability::NotAnswering => format!("unavailable: not answering at {}", self.base_url),
            Availability::Untrusted(reason) => {
                format!("unavailable, untrusted workspace: {reason} (`stepwise trust` allows it)")
            }
        };
        if let Some(reason) = &self.degraded {
            label.push_str(&format!(" · degraded: {reason}"));
        }
        label
    }
}

/// All providers known in a workspace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    providers: Vec<ProviderInfo>,
}

/// Reads environment variables; a seam so the catalog stays pure and tests stay hermetic.
pub trait EnvLookup {
    /// The variable's value, if set and non-empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvLookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl EnvLookup for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

fn models(list: &[(&str, &str)]) -> Vec<ModelInfo> {
    list.iter()
        .map(|(id, description)| ModelInfo {
            id: (*id).to_string(),
            description: (*description).to_string(),
        })
        .collect()
}

fn builtin(id: &str) -> Option<ProviderInfo> {
    let (kind, base_url, keys, default_model, list, max_tokens): (_, _, &[&str], _, &[(&str, &str)], _) = match id {
        "anthropic" => (
            ProviderKind::Anthropic,
            "https://api.anthropic.com",
            &["ANTHROPIC_API_KEY"],
            "claude-sonnet-4-5",
            &[
                ("claude-opus-4-5", "Claude Opus 4.5: most capable, for complex work"),
                (
                    "claude-sonnet-4-5",
                    "Claude Sonnet 4.5: best balance of intelligence and speed",
                ),
                ("claude-haiku-4-5", "Claude Haiku 4.5: fastest, near-frontier quality"),
                ("claude-opus-4-1", "Claude Opus 4.1"),
                ("claude-opus-4-0", "Claude Opus 4"),
                ("claude-sonnet-4-0", "Claude Sonnet 4"),
                ("claude-3-7-sonnet-latest", "Claude Sonnet 3.7"),
                ("claude-3-5-haiku-latest", "Claude Haiku 3.5"),
            ],
            Some(4096),
        ),
        "openai" => (
            ProviderKind::Openai,
            "https://api.openai.com/v1",
            &["OPENAI_API_KEY"],
            "gpt-4o",
            &[
                ("gpt-5", "GPT-5: flagship reasoning model"),
                ("gpt-5-mini", "GPT-5 mini: faster, cheaper GPT-5"),
                ("gpt-5-nano", "GPT-5 nano: fastest, cheapest GPT-5"),
                ("gpt-4.1", "GPT-4.1: smartest non-reasoning model"),
                ("gpt-4.1-mini", "GPT-4.1 mini"),
                ("gpt-4.1-nano", "GPT-4.1 nano"),
                ("gpt-4o", "GPT-4o: fast, versatile, multimodal"),
                ("gpt-4o-mini", "GPT-4o mini: small and affordable"),
                ("o3", "o3: reasoning model for complex tasks"),
                ("o4-mini", "o4-mini: fast, affordable reasoning"),
            ],
            None,
        ),
        "google" => (
            ProviderKind::Google,
            "https://generativelanguage.googleapis.com",
            &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
            "gemini-2.5-flash",
            &[
                ("gemini-2.5-pro", "Gemini 2.5 Pro: state-of-the-art thinking model"),
                ("gemini-2.5-flash", "Gemini 2.5 Flash: best price-performance"),
                (
                    "gemini-2.5-flash-lite",
                    "Gemini 2.5 Flash-Lite: fastest, most cost-efficient",
                ),
                ("gemini-2.0-flash", "Gemini 2.0 Flash"),
                ("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite"),
            ],
            None,
        ),
        "ollama" => (
            ProviderKind::Ollama,
            "http://localhost:11434",
            &[],
            "llama3.2",
            &[
                ("llama3.2", "Meta Llama 3.2 (3B)"),
                ("llama3.1", "Meta Llama 3.1 (8B)"),
                ("llama3.3", "Meta Llama 3.3 (70B)"),
                ("qwen2.5", "Qwen 2.5"),
                ("qwen3", "Qwen 3"),
                ("gemma3", "Google Gemma 3"),
                ("mistral", "Mistral 7B"),
                ("phi4", "Microsoft Phi-4"),
                ("deepseek-r1", "DeepSeek-R1 reasoning"),
            ],
            None,
        ),
        _ => return None,
    };
    Some(ProviderInfo {
        id: id.to_string(),
        kind,
        base_url: base_url.to_string(),
        api_key_env: keys.iter().map(|k| (*k).to_string()).collect(),
        default_model: default_model.to_string(),
        models: models(list),
        availability: Availability::MissingKey,
        degraded: None,
        from_config: false,
        default_max_tokens: max_tokens,
        workspace_base_url: false,
        prices: BTreeMap::new(),
    })
}

/// IDs of the providers built into stepwise.
pub const BUILTIN_PROVIDERS: [&str; 4] = ["anthropic", "openai", "google", "ollama"];

/// The environment variable that overrides a built-in provider's base URL (as the SDKs do).
fn base_url_env(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "ANTHROPIC_BASE_URL",
        ProviderKind::Openai => "OPENAI_BASE_URL",
        ProviderKind::Google => "GOOGLE_GEMINI_BASE_URL",
        ProviderKind::Ollama => "OLLAMA_HOST",
    }
}

impl Catalog {
    /// The catalog for a workspace: built-ins, then the config's additions and overrides;
    /// availability from `env`, degraded state from `health`.
    pub fn build(config: &Config, env: &dyn EnvLookup, health: &Health) -> Catalog {
        let mut providers: Vec<ProviderInfo> = BUILTIN_PROVIDERS
            .iter()
            .filter_map(|id| builtin(id))
            .map(|mut p| {
                if let Some(url) = env.var(base_url_env(p.kind)) {
                    p.base_url = normalize_ollama_host(p.kind, url);
                }
                p
            })
            .collect();
        for (id, pc) in &config.providers {
            let existing = providers.iter().position(|p| &p.id == id);
            let mut provider = match existing {
                Some(i) => providers[i].clone(),
                None => ProviderInfo {
                    id: id.clone(),
                    kind: pc.kind.unwrap_or(ProviderKind::Openai),
                    base_url: String::new(),
                    api_key_env: Vec::new(),
                    default_model: String::new(),
                    models: Vec::new(),
                    availability: Availability::MissingKey,
                    degraded: None,
                    from_config: true,
                    default_max_tokens: None,
                    workspace_base_url: false,
                    prices: BTreeMap::new(),
                },
            };
            if let Some(url) = &pc.base_url {
                provider.base_url = url.trim_end_matches('/').to_string();
                provider.workspace_base_url = true;
            }
            if let Some(var) = &pc.api_key_env {
                provider.api_key_env = vec![var.clone()];
            } else if existing.is_none() && provider.kind != ProviderKind::Ollama {
                provider.api_key_env = vec![format!("{}_API_KEY", id.to_uppercase().replace('-', "_"))];
            }
            provider
                .prices
                .extend(pc.prices.iter().map(|(model, price)| (model.clone(), *price)));
            for model in &pc.models {
                if !provider.knows_model(model) {
                    provider.models.push(ModelInfo {
                        id: model.clone(),
                        description: "declared in stepwise.toml".to_string(),
                    });
                }
            }
            if let Some(model) = &pc.default_model {
                provider.default_model = model.clone();
            } else if provider.default_model.is_empty() {
                provider.default_model = provider.models.first().map(|m| m.id.clone()).unwrap_or_default();
            }
            if provider.default_max_tokens.is_none() && provider.kind == ProviderKind::Anthropic {
                provider.default_max_tokens = Some(4096);
            }
            match existing {
                Some(i) => providers[i] = provider,
                None => providers.push(provider),
            }
        }
        for p in &mut providers {
            p.availability = if p.is_keyless() {
                Availability::Unchecked
            } else if p.api_key_env.iter().any(|k| env.var(k).is_some()) {
                Availability::Available
            } else {
                Availability::MissingKey
            };
            p.degraded = health.degraded_reason(&p.id);
        }
        Catalog { providers }
    }

    /// Sets the availability of keyless providers from probe answers.
    pub fn apply_reachability(&mut self, reach: &Reachability) {
        let probed = |p: &ProviderInfo| p.is_keyless() && !matches!(p.availability, Availability::Untrusted(_));
        for p in self.providers.iter_mut().filter(|p| probed(p)) {
            p.availability = match reach.answer(&p.base_url) {
                Some(true) => Availability::Available,
                Some(false) => Availability::NotAnswering,
                None => Availability::Unchecked,
            };
        }
    }

    /// Base URLs of the keyless providers that may be probed without anyone running anything:
    /// the built-in default host or the user's own environment, never a host the workspace names.
    pub fn probe_urls(&self) -> Vec<String> {
        let mut urls: Vec<String> = self
            .providers
            .iter()
            .filter(|p| p.is_keyless() && !p.workspace_base_url)
            .map(|p| p.base_url.clone())
            .collect();
        urls.sort();
        urls.dedup();
        urls
    }

    /// Base URLs of every keyless provider, for a command the user runs.
    pub fn keyless_urls(&self) -> Vec<String> {
        let mut urls: Vec<String> = self
            .providers
            .iter()
            .filter(|p| p.is_keyless())
            .map(|p| p.base_url.clone())
            .collect();
        urls.sort();
        urls.dedup();
        urls
    }

    /// Marks every provider for which `blocked` gives a reason as unavailable, untrusted.
    pub fn restrict(&mut self, blocked: impl Fn(&str) -> Option<String>) {
        for p in &mut self.providers {
            if let Some(reason) = blocked(&p.id) {
                p.availability = Availability::Untrusted(reason);
            }
        }
    }

    /// The provider with this ID.
    pub fn provider(&self, id: &str) -> Option<&ProviderInfo> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Every provider, built-ins first.
    pub fn providers(&self) -> &[ProviderInfo] {
        &self.providers
    }

    /// Providers that can be called now and are not degraded: candidates to switch a step to.
    pub fn healthy(&self) -> impl Iterator<Item = &ProviderInfo> {
        self.providers
            .iter()
            .filter(|p| p.is_available() && p.degraded.is_none())
    }
}

/// `OLLAMA_HOST` may be `host:port` without a scheme, as Ollama itself accepts.
fn normalize_ollama_host(kind: ProviderKind, url: String) -> String {
    let url = url.trim_end_matches('/').to_string();
    if kind == ProviderKind::Ollama && !url.contains("://") {
        format!("http://{url}")
    } else {
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn availability_follows_key_variables() {
        let catalog = Catalog::build(&Config::default(), &env(&[("GOOGLE_API_KEY", "x")]), &Health::default());
        assert!(catalog.provider("google").unwrap().is_available());
        assert!(!catalog.provider("anthropic").unwrap().is_available());
        assert_eq!(
            catalog.provider("ollama").unwrap().availability,
            Availability::Unchecked
        );
    }

    #[test]
    fn a_keyless_provider_is_available_only_when_its_probe_answered() {
        let mut catalog = Catalog::build(&Config::default(), &env(&[]), &Health::default());
        let url = catalog.provider("ollama").unwrap().base_url.clone();
        assert_eq!(catalog.probe_urls(), vec![url.clone()]);
        let mut reach = Reachability::default();
        reach.record(&url, false, 100);
        catalog.apply_reachability(&reach);
        let ollama = catalog.provider("ollama").unwrap();
        assert!(!ollama.is_available());
        assert_eq!(
            ollama.status_label(),
            "unavailable: not answering at http://localhost:11434"
        );
        assert_eq!(catalog.healthy().filter(|p| p.id == "ollama").count(), 0);
        reach.record(&url, true, 101);
        catalog.apply_reachability(&reach);
        assert!(catalog.provider("ollama").unwrap().is_available());
    }

    #[test]
    fn a_host_the_workspace_names_is_never_probed_on_open() {
        let config: Config = toml::from_str("[providers.ollama]\nbase_url = \"http://10.1.2.3:11434\"\n").unwrap();
        let catalog = Catalog::build(&config, &env(&[]), &Health::default());
        assert!(catalog.probe_urls().is_empty());
        assert_eq!(catalog.keyless_urls(), vec!["http://10.1.2.3:11434".to_string()]);
    }

    #[test]
    fn config_base_url_wins_over_environment() {
        let config: Config = toml::from_str(
            "[providers.openai]\nbase_url = \"http://127.0.0.1:9/v1/\"\n[providers.groq]\nkind = \"openai\"\nbase_url = \"https://api.groq.com/openai/v1\"\napi_key_env = \"GROQ_API_KEY\"\nmodels = [\"llama-3.3-70b-versatile\"]\n",
        )
        .unwrap();
        let catalog = Catalog::build(
            &config,
            &env(&[("OPENAI_BASE_URL", "http://env"), ("ANTHROPIC_BASE_URL", "http://a/")]),
            &Health::default(),
        );
        assert_eq!(catalog.provider("openai").unwrap().base_url, "http://127.0.0.1:9/v1");
        assert_eq!(catalog.provider("anthropic").unwrap().base_url, "http://a");
        let groq = catalog.provider("groq").unwrap();
        assert_eq!(groq.kind, ProviderKind::Openai);
        assert_eq!(groq.default_model, "llama-3.3-70b-versatile");
        assert!(!groq.is_available());
    }
}
