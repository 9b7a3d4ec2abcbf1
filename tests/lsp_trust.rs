//! Trust in the language server, over stdio against the real binary: an untrusted
//! workspace's `stepwise.toml` aiming the user's key at a listener on 127.0.0.1 gets
//! `untrusted-workspace` warnings (on the step and on the line of `stepwise.toml`), runs from
//! the editor send nothing, and "Trust this workspace…" asks, records trust as `stepwise
//! trust` does, and then the same run reaches the listener.

mod support;

use serde_json::{Value, json};
use support::fake_provider::{FakeProvider, Received, Reply, openai_stream};
use support::lsp::{TestServer, uri};

const KEY: &str = "sk-proj-EditorUserKey0123456789AbCdEf";
const FLOW: &str = "version: 1\nname: E\nprovider: openai\nmodel: gpt-4o\nsteps:\n  - id: a\n    prompt: Hi\n";

/// Every run of 8 characters of the key that appears in `text`.
fn key_fragments_in(text: &str) -> Vec<&'static str> {
    (0..=KEY.len() - 8)
        .map(|i| &KEY[i..i + 8])
        .filter(|f| text.contains(f))
        .collect()
}

struct Setup {
    dir: tempfile::TempDir,
    config_home: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
    listener: FakeProvider,
    uri: String,
}

fn setup() -> Setup {
    setup_with(|_: &Received| openai_stream(&["hi"], 1, 1))
}

fn setup_with(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Setup {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(FakeProvider::start(handler));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stepwise.toml"),
        format!(
            "max_retries = 0\n[providers.openai]\nbase_url = \"{}/v1\"\n",
            listener.url
        ),
    )
    .unwrap();
    let path = dir.path().join("e.flow.yaml");
    std::fs::write(&path, FLOW).unwrap();
    Setup {
        uri: uri(&path),
        dir,
        config_home: tempfile::tempdir().unwrap(),
        _runtime: runtime,
        listener,
    }
}

fn server(s: &Setup, options: Value) -> TestServer {
    let home = s.config_home.path().to_str().unwrap();
    let mut server = TestServer::start(&[("OPENAI_API_KEY", KEY), ("XDG_CONFIG_HOME", home)]);
    server
        .request(
            "initialize",
            json!({ "capabilities": TestServer::default_capabilities(), "initializationOptions": options }),
        )
        .unwrap();
    server.notify("initialized", json!({}));
    server.open(&s.uri, FLOW);
    server
}

fn run_step(server: &mut TestServer, s: &Setup) -> Result<Value, Value> {
    server.request(
        "workspace/executeCommand",
        json!({ "command": "stepwise.runStep", "arguments": [{ "uri": s.uri, "step": "a" }] }),
    )
}

fn keyed(s: &Setup) -> usize {
    s.listener
        .received()
        .iter()
        .filter(|r| r.header("authorization") == Some(&format!("Bearer {KEY}")))
        .count()
}

#[test]
fn untrusted_editor_runs_send_nothing_and_the_trust_action_asks_records_and_then_runs() {
    let s = setup();
    let mut server = server(&s, json!({}));
    let diagnostics = server.diagnostics(&s.uri, 1);
    let warning = diagnostics
        .iter()
        .find(|d| d["code"] == "untrusted-workspace")
        .unwrap_or_else(|| panic!("{diagnostics:?}"))
        .clone();
    assert_eq!(warning["range"]["start"]["line"], 2, "{warning}");
    let config_uri = uri(&s.dir.path().join("stepwise.toml"));
    let on_config = server.wait_for("textDocument/publishDiagnostics", |p| p["uri"] == config_uri.as_str());
    assert_eq!(
        on_config["diagnostics"][0]["code"], "untrusted-workspace",
        "{on_config}"
    );
    assert_eq!(on_config["diagnostics"][0]["range"]["start"]["line"], 2);

    let refused = run_step(&mut server, &s).unwrap_err();
    assert!(
        refused["message"].as_str().unwrap().contains("untrusted workspace"),
        "{refused}"
    );
    assert_eq!(s.listener.count(), 0);

    let completion = server.at("textDocument/completion", &s.uri, 2, 10).unwrap();
    let openai = completion["items"]
        .as_array()
        .or(completion.as_array())
        .unwrap()
        .iter()
        .find(|i| i["label"] == "openai")
        .cloned()
        .unwrap();
    assert!(openai.to_string().contains("untrusted workspace"), "{openai}");

    let actions = server
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": s.uri }, "range": warning["range"], "context": { "diagnostics": [warning] } }),
        )
        .unwrap();
    let trust = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Trust this workspace…")
        .unwrap_or_else(|| panic!("{actions}"))
        .clone();
    server.message_choice = Some("Trust".to_string());
    let reply = server
        .request(
            "workspace/executeCommand",
            json!({ "command": trust["command"]["command"], "arguments": trust["command"]["arguments"] }),
        )
        .unwrap();
    assert_eq!(reply["trusted"], true, "{reply}");
    let asked = server
        .notifications
        .iter()
        .find(|m| m["method"] == "window/showMessageRequest")
        .unwrap()
        .clone();
    let question = asked["params"]["message"].as_str().unwrap();
    let host = s.listener.url.trim_start_matches("http://");
    assert!(
        question.contains(host) && question.contains("OPENAI_API_KEY"),
        "{question}"
    );
    let store = std::fs::read_to_string(s.config_home.path().join("stepwise/trust.toml")).unwrap();
    assert!(store.contains(&std::fs::canonicalize(s.dir.path()).unwrap().display().to_string()));

    server.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == s.uri.as_str() && !p.to_string().contains("untrusted-workspace")
    });
    let ran = run_step(&mut server, &s).unwrap();
    assert_eq!(ran["status"], "completed", "{ran}");
    assert_eq!(keyed(&s), 1);
}

#[test]
fn trust_granted_by_the_editor_counts_while_it_runs() {
    let s = setup();
    let mut at_start = server(&s, json!({ "workspaceTrusted": true }));
    at_start.diagnostics(&s.uri, 1);
    assert_eq!(run_step(&mut at_start, &s).unwrap()["status"], "completed");
    assert_eq!(keyed(&s), 1);
    drop(at_start);

    let mut later = server(&s, json!({ "workspaceTrusted": false }));
    later.diagnostics(&s.uri, 1);
    assert!(run_step(&mut later, &s).is_err());
    later.notify("stepwise/workspaceTrusted", json!({}));
    later.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == s.uri.as_str() && !p.to_string().contains("untrusted-workspace")
    });
    assert_eq!(run_step(&mut later, &s).unwrap()["status"], "completed");
    assert_eq!(keyed(&s), 2);
    // Nothing was recorded: a new editor session starts untrusted again.
    assert!(!s.config_home.path().join("stepwise/trust.toml").exists());
}

#[test]
fn the_trace_log_carries_versions_and_sizes_never_document_text() {
    let s = setup();
    let log = s.dir.path().join("server.log");
    let home = s.config_home.path().to_str().unwrap().to_string();
    let mut cmd = TestServer::command(&[("XDG_CONFIG_HOME", &home), ("STEPWISE_LOG", "trace")]);
    cmd.current_dir(s.dir.path());
    let mut server = TestServer::spawn_with_stderr(cmd, std::fs::File::create(&log).unwrap().into());
    server
        .request(
            "initialize",
            json!({ "capabilities": TestServer::default_capabilities() }),
        )
        .unwrap();
    server.notify("initialized", json!({}));
    let pasted = format!("{FLOW}# pasted: {KEY} and PRIVATE-NOTE\n");
    server.open(&s.uri, &pasted);
    server.diagnostics(&s.uri, 1);
    server.edit(&s.uri, 2, (0, 0), (0, 0), "# ANOTHER-PRIVATE-NOTE\n");
    server.diagnostics(&s.uri, 2);
    server.shutdown();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("version 1") && logged.contains("bytes"), "{logged}");
    for secret in [KEY, "PRIVATE-NOTE", "prompt: Hi"] {
        assert!(!logged.contains(secret), "{secret} in the log:\n{logged}");
    }
}

#[test]
fn partial_key_echoes_reach_no_editor_message() {
    let echo = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {}****{}; and again after the cut: {}{KEY}"}}}}"#,
        &KEY[..14],
        &KEY[KEY.len() - 9..],
        "x".repeat(480)
    );
    let s = setup_with(move |_: &Received| Reply::error(401, &echo, &[]));
    let mut server = server(&s, json!({ "workspaceTrusted": true }));
    server.diagnostics(&s.uri, 1);
    let failed = run_step(&mut server, &s).unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(s.listener.count(), 1);
    server.wait_for("textDocument/publishDiagnostics", |p| {
        p.to_string().contains("step-failed")
    });
    let hints = server
        .request(
            "textDocument/inlayHint",
            json!({ "textDocument": { "uri": s.uri }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 9, "character": 0 } } }),
        )
        .unwrap();
    let hover = server.at("textDocument/hover", &s.uri, 5, 9).unwrap();
    let seen = format!("{failed} {hints} {hover} {:?}", server.notifications);
    assert!(seen.contains("auth"), "{seen}");
    assert_eq!(key_fragments_in(&seen), Vec::<&str>::new(), "{seen}");
}

#[test]
fn trust_granted_in_a_terminal_reaches_the_open_editor() {
    let s = setup();
    let mut server = server(&s, json!({}));
    let registered = server.wait_for("client/registerCapability", |_| true);
    let store_dir = s.config_home.path().join("stepwise");
    assert!(
        registered.to_string().contains(&uri(&store_dir)) && registered.to_string().contains("trust.toml"),
        "{registered}"
    );
    server.diagnostics(&s.uri, 1);
    assert!(run_step(&mut server, &s).is_err());
    let trusted = std::process::Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .args(["trust", s.dir.path().to_str().unwrap()])
        .env("XDG_CONFIG_HOME", s.config_home.path())
        .output()
        .unwrap();
    assert!(trusted.status.success());
    server.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri(&store_dir.join("trust.toml")), "type": 1 }] }),
    );
    server.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == s.uri.as_str() && !p.to_string().contains("untrusted-workspace")
    });
    assert_eq!(run_step(&mut server, &s).unwrap()["status"], "completed");
    assert_eq!(keyed(&s), 1);
}
