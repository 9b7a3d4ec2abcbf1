//! Replies the server encodes itself (inlay hints, completion, symbols, lenses, semantic
//! tokens) keep the protocol's rules: refused before `initialize` and after `shutdown` as
//! every request is, and each reply carries its own request's id when several are in flight.

mod support;

use serde_json::{Value, json};
use support::lsp::{TestServer, uri};

const WORKFLOW: &str = "\
version: 1
name: Replies
provider: anthropic
model: claude-sonnet-4-5
steps:
  - id: first
    prompt: One
  - id: second
    provider: openai
    model: gpt-4o
    prompt: Two from {{ steps.first.output }}
";

/// The error code of `textDocument/inlayHint` on `doc`.
fn hint_error(s: &mut TestServer, doc: &str) -> i64 {
    let reply = s.request("textDocument/inlayHint", hint_params(doc));
    reply.expect_err("the request is refused")["code"].as_i64().unwrap()
}

fn hint_params(doc: &str) -> Value {
    json!({
        "textDocument": { "uri": doc },
        "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 99, "character": 0 } }
    })
}

/// A server, initialized, with [`WORKFLOW`] open; the folder it lives in, kept while it runs.
fn opened() -> (tempfile::TempDir, TestServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let doc = uri(&dir.path().join("a.flow.yaml"));
    let (mut s, _) = TestServer::initialized(&[], TestServer::default_capabilities());
    s.open(&doc, WORKFLOW);
    (dir, s, doc)
}

#[test]
fn an_inlay_hint_request_before_initialize_is_refused_as_not_initialized() {
    let mut s = TestServer::start(&[]);
    assert_eq!(hint_error(&mut s, "file:///w/a.flow.yaml"), -32002);
}

#[test]
fn an_inlay_hint_request_after_shutdown_is_refused_as_invalid() {
    let (_dir, mut s, doc) = opened();
    s.request("shutdown", Value::Null).unwrap();
    assert_eq!(hint_error(&mut s, &doc), -32600);
}

#[test]
fn replies_to_requests_in_flight_together_each_carry_their_own_result() {
    let (_dir, mut s, doc) = opened();
    let symbols_params = json!({ "textDocument": { "uri": doc } });
    let completion_params = json!({
        "textDocument": { "uri": doc },
        "position": { "line": 10, "character": 30 }
    });
    let hints = s.send_request("textDocument/inlayHint", hint_params(&doc));
    let symbols = s.send_request("textDocument/documentSymbol", symbols_params.clone());
    let completion = s.send_request("textDocument/completion", completion_params.clone());
    let (hints, symbols, completion) = (
        s.response(hints).unwrap(),
        s.response(symbols).unwrap(),
        s.response(completion).unwrap(),
    );
    // The same requests one at a time give the same answers.
    assert_eq!(hints, s.request("textDocument/inlayHint", hint_params(&doc)).unwrap());
    assert_eq!(
        symbols,
        s.request("textDocument/documentSymbol", symbols_params).unwrap()
    );
    assert_eq!(
        completion,
        s.request("textDocument/completion", completion_params).unwrap()
    );
    assert_eq!(hints.as_array().map(Vec::len), Some(2));
    assert!(symbols.to_string().contains("\"second\""), "{symbols}");
    assert!(completion.to_string().contains("first"), "{completion}");
}
