//! The run view's protocol through the real `stepwise lsp` binary: `stepwise/runs` after a
//! run with a retry, a fallback and a fan-out; `stepwise/runsChanged` for the editor's runs
//! and for a `stepwise run` in a terminal; `stepwise/output` deltas and `openOutput` while a
//! step streams. Providers are fakes on 127.0.0.1.

mod support;

use serde_json::{Value, json};
use support::fake_provider::{FakeProvider, Received, Reply, StreamEnd, anthropic_stream, prompt_of};
use support::lsp::{TestServer, no_config_home, uri};
use support::{KEY, config_for, run_history};

struct Setup {
    dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
    _provider: FakeProvider,
    server: TestServer,
    uri: String,
}

/// A workspace with the fixture workflow whose providers answer with `handler`, open in a
/// started server.
fn setup(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Setup {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let provider = runtime.block_on(FakeProvider::start(handler));
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&provider.url, run_history::CONFIG);
    std::fs::write(dir.path().join("stepwise.toml"), config).unwrap();
    let path = dir.path().join("history.flow.yaml");
    std::fs::write(&path, run_history::FLOW).unwrap();
    let uri = uri(&path);
    let (mut server, _) = TestServer::initialized(
        &[
            ("ANTHROPIC_API_KEY", KEY),
            ("OPENAI_API_KEY", KEY),
            ("STEPWISE_TRUST_WORKSPACE", "1"),
        ],
        json!({}),
    );
    server.open(&uri, run_history::FLOW);
    server.diagnostics(&uri, 1);
    Setup {
        dir,
        _runtime: runtime,
        _provider: provider,
        server,
        uri,
    }
}

fn command(server: &mut TestServer, command: &str, argument: Value) -> Result<Value, Value> {
    server.request(
        "workspace/executeCommand",
        json!({ "command": command, "arguments": [argument] }),
    )
}

fn runs(s: &mut Setup) -> Value {
    s.server
        .request("stepwise/runs", json!({ "uri": s.uri }))
        .expect("stepwise/runs")
}

#[test]
fn the_runs_request_shows_a_run_with_its_retry_fallback_and_fan_out_items() {
    let mut s = setup(run_history::handler());
    let reply = command(&mut s.server, "stepwise.runWorkflow", json!({ "uri": s.uri })).unwrap();
    assert_eq!(reply["status"], "completed", "{reply}");
    let uri = s.uri.clone();
    s.server.wait_for("stepwise/runsChanged", |p| p["uri"] == uri.as_str());
    let view = runs(&mut s);
    let all = view["runs"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{view}");
    let run = &all[0];
    assert_eq!(run["id"], reply["run_id"]);
    assert_eq!(run["status"], "completed");
    assert!(run["finished_at"].as_u64().unwrap() >= run["started_at"].as_u64().unwrap());
    assert_eq!(run["inputs"], json!({}));
    assert_eq!(run["counts"], json!({ "done": 3, "failed": 0, "stale": 0, "other": 0 }));

    let a = &run["steps"][0]["attempts"][0];
    assert_eq!(a["provider"], json!({ "value": "anthropic", "source": "workflow" }));
    assert_eq!(a["one_time"], false);
    let retried = &a["calls"][0];
    assert_eq!(retried["error"]["class"], "overloaded");
    assert_eq!(retried["error"]["status"], 529);
    assert_eq!(retried["retry_after_ms"], 30);
    assert!(a["calls"][1]["error"].is_null());
    assert_eq!(a["usage"], json!({ "input_tokens": 5, "output_tokens": 2 }));

    let b = &run["steps"][1]["attempts"][0];
    assert_eq!(b["outputs"], json!(["About one", "About two"]));
    let items: Vec<&Value> = b["calls"].as_array().unwrap().iter().map(|c| &c["item"]).collect();
    assert_eq!(items.len(), 2);
    assert!(items.contains(&&json!(0)) && items.contains(&&json!(1)), "{b}");

    let c = &run["steps"][2]["attempts"][0];
    assert_eq!(
        c["answered_by"],
        json!({ "provider": "openai", "model": "gpt-4o-mini" })
    );
    let providers: Vec<&str> = c["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["anthropic", "anthropic", "openai"]);
    assert!(c["duration_ms"].is_u64());

    assert!(
        view["providers"].as_array().unwrap().contains(&json!("openai")),
        "{view}"
    );
    assert_eq!(
        view["steps"],
        json!([{ "id": "a", "line": 5 }, { "id": "b", "line": 7 }, { "id": "c", "line": 10 }])
    );
}

#[test]
fn a_cli_run_in_a_terminal_while_the_server_is_up_sends_runs_changed() {
    let mut s = setup(run_history::handler());
    assert_eq!(runs(&mut s)["runs"], json!([]));
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .args(["run", "history.flow.yaml"])
        .current_dir(s.dir.path())
        .env("ANTHROPIC_API_KEY", KEY)
        .env("OPENAI_API_KEY", KEY)
        .env("STEPWISE_TRUST_WORKSPACE", "1")
        .env("XDG_CONFIG_HOME", no_config_home())
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    // The server reads the records after each burst of file events (the journal grows per
    // step event, then the record replaces it): wait for the notification after which the
    // lenses show the finished run.
    let uri = s.uri.clone();
    loop {
        s.server.wait_for("stepwise/runsChanged", |p| p["uri"] == uri.as_str());
        let lenses = s
            .server
            .request("textDocument/codeLens", json!({ "textDocument": { "uri": s.uri } }))
            .unwrap();
        if lenses.to_string().contains("openai/gpt-4o-mini") {
            break;
        }
    }
    let view = runs(&mut s);
    assert_eq!(view["runs"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["runs"][0]["status"], "completed");
}

/// `a` answers two lines; item 1 of `b` streams "About " and then hangs.
fn hanging_second_item(r: &Received) -> Reply {
    let prompt = prompt_of(r);
    if prompt.starts_with("List") {
        anthropic_stream(&["one\n", "two"], 5, 2)
    } else if prompt == "Describe two" {
        anthropic_stream(&["About ", "two"], 4, 3).end_after(4, StreamEnd::Stall)
    } else {
        anthropic_stream(&["About ", "one"], 4, 3)
    }
}

/// Waits until the text streamed for `step`'s `item` reads `expected` (it may come in any pieces).
fn streamed(server: &mut TestServer, step: &str, item: u64, expected: &str) {
    let mut text = String::new();
    while text != expected {
        assert!(
            expected.starts_with(&text),
            "{step} item {item} streamed {text:?}, not {expected:?}"
        );
        let piece = server.wait_for("stepwise/output", |p| p["step"] == step && p["item"] == item);
        text.push_str(piece["text"].as_str().unwrap());
    }
}

#[test]
fn streamed_text_is_forwarded_per_item_and_open_output_shows_it_during_the_run() {
    let mut s = setup(hanging_second_item);
    let run = s.server.send_request(
        "workspace/executeCommand",
        json!({ "command": "stepwise.runWorkflow", "arguments": [{ "uri": s.uri }] }),
    );
    let uri = s.uri.clone();
    let first = s
        .server
        .wait_for("stepwise/output", |p| p["uri"] == uri.as_str() && p["step"] == "a");
    assert!(first["item"].is_null(), "{first}");
    assert_eq!(first["text"], "one\n");
    streamed(&mut s.server, "b", 1, "About ");
    streamed(&mut s.server, "b", 0, "About one");
    let live = command(
        &mut s.server,
        "stepwise.openOutput",
        json!({ "uri": s.uri, "step": "b" }),
    )
    .unwrap();
    assert_eq!(live["running"], true, "{live}");
    assert_eq!(live["run"], first["run"]);
    assert_eq!(live["document"], "── item 1 ──\nAbout one\n\n── item 2 ──\nAbout \n");
    assert_eq!(
        live["parts"],
        json!([{ "item": 0, "text": "About one" }, { "item": 1, "text": "About " }])
    );
    let done = command(
        &mut s.server,
        "stepwise.openOutput",
        json!({ "uri": s.uri, "step": "a" }),
    )
    .unwrap();
    assert_eq!(done["running"], false);
    assert_eq!(done["document"], "one\ntwo");
    command(&mut s.server, "stepwise.cancel", json!({ "uri": s.uri })).unwrap();
    assert_eq!(s.server.response(run).unwrap()["status"], "cancelled");
}
