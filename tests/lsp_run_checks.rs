//! The editor's run commands through the real `stepwise lsp` binary: the same check as the
//! CLI before the first request (every problem in the error, nothing sent), progress that
//! names a step once, and a failover prompt that comes only after the failure is shown.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::fake_provider::{Received, Reply, anthropic_stream, openai_stream};
use support::lsp::TestServer;
use support::lsp_workspace::{LOCAL_KEYS, LOCAL_PROVIDERS, LspWorkspace, WorkspaceSpec};

/// `diff` → `findings` on Anthropic, `verdict` on Google (whose key is never set here).
const REVIEW: &str = "version: 1
name: Review
provider: anthropic
model: claude-haiku-4-5
inputs:
  pr:
    description: The pull request
steps:
  - id: diff
    prompt: \"Diff {{ inputs.pr }}\"
  - id: findings
    prompt: \"Findings {{ steps.diff.output }}\"
  - id: verdict
    provider: google
    model: gemini-2.5-flash
    prompt: \"Verdict {{ steps.findings.output }}\"
";

type Setup = LspWorkspace;

fn is_anthropic(r: &Received) -> bool {
    r.path.ends_with("/v1/messages")
}

/// Anthropic and OpenAI keys set, every provider at one fake server answering with `handler`.
fn setup(flow: &str, handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Setup {
    let spec = WorkspaceSpec {
        config: &format!("max_retries = 1\n{LOCAL_PROVIDERS}[providers.google]\nbase_url = \"{{url}}\"\n"),
        file: "review.flow.yaml",
        env: &LOCAL_KEYS,
        capabilities: TestServer::refreshing_capabilities(),
    };
    LspWorkspace::open(spec, flow, handler)
}

fn answer_everything(r: &Received) -> Reply {
    if is_anthropic(r) {
        anthropic_stream(&["an answer"], 10, 5)
    } else {
        openai_stream(&["an answer"], 10, 5)
    }
}

fn run_step(s: &mut Setup, step: &str, inputs: Value, token: Option<&str>) -> i64 {
    let mut params = json!({
        "command": "stepwise.runStep",
        "arguments": [{ "uri": s.uri, "step": step, "inputs": inputs }],
    });
    if let Some(token) = token {
        params["workDoneToken"] = json!(token);
    }
    s.server.send_request("workspace/executeCommand", params)
}

#[test]
fn a_run_command_refused_before_sending_lists_every_problem_in_its_error() {
    let mut s = setup(REVIEW, answer_everything);
    let id = run_step(&mut s, "verdict", json!({}), None);
    let err = s.server.response(id).unwrap_err();
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with("not running: 2 problems found before sending anything"),
        "{err}"
    );
    assert!(
        message.contains("- line 6: input `pr` is required and has no value"),
        "{err}"
    );
    assert!(
        message.contains(
            "- line 14: step `verdict` would call `google`, which cannot be called: GEMINI_API_KEY or GOOGLE_API_KEY is not set"
        ),
        "{err}"
    );
    let problems = err["data"]["problems"].as_array().unwrap();
    let codes: Vec<&str> = problems.iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["missing-field", "provider-unavailable"], "{err}");
    assert_eq!(
        problems[1]["range"]["start"],
        json!({ "line": 13, "character": 14 }),
        "{err}"
    );
    assert_eq!(err["data"]["missingInputs"][0]["name"], "pr", "{err}");
    assert_eq!(s.provider.count(), 0);
}

#[test]
fn a_run_command_missing_only_inputs_still_asks_for_them_alone() {
    let mut s = setup(REVIEW, answer_everything);
    let id = run_step(&mut s, "findings", json!({}), None);
    let err = s.server.response(id).unwrap_err();
    assert_eq!(err["message"], "the workflow needs a value for `pr`", "{err}");
    assert!(err["data"].get("problems").is_none(), "{err}");
    assert_eq!(s.provider.count(), 0);
}

#[test]
fn progress_names_the_step_once_never_title_and_message_both() {
    let mut s = setup(REVIEW, answer_everything);
    let id = run_step(&mut s, "findings", json!({ "pr": "#7" }), Some("tok-1"));
    assert_eq!(s.server.response(id).unwrap()["status"], "completed");
    let begin = s
        .server
        .wait_for("$/progress", |p| p["token"] == "tok-1" && p["value"]["kind"] == "begin");
    assert_eq!(begin["value"]["title"], "stepwise: run findings");
    let mut messages = Vec::new();
    while let Some(i) = s
        .server
        .notifications
        .iter()
        .position(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "report")
    {
        let m = s.server.notifications.remove(i).unwrap();
        messages.push(m["params"]["value"]["message"].as_str().unwrap_or_default().to_string());
    }
    assert!(
        messages.contains(&"asking anthropic/claude-haiku-4-5".to_string()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"diff: asking anthropic/claude-haiku-4-5".to_string()),
        "{messages:?}"
    );
    assert!(messages.contains(&"completed".to_string()), "{messages:?}");
    assert!(!messages.iter().any(|m| m.starts_with("findings")), "{messages:?}");
}

#[test]
fn the_failover_prompt_waits_until_the_failure_is_shown_and_hints_no_longer_say_running() {
    let mut s = setup(REVIEW, |r| {
        if is_anthropic(r) {
            Reply::error(
                401,
                r#"{"type":"error","error":{"type":"authentication_error","message":"bad key"}}"#,
                &[],
            )
        } else {
            openai_stream(&["rescued"], 3, 2)
        }
    });
    // The editor answers hint refreshes late: the one after the failure is held.
    s.server.held = vec!["workspace/inlayHint/refresh"];
    let id = run_step(&mut s, "diff", json!({ "pr": "#7" }), None);
    let mut failure_published = false;
    let held = loop {
        let msg = s
            .server
            .next_within(Duration::from_secs(10))
            .expect("a message from the server");
        let method = msg["method"].as_str().unwrap_or_default().to_string();
        assert_ne!(
            method, "window/showMessageRequest",
            "the prompt came before the failure was published"
        );
        if method == "textDocument/publishDiagnostics" && msg["params"].to_string().contains("step-failed") {
            failure_published = true;
        }
        if method == "workspace/inlayHint/refresh" {
            if failure_published {
                break msg;
            }
            s.server.reply(&msg, Value::Null);
            continue;
        }
        s.server.notifications.push_back(msg);
    };
    while let Some(msg) = s.server.next_within(Duration::from_millis(500)) {
        assert_ne!(
            msg["method"], "window/showMessageRequest",
            "the prompt came before the editor refreshed its hints"
        );
        s.server.notifications.push_back(msg);
    }
    s.server.reply(&held, Value::Null);
    s.server.held.clear();
    s.server.wait_for("window/showMessageRequest", |_| true);
    let hints = s
        .server
        .request(
            "textDocument/inlayHint",
            json!({ "textDocument": { "uri": s.uri }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 40, "character": 0 } } }),
        )
        .unwrap();
    assert!(hints.to_string().contains("✗ 401 auth"), "{hints}");
    assert!(!hints.to_string().contains("running…"), "{hints}");
    assert_eq!(s.server.response(id).unwrap()["status"], "failed");
}
