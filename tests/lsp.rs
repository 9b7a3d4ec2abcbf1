//! End-to-end tests: the real `stepwise lsp` binary, spoken to over stdio as an editor would.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::lsp::{TestServer, pos_of, uri};

const WORKFLOW: &str = "\
version: 1
name: Launch brief
provider: anthropic
model: claude-sonnet-4-5
persona: concise-analyst
inputs:
  product:
    description: The product
    default: Acme rocket skates
personas:
  concise-analyst:
    name: Concise analyst
    description: Short, numbers first
    system: You are a concise analyst.
steps:
  - id: summarize
    prompt: |
      Summarize {{ inputs.product }} in five bullet points.
  - id: ideas
    provider: openai
    model: gpt-4o
    persona: creative-marketer
    prompt: |
      Three campaign ideas for: {{ steps.summarize.output }}
  - id: draft
    persona: null
    needs: [ideas]
    prompt: Draft the brief from {{ steps.ideas.output }}
";

const MARKETER: &str = "\
name: Creative marketer
description: Bold, playful copy
system: You are a creative marketer.
";

/// A workspace folder: `stepwise.toml`, `personas/creative-marketer.yaml`, and the workflow.
fn workspace(workflow: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stepwise.toml"),
        "default_provider = \"anthropic\"\npersona_dirs = [\"personas\"]\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("personas")).unwrap();
    std::fs::write(dir.path().join("personas/creative-marketer.yaml"), MARKETER).unwrap();
    let path = dir.path().join("brief.flow.yaml");
    std::fs::write(&path, workflow).unwrap();
    let u = uri(&path);
    (dir, u)
}

const KEYS: [(&str, &str); 2] = [("ANTHROPIC_API_KEY", "test"), ("OPENAI_API_KEY", "test")];

fn start() -> TestServer {
    TestServer::initialized(&KEYS, TestServer::default_capabilities()).0
}

fn labels(completion: &Value) -> Vec<String> {
    completion
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect()
}

fn codes(diagnostics: &[Value]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn initialize_offers_utf16_by_default_and_utf8_when_the_client_does() {
    let (_s, result) = TestServer::initialized(&[], json!({}));
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-16");
    assert_eq!(result["capabilities"]["textDocumentSync"]["change"], 2);
    let caps = json!({ "general": { "positionEncodings": ["utf-8", "utf-16"] } });
    let (_s, result) = TestServer::initialized(&[], caps);
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-8");
}

#[test]
fn diagnostics_follow_open_incremental_change_and_close() {
    let (_dir, u) = workspace(WORKFLOW);
    let mut s = start();
    s.open(&u, WORKFLOW);
    assert_eq!(codes(&s.diagnostics(&u, 1)), Vec::<String>::new());
    let (line, col) = pos_of(WORKFLOW, "provider: openai", "provider: ".len());
    s.edit(&u, 2, (line, col), (line, col + "openai".len() as u32), "opnai");
    let diags = s.diagnostics(&u, 2);
    assert_eq!(codes(&diags), ["unknown-provider"]);
    assert_eq!(diags[0]["range"]["start"], json!({ "line": line, "character": col }));
    s.notify("textDocument/didClose", json!({ "textDocument": { "uri": u } }));
    // The clearing publication has no version (a late re-publication of version 2, e.g. after
    // Ollama's background probe answers, may come first).
    let cleared = s.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == u.as_str() && p["version"].is_null()
    });
    assert_eq!(cleared["diagnostics"], json!([]));
}

#[test]
fn requests_see_the_change_sent_just_before_them() {
    let (_dir, u) = workspace(WORKFLOW);
    let mut s = start();
    s.open(&u, WORKFLOW);
    let (line, _) = pos_of(WORKFLOW, "  - id: draft", 0);
    // Many edits and completions in one burst, without waiting: each completion must see
    // the step its own edit just added.
    let mut ids = Vec::new();
    for i in 0..20u32 {
        let text = format!("  - id: s{i}\n    provider: \n");
        s.edit(&u, 2 + i64::from(i), (line, 0), (line, 0), &text);
        let id = s.send_request(
            "textDocument/completion",
            json!({
                "textDocument": { "uri": u },
                "position": { "line": line + 1, "character": 14 }
            }),
        );
        ids.push(id);
    }
    for id in ids {
        let items = s.response(id).unwrap();
        assert!(labels(&items).contains(&"openai".to_string()), "{items}");
    }
}

#[test]
fn completion_offers_personas_in_a_step_that_does_not_parse_yet() {
    let text = format!("{WORKFLOW}  - id: new\n    persona: ");
    let broken = text.replace("needs: [ideas]", "needs: [ideas");
    let (_dir, u) = workspace(&broken);
    let mut s = start();
    s.open(&u, &broken);
    let last = broken.lines().count() as u32 - 1;
    let items = s.at("textDocument/completion", &u, last, 13).unwrap();
    assert_eq!(labels(&items), ["concise-analyst", "creative-marketer", "null"]);
    let marketer = &items[1];
    assert_eq!(marketer["detail"], "Creative marketer");
    assert!(
        marketer["documentation"]["value"]
            .as_str()
            .unwrap()
            .contains("Bold, playful copy")
    );
}

#[test]
fn completion_of_model_uses_the_steps_effective_provider() {
    let text = WORKFLOW.replace("    model: gpt-4o\n", "    model: \n");
    let (_dir, u) = workspace(&text);
    let mut s = start();
    s.open(&u, &text);
    let (line, col) = pos_of(&text, "    model: \n", "    model: ".len());
    let items = s.at("textDocument/completion", &u, line, col).unwrap();
    let labels = labels(&items);
    assert!(labels.contains(&"gpt-4o".to_string()), "{labels:?}");
    assert!(!labels.iter().any(|l| l.starts_with("claude")), "{labels:?}");
}

#[test]
fn completion_of_providers_lists_available_ones_first_and_marks_the_rest() {
    let text = WORKFLOW.replace("provider: openai", "provider: o");
    let (_dir, u) = workspace(&text);
    let mut s = start();
    s.open(&u, &text);
    let (line, col) = pos_of(&text, "provider: o\n", "provider: o".len());
    let items = s.at("textDocument/completion", &u, line, col).unwrap();
    // Ollama's place depends on whether its background probe has answered yet.
    let labels = labels(&items);
    assert_eq!(labels[..2], ["anthropic", "openai"]);
    let mut all = labels.clone();
    all.sort();
    assert_eq!(all, ["anthropic", "google", "ollama", "openai"]);
    let google = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "google")
        .unwrap();
    assert_eq!(
        google["detail"],
        "unavailable: GEMINI_API_KEY or GOOGLE_API_KEY not set"
    );
    assert_eq!(
        items[1]["textEdit"]["range"]["start"],
        json!({ "line": line, "character": col - 1 })
    );
}

#[test]
fn inlay_hints_show_each_steps_effective_settings_and_sources() {
    let (_dir, u) = workspace(WORKFLOW);
    let mut s = start();
    s.open(&u, WORKFLOW);
    let hints = s
        .request(
            "textDocument/inlayHint",
            json!({
                "textDocument": { "uri": u },
                "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 99, "character": 0 } }
            }),
        )
        .unwrap();
    let labels: Vec<&str> = hints
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "anthropic/claude-sonnet-4-5 (workflow) · concise-analyst (workflow)",
            "openai/gpt-4o (step) · creative-marketer (step)",
            "anthropic/claude-sonnet-4-5 (workflow) · no persona (step)",
        ]
    );
    let (line, _) = pos_of(WORKFLOW, "  - id: ideas", 0);
    assert_eq!(hints[1]["position"], json!({ "line": line, "character": 13 }));
    let resolved = s.request("inlayHint/resolve", hints[1].clone()).unwrap();
    let tooltip = resolved["tooltip"]["value"].as_str().unwrap();
    assert!(tooltip.contains("set by this step's `provider` key"), "{tooltip}");
}

#[test]
fn hover_on_a_library_persona_shows_its_prompt_and_file() {
    let (_dir, u) = workspace(WORKFLOW);
    let mut s = start();
    s.open(&u, WORKFLOW);
    let (line, col) = pos_of(WORKFLOW, "creative-marketer", 3);
    let hover = s.at("textDocument/hover", &u, line, col).unwrap();
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.contains("**Creative marketer**"), "{text}");
    assert!(text.contains("You are a creative marketer."), "{text}");
    assert!(text.contains("personas/creative-marketer.yaml"), "{text}");
}

#[test]
fn hover_on_a_provider_names_the_key_variable_but_never_the_key() {
    let (_dir, u) = workspace(WORKFLOW);
    let mut s = TestServer::initialized(&[("OPENAI_API_KEY", "sk-secret-value")], json!({})).0;
    s.open(&u, WORKFLOW);
    let (line, col) = pos_of(WORKFLOW, "provider: openai", 12);
    let hover = s.at("textDocument/hover", &u, line, col).unwrap();
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.contains("`OPENAI_API_KEY`"), "{text}");
    assert!(!text.contains("sk-secret-value"), "{text}");
}

#[test]
fn definition_goes_to_library_files_and_referenced_steps() {
    let (dir, u) = workspace(WORKFLOW);
    let mut s = start();
    s.open(&u, WORKFLOW);
    let (line, col) = pos_of(WORKFLOW, "persona: creative-marketer", 10);
    let def = s.at("textDocument/definition", &u, line, col).unwrap();
    assert_eq!(def["uri"], uri(&dir.path().join("personas/creative-marketer.yaml")));
    let (line, col) = pos_of(WORKFLOW, "steps.summarize.output", 8);
    let def = s.at("textDocument/definition", &u, line, col).unwrap();
    let (def_line, def_col) = pos_of(WORKFLOW, "summarize\n", 0);
    assert_eq!(def["range"]["start"], json!({ "line": def_line, "character": def_col }));
}

#[test]
fn references_of_a_library_persona_span_open_workflows() {
    let (dir, u) = workspace(WORKFLOW);
    let other_text = "version: 1\nname: Other\npersona: creative-marketer\nsteps:\n  - id: a\n    prompt: Hi\n";
    let other_path = dir.path().join("other.flow.yaml");
    std::fs::write(&other_path, other_text).unwrap();
    let other = uri(&other_path);
    let mut s = start();
    s.open(&u, WORKFLOW);
    s.open(&other, other_text);
    let (line, col) = pos_of(WORKFLOW, "creative-marketer", 0);
    let refs = s
        .request(
            "textDocument/references",
            json!({
                "textDocument": { "uri": u },
                "position": { "line": line, "character": col },
                "context": { "includeDeclaration": true }
            }),
        )
        .unwrap();
    let mut uris: Vec<String> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["uri"].as_str().unwrap().rsplit('/').next().unwrap().to_string())
        .collect();
    uris.sort();
    assert_eq!(uris, ["brief.flow.yaml", "creative-marketer.yaml", "other.flow.yaml"]);
}

#[test]
fn rename_of_a_step_edits_its_id_needs_and_templates() {
    let (_dir, u) = workspace(WORKFLOW);
    let mut s = start();
    s.open(&u, WORKFLOW);
    let (line, col) = pos_of(WORKFLOW, "id: ideas", 5);
    let prep = s.at("textDocument/prepareRename", &u, line, col).unwrap();
    assert_eq!(prep["placeholder"], "ideas");
    let edit = s
        .request(
            "textDocument/rename",
            json!({
                "textDocument": { "uri": u },
                "position": { "line": line, "character": col },
                "newName": "campaigns"
            }),
        )
        .unwrap();
    let edits = edit["changes"][&u].as_array().unwrap();
    assert_eq!(edits.len(), 3);
    assert!(edits.iter().all(|e| e["newText"] == "campaigns"));
}

#[test]
fn rename_of_a_library_persona_is_refused_with_the_reason() {
    let (_dir, u) = workspace(WORKFLOW);
    let mut s = start();
    s.open(&u, WORKFLOW);
    let (line, col) = pos_of(WORKFLOW, "creative-marketer", 2);
    let err = s.at("textDocument/prepareRename", &u, line, col).unwrap_err();
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("creative-marketer.yaml"), "{message}");
}

#[test]
fn document_symbols_list_inputs_personas_and_steps() {
    let (_dir, u) = workspace(WORKFLOW);
    let mut s = start();
    s.open(&u, WORKFLOW);
    let symbols = s
        .request("textDocument/documentSymbol", json!({ "textDocument": { "uri": u } }))
        .unwrap();
    assert_eq!(symbols[0]["name"], "Launch brief");
    let children: Vec<&str> = symbols[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["product", "concise-analyst", "summarize", "ideas", "draft"]);
}

#[test]
fn changing_stepwise_toml_republishes_diagnostics() {
    let text = WORKFLOW.replace("provider: anthropic\n", "");
    let (dir, u) = workspace(&text);
    let mut s = start();
    let registration = s.wait_for("client/registerCapability", |_| true);
    assert_eq!(
        registration["registrations"][0]["method"],
        "workspace/didChangeWatchedFiles"
    );
    s.open(&u, &text);
    assert!(codes(&s.diagnostics(&u, 1)).is_empty());
    let config = dir.path().join("stepwise.toml");
    std::fs::write(&config, "default_provider = \"groq\"\npersona_dirs = [\"personas\"]\n").unwrap();
    s.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri(&config), "type": 2 }] }),
    );
    s.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == u.as_str()
            && p["diagnostics"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["code"] == "unknown-provider"))
    });
    s.wait_for("workspace/inlayHint/refresh", |_| true);
}

/// Answers every HTTP request with 200, as an Ollama server would `/api/version`.
fn answering_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::{Read, Write};
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n{\"version\":\"0.12.0\"}\n\n");
        }
    });
    url
}

fn unavailable_messages(diagnostics: &Value) -> Vec<String> {
    diagnostics
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["code"] == "provider-unavailable")
        .map(|d| d["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn ollama_that_does_not_answer_is_unavailable_with_its_address() {
    let text = WORKFLOW
        .replace("provider: openai", "provider: ollama")
        .replace("model: gpt-4o", "model: llama3.2");
    let (_dir, u) = workspace(&text);
    let mut s = start();
    s.open(&u, &text);
    let published = s.wait_for("textDocument/publishDiagnostics", |p| {
        unavailable_messages(&p["diagnostics"])
            .iter()
            .any(|m| m.contains("ollama"))
    });
    let messages = unavailable_messages(&published["diagnostics"]);
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`ollama` is unavailable: not answering at http://127.0.0.1:9")),
        "{messages:?}"
    );
    let (line, col) = pos_of(&text, "provider: ollama", "provider: oll".len());
    let hover = s.at("textDocument/hover", &u, line, col).unwrap();
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("not answering at http://127.0.0.1:9"),
        "{hover}"
    );
}

#[test]
fn ollama_that_answers_is_available_without_a_warning() {
    let url = answering_server();
    let text = WORKFLOW
        .replace("provider: openai", "provider: ollama")
        .replace("model: gpt-4o", "model: llama3.2");
    let (_dir, u) = workspace(&text);
    let mut s = TestServer::initialized(&[("OLLAMA_HOST", url.as_str())], TestServer::default_capabilities()).0;
    s.open(&u, &text);
    let (line, col) = pos_of(&text, "provider: ollama", "provider: oll".len());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hover = s.at("textDocument/hover", &u, line, col).unwrap();
        if hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("available (no key needed)")
        {
            break;
        }
        assert!(Instant::now() < deadline, "never available: {hover}");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.edit(&u, 2, (0, 0), (0, 0), "# edited\n");
    let published = s.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == u.as_str() && p["version"] == 2
    });
    let messages = unavailable_messages(&published["diagnostics"]);
    assert!(
        messages.iter().all(|m| !m.contains("`ollama` is unavailable")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("(available: ollama)")),
        "{messages:?}"
    );
}

#[test]
fn a_panicking_request_gets_an_error_and_the_server_lives_on() {
    let (_dir, u) = workspace(WORKFLOW);
    let mut s = TestServer::initialized(&[("STEPWISE_ALLOW_CRASH_TEST", "1")], json!({})).0;
    s.open(&u, WORKFLOW);
    let err = s.request("stepwise/crashTest", Value::Null).unwrap_err();
    assert_eq!(err["code"], -32603);
    let (line, col) = pos_of(WORKFLOW, "provider: openai", 12);
    let hover = s.at("textDocument/hover", &u, line, col).unwrap();
    assert!(hover["contents"]["value"].as_str().unwrap().contains("openai"));
    assert!(s.shutdown().success());
}

fn many_steps(n: usize) -> String {
    let mut text = String::from("version: 1\nname: Big\nprovider: anthropic\nsteps:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - id: s{i}\n    prompt: Summarize {{{{ steps.s{}.output }}}}\n",
            i.saturating_sub(1)
        ));
    }
    text
}

/// The stress tests run one at a time, so that their timing measures the server, not three
/// huge documents competing for two cores.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Opens `huge` and checks that a hover on a small document still answers promptly.
fn small_requests_stay_fast_while(huge: &str) {
    let _one_at_a_time = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let small = uri(&dir.path().join("small.flow.yaml"));
    let big = uri(&dir.path().join("big.flow.yaml"));
    let mut s = start();
    s.open(&small, WORKFLOW);
    s.diagnostics(&small, 1);
    s.open(&big, huge);
    let (line, col) = pos_of(WORKFLOW, "provider: openai", 12);
    let started = Instant::now();
    let hover = s.at("textDocument/hover", &small, line, col).unwrap();
    assert!(hover["contents"]["value"].as_str().unwrap().contains("openai"));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    // The huge document itself is answered too, eventually.
    s.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": big } }))
        .unwrap();
    assert!(s.shutdown().success());
}

#[test]
fn a_20000_step_document_does_not_stall_other_requests() {
    small_requests_stay_fast_while(&many_steps(20_000));
}

#[test]
fn deep_nesting_does_not_crash_the_server() {
    let mut text = String::from("version: 1\nname: Deep\nsteps:\n  - id: a\n    prompt: ");
    text.push_str(&"[".repeat(3000));
    text.push_str(&"]".repeat(3000));
    text.push('\n');
    small_requests_stay_fast_while(&text);
}

#[test]
fn a_5_mb_binary_document_does_not_stall_other_requests() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: String = (0..5 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from((state % 256) as u8)
        })
        .collect();
    small_requests_stay_fast_while(&bytes);
}

#[test]
fn logs_go_to_stderr_at_the_level_the_client_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let u = uri(&dir.path().join("a.flow.yaml"));
    let log = dir.path().join("server.log");
    let mut cmd = TestServer::command(&[("STEPWISE_ALLOW_CRASH_TEST", "1")]);
    cmd.env_remove("STEPWISE_LOG");
    let stderr = std::fs::File::create(&log).unwrap();
    let mut s = TestServer::spawn_with_stderr(cmd, stderr.into());
    let options = json!({ "capabilities": {}, "initializationOptions": { "logLevel": "error" } });
    s.request("initialize", options).unwrap();
    s.notify("initialized", json!({}));
    s.open(&u, WORKFLOW);
    // Every message so far parsed as JSON-RPC: nothing but the protocol reached stdout.
    s.diagnostics(&u, 1);
    s.request("stepwise/crashTest", Value::Null).unwrap_err();
    assert!(s.shutdown().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("ERROR") && text.contains("crash test requested"),
        "{text}"
    );
    assert!(!text.contains("INFO"), "{text}");
}

#[test]
fn removing_a_persona_file_republishes_diagnostics() {
    let (dir, u) = workspace(WORKFLOW);
    let mut s = start();
    s.open(&u, WORKFLOW);
    assert!(codes(&s.diagnostics(&u, 1)).is_empty());
    let persona = dir.path().join("personas/creative-marketer.yaml");
    std::fs::remove_file(&persona).unwrap();
    s.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri(&persona), "type": 3 }] }),
    );
    let published = s.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == u.as_str() && !p["diagnostics"].as_array().is_none_or(|d| d.is_empty())
    });
    assert_eq!(codes(published["diagnostics"].as_array().unwrap()), ["unknown-persona"]);
}

#[test]
fn positions_count_utf16_units_unless_utf8_was_negotiated() {
    let text = WORKFLOW.replace("name: Launch brief", "name: Launch 😀 brief").replace(
        "    prompt: Draft the brief from {{ steps.ideas.output }}",
        "    prompt: 😀 {{ steps.idaes.output }}",
    );
    let (_dir, u) = workspace(&text);
    let (line, _) = pos_of(&text, "idaes", 0);
    for (caps, column) in [
        (json!({}), "    prompt: 😀 {{ steps.".encode_utf16().count()),
        (
            json!({ "general": { "positionEncodings": ["utf-8"] } }),
            "    prompt: 😀 {{ steps.".len(),
        ),
    ] {
        let (mut s, _) = TestServer::initialized(&KEYS, caps);
        s.open(&u, &text);
        let diags = s.diagnostics(&u, 1);
        assert_eq!(codes(&diags), ["unknown-reference"]);
        assert_eq!(diags[0]["range"]["start"], json!({ "line": line, "character": column }));
    }
}
