//! Running steps from the editor, end to end: the real `stepwise lsp` binary over stdio, and
//! fake providers on 127.0.0.1 speaking the real wire formats.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fake_provider::{Received, Reply, anthropic_stream, openai_stream, prompt_of};
use support::lsp::{TestServer, pos_of};
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
    persona: editor
    prompt: |
      Draft from: {{ steps.summarize.output }}
";

type Setup = LspWorkspace;

fn is_anthropic(r: &Received) -> bool {
    r.path.ends_with("/v1/messages")
}

/// A workspace whose anthropic and openai providers point at one fake server answering with
/// `handler` (ollama at a closed port: not running), and an initialized server with `flow` open.
/// The client does not offer server-created progress, so runs never wait for it to answer
/// `workDoneProgress/create`.
fn setup(flow: &str, handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Setup {
    let spec = WorkspaceSpec {
        config: &format!("max_retries = 1\n{LOCAL_PROVIDERS}"),
        file: "brief.flow.yaml",
        env: &LOCAL_KEYS,
        capabilities: TestServer::refreshing_capabilities(),
    };
    LspWorkspace::open(spec, flow, handler)
}

fn run_step(s: &mut Setup, step: &str, extra: Value) -> Result<Value, Value> {
    let mut argument = json!({ "uri": s.uri, "step": step });
    argument
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    s.server.request(
        "workspace/executeCommand",
        json!({ "command": "stepwise.runStep", "arguments": [argument] }),
    )
}

fn lenses(s: &mut Setup) -> Vec<String> {
    let reply = s
        .server
        .request("textDocument/codeLens", json!({ "textDocument": { "uri": s.uri } }))
        .unwrap();
    reply
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["command"]["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Anthropic's 529 overloaded error, as its API sends it.
fn anthropic_overloaded() -> Reply {
    Reply::error(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        &[],
    )
}

fn answer_everything(r: &Received) -> Reply {
    let text = format!("answer to {}", prompt_of(r).lines().next().unwrap_or_default());
    if is_anthropic(r) {
        anthropic_stream(&[&text], 10, 5)
    } else {
        openai_stream(&[&text], 10, 5)
    }
}

#[test]
fn running_a_step_first_runs_its_upstream_with_the_right_persona_model_and_prompt() {
    let mut s = setup(FLOW, answer_everything);
    let reply = run_step(&mut s, "draft", json!({})).unwrap();
    assert_eq!(reply["status"], "completed", "{reply}");
    let received = s.provider.received();
    assert_eq!(received.len(), 2);
    let first = received[0].json();
    assert_eq!(first["model"], "claude-sonnet-4-5");
    assert_eq!(first["system"], "You are a concise analyst.");
    assert_eq!(prompt_of(&received[0]), "Summarize rocket skates.");
    let second = received[1].json();
    assert_eq!(second["system"], "You are a careful editor.");
    assert_eq!(
        prompt_of(&received[1]).trim(),
        "Draft from: answer to Summarize rocket skates."
    );
    assert_eq!(received[1].header("x-api-key"), Some("sk-test-anthropic"));
    let titles = lenses(&mut s);
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("✓") && t.contains("anthropic/claude-sonnet-4-5") && t.contains("15 tok")),
        "{titles:?}"
    );
    let hints = s
        .server
        .request(
            "textDocument/inlayHint",
            json!({ "textDocument": { "uri": s.uri }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 40, "character": 0 } } }),
        )
        .unwrap();
    assert!(hints.to_string().contains("✓"), "{hints}");
}

#[test]
fn an_outage_retries_then_falls_back_and_the_lens_says_who_answered() {
    let flow = FLOW.replace(
        "  - id: summarize\n",
        "  - id: summarize\n    fallback: [openai/gpt-4o-mini]\n",
    );
    let mut s = setup(&flow, |r| {
        if is_anthropic(r) {
            anthropic_overloaded()
        } else {
            openai_stream(&["from openai"], 3, 2)
        }
    });
    let reply = run_step(&mut s, "summarize", json!({})).unwrap();
    assert_eq!(reply["steps"][0]["answered_by"], "openai/gpt-4o-mini", "{reply}");
    let paths: Vec<String> = s.provider.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths.iter().filter(|p| p.ends_with("/v1/messages")).count(),
        2,
        "one retry: {paths:?}"
    );
    assert!(paths.last().unwrap().ends_with("/chat/completions"));
    let titles = lenses(&mut s);
    assert!(titles.iter().any(|t| t.contains("openai/gpt-4o-mini")), "{titles:?}");
}

#[test]
fn a_failed_step_gets_a_diagnostic_whose_fix_switches_provider_and_reruns_only_that_step() {
    let down = Arc::new(AtomicBool::new(false));
    let flag = down.clone();
    let mut s = setup(FLOW, move |r| {
        if is_anthropic(r) && flag.load(Ordering::SeqCst) {
            anthropic_overloaded()
        } else {
            answer_everything(r)
        }
    });
    assert_eq!(run_step(&mut s, "summarize", json!({})).unwrap()["status"], "completed");
    down.store(true, Ordering::SeqCst);
    let reply = run_step(&mut s, "draft", json!({})).unwrap();
    assert_eq!(reply["status"], "failed", "{reply}");
    let sent_before = s.provider.count();

    let uri = s.uri.clone();
    let published = s.server.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == uri && p["diagnostics"].to_string().contains("step-failed")
    });
    let failed = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "step-failed")
        .unwrap()
        .clone();
    assert!(
        failed["message"].as_str().unwrap().contains("overloaded (529)"),
        "{failed}"
    );
    let (line, _) = pos_of(FLOW, "id: draft", 0);
    assert_eq!(failed["range"]["start"]["line"], line);

    let actions = s
        .server
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": s.uri }, "range": failed["range"], "context": { "diagnostics": [failed] } }),
        )
        .unwrap();
    let fix = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Switch to openai and re-run")
        .unwrap_or_else(|| panic!("no switch fix in {actions}"))
        .clone();
    let edits = fix["edit"]["changes"][&s.uri].as_array().unwrap().clone();
    // The step names no model, so switching provider leaves the model to the new default.
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0]["newText"], "    provider: openai\n");
    // Apply the edits as the client would (last first, so earlier ranges stay valid).
    let mut version = 1;
    for edit in edits.iter().rev() {
        version += 1;
        let r = &edit["range"];
        let at = |p: &Value| {
            (
                p["line"].as_u64().unwrap() as u32,
                p["character"].as_u64().unwrap() as u32,
            )
        };
        s.server.edit(
            &s.uri.clone(),
            version,
            at(&r["start"]),
            at(&r["end"]),
            edit["newText"].as_str().unwrap(),
        );
    }
    let command = &fix["command"];
    let reply = s
        .server
        .request(
            "workspace/executeCommand",
            json!({ "command": command["command"], "arguments": command["arguments"] }),
        )
        .unwrap();
    assert_eq!(reply["status"], "completed", "{reply}");
    let sent = s.provider.received();
    assert_eq!(sent.len(), sent_before + 1, "only the failed step is sent again");
    let last = sent.last().unwrap();
    assert!(last.path.ends_with("/chat/completions"));
    assert_eq!(last.json()["model"], "gpt-4o");
    assert!(
        prompt_of(last).contains("answer to Summarize"),
        "the upstream output is reused"
    );
}

#[test]
fn progress_is_reported_while_a_step_runs() {
    let mut s = setup(FLOW, answer_everything);
    let id = s.server.send_request(
        "workspace/executeCommand",
        json!({ "command": "stepwise.runStep", "arguments": [{ "uri": s.uri, "step": "summarize" }], "workDoneToken": "tok-1" }),
    );
    let begin = s
        .server
        .wait_for("$/progress", |p| p["token"] == "tok-1" && p["value"]["kind"] == "begin");
    assert_eq!(begin["value"]["title"], "stepwise: run summarize");
    s.server.wait_for("$/progress", |p| {
        p["token"] == "tok-1"
            && p["value"]["kind"] == "report"
            && p["value"]["message"] == "asking anthropic/claude-sonnet-4-5"
    });
    s.server
        .wait_for("$/progress", |p| p["token"] == "tok-1" && p["value"]["kind"] == "end");
    assert_eq!(s.server.response(id).unwrap()["status"], "completed");
}

#[test]
fn completion_answers_in_milliseconds_during_a_long_streamed_run() {
    let mut s = setup(FLOW, |r| {
        let parts: Vec<String> = (0..40).map(|i| format!("word{i} ")).collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let reply = if is_anthropic(r) {
            anthropic_stream(&parts, 1, 40)
        } else {
            openai_stream(&parts, 1, 40)
        };
        reply.delayed(Duration::from_millis(50))
    });
    let id = s.server.send_request(
        "workspace/executeCommand",
        json!({ "command": "stepwise.runStep", "arguments": [{ "uri": s.uri, "step": "summarize" }] }),
    );
    let started = Instant::now();
    while s.provider.count() == 0 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (line, col) = pos_of(FLOW, "provider: anthropic", 10);
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let asked = Instant::now();
        let items = s
            .server
            .at("textDocument/completion", &s.uri.clone(), line, col)
            .unwrap();
        slowest = slowest.max(asked.elapsed());
        assert!(items.to_string().contains("openai"));
    }
    assert!(
        slowest < Duration::from_millis(500),
        "completion took {slowest:?} during a run"
    );
    assert_eq!(s.server.response(id).unwrap()["status"], "completed");
    let _ = &s.runtime;
}

#[test]
fn cancel_stops_the_run_and_the_record_says_cancelled() {
    let mut s = setup(FLOW, |_| {
        anthropic_stream(&["slow"; 100], 1, 1).delayed(Duration::from_millis(100))
    });
    let id = s.server.send_request(
        "workspace/executeCommand",
        json!({ "command": "stepwise.runStep", "arguments": [{ "uri": s.uri, "step": "summarize" }] }),
    );
    let started = Instant::now();
    while s.provider.count() == 0 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let actions = s
        .server
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": s.uri }, "range": { "start": { "line": 13, "character": 10 }, "end": { "line": 13, "character": 10 } }, "context": { "diagnostics": [] } }),
        )
        .unwrap();
    let run = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"].as_str().unwrap().contains("step `summarize`"))
        .unwrap_or_else(|| panic!("no run action in {actions}"));
    let reason = run["disabled"]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("not disabled: {run}"));
    assert!(reason.contains("in progress"), "{run}");
    let cancelled = s
        .server
        .request(
            "workspace/executeCommand",
            json!({ "command": "stepwise.cancel", "arguments": [{ "uri": s.uri }] }),
        )
        .unwrap();
    assert_eq!(cancelled["cancelled"], true);
    let reply = s.server.response(id).unwrap();
    assert_eq!(reply["status"], "cancelled", "{reply}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let titles = lenses(&mut s);
    assert!(titles.iter().any(|t| t == "cancelled"), "{titles:?}");
}

#[test]
fn run_from_a_step_reruns_it_and_everything_downstream() {
    let mut s = setup(FLOW, answer_everything);
    assert_eq!(run_step(&mut s, "draft", json!({})).unwrap()["status"], "completed");
    assert_eq!(s.provider.count(), 2);
    let reply = s
        .server
        .request(
            "workspace/executeCommand",
            json!({ "command": "stepwise.runFrom", "arguments": [{ "uri": s.uri, "step": "summarize" }] }),
        )
        .unwrap();
    let ran: Vec<&str> = reply["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["summarize", "draft"], "{reply}");
    assert_eq!(s.provider.count(), 4);
}

#[test]
fn editing_a_step_after_its_run_shows_it_stale() {
    let mut s = setup(FLOW, answer_everything);
    assert_eq!(run_step(&mut s, "summarize", json!({})).unwrap()["status"], "completed");
    assert!(lenses(&mut s).iter().any(|t| t.starts_with("✓")));
    let (line, col) = pos_of(FLOW, "rocket skates.", 0);
    let uri = s.uri.clone();
    s.server.edit(&uri, 2, (line, col), (line, col), "red ");
    s.server.diagnostics(&uri, 2);
    let titles = lenses(&mut s);
    assert!(titles.iter().any(|t| t == "stale · edited since its run"), "{titles:?}");
}

#[test]
fn a_one_time_provider_override_does_not_make_the_step_look_edited() {
    let mut s = setup(FLOW, answer_everything);
    let reply = run_step(&mut s, "summarize", json!({ "provider": "openai" })).unwrap();
    assert_eq!(reply["steps"][0]["answered_by"], "openai/gpt-4o", "{reply}");
    let titles = lenses(&mut s);
    assert!(
        titles.iter().any(|t| t.starts_with("✓") && t.contains("openai/gpt-4o")),
        "{titles:?}"
    );
}

#[test]
fn after_a_failure_the_offered_provider_reruns_the_step_with_it() {
    let mut s = setup(FLOW, |r| {
        if is_anthropic(r) {
            anthropic_overloaded()
        } else {
            openai_stream(&["rescued"], 3, 2)
        }
    });
    s.server.message_choice = Some("Re-run with openai".to_string());
    let reply = run_step(&mut s, "summarize", json!({})).unwrap();
    assert_eq!(reply["status"], "failed", "{reply}");
    let offer = s.server.wait_for("window/showMessageRequest", |_| true);
    assert!(offer["message"].as_str().unwrap().contains("summarize"), "{offer}");
    let titles: Vec<&str> = offer["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"Re-run with openai") && !titles.contains(&"Re-run with anthropic"),
        "{titles:?}"
    );
    // The re-run happens in the background after the reply: poll the lenses until it shows.
    let started = Instant::now();
    let mut titles = lenses(&mut s);
    while !titles.iter().any(|t| t.starts_with("✓")) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        titles = lenses(&mut s);
    }
    assert!(
        titles.iter().any(|t| t.starts_with("✓") && t.contains("openai/gpt-4o")),
        "{titles:?}"
    );
    let last = s.provider.received().pop().unwrap();
    assert!(last.path.ends_with("/chat/completions"));
    assert_eq!(prompt_of(&last), "Summarize rocket skates.");
}

#[test]
fn a_failed_one_time_rerun_keeps_the_output_shows_both_and_resume_has_nothing_to_do() {
    let mut s = setup(FLOW, answer_everything);
    assert_eq!(run_step(&mut s, "draft", json!({})).unwrap()["status"], "completed");
    let reply = run_step(&mut s, "summarize", json!({ "provider": "ollama" })).unwrap();
    assert_eq!(reply["status"], "failed", "{reply}");
    let titles = lenses(&mut s);
    assert!(
        titles.iter().any(|t| t.starts_with("✓")
            && t.contains("anthropic/claude-sonnet-4-5")
            && t.ends_with("— last attempt ✗ ollama connection")),
        "{titles:?}"
    );
    assert!(
        !titles.iter().any(|t| t.starts_with("stale")),
        "draft stays fresh: {titles:?}"
    );
    let hints = s
        .server
        .request(
            "textDocument/inlayHint",
            json!({ "textDocument": { "uri": s.uri }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 40, "character": 0 } } }),
        )
        .unwrap();
    assert!(
        hints.to_string().contains("— last attempt ✗ ollama connection"),
        "{hints}"
    );
    let (line, col) = pos_of(FLOW, "id: summarize", 5);
    let hover = s.server.at("textDocument/hover", &s.uri.clone(), line, col).unwrap();
    assert!(
        hover.to_string().contains("Last attempt, with ollama (this run only)"),
        "{hover}"
    );
    let sent = s.provider.count();
    let resumed = s
        .server
        .request(
            "workspace/executeCommand",
            json!({ "command": "stepwise.resume", "arguments": [{ "uri": s.uri }] }),
        )
        .unwrap();
    assert_eq!(resumed["steps"], json!([]), "{resumed}");
    assert_eq!(s.provider.count(), sent, "nothing sent again");
}

#[test]
fn a_step_command_given_a_position_runs_the_step_on_that_line() {
    let mut s = setup(FLOW, answer_everything);
    let (line, _) = pos_of(FLOW, "Draft from", 0);
    let reply = s
        .server
        .request(
            "workspace/executeCommand",
            json!({ "command": "stepwise.runStep", "arguments": [{ "uri": s.uri, "position": { "line": line, "character": 0 } }] }),
        )
        .unwrap();
    let ran: Vec<&str> = reply["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["summarize", "draft"], "{reply}");
    let output = s
        .server
        .request(
            "workspace/executeCommand",
            json!({ "command": "stepwise.openOutput", "arguments": [{ "uri": s.uri, "position": { "line": line, "character": 0 } }] }),
        )
        .unwrap();
    assert_eq!(output["step"], "draft", "{output}");
    let outside = s.server.request(
        "workspace/executeCommand",
        json!({ "command": "stepwise.runStep", "arguments": [{ "uri": s.uri, "position": { "line": 0, "character": 0 } }] }),
    );
    let message = outside.unwrap_err()["message"].as_str().unwrap().to_string();
    assert!(message.contains("no step at line 1"), "{message}");
}

/// The `stepwise.*` strings between `start` and the next `end` of an editor client's source.
fn commands_in(path: &str, start: &str, end: &str) -> Vec<String> {
    let source = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let block = &source[source.find(start).unwrap_or_else(|| panic!("no {start} in {path}"))..];
    let block = &block[..block.find(end).unwrap()];
    let mut ids: Vec<String> = block
        .split(['"', '\''])
        .filter(|s| s.starts_with("stepwise.") && !s.contains(' '))
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_editor_clients_list_exactly_the_commands_the_server_offers() {
    let (_server, init) = TestServer::initialized(&[], json!({}));
    let mut offered: Vec<String> = init["capabilities"]["executeCommandProvider"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    offered.sort();
    let logic = "editors/vscode/src/logic.ts";
    let mut vscode = commands_in(logic, "export const SERVER_COMMANDS = {", "} as const");
    vscode.extend(commands_in(
        logic,
        "export const SERVER_COMMANDS_NOT_SENT = [",
        "] as const",
    ));
    vscode.sort();
    assert_eq!(vscode, offered, "{logic}: SERVER_COMMANDS and SERVER_COMMANDS_NOT_SENT");
    assert_eq!(
        commands_in("editors/nvim/lua/stepwise/init.lua", "M.commands = {", "\n}"),
        offered,
        "editors/nvim/lua/stepwise/init.lua M.commands"
    );
}

const FLOW_WITH_INPUTS: &str = "version: 1
name: Triage
provider: anthropic
model: claude-sonnet-4-5
inputs:
  message:
    description: The customer's message
  tone:
    description: How to answer
  lang:
    default: en
steps:
  - id: reply
    prompt: \"Answer {{ inputs.message }} in a {{ inputs.tone }} tone ({{ inputs.lang }}).\"
";

fn run_workflow(s: &mut Setup, inputs: Value) -> Result<Value, Value> {
    s.server.request(
        "workspace/executeCommand",
        json!({ "command": "stepwise.runWorkflow", "arguments": [{ "uri": s.uri, "inputs": inputs }] }),
    )
}

#[test]
fn a_run_missing_required_inputs_fails_naming_them_with_their_descriptions_and_sends_nothing() {
    let mut s = setup(FLOW_WITH_INPUTS, answer_everything);
    let err = run_workflow(&mut s, json!({})).unwrap_err();
    assert_eq!(
        err["message"], "the workflow needs a value for `message`, `tone`",
        "{err}"
    );
    assert_eq!(
        err["data"],
        json!({ "missingInputs": [
            { "name": "message", "description": "The customer's message", "lastValue": null },
            { "name": "tone", "description": "How to answer", "lastValue": null },
        ] })
    );
    assert_eq!(s.provider.count(), 0);
}

#[test]
fn a_run_given_its_inputs_uses_them_and_the_next_ask_offers_the_values_last_used() {
    let mut s = setup(FLOW_WITH_INPUTS, answer_everything);
    let reply = run_workflow(&mut s, json!({ "message": "my order is late", "tone": "warm" })).unwrap();
    assert_eq!(reply["status"], "completed", "{reply}");
    let received = s.provider.received();
    assert_eq!(received.len(), 1);
    assert!(
        prompt_of(&received[0]).contains("Answer my order is late in a warm tone (en)."),
        "{}",
        prompt_of(&received[0])
    );
    let err = run_workflow(&mut s, json!({ "message": "where is my refund" })).unwrap_err();
    assert_eq!(err["message"], "the workflow needs a value for `tone`", "{err}");
    assert_eq!(
        err["data"]["missingInputs"],
        json!([{ "name": "tone", "description": "How to answer", "lastValue": "warm" }])
    );
    assert_eq!(s.provider.count(), 1);
}
