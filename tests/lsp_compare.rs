//! Comparing a step from the editor, through the real `stepwise lsp` binary over stdio with
//! fake providers on 127.0.0.1: the `⇄ Compare` lens and action, the candidate targets,
//! `stepwise.compareStep` with `$/progress`, and adopting a target with `stepwise.useTarget`.

mod support;

use serde_json::{Value, json};
use support::fake_provider::{Received, Reply, anthropic_stream, openai_stream, prompt_of};
use support::lsp_workspace::{LOCAL_KEYS, LOCAL_PROVIDERS, LspWorkspace, WorkspaceSpec};

const FLOW: &str = "version: 1
name: Brief
provider: anthropic
model: claude-sonnet-4-5
persona: analyst
personas:
  analyst:
    name: Analyst
    system: You are a concise analyst.
  editor:
    name: Editor
    system: You are a careful editor.
steps:
  - id: summarize
    prompt: Summarize rocket skates.
  - id: draft
    fallback: [openai/gpt-4o-mini]
    prompt: |
      Draft from: {{ steps.summarize.output }}
";

type Setup = LspWorkspace;

fn answer(r: &Received) -> Reply {
    let text = format!("answer to {}", prompt_of(r).lines().next().unwrap_or_default());
    if r.path.ends_with("/v1/messages") {
        anthropic_stream(&[&text], 10, 5)
    } else {
        openai_stream(&[&text], 12, 6)
    }
}

/// USD per million input and output tokens configured in the test's stepwise.toml.
const PRICES: [(&str, f64, f64); 2] = [("claude-haiku-4-5", 2.0, 7.0), ("gpt-4o", 3.0, 11.0)];

/// [`FLOW`] with Anthropic and OpenAI at one fake server with configured prices, Ollama at a
/// closed port (unavailable).
fn setup() -> Setup {
    setup_with(FLOW)
}

/// `flow` in the workspace of [`setup`].
fn setup_with(flow: &str) -> Setup {
    let prices = |(model, input, output): (&str, f64, f64)| {
        format!("\"{model}\" = {{ input = {input:?}, output = {output:?} }}\n")
    };
    let config = format!(
        "{LOCAL_PROVIDERS}[providers.anthropic.prices]\n{}[providers.openai.prices]\n{}",
        prices(PRICES[0]),
        prices(PRICES[1])
    );
    let spec = WorkspaceSpec {
        config: &config,
        file: "brief.flow.yaml",
        env: &LOCAL_KEYS,
        capabilities: json!({ "workspace": { "codeLens": { "refreshSupport": true } } }),
    };
    LspWorkspace::open(spec, flow, answer)
}

fn command(s: &mut Setup, name: &str, argument: Value) -> Result<Value, Value> {
    s.server.request(
        "workspace/executeCommand",
        json!({ "command": name, "arguments": [argument], "workDoneToken": "compare-1" }),
    )
}

fn lenses(s: &mut Setup) -> Vec<Value> {
    let reply = s
        .server
        .request("textDocument/codeLens", json!({ "textDocument": { "uri": s.uri } }))
        .unwrap();
    reply.as_array().unwrap().clone()
}

#[test]
fn each_step_has_a_compare_lens_and_action_carrying_the_step() {
    let mut s = setup();
    let all = lenses(&mut s);
    let compare: Vec<&Value> = all.iter().filter(|l| l["command"]["title"] == "⇄ Compare").collect();
    assert_eq!(compare.len(), 2, "{all:?}");
    assert_eq!(compare[1]["command"]["command"], "stepwise.compareStep");
    assert_eq!(
        compare[1]["command"]["arguments"][0],
        json!({ "uri": s.uri, "step": "draft" })
    );
    let uri = s.uri.clone();
    let actions = s
        .server
        .request(
            "textDocument/codeAction",
            json!({
                "textDocument": { "uri": uri },
                "range": { "start": { "line": 15, "character": 4 }, "end": { "line": 15, "character": 4 } },
                "context": { "diagnostics": [] }
            }),
        )
        .unwrap();
    let action = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Compare `draft` across providers…")
        .unwrap_or_else(|| panic!("{actions}"));
    assert_eq!(action["command"]["command"], "stepwise.compareStep");
}

#[test]
fn the_candidates_are_the_available_providers_models_with_the_steps_own_first() {
    let mut s = setup();
    let uri = s.uri.clone();
    let reply = command(
        &mut s,
        "stepwise.compareTargets",
        json!({ "uri": uri, "step": "draft" }),
    )
    .unwrap();
    let labels: Vec<&str> = reply["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels[0], "anthropic/claude-sonnet-4-5", "{labels:?}");
    assert_eq!(reply["targets"][0]["current"], true);
    assert!(labels.contains(&"openai/gpt-4o"), "{labels:?}");
    assert!(
        !labels.iter().any(|l| l.starts_with("ollama/")),
        "ollama is not answering: {labels:?}"
    );
    assert_eq!(reply["personas"], json!(["analyst", "editor"]));
    assert_eq!(reply["currentPersona"], "analyst");
}

#[test]
fn compare_step_sends_one_request_per_target_reports_progress_and_changes_no_run_result() {
    let mut s = setup();
    let uri = s.uri.clone();
    let ran = command(&mut s, "stepwise.runStep", json!({ "uri": uri, "step": "draft" })).unwrap();
    assert_eq!(ran["status"], "completed", "{ran}");
    let before = lenses(&mut s);
    let sent_before = s.provider.count();
    s.server.notifications.clear();

    let targets = json!([
        { "provider": "anthropic", "model": "claude-haiku-4-5" },
        { "provider": "openai", "model": "gpt-4o", "persona": "editor" },
        { "provider": "openai" }
    ]);
    let reply = command(
        &mut s,
        "stepwise.compareStep",
        json!({ "uri": uri, "position": { "line": 16, "character": 6 }, "targets": targets }),
    )
    .unwrap();
    let sent: Vec<Received> = s.provider.received().split_off(sent_before);
    assert_eq!(sent.len(), 3, "one request per target, no upstream run");
    assert!(
        sent.iter()
            .all(|r| prompt_of(r).trim() == "Draft from: answer to Summarize rocket skates."),
        "{sent:?}"
    );
    let labels: Vec<&str> = reply["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "anthropic/claude-haiku-4-5@analyst",
            "openai/gpt-4o@editor",
            "openai/gpt-4o@analyst"
        ]
    );
    assert_eq!(
        reply["targets"][1]["samples"][0]["output"],
        "answer to Draft from: answer to Summarize rocket skates."
    );
    assert_eq!(reply["targets"][1]["samples"][0]["usage"]["output_tokens"], 6);
    assert!(reply["targets"][0]["latency"]["median_ms"].is_u64(), "{reply}");
    for target in reply["targets"].as_array().unwrap() {
        let (_, input, output) = PRICES.iter().find(|p| p.0 == target["model"]).unwrap();
        let usage = &target["samples"][0]["usage"];
        let tokens = |k: &str| usage[k].as_f64().unwrap();
        let expected = (tokens("input_tokens") * input + tokens("output_tokens") * output) / 1e6;
        let cost = target["cost_usd"].as_f64().unwrap_or_else(|| panic!("{target}"));
        assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}: {target}");
    }
    assert!(std::path::Path::new(reply["record"].as_str().unwrap()).is_file());
    let end = s.server.wait_for("$/progress", |p| {
        p["token"] == "compare-1" && p["value"]["kind"] == "end"
    });
    assert_eq!(end["value"]["message"], "done");
    let progress: Vec<&Value> = s
        .server
        .notifications
        .iter()
        .filter(|m| m["method"] == "$/progress" && m["params"]["token"] == "compare-1")
        .collect();
    assert_eq!(progress.first().unwrap()["params"]["value"]["kind"], "begin");
    assert!(
        progress.iter().any(|p| p["params"]["value"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("openai/gpt-4o@editor: completed"))),
        "{progress:?}"
    );
    assert_eq!(lenses(&mut s), before, "the lenses (run results) are as they were");
}

#[test]
fn a_target_whose_estimate_exceeds_the_workflows_budget_is_not_sent_and_says_so() {
    // Worst cases at 1,000 output tokens: claude-haiku-4-5 $0.007, gpt-4o $0.011 > $0.01.
    let flow = FLOW.replace(
        "persona: analyst\n",
        "persona: analyst\nbudget_usd: 0.01\nparams:\n  max_tokens: 1000\n",
    );
    let mut s = setup_with(&flow);
    let uri = s.uri.clone();
    let targets = json!([
        { "provider": "anthropic", "model": "claude-haiku-4-5" },
        { "provider": "openai", "model": "gpt-4o" }
    ]);
    let reply = command(
        &mut s,
        "stepwise.compareStep",
        json!({ "uri": uri, "step": "summarize", "targets": targets }),
    )
    .unwrap();
    let paths: Vec<String> = s.provider.received().iter().map(|r| r.path.clone()).collect();
    assert!(
        !paths.iter().any(|p| p.ends_with("/chat/completions")),
        "no request for gpt-4o: {paths:?}"
    );
    assert_eq!(
        paths.iter().filter(|p| p.ends_with("/v1/messages")).count(),
        1,
        "{paths:?}"
    );
    assert_eq!(reply["targets"][0]["samples"][0]["status"], "completed", "{reply}");
    let refused = &reply["targets"][1]["samples"][0];
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["error"]["class"], "budget");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("would take the comparison over its budget of $0.0100"),
        "{message}"
    );
    let progress = s.server.wait_for("$/progress", |p| {
        p["value"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("openai/gpt-4o@analyst: budget"))
    });
    assert_eq!(progress["token"], "compare-1");
}

/// Applies LSP text edits to `text`, from the last to the first (inserts at one position in
/// the order given, as LSP says).
fn apply(text: &str, edits: &[Value]) -> String {
    let offset = |pos: &Value| {
        let line = pos["line"].as_u64().unwrap() as usize;
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        start + pos["character"].as_u64().unwrap() as usize
    };
    let mut spans: Vec<(usize, usize, usize, &str)> = edits
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                offset(&e["range"]["start"]),
                i,
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap(),
            )
        })
        .collect();
    spans.sort_by_key(|&(start, i, ..)| std::cmp::Reverse((start, i)));
    let mut out = text.to_string();
    for (start, _, end, new) in spans {
        out.replace_range(start..end, new);
    }
    out
}

fn use_target(s: &mut Setup, argument: Value) -> String {
    s.server.notifications.clear();
    let uri = s.uri.clone();
    let mut argument = argument;
    argument["uri"] = json!(uri);
    let reply = command(s, "stepwise.useTarget", argument).unwrap();
    let request = s
        .server
        .notifications
        .iter()
        .find(|m| m["method"] == "workspace/applyEdit")
        .unwrap_or_else(|| panic!("no applyEdit: {reply}"))
        .clone();
    let edits = request["params"]["edit"]["changes"][&uri].as_array().unwrap().clone();
    assert_eq!(reply["edit"], request["params"]["edit"]);
    apply(FLOW, &edits)
}

#[test]
fn use_for_this_step_sets_provider_model_and_persona_keeping_the_rest() {
    let mut s = setup();
    let edited = use_target(
        &mut s,
        json!({ "step": "draft", "provider": "openai", "model": "gpt-4o", "persona": "editor", "as": "step" }),
    );
    assert!(
        edited.contains(
            "  - id: draft\n    provider: openai\n    model: gpt-4o\n    persona: editor\n    fallback: [openai/gpt-4o-mini]\n    prompt: |\n      Draft from:"
        ),
        "{edited}"
    );
    assert!(
        edited.contains("  - id: summarize\n    prompt: Summarize rocket skates.\n"),
        "{edited}"
    );
}

#[test]
fn add_to_fallback_appends_to_the_list_or_starts_one() {
    let mut s = setup();
    let edited = use_target(
        &mut s,
        json!({ "step": "draft", "provider": "anthropic", "model": "claude-haiku-4-5", "as": "fallback" }),
    );
    assert!(
        edited.contains("    fallback: [openai/gpt-4o-mini, anthropic/claude-haiku-4-5]\n"),
        "{edited}"
    );
    let edited = use_target(
        &mut s,
        json!({ "step": "summarize", "provider": "openai", "model": "gpt-4o", "as": "fallback" }),
    );
    assert!(
        edited.contains("  - id: summarize\n    fallback: [openai/gpt-4o]\n    prompt: Summarize"),
        "{edited}"
    );
    let uri = s.uri.clone();
    let again = command(
        &mut s,
        "stepwise.useTarget",
        json!({ "uri": uri, "step": "draft", "provider": "openai", "model": "gpt-4o-mini", "as": "fallback" }),
    )
    .unwrap();
    assert_eq!(again["applied"], false);
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already in the fallback list")
    );
}
