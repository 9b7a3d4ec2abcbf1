//! Cost in the editor, through the real `stepwise lsp` binary over stdio and a fake provider
//! on 127.0.0.1: the lens after a run shows the cost, hover breaks it down, hover on a step
//! not run shows its estimate, and a step whose estimate exceeds `budget_usd` is warned.

mod support;

use serde_json::{Value, json};
use support::fake_provider::{FakeProvider, anthropic_stream};
use support::lsp::{TestServer, pos_of, uri};

const FLOW: &str = "version: 1
name: Cost
provider: anthropic
model: claude-haiku-4-5
params:
  max_tokens: 300
steps:
  - id: summarize
    prompt: Summarize rocket skates.
";

struct Setup {
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
    _provider: FakeProvider,
    server: TestServer,
    uri: String,
    diagnostics: Vec<Value>,
}

/// A workspace whose anthropic provider answers every prompt with 1,000 input and 200 output
/// tokens, and a server with `flow` open.
fn setup(flow: &str) -> Setup {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let provider = runtime.block_on(FakeProvider::start(|_| anthropic_stream(&["ok"], 1_000, 200)));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stepwise.toml"),
        format!("[providers.anthropic]\nbase_url = \"{}\"\n", provider.url),
    )
    .unwrap();
    let path = dir.path().join("cost.flow.yaml");
    std::fs::write(&path, flow).unwrap();
    let uri = uri(&path);
    let (mut server, _) = TestServer::initialized(
        &[
            ("ANTHROPIC_API_KEY", "sk-test-anthropic"),
            ("STEPWISE_TRUST_WORKSPACE", "1"),
        ],
        json!({}),
    );
    server.open(&uri, flow);
    let diagnostics = server.diagnostics(&uri, 1);
    Setup {
        _dir: dir,
        _runtime: runtime,
        _provider: provider,
        server,
        uri,
        diagnostics,
    }
}

fn hover_on_step(s: &mut Setup, flow: &str) -> String {
    let (line, col) = pos_of(flow, "id: summarize", 5);
    let hover = s.server.at("textDocument/hover", &s.uri.clone(), line, col).unwrap();
    hover["contents"]["value"].as_str().unwrap_or_default().to_string()
}

#[test]
fn after_a_run_the_lens_shows_the_cost_and_hover_breaks_it_down() {
    let mut s = setup(FLOW);
    let reply = s
        .server
        .request(
            "workspace/executeCommand",
            json!({ "command": "stepwise.runStep", "arguments": [{ "uri": s.uri, "step": "summarize" }] }),
        )
        .unwrap();
    assert_eq!(reply["status"], "completed", "{reply}");
    let cost = reply["steps"][0]["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.002).abs() < 1e-12, "{reply}");
    let lenses = s
        .server
        .request("textDocument/codeLens", json!({ "textDocument": { "uri": s.uri } }))
        .unwrap();
    let titles: Vec<&str> = lenses
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["command"]["title"].as_str())
        .collect();
    // 1,000 × $1/M + 200 × $5/M = $0.002.
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with('✓') && t.ends_with("· anthropic/claude-haiku-4-5 · 1200 tok · $0.002")),
        "{titles:?}"
    );
    let hover = hover_on_step(&mut s, FLOW);
    assert!(
        hover.contains(
            "Cost: $0.0020\n- anthropic/claude-haiku-4-5: 1000 in × $1.00/M + 200 out × $5.00/M = $0.0020 (built-in catalog)"
        ),
        "{hover}"
    );
    assert!(!hover.contains("Estimated cost"), "{hover}");
}

#[test]
fn hover_on_a_step_not_run_shows_its_estimate() {
    let mut s = setup(FLOW);
    let hover = hover_on_step(&mut s, FLOW);
    // "Summarize rocket skates." is 24 characters: 6 tokens; up to 300 output tokens at $5/M.
    assert!(
        hover.contains(
            "Estimated cost: $0.0000–$0.0015 — anthropic/claude-haiku-4-5, ~6 prompt tokens × $1.00/M + up to 300 out × $5.00/M (built-in catalog"
        ),
        "{hover}"
    );
}

#[test]
fn a_step_whose_estimate_alone_exceeds_the_budget_is_warned() {
    let flow = FLOW.replace("params:", "budget_usd: 0.001\nparams:");
    let s = setup(&flow);
    let warning = s
        .diagnostics
        .iter()
        .find(|d| d["code"] == "over-budget")
        .unwrap_or_else(|| panic!("{:?}", s.diagnostics));
    assert_eq!(warning["severity"], 2, "a warning");
    let (line, col) = pos_of(&flow, "summarize", 0);
    assert_eq!(warning["range"]["start"], json!({ "line": line, "character": col }));
    assert!(
        warning["message"].as_str().unwrap().contains(
            "($0.0000–$0.0015 with anthropic/claude-haiku-4-5) alone exceeds the workflow's budget_usd of $0.0010"
        ),
        "{warning}"
    );
    let fits = setup(&FLOW.replace("params:", "budget_usd: 0.01\nparams:"));
    assert!(!fits.diagnostics.iter().any(|d| d["code"] == "over-budget"));
}
