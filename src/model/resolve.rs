//! Resolution (SPEC §3): the one function that says what a step really runs on and why.
//! Everything that shows or runs a step calls `resolve_step`; nothing re-derives it.

use std::fmt;

use super::workflow::{Params, Step, Workflow};
use super::workspace::Workspace;
use crate::syntax::text::Span;

/// Where an effective setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The step's own key.
    Step,
    /// The workflow's default.
    Workflow,
    /// `default_provider` in `stepwise.toml`.
    Config,
    /// The provider's default model or parameters.
    ProviderDefault,
    /// The persona's `params`.
    Persona,
    /// A one-time override for this run (CLI flag or editor action).
    Override,
}

impl Source {
    /// The label shown in hints and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Step => "step",
            Source::Workflow => "workflow",
            Source::Config => "config",
            Source::ProviderDefault => "provider default",
            Source::Persona => "persona",
            Source::Override => "override",
        }
    }

    /// A sentence explaining the source, for hint tooltips.
    pub fn explain(self, what: &str) -> String {
        match self {
            Source::Step => format!("set by this step's `{what}` key, overriding the workflow"),
            Source::Workflow => format!("inherited from the workflow's `{what}`"),
            Source::Config => "from `default_provider` in stepwise.toml".to_string(),
            Source::ProviderDefault => "the provider's default model".to_string(),
            Source::Persona => "from the persona's params".to_string(),
            Source::Override => "a one-time override for this run".to_string(),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A setting's value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Its source.
    pub source: Source,
    /// Where in the document it was set, if it was.
    pub span: Option<Span>,
}

impl<T> Sourced<T> {
    fn new(value: T, source: Source, span: Option<Span>) -> Sourced<T> {
        Sourced { value, source, span }
    }
}

/// Merged generation parameters, each with its source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EffectiveParams {
    /// Sampling temperature.
    pub temperature: Option<Sourced<f64>>,
    /// Maximum tokens.
    pub max_tokens: Option<Sourced<u32>>,
    /// Nucleus sampling mass.
    pub top_p: Option<Sourced<f64>>,
    /// Stop sequences.
    pub stop: Option<Sourced<Vec<String>>>,
    /// Values a later layer replaced, in the order they were replaced: why a persona's
    /// `temperature` is not the one sent.
    pub shadowed: Vec<ShadowedParam>,
}

/// A parameter value that a later layer replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowedParam {
    /// The parameter's key, e.g. `temperature`.
    pub name: &'static str,
    /// The replaced value, as written in YAML.
    pub value: String,
    /// Where the replaced value came from.
    pub source: Source,
}

/// One merged parameter for display: its key, value and source.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRow {
    /// The parameter's key.
    pub name: &'static str,
    /// The value in force, as written in YAML.
    pub value: String,
    /// Where it came from.
    pub source: Source,
}

/// Sets `slot` from `layer`, keeping the value it replaces in `shadowed`.
fn set_param<T: Clone + fmt::Debug>(
    slot: &mut Option<Sourced<T>>,
    layer: &Option<super::workflow::Spanned<T>>,
    name: &'static str,
    source: Source,
    shadowed: &mut Vec<ShadowedParam>,
) {
    let Some(v) = layer else { return };
    if let Some(old) = slot.take() {
        shadowed.push(ShadowedParam {
            name,
            value: param_text(&old.value),
            source: old.source,
        });
    }
    *slot = Some(Sourced::new(v.value.clone(), source, Some(v.span)));
}

/// A parameter value as a user would write it (`0.2`, `1024`, `["END"]`).
fn param_text<T: fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

impl EffectiveParams {
    fn layer(&mut self, params: &Params, source: Source) {
        let shadowed = &mut self.shadowed;
        set_param(
            &mut self.temperature,
            &params.temperature,
            "temperature",
            source,
            shadowed,
        );
        set_param(&mut self.max_tokens, &params.max_tokens, "max_tokens", source, shadowed);
        set_param(&mut self.top_p, &params.top_p, "top_p", source, shadowed);
        set_param(&mut self.stop, &params.stop, "stop", source, shadowed);
    }

    /// The parameters in force, in a fixed order.
    pub fn rows(&self) -> Vec<ParamRow> {
        fn row<T: fmt::Debug>(name: &'static str, v: &Option<Sourced<T>>) -> Option<ParamRow> {
            v.as_ref().map(|v| ParamRow {
                name,
                value: param_text(&v.value),
                source: v.source,
            })
        }
        [
            row("temperature", &self.temperature),
            row("max_tokens", &self.max_tokens),
            row("top_p", &self.top_p),
            row("stop", &self.stop),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A step's effective settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    /// The provider; `None` when nothing names one (an error on the step).
    pub provider: Option<Sourced<String>>,
    /// The model; `None` when the provider is unknown and nothing names a model.
    pub model: Option<Sourced<String>>,
    /// The persona: `None` when none is set anywhere; `Some` with value `None` for `persona: null`.
    pub persona: Option<Sourced<Option<String>>>,
    /// Merged parameters.
    pub params: EffectiveParams,
}

impl Effective {
    /// The persona ID in force, if any.
    pub fn persona_id(&self) -> Option<&str> {
        self.persona.as_ref().and_then(|p| p.value.as_deref())
    }
}

/// One-time overrides of a run (they beat the step's own keys).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Overrides {
    /// Provider for this run.
    pub provider: Option<String>,
    /// Model for this run.
    pub model: Option<String>,
    /// Persona for this run; `Some(None)` runs without a persona.
    pub persona: Option<Option<String>>,
}

/// Resolves `step` of `workflow` in `workspace`, with `overrides` on top.
pub fn resolve_step(workflow: &Workflow, step: &Step, workspace: &Workspace, overrides: &Overrides) -> Effective {
    let catalog = &workspace.catalog;
    let inherited_provider = workflow
        .provider
        .as_ref()
        .map(|p| Sourced::new(p.value.clone(), Source::Workflow, Some(p.span)))
        .or_else(|| {
            workspace
                .config
                .config
                .default_provider
                .clone()
                .map(|p| Sourced::new(p, Source::Config, None))
        });
    let step_provider = step
        .provider
        .as_ref()
        .map(|p| Sourced::new(p.value.clone(), Source::Step, Some(p.span)));
    let override_provider = overrides
        .provider
        .clone()
        .map(|p| Sourced::new(p, Source::Override, None));
    let provider = override_provider
        .clone()
        .or_else(|| step_provider.clone())
        .or_else(|| inherited_provider.clone());

    let provider_default = |provider: &Option<Sourced<String>>| {
        provider
            .as_ref()
            .and_then(|p| catalog.provider(&p.value))
            .filter(|p| !p.default_model.is_empty())
            .map(|p| Sourced::new(p.default_model.clone(), Source::ProviderDefault, None))
    };
    let differs = |a: &Option<Sourced<String>>, b: &Option<Sourced<String>>| match (a, b) {
        (Some(a), Some(b)) => a.value != b.value,
        (Some(_), None) => true,
        _ => false,
    };
    let step_or_inherited = step_provider.clone().or_else(|| inherited_provider.clone());
    let model = if let Some(m) = &overrides.model {
        Some(Sourced::new(m.clone(), Source::Override, None))
    } else if override_provider.is_some() && differs(&override_provider, &step_or_inherited) {
        provider_default(&provider)
    } else if let Some(m) = &step.model {
        Some(Sourced::new(m.value.clone(), Source::Step, Some(m.span)))
    } else if step_provider.is_some() && differs(&step_provider, &inherited_provider) {
        provider_default(&provider)
    } else if let Some(m) = &workflow.model {
        Some(Sourced::new(m.value.clone(), Source::Workflow, Some(m.span)))
    } else {
        provider_default(&provider)
    };

    let persona = match &overrides.persona {
        Some(p) => Some(Sourced::new(p.clone(), Source::Override, None)),
        None => step
            .persona
            .as_ref()
            .map(|p| Sourced::new(p.value.clone(), Source::Step, Some(p.span)))
            .or_else(|| {
                workflow
                    .persona
                    .as_ref()
                    .map(|p| Sourced::new(Some(p.value.clone()), Source::Workflow, Some(p.span)))
            }),
    };

    let mut params = EffectiveParams::default();
    if let Some(max) = provider
        .as_ref()
        .and_then(|p| catalog.provider(&p.value))
        .and_then(|p| p.default_max_tokens)
    {
        params.max_tokens = Some(Sourced::new(max, Source::ProviderDefault, None));
    }
    if let Some(found) = persona
        .as_ref()
        .and_then(|p| p.value.as_deref())
        .and_then(|id| workspace.persona(workflow, id))
    {
        params.layer(&found.persona().params, Source::Persona);
    }
    params.layer(&workflow.params, Source::Workflow);
    if let Some(step_params) = &step.params {
        params.layer(step_params, Source::Step);
    }

    Effective {
        provider,
        model,
        persona,
        params,
    }
}

/// A hash of everything that decides what a step sends: its effective provider, model,
/// persona (with its system prompt), parameters, fallbacks, prompt and fan-out expression.
/// Recorded with each run, so the editor can tell a step edited since its run (stale).
pub fn step_fingerprint(workflow: &Workflow, step: &Step, workspace: &Workspace, effective: &Effective) -> String {
    use sha2::{Digest, Sha256};
    let system = effective
        .persona_id()
        .and_then(|id| workspace.persona(workflow, id))
        .and_then(|p| p.persona().system.as_ref().map(|s| s.value.clone()));
    let p = &effective.params;
    let canonical = format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}/{:?}/{:?}/{:?}\n{:?}\n{:?}\n{:?}",
        effective.provider.as_ref().map(|v| &v.value),
        effective.model.as_ref().map(|v| &v.value),
        effective.persona_id(),
        system,
        p.temperature.as_ref().map(|v| v.value),
        p.max_tokens.as_ref().map(|v| v.value),
        p.top_p.as_ref().map(|v| v.value),
        p.stop.as_ref().map(|v| &v.value),
        step.fallback
            .iter()
            .map(|f| (&f.provider.value, f.model.as_ref().map(|m| &m.value)))
            .collect::<Vec<_>>(),
        step.prompt.as_ref().map(|t| &t.source),
        step.for_each.as_ref().map(|t| &t.source),
    );
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
