//! `stepwise.toml` diagnostics, one behaviour per test: fixtures whose `# ^^^ code` lines mark
//! what must be reported at its place in the file, plus a snapshot of the messages; and the
//! workflow analysis seeing every provider the file declares even when the file has mistakes.

mod fixture;

use std::sync::Arc;

use fixture::{Expected, parse_annotations};
use insta::assert_snapshot;
use stepwise::analysis::Analysis;
use stepwise::model::config_file::lower;
use stepwise::model::diagnostic::Code;
use stepwise::model::workspace::Workspace;
use stepwise::syntax::text::LineIndex;

/// Asserts the fixture's annotations are exactly the file's diagnostics; returns them rendered
/// as `line:start-end severity [code] `text`: message` lines.
fn check(fixture: &str) -> String {
    let (text, mut expected) = parse_annotations(fixture);
    let file = lower(&text);
    let index = LineIndex::new(Arc::from(text.as_str()));
    let place = |start: usize, end: usize| {
        let line = index.line_of(start);
        let from = text[index.line_start(line)..start].chars().count();
        let to = from + text[start..end.min(index.line_end(line)).max(start)].chars().count();
        (line, from, to)
    };
    let mut actual: Vec<Expected> = file
        .diagnostics
        .iter()
        .map(|d| {
            let (line, start, end) = place(d.span.start, d.span.end);
            Expected {
                line,
                start,
                end,
                code: d.code.as_str().to_string(),
            }
        })
        .collect();
    let rendered = file
        .diagnostics
        .iter()
        .map(|d| {
            let (line, start, end) = place(d.span.start, d.span.end);
            let marked = text[d.span.start..d.span.end].lines().next().unwrap_or("");
            format!(
                "{}:{}-{} {} [{}] `{marked}`: {}",
                line + 1,
                start + 1,
                end + 1,
                d.severity.as_str(),
                d.code.as_str(),
                d.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    expected.sort();
    actual.sort();
    assert_eq!(
        actual, expected,
        "left: found, right: annotated, for:\n{text}\n{rendered}"
    );
    rendered
}

#[test]
fn a_valid_config_has_no_diagnostics() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/stepwise.toml")).unwrap();
    assert_eq!(check(&text), "");
}

#[test]
fn unknown_keys_suggest_the_schema_key_at_every_level() {
    assert_snapshot!(check(
        r#"
default_provider = "anthropic"
  concurency = 3
# ^^^^^^^^^^ unknown-key
[providers.groq]
kind = "openai"
base_url = "https://api.groq.com/openai/v1"
  api_key = "GROQ_API_KEY"
# ^^^^^^^ unknown-key
"#
    ));
}

#[test]
fn every_mistake_is_reported_at_its_place_not_only_the_first() {
    assert_snapshot!(check(
        r#"
concurrency = "eight"
#             ^^^^^^^ wrong-type
max_retries = -1
#             ^^ invalid-value
persona_dirs = ["personas", 3]
#                           ^ wrong-type
[providers.localai]
kind = "opena"
#      ^^^^^^^ invalid-value
base_url = "localhost:8080"
#          ^^^^^^^^^^^^^^^^ invalid-value
api_key_env = "MY KEY"
#             ^^^^^^^^ invalid-value
"#
    ));
}

#[test]
fn syntax_errors_are_each_reported_and_the_rest_of_the_file_still_counts() {
    assert_snapshot!(check(
        r#"
runs_dir = "out"
concurrency = = 3
#             ^ invalid-config
default_provider = "groq
#                      ^ invalid-config
[providers.groq]
base_url = "https://api.groq.com/openai/v1"
"#
    ));
}

#[test]
fn prices_are_checked_model_by_model() {
    assert_snapshot!(check(
        r#"
[providers.groq]
base_url = "https://api.groq.com/openai/v1"
[providers.groq.prices]
"llama-3.3-70b-versatile" = { input = 0.59, output = 0.79 }
"llama-3.1-8b-instant" = { input = 0.05, ouput = 0.08 }
#                                        ^^^^^ unknown-key
#                        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ missing-field
"mixtral" = { input = "cheap", output = 1 }
#                     ^^^^^^^ invalid-value
"#
    ));
}

#[test]
fn an_unknown_default_provider_suggests_built_in_and_declared_ones() {
    assert_snapshot!(check(
        r#"
default_provider = "locali"
#                  ^^^^^^^^ unknown-provider
[providers.localai]
base_url = "http://localhost:8080/v1"
"#
    ));
}

#[test]
fn a_new_provider_without_base_url_is_told_it_needs_one() {
    assert_snapshot!(check(
        r#"
[providers.localai]
#          ^^^^^^^ missing-field
kind = "openai"
"#
    ));
}

/// The workflow of the issue: `localai` is declared in a file with an unrelated mistake.
#[test]
fn a_mistake_in_stepwise_toml_does_not_cascade_into_the_workflow() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stepwise.toml"),
        "concurency = 3\n[providers.localai]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodels = [\"local-model\"]\n",
    )
    .unwrap();
    let flow = "version: 1\nname: Review\nprovider: localai\nmodel: local-model\nsteps:\n  - id: a\n    prompt: hi\n";
    let env = std::collections::BTreeMap::from([("LOCALAI_API_KEY".to_string(), "k".to_string())]);
    let ws = Workspace::load_trusting(dir.path(), &env, true);
    assert_eq!(ws.config.diagnostics.len(), 1, "{:?}", ws.config.diagnostics);
    assert_eq!(ws.config.diagnostics[0].code, Code::UnknownKey);
    let analysis = Analysis::new(Arc::from(flow), Arc::new(ws));
    let found = analysis.diagnostics();
    assert!(
        found
            .iter()
            .all(|d| d.code != Code::UnknownProvider && d.code != Code::InvalidConfig),
        "{found:?}"
    );
    assert!(found.is_empty(), "{found:?}");
}
