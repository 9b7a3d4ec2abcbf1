//! The document format as plain types, from which schemars derives the JSON Schema
//! (`schemas/workflow.schema.json`) and from which the lowering and key completion take the
//! keys allowed at each level and their descriptions, so the three cannot drift apart.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use schemars::{JsonSchema, Schema, generate::SchemaSettings};
use serde::Deserialize;

use super::config::Config;

/// An AI workflow: steps that each send a prompt to an LLM, with defaults any step may override.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "stepwise workflow")]
#[allow(dead_code)]
pub struct WorkflowDoc {
    /// Format version; only 1 exists.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Human-readable name of the workflow.
    pub name: String,
    /// What the workflow does.
    pub description: Option<String>,
    /// Default provider ID for every step (e.g. `anthropic`, `openai`, `google`, `ollama`).
    pub provider: Option<String>,
    /// Default model ID for every step.
    pub model: Option<String>,
    /// Default persona ID for every step (inline or from the persona library).
    pub persona: Option<String>,
    /// Default generation parameters for every step.
    pub params: Option<ParamsDoc>,
    /// The most one run may spend, in USD: a request whose estimated cost would take the run
    /// over it is not sent (`run --budget` overrides it).
    #[schemars(range(min = 0.0, max = 1_000_000.0))]
    pub budget_usd: Option<f64>,
    /// Named inputs; one without a default is required at run time.
    pub inputs: Option<BTreeMap<String, InputDoc>>,
    /// Inline personas; they shadow library personas of the same ID.
    pub personas: Option<BTreeMap<String, PersonaDoc>>,
    /// The steps, each sending one prompt (or one per item with `for_each`).
    #[schemars(length(min = 1))]
    pub steps: Vec<StepDoc>,
}

/// One step: a prompt sent to an LLM, with optional overrides of the workflow's settings.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct StepDoc {
    /// Unique step ID, used in `{{ steps.ID.output }}` and `needs`.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_-]*$"))]
    pub id: String,
    /// The prompt, a MiniJinja template: `{{ inputs.NAME }}`, `{{ steps.ID.output }}`, `{{ item }}`.
    pub prompt: String,
    /// Provider for this step only; overrides the workflow's `provider`.
    pub provider: Option<String>,
    /// Model for this step only; overrides the workflow's `model`.
    pub model: Option<String>,
    /// Persona for this step only; `null` means no persona for this step.
    pub persona: Option<Option<String>>,
    /// Generation parameters for this step; override the workflow's.
    pub params: Option<ParamsDoc>,
    /// Steps that must finish first (template references add implicit ones).
    pub needs: Option<Vec<String>>,
    /// `provider` or `provider/model` targets tried in order on outage-class failures.
    pub fallback: Option<Vec<String>>,
    /// Fan-out: an expression giving a list; the prompt runs once per item (`{{ item }}`).
    pub for_each: Option<String>,
    /// How many fan-out items run at once (default from `stepwise.toml`).
    #[schemars(range(min = 1))]
    pub concurrency: Option<u32>,
}

/// Generation parameters, merged: provider defaults < persona < workflow < step.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ParamsDoc {
    /// Sampling temperature.
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// Maximum tokens to generate.
    #[schemars(range(min = 1))]
    pub max_tokens: Option<u32>,
    /// Nucleus sampling probability mass.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub top_p: Option<f64>,
    /// Sequences that stop generation.
    pub stop: Option<Vec<String>>,
}

/// A named input of the workflow.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct InputDoc {
    /// What the input is for.
    pub description: Option<String>,
    /// Value used when none is given at run time; without one, the input is required.
    pub default: Option<String>,
}

/// A persona: a system prompt and optional generation defaults, inline or in `personas/ID.yaml`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PersonaDoc {
    /// Display name.
    pub name: String,
    /// What the persona is like.
    pub description: Option<String>,
    /// The system prompt sent to the provider.
    pub system: String,
    /// Generation defaults of this persona.
    pub params: Option<ParamsDoc>,
}

/// A level of the document where keys may stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// The top of a workflow document.
    Workflow,
    /// One item of `steps`.
    Step,
    /// A `params` mapping.
    Params,
    /// One input under `inputs`.
    Input,
    /// One persona (inline or library file).
    Persona,
}

impl Level {
    fn definition(self) -> &'static str {
        match self {
            Level::Workflow => "",
            Level::Step => "StepDoc",
            Level::Params => "ParamsDoc",
            Level::Input => "InputDoc",
            Level::Persona => "PersonaDoc",
        }
    }
}

/// A key allowed at some level, with the documentation the schema gives it.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The key.
    pub name: String,
    /// Its description (the doc comment above).
    pub description: String,
    /// Whether the schema requires it.
    pub required: bool,
}

/// The JSON Schema of a workflow document (draft-07, which yaml-language-server understands).
pub fn workflow_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = SchemaSettings::draft07()
            .for_deserialize()
            .into_generator()
            .into_root_schema_for::<WorkflowDoc>();
        schema.insert("$id".into(), "https://stepwise.dev/schemas/workflow.schema.json".into());
        schema
    })
}

/// The JSON Schema of a persona library file.
pub fn persona_schema() -> Schema {
    let mut schema = SchemaSettings::draft07()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<PersonaDoc>();
    schema.insert("$id".into(), "https://stepwise.dev/schemas/persona.schema.json".into());
    schema
}

/// The JSON Schema of `stepwise.toml` (for Even Better TOML and other schema-aware editors).
pub fn config_schema() -> Schema {
    let mut schema = SchemaSettings::draft07()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<Config>();
    schema.insert("$id".into(), "https://stepwise.dev/schemas/config.schema.json".into());
    schema
}

fn pretty(schema: &Schema) -> String {
    let mut json = serde_json::to_string_pretty(schema).expect("schema serializes");
    json.push('\n');
    json
}

/// The workflow schema as checked in (`schemas/workflow.schema.json`) and printed by `stepwise schema`.
pub fn workflow_schema_json() -> String {
    pretty(workflow_schema())
}

/// The persona schema as checked in (`schemas/persona.schema.json`).
pub fn persona_schema_json() -> String {
    pretty(&persona_schema())
}

/// The config schema as checked in (`schemas/config.schema.json`).
pub fn config_schema_json() -> String {
    pretty(&config_schema())
}

/// The keys allowed at `level`, in declaration order.
pub fn keys(level: Level) -> &'static [KeyInfo] {
    static KEYS: OnceLock<Vec<(Level, Vec<KeyInfo>)>> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        [
            Level::Workflow,
            Level::Step,
            Level::Params,
            Level::Input,
            Level::Persona,
        ]
        .into_iter()
        .map(|level| (level, keys_of(workflow_schema(), level.definition())))
        .collect()
    });
    all.iter()
        .find(|(l, _)| *l == level)
        .map(|(_, k)| k.as_slice())
        .unwrap_or(&[])
}

/// The documentation of `key` at `level`, if the key is allowed there.
pub fn key_info(level: Level, key: &str) -> Option<&'static KeyInfo> {
    keys(level).iter().find(|k| k.name == key)
}

fn keys_of(root: &Schema, definition: &str) -> Vec<KeyInfo> {
    let object = if definition.is_empty() {
        root.as_object()
    } else {
        root.get("definitions")
            .and_then(|d| d.get(definition))
            .and_then(|d| d.as_object())
    };
    let Some(object) = object else {
        return Vec::new();
    };
    let required: Vec<&str> = object
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    object
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| KeyInfo {
                    name: name.clone(),
                    description: prop
                        .get("description")
                        .and_then(|d| d.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    required: required.contains(&name.as_str()),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_keys_come_from_the_schema_with_descriptions() {
        let id = key_info(Level::Step, "id").unwrap();
        assert!(id.required);
        assert!(id.description.contains("Unique step ID"));
        assert!(key_info(Level::Step, "fallback").is_some());
        assert!(key_info(Level::Workflow, "steps").unwrap().required);
        assert!(key_info(Level::Persona, "system").unwrap().required);
    }
}
