//! `stepwise.toml` and persona files in the language server, through the real binary: their
//! diagnostics in their own file, completion and hover in them, open workflows re-checked
//! against an unsaved `stepwise.toml`; and a cycle error on the `needs` reference just typed.

mod support;

use serde_json::{Value, json};
use support::lsp::{TestServer, pos_of, uri};

const BROKEN_CONFIG: &str = "\
default_provider = \"localai\"
concurency = 4
max_retries = \"two\"

[providers.localai]
kind = \"openai\"
base_url = \"http://127.0.0.1:9/v1\"
models = [\"local-model\"]
";

const REVIEW: &str = "\
version: 1
name: Review
model: local-model
steps:
  - id: findings
    prompt: Review this.
";

struct Workspace {
    dir: tempfile::TempDir,
    flow: String,
    config: String,
}

fn workspace(config: &str, flow: &str) -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stepwise.toml"), config).unwrap();
    std::fs::create_dir(dir.path().join("personas")).unwrap();
    let path = dir.path().join("review.flow.yaml");
    std::fs::write(&path, flow).unwrap();
    Workspace {
        flow: uri(&path),
        config: uri(&dir.path().join("stepwise.toml")),
        dir,
    }
}

fn start() -> TestServer {
    TestServer::initialized(&[("LOCALAI_API_KEY", "k")], TestServer::default_capabilities()).0
}

fn open(s: &mut TestServer, uri: &str, language: &str, text: &str) {
    s.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": language, "version": 1, "text": text } }),
    );
}

fn codes(diagnostics: &[Value]) -> Vec<(String, u64)> {
    diagnostics
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["range"]["start"]["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// The next publication on `uri` whose diagnostics satisfy `pred`.
fn published(s: &mut TestServer, uri: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let params = s.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == uri && pred(p["diagnostics"].as_array().map(Vec::as_slice).unwrap_or_default())
    });
    params["diagnostics"].as_array().cloned().unwrap_or_default()
}

fn errors(diagnostics: &[Value]) -> Vec<(String, u64)> {
    let errors: Vec<Value> = diagnostics.iter().filter(|d| d["severity"] == 1).cloned().collect();
    codes(&errors)
}

#[test]
fn a_broken_stepwise_toml_shows_every_mistake_in_its_own_file_and_the_workflow_sees_its_providers() {
    let ws = workspace(BROKEN_CONFIG, REVIEW);
    let mut s = start();
    open(&mut s, &ws.flow, "yaml", REVIEW);
    let flow = s.diagnostics(&ws.flow, 1);
    assert!(
        codes(&flow)
            .iter()
            .all(|(c, _)| c != "unknown-provider" && c != "invalid-config"),
        "{flow:?}"
    );
    let config = published(&mut s, &ws.config, |d| !d.is_empty());
    assert_eq!(
        errors(&config),
        [("unknown-key".to_string(), 1), ("wrong-type".to_string(), 2)],
        "{config:?}"
    );
    let unknown = config.iter().find(|d| d["code"] == "unknown-key").unwrap();
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `concurrency`?"),
        "{unknown}"
    );
    // The untrusted workspace's warnings stay on their lines too.
    assert!(
        codes(&config).iter().any(|(c, _)| c == "untrusted-workspace"),
        "{config:?}"
    );
    // Opened in the editor, the file keeps them.
    open(&mut s, &ws.config, "toml", BROKEN_CONFIG);
    let hover = s.at("textDocument/hover", &ws.config, 5, 2).unwrap();
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("Wire format of a new provider"),
        "{hover}"
    );
    assert!(s.shutdown().success());
}

#[test]
fn an_unsaved_edit_of_stepwise_toml_rechecks_the_open_workflows() {
    let on_disk = "default_provider = \"anthropic\"\n";
    let flow = REVIEW.replace("model: local-model\n", "provider: localai\n");
    let ws = workspace(on_disk, &flow);
    let mut s = start();
    open(&mut s, &ws.flow, "yaml", &flow);
    let before = s.diagnostics(&ws.flow, 1);
    assert!(
        codes(&before).iter().any(|(c, _)| c == "unknown-provider"),
        "{before:?}"
    );
    open(&mut s, &ws.config, "toml", on_disk);
    s.edit(
        &ws.config,
        2,
        (1, 0),
        (1, 0),
        "[providers.localai]\nbase_url = \"http://127.0.0.1:9/v1\"\nconcurency = 2\n",
    );
    published(&mut s, &ws.flow, |d| !d.iter().any(|d| d["code"] == "unknown-provider"));
    let config = published(&mut s, &ws.config, |d| d.iter().any(|d| d["code"] == "unknown-key"));
    let unknown = config.iter().find(|d| d["code"] == "unknown-key").unwrap();
    assert_eq!(unknown["range"]["start"]["line"], 3, "{unknown}");
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("in `[providers.localai]`"),
        "{unknown}"
    );
    // Nothing was saved: the file on disk is as it was.
    assert_eq!(
        std::fs::read_to_string(ws.dir.path().join("stepwise.toml")).unwrap(),
        on_disk
    );
    assert!(s.shutdown().success());
}

fn labels(reply: &Value) -> Vec<String> {
    reply
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["label"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn stepwise_toml_completes_keys_provider_kinds_and_models() {
    let text = "concurrency = 4\nmax\n[providers.openai]\ndefault_model = \"gpt\"\n[providers.local]\nkind = \"\"\n";
    let ws = workspace(text, REVIEW);
    let mut s = start();
    open(&mut s, &ws.config, "toml", text);
    let keys = s.at("textDocument/completion", &ws.config, 1, 3).unwrap();
    assert!(labels(&keys).contains(&"max_retries".to_string()), "{keys}");
    assert!(!labels(&keys).contains(&"concurrency".to_string()), "{keys}");
    let (line, col) = pos_of(text, "\"gpt", 4);
    let models = s.at("textDocument/completion", &ws.config, line, col).unwrap();
    assert!(labels(&models).contains(&"gpt-4o".to_string()), "{models}");
    let (line, col) = pos_of(text, "kind = \"", 8);
    let kinds = s.at("textDocument/completion", &ws.config, line, col).unwrap();
    assert_eq!(labels(&kinds), ["anthropic", "openai", "google", "ollama"], "{kinds}");
    let provider = s.at("textDocument/hover", &ws.config, 2, 12).unwrap();
    assert!(
        provider["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("**provider `openai`**"),
        "{provider}"
    );
    assert!(s.shutdown().success());
}

#[test]
fn a_persona_file_gets_its_own_diagnostics_completion_and_hover() {
    let ws = workspace("persona_dirs = [\"personas\"]\n", REVIEW);
    let path = ws.dir.path().join("personas/critic.yaml");
    let text = "name: Critic\nsytem: Be harsh.\n";
    std::fs::write(&path, text).unwrap();
    let persona = uri(&path);
    let mut s = start();
    open(&mut s, &persona, "yaml", text);
    let found = s.diagnostics(&persona, 1);
    let unknown = found.iter().find(|d| d["code"] == "unknown-key").expect("unknown-key");
    assert_eq!(unknown["range"]["start"]["line"], 1, "{found:?}");
    assert!(
        unknown["message"].as_str().unwrap().contains("did you mean `system`?"),
        "{found:?}"
    );
    s.edit(&persona, 2, (1, 0), (1, 5), "syst");
    let keys = s.at("textDocument/completion", &persona, 1, 4).unwrap();
    assert!(labels(&keys).contains(&"system".to_string()), "{keys}");
    assert!(!labels(&keys).contains(&"name".to_string()), "{keys}");
    let hover = s.at("textDocument/hover", &persona, 0, 1).unwrap();
    assert!(
        hover["contents"]["value"].as_str().unwrap().contains("`name`"),
        "{hover}"
    );
    assert!(s.shutdown().success());
}

#[test]
fn typing_needs_that_closes_a_cycle_reports_one_cycle_on_that_line() {
    let flow = "\
version: 1
name: Review
provider: anthropic
steps:
  - id: draft
    prompt: Draft it.
  - id: review
    prompt: \"{{ steps.draft.output }}\"
  - id: comment
    prompt: \"{{ steps.review.output }}\"
";
    let ws = workspace("", flow);
    let mut s = start();
    open(&mut s, &ws.flow, "yaml", flow);
    let before = s.diagnostics(&ws.flow, 1);
    assert!(
        codes(&before).iter().all(|(c, _)| c != "dependency-cycle"),
        "{before:?}"
    );
    s.edit(&ws.flow, 2, (5, 0), (5, 0), "    needs: [comment]\n");
    let after = s.diagnostics(&ws.flow, 2);
    let cycles: Vec<_> = codes(&after)
        .into_iter()
        .filter(|(c, _)| c == "dependency-cycle")
        .collect();
    assert_eq!(cycles, [("dependency-cycle".to_string(), 5)], "{after:?}");
    let cycle = after.iter().find(|d| d["code"] == "dependency-cycle").unwrap();
    assert_eq!(cycle["range"]["start"]["character"], 12, "{cycle}");
    assert!(s.shutdown().success());
}
