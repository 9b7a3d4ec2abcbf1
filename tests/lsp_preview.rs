//! Previewing a step's request from the editor (`stepwise.previewRequest`), end to end: the
//! real `stepwise lsp` binary over stdio, then a run of the same step against fake providers
//! on 127.0.0.1 — the preview is what the run sends, byte for byte, keys aside.

mod support;

use serde_json::{Value, json};
use support::fake_provider::{Received, Reply, anthropic_stream, openai_stream};
use support::lsp::pos_of;
use support::lsp_workspace::{LOCAL_PROVIDERS, LspWorkspace, WorkspaceSpec};

const ANTHROPIC_KEY: &str = "sk-test-anthropic-Preview42";
const OPENAI_KEY: &str = "sk-test-openai-Preview42";

const FLOW: &str = "version: 1
name: Preview
provider: anthropic
model: claude-sonnet-4-5
persona: analyst
params:
  temperature: 0.2
  max_tokens: 300
personas:
  analyst:
    name: Analyst
    system: You are a concise analyst.
inputs:
  product:
    default: rocket skates
steps:
  - id: facts
    prompt: List facts about {{ inputs.product }}.
  - id: pitch
    provider: openai
    model: gpt-4o
    params: { temperature: 0.9 }
    prompt: |
      Pitch \"{{ inputs.product }}\" from:
      {{ steps.facts.output }}
  - id: taglines
    for_each: steps.facts.output | lines
    prompt: A tagline for {{ item }}
";

/// Headers the HTTP stack adds to every request on its own (not part of the request itself).
const TRANSPORT_HEADERS: [&str; 4] = ["host", "content-length", "accept", "accept-encoding"];

type Setup = LspWorkspace;

fn answer(r: &Received) -> Reply {
    if r.path.ends_with("/v1/messages") {
        anthropic_stream(&["speed\n", "wheels\n", "rockets"], 10, 5)
    } else {
        openai_stream(&["Go fast."], 10, 5)
    }
}

fn setup() -> Setup {
    let spec = WorkspaceSpec {
        config: LOCAL_PROVIDERS,
        file: "preview.flow.yaml",
        env: &[
            ("ANTHROPIC_API_KEY", ANTHROPIC_KEY),
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("STEPWISE_TRUST_WORKSPACE", "1"),
        ],
        capabilities: json!({}),
    };
    LspWorkspace::open(spec, FLOW, answer)
}

fn command(s: &mut Setup, command: &str, argument: Value) -> Result<Value, Value> {
    s.server.request(
        "workspace/executeCommand",
        json!({ "command": command, "arguments": [argument] }),
    )
}

fn preview(s: &mut Setup, step: &str) -> Value {
    let uri = s.uri.clone();
    command(s, "stepwise.previewRequest", json!({ "uri": uri, "step": step })).unwrap()
}

fn run_step(s: &mut Setup, step: &str) {
    let uri = s.uri.clone();
    let reply = command(s, "stepwise.runStep", json!({ "uri": uri, "step": step })).unwrap();
    assert_eq!(reply["status"], "completed", "{reply}");
}

fn header<'a>(preview: &'a Value, name: &str) -> Option<&'a str> {
    preview["headers"]
        .as_array()?
        .iter()
        .find(|h| h["name"] == name)?
        .get("value")?
        .as_str()
}

/// Asserts that `sent` is the request `preview` shows: method, URL, every header (the key
/// header as `***` in the preview), no header the preview leaves out, and the body bytes.
fn assert_sent_as_previewed(preview: &Value, sent: &Received, base_url: &str, auth: &str, key: &str) {
    assert_eq!(sent.method, preview["method"].as_str().unwrap(), "method");
    assert_eq!(
        format!("{base_url}{}", sent.path),
        preview["url"].as_str().unwrap(),
        "URL"
    );
    for h in preview["headers"].as_array().unwrap() {
        let (name, value) = (h["name"].as_str().unwrap(), h["value"].as_str().unwrap());
        let expected = if name == auth {
            value.replace("***", key)
        } else {
            value.to_string()
        };
        assert_eq!(sent.header(name), Some(expected.as_str()), "header {name}");
    }
    for (name, _) in &sent.headers {
        assert!(
            TRANSPORT_HEADERS.contains(&name.as_str()) || header(preview, name).is_some(),
            "sent header {name} is not in the preview {preview}"
        );
    }
    assert_eq!(sent.body, preview["bodyText"].as_str().unwrap(), "body bytes");
}

#[test]
fn the_preview_equals_what_a_run_then_sends_for_anthropic_and_openai() {
    let mut s = setup();
    let url = s.provider.url.clone();
    let facts = preview(&mut s, "facts");
    assert_eq!(s.provider.count(), 0, "a preview sends nothing");
    run_step(&mut s, "facts");
    let sent = s.provider.received();
    assert_sent_as_previewed(&facts, &sent[0], &url, "x-api-key", ANTHROPIC_KEY);

    let pitch = preview(&mut s, "pitch");
    assert!(
        pitch["prompt"].as_str().unwrap().contains("speed\nwheels\nrockets"),
        "{pitch}"
    );
    assert_eq!(pitch["notRun"], json!([]));
    run_step(&mut s, "pitch");
    let sent = s.provider.received();
    assert_eq!(sent.len(), 2, "pitch ran alone: facts has an output");
    assert_sent_as_previewed(&pitch, &sent[1], &url, "authorization", OPENAI_KEY);
}

#[test]
fn the_preview_shows_keys_as_stars_and_the_curl_line_names_the_key_variable() {
    let mut s = setup();
    let facts = preview(&mut s, "facts");
    let pitch = preview(&mut s, "pitch");
    for p in [&facts, &pitch] {
        let text = p.to_string();
        assert!(!text.contains(ANTHROPIC_KEY) && !text.contains(OPENAI_KEY), "{text}");
    }
    assert_eq!(header(&facts, "x-api-key"), Some("***"));
    assert_eq!(header(&pitch, "authorization"), Some("Bearer ***"));
    let curl = facts["curl"].as_str().unwrap();
    assert!(curl.contains("\"x-api-key: $ANTHROPIC_API_KEY\""), "{curl}");
    assert!(
        pitch["curl"]
            .as_str()
            .unwrap()
            .contains("\"authorization: Bearer $OPENAI_API_KEY\""),
        "{pitch}"
    );
}

#[test]
fn an_upstream_step_without_an_output_is_a_visible_placeholder() {
    let mut s = setup();
    let pitch = preview(&mut s, "pitch");
    assert_eq!(pitch["notRun"], json!(["facts"]));
    let prompt = pitch["prompt"].as_str().unwrap();
    assert_eq!(
        prompt,
        "Pitch \"rocket skates\" from:\n⟨steps.facts.output: not run yet⟩"
    );
    assert!(pitch["text"].as_str().unwrap().contains("not run yet"), "{pitch}");
}

#[test]
fn the_preview_lists_the_merged_params_with_their_sources() {
    let mut s = setup();
    let pitch = preview(&mut s, "pitch");
    assert_eq!(
        pitch["params"],
        json!([
            { "name": "temperature", "value": "0.9", "source": "step" },
            { "name": "max_tokens", "value": "300", "source": "workflow" },
        ])
    );
    assert_eq!(pitch["provider"], json!({ "value": "openai", "source": "step" }));
    assert_eq!(pitch["persona"], json!({ "value": "analyst", "source": "workflow" }));
}

#[test]
fn a_fan_out_preview_says_which_item_it_shows_and_how_many() {
    let mut s = setup();
    run_step(&mut s, "facts");
    let taglines = preview(&mut s, "taglines");
    assert_eq!(taglines["item"], json!({ "index": 0, "total": 3 }));
    assert_eq!(taglines["prompt"], "A tagline for speed");
    assert!(taglines["text"].as_str().unwrap().contains("item 1 of 3"), "{taglines}");
}

#[test]
fn the_preview_follows_unsaved_edits_and_one_time_overrides() {
    let mut s = setup();
    let (line, character) = pos_of(FLOW, "List facts", 0);
    let uri = s.uri.clone();
    s.server
        .edit(&uri, 2, (line, character), (line, character + 10), "Name facts");
    let by_position = command(
        &mut s,
        "stepwise.previewRequest",
        json!({ "uri": uri, "position": { "line": line, "character": 0 }, "model": "claude-haiku-4-5" }),
    )
    .unwrap();
    assert_eq!(by_position["step"], "facts");
    assert_eq!(by_position["prompt"], "Name facts about rocket skates.");
    assert_eq!(by_position["body"]["model"], "claude-haiku-4-5");
    assert_eq!(by_position["model"]["source"], "override");
}

#[test]
fn each_step_has_a_preview_request_lens_and_code_action() {
    let mut s = setup();
    let uri = s.uri.clone();
    let lenses = s
        .server
        .request("textDocument/codeLens", json!({ "textDocument": { "uri": uri } }))
        .unwrap();
    let previews: Vec<&Value> = lenses
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["command"]["command"] == "stepwise.previewRequest")
        .collect();
    assert_eq!(previews.len(), 3, "{lenses}");
    assert_eq!(previews[1]["command"]["arguments"][0]["step"], "pitch");
    let (line, _) = pos_of(FLOW, "Pitch", 0);
    let actions = s
        .server
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": uri }, "range": { "start": { "line": line, "character": 2 }, "end": { "line": line, "character": 2 } }, "context": { "diagnostics": [] } }),
        )
        .unwrap();
    let action = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["command"]["command"] == "stepwise.previewRequest")
        .unwrap_or_else(|| panic!("{actions}"));
    assert_eq!(action["command"]["arguments"][0]["step"], "pitch");
}

#[test]
fn a_preview_of_an_unknown_step_is_an_error_with_did_you_mean() {
    let mut s = setup();
    let uri = s.uri.clone();
    let error = command(&mut s, "stepwise.previewRequest", json!({ "uri": uri, "step": "pich" })).unwrap_err();
    assert!(error["message"].as_str().unwrap().contains("`pitch`"), "{error}");
}
