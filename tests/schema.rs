//! The JSON Schema: checked in, printed by `stepwise schema`, derived from the model, and in
//! agreement with the lowering about which keys exist.

mod fixture;

use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value};
use stepwise::model::diagnostic::Code;
use stepwise::model::schema::{config_schema_json, persona_schema_json, workflow_schema_json};
use stepwise::syntax::yaml::{self, Node, NodeKind, ScalarValue};

fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar(s) => match s.typed() {
            ScalarValue::Null => Value::Null,
            ScalarValue::Bool(b) => Value::Bool(b),
            ScalarValue::Int(i) => Value::from(i),
            ScalarValue::Float(f) => Value::from(f),
            ScalarValue::Str(s) => Value::from(s),
        },
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|e| (e.key.key_text().unwrap_or_default().to_string(), to_json(&e.value)))
                .collect::<Map<_, _>>(),
        ),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Alias => Value::Null,
    }
}

fn yaml_file_as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let parsed = yaml::parse(&text);
    assert!(parsed.error.is_none(), "{}: {:?}", path.display(), parsed.error);
    to_json(parsed.root.as_ref().unwrap())
}

fn checked_in(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(name);
    std::fs::read_to_string(&path).unwrap_or_default()
}

fn validator(json: &str) -> jsonschema::Validator {
    jsonschema::validator_for(&serde_json::from_str(json).unwrap()).unwrap()
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator.iter_errors(instance).map(|e| e.to_string()).collect()
}

#[test]
fn checked_in_workflow_schema_is_up_to_date() {
    assert!(
        checked_in("workflow.schema.json") == workflow_schema_json(),
        "schemas/workflow.schema.json is stale: run `cargo run -- schema > schemas/workflow.schema.json`"
    );
}

#[test]
fn checked_in_persona_schema_is_up_to_date() {
    assert!(
        checked_in("persona.schema.json") == persona_schema_json(),
        "schemas/persona.schema.json is stale: run `cargo run -- schema persona > schemas/persona.schema.json`"
    );
}

#[test]
fn checked_in_config_schema_is_up_to_date() {
    assert!(
        checked_in("config.schema.json") == config_schema_json(),
        "schemas/config.schema.json is stale: run `cargo run -- schema config > schemas/config.schema.json`"
    );
}

fn toml_as_json(text: &str) -> Value {
    serde_json::to_value(toml::from_str::<toml::Table>(text).unwrap()).unwrap()
}

#[test]
fn the_example_config_validates_and_a_misspelt_key_does_not() {
    let config = validator(&checked_in("config.schema.json"));
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/stepwise.toml")).unwrap();
    let errs = errors(&config, &toml_as_json(&example));
    assert!(errs.is_empty(), "{errs:?}");
    let errs = errors(
        &config,
        &toml_as_json("concurrncy = 3\n[providers.groq]\nkind = \"grok\"\n"),
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
}

#[test]
fn stepwise_schema_prints_the_checked_in_schema() {
    let out = Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        checked_in("workflow.schema.json")
    );
}

#[test]
fn examples_validate_against_the_schemas() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let workflow = validator(&checked_in("workflow.schema.json"));
    let persona = validator(&checked_in("persona.schema.json"));
    let mut seen = 0;
    for entry in walkdir::WalkDir::new(&examples).into_iter().filter_map(Result::ok) {
        let path = entry.path();
        let name = path.to_string_lossy();
        let validator = if name.ends_with(".flow.yaml") {
            &workflow
        } else if path.parent().is_some_and(|p| p.ends_with("personas")) {
            &persona
        } else {
            continue;
        };
        let errs = errors(validator, &yaml_file_as_json(path));
        assert!(errs.is_empty(), "{name}: {errs:?}");
        seen += 1;
    }
    assert!(seen >= 5, "expected the example workflows and personas, saw {seen}");
}

/// A document that uses every key the schema allows, at every level.
const EVERY_KEY: &str = r#"
version: 1
name: Every key
description: uses every key
provider: anthropic
model: claude-sonnet-4-5
persona: analyst
params: { temperature: 0.3, max_tokens: 100, top_p: 0.9, stop: ["END"] }
inputs:
  topic: { description: what to write about, default: skates }
personas:
  analyst:
    name: Analyst
    description: Short
    system: Be short.
    params: { temperature: 0.1 }
steps:
  - id: list
    prompt: "List {{ inputs.topic }}"
  - id: each
    provider: openai
    model: gpt-4o
    persona: null
    params: { max_tokens: 50 }
    needs: [list]
    fallback: [google/gemini-2.5-flash, anthropic]
    for_each: steps.list.output | lines
    concurrency: 2
    prompt: "About {{ item }}"
"#;

#[test]
fn every_schema_key_is_understood_by_the_lowering() {
    let analysis = fixture::analyse(EVERY_KEY, fixture::all_keys());
    let diagnostics = analysis.diagnostics();
    assert!(diagnostics.is_empty(), "{}", fixture::render(&analysis));
    let parsed = yaml::parse(EVERY_KEY);
    let errs = errors(
        &validator(&workflow_schema_json()),
        &to_json(parsed.root.as_ref().unwrap()),
    );
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn the_schema_rejects_what_the_lowering_rejects() {
    let doc = EVERY_KEY.replace("    concurrency: 2", "    concurrency: 2\n    colour: red");
    let analysis = fixture::analyse(&doc, fixture::all_keys());
    assert!(analysis.diagnostics().iter().any(|d| d.code == Code::UnknownKey));
    let parsed = yaml::parse(&doc);
    let errs = errors(
        &validator(&workflow_schema_json()),
        &to_json(parsed.root.as_ref().unwrap()),
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
}
