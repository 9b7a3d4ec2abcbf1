//! Hostile input to the real `stepwise lsp` binary: malformed protocol frames, requests at
//! every position of hostile documents, and random edits whose result must equal `check`.

mod support;

use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};
use support::lsp::TestServer;

/// What the server must do after a malformed frame.
#[derive(Debug, Clone, Copy)]
enum After {
    /// Reply with this JSON-RPC error code (id null), then answer the next request.
    Replies(i64),
    /// Exit with a non-zero code and a log line containing this text.
    Exits(&'static str),
}

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

fn frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn with_length(length: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("Content-Length: {length}\r\n\r\n").into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

const REQUEST: &[u8] = br#"{"jsonrpc":"2.0","id":900,"method":"textDocument/documentSymbol","params":{"textDocument":{"uri":"file:///x.flow.yaml"}}}"#;

/// The malformed frames, each with what the server must do after it.
fn malformed_frames() -> Vec<(&'static str, Vec<u8>, After)> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut invalid_utf8 = br#"{"jsonrpc":"2.0","method":"x","params":""#.to_vec();
    invalid_utf8.extend_from_slice(b"\xff\xfe\xc3\x28\"}");
    vec![
        ("body is not JSON", frame(b"hello, server"), After::Replies(PARSE_ERROR)),
        ("truncated JSON", frame(&REQUEST[..40]), After::Replies(PARSE_ERROR)),
        ("invalid UTF-8", frame(&invalid_utf8), After::Replies(PARSE_ERROR)),
        (
            "lone surrogate escape",
            frame(br#"{"jsonrpc":"2.0","method":"x","params":"\udcff"}"#),
            After::Replies(PARSE_ERROR),
        ),
        (
            "JSON nested 100,000 deep",
            frame(deep.as_bytes()),
            After::Replies(PARSE_ERROR),
        ),
        (
            "JSON that is no message",
            frame(br#"{"hello":1}"#),
            After::Replies(INVALID_REQUEST),
        ),
        (
            "Content-Length too small",
            with_length(&(REQUEST.len() - 30).to_string(), REQUEST),
            After::Replies(PARSE_ERROR),
        ),
        (
            "Content-Length too large",
            with_length(&(REQUEST.len() + 25).to_string(), REQUEST),
            After::Replies(PARSE_ERROR),
        ),
        (
            "missing Content-Length",
            [
                b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n",
                REQUEST,
            ]
            .concat(),
            After::Replies(PARSE_ERROR),
        ),
        (
            "Content-Length not a number",
            with_length("ten", REQUEST),
            After::Replies(PARSE_ERROR),
        ),
        ("no headers at all", REQUEST.to_vec(), After::Replies(PARSE_ERROR)),
        ("empty body", frame(b""), After::Replies(PARSE_ERROR)),
        (
            "input ends inside a body",
            with_length("5000", REQUEST),
            After::Exits("ended inside a message"),
        ),
        (
            "body over the size limit",
            with_length("99999999999999", b""),
            After::Exits("over the limit"),
        ),
    ]
}

#[test]
fn every_malformed_frame_gets_an_error_reply_and_the_server_answers_afterwards_or_exits_non_zero() {
    for (name, bytes, after) in malformed_frames() {
        match after {
            After::Replies(code) => {
                let (mut server, _) = TestServer::initialized(&[], TestServer::default_capabilities());
                server.write_raw(&bytes);
                // A frame that claims too much eats into the next one: the second probe must answer.
                let probe = json!({ "textDocument": { "uri": "file:///a.flow.yaml" } });
                server.send_request("textDocument/documentSymbol", probe.clone());
                let second = server.send_request("textDocument/documentSymbol", probe);
                assert_eq!(
                    server.response(second),
                    Ok(Value::Null),
                    "{name}: the server stopped answering"
                );
                let errors: Vec<&Value> = server
                    .notifications
                    .iter()
                    .filter(|m| m.get("id") == Some(&Value::Null) && m.get("error").is_some())
                    .collect();
                assert!(
                    errors.iter().any(|m| m["error"]["code"] == code),
                    "{name}: expected a {code} reply with id null, got {errors:?}"
                );
                assert!(
                    server.shutdown().success(),
                    "{name}: shutdown after the bad frame failed"
                );
            }
            After::Exits(log) => {
                let mut cmd = TestServer::command(&[]);
                let mut child = cmd
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn stepwise lsp");
                let mut stdin = child.stdin.take().unwrap();
                stdin
                    .write_all(&frame(
                        br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#,
                    ))
                    .unwrap();
                stdin.write_all(&bytes).unwrap();
                drop(stdin);
                let out = child.wait_with_output().unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(!out.status.success(), "{name}: exited with success");
                assert!(stderr.contains(log), "{name}: no log line with {log:?} in {stderr}");
            }
        }
    }
}

/// Documents that broke or confused the server: multi-byte text at every boundary, every
/// line separator, broken syntax in each part of the document.
const HOSTILE_DOCUMENTS: &[(&str, &str)] = &[
    (
        "dot after a non-ASCII word in a template",
        "version: 1\nname: x\nprovider: anthropic\nsteps:\n  - id: a\n    prompt: \"{{ é.\n",
    ),
    (
        "emoji and CJK in keys, IDs and templates",
        "version: 1\nname: 😀日本\nprovider: anthropic\ninputs:\n  プ😀:\n    default: é\nsteps:\n  - id: s😀\n    prompt: \"{{ inputs.プ😀 }} {{ steps.s😀.output }}😀\"\n  - id: b\n    needs: [s😀]\n    prompt: 🚀{{ steps.\n",
    ),
    (
        "CRLF line ends",
        "version: 1\r\nname: x\r\nprovider: anthropic\r\nsteps:\r\n  - id: a\r\n    prompt: Hi {{ inputs.\r\n  - id: b\r\n    persona: \r\n    prompt: é\r\n",
    ),
    (
        "lone CR line ends",
        "version: 1\rname: x\rprovider: anthropic\rsteps:\r  - id: a\r    prompt: Hi {{ steps.a.\r  - id: b\r    provider: \r",
    ),
    (
        "Unicode line separators inside values",
        "version: 1\nname: a\u{2028}b\u{2029}c\u{85}d\u{b}e\u{c}f\nprovider: anthropic\nsteps:\n  - id: a\n    prompt: \"x\u{2028}{{ steps.\u{2029}\"\n  - id: b\n    model: \u{85}\n    prompt: \u{c}{{ inputs.\n",
    ),
    (
        "BOM, tabs and control characters",
        "\u{feff}version: 1\nname:\tx\u{0}\u{1}\nprovider: anthropic\nsteps:\n\t- id: a\n  - id: b\n    prompt: \"\u{7f}{{\t}}\"\n",
    ),
    (
        "broken header value above the steps",
        "version: 1\nname: x\ninputs:\n  topic:\n    description: [unclosed\npersonas:\n  p:\n    name: P\n    system: S\nsteps:\n  - id: a\n    persona: \n    prompt: \"{{ inputs.topic \n",
    ),
    (
        "unclosed quotes, brackets and braces",
        "version: 1\nname: \"x\nprovider: {anthropic\nsteps:\n  - id: [a\n    needs: [b, \n    prompt: '{{ steps.b.output\n  - id: b\n    fallback: [openai/, \n",
    ),
    (
        "deep nesting",
        "steps:\n  - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -\n",
    ),
    ("empty document", ""),
    ("steps only", "steps:\n  -\n  - id:\n  - id: é\n    prompt:\n"),
];

/// The lines of `text` by the protocol's line model (`\n`, `\r\n`, `\r`), without breaks.
fn protocol_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    lines.push(&text[start..]);
    lines
}

#[test]
fn every_editor_request_at_every_utf16_column_of_hostile_documents_answers_without_error() {
    let (mut server, _) = TestServer::initialized(&[], TestServer::default_capabilities());
    let dir = tempfile::tempdir().unwrap();
    for (n, (name, text)) in HOSTILE_DOCUMENTS.iter().enumerate() {
        let uri = support::lsp::uri(&dir.path().join(format!("hostile{n}.flow.yaml")));
        server.open(&uri, text);
        let lines = protocol_lines(text);
        let end = json!({ "line": lines.len(), "character": 0 });
        let mut pending = Vec::new();
        for (line, content) in lines.iter().enumerate() {
            // Past the end of the line too, and inside surrogate pairs.
            for col in 0..=content.encode_utf16().count() + 2 {
                let at = json!({ "line": line, "character": col });
                let doc = json!({ "uri": uri });
                let position = json!({ "textDocument": doc, "position": at });
                let range = json!({ "start": at, "end": at });
                for (method, params) in [
                    ("textDocument/completion", position.clone()),
                    ("textDocument/hover", position.clone()),
                    ("textDocument/definition", position.clone()),
                    (
                        "textDocument/codeAction",
                        json!({ "textDocument": doc, "range": range, "context": { "diagnostics": [] } }),
                    ),
                    (
                        "textDocument/inlayHint",
                        json!({ "textDocument": doc, "range": { "start": at, "end": end } }),
                    ),
                ] {
                    pending.push((method, line, col, server.send_request(method, params)));
                }
            }
            for (method, line, col, id) in pending.drain(..) {
                if let Err(err) = server.response(id) {
                    panic!("{name}: {method} at {line}:{col} failed: {err}");
                }
            }
        }
    }
    assert!(server.shutdown().success());
}

/// What random edits insert: multi-byte text, emoji, every line separator, YAML and template
/// syntax.
const ALPHABET: &[&str] = &[
    "a",
    "é",
    "日本",
    "😀",
    "\n",
    "\r\n",
    "\r",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\u{b}",
    "\u{c}",
    "  - id: s",
    "{{ steps.",
    "}}",
    ": ",
    "prompt: ",
    "\"",
    "#",
    " ",
    "",
    "needs: [a]",
];

const EDITED: &str = "version: 1\nname: Ünïcode\u{2028}brief\nprovider: anthropic\ninputs:\n  topic:\n    default: é\u{85}😀\nsteps:\n  - id: a\n    prompt: \"{{ inputs.topic }}\u{2029}x\"\n  - id: b\n    needs: [a]\n    prompt: |\n      日本 {{ steps.a.output }}\u{c}\r\n  - id: c\r    model: gpt-4o\n    prompt: {{ steps.b.output }}\n";

/// The LSP position (UTF-16) of byte `offset`, counted by the protocol's line model.
fn protocol_position(text: &str, offset: usize) -> Value {
    let lines = protocol_lines(&text[..offset]);
    let last = lines.last().unwrap();
    json!({ "line": lines.len() - 1, "character": last.encode_utf16().count() })
}

/// Diagnostics as (start line, start col, end line, end col, code, message), zero-based UTF-16.
type Key = (u64, u64, u64, u64, String, String);

fn published_keys(diagnostics: &[Value]) -> Vec<Key> {
    let mut keys: Vec<Key> = diagnostics
        .iter()
        .map(|d| {
            let r = &d["range"];
            (
                r["start"]["line"].as_u64().unwrap(),
                r["start"]["character"].as_u64().unwrap(),
                r["end"]["line"].as_u64().unwrap(),
                r["end"]["character"].as_u64().unwrap(),
                d["code"].as_str().unwrap().to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

fn checked_keys(path: &std::path::Path) -> Vec<Key> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stepwise"));
    for key in [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
    ] {
        cmd.env_remove(key);
    }
    let out = cmd.args(["check", "--format", "json"]).arg(path).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("check prints JSON");
    let point = |p: &Value| (p["line"].as_u64().unwrap() - 1, p["utf16_column"].as_u64().unwrap() - 1);
    let mut keys: Vec<Key> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let (sl, sc) = point(&d["start"]);
            let (el, ec) = point(&d["end"]);
            (
                sl,
                sc,
                el,
                ec,
                d["code"].as_str().unwrap().to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

/// A random char boundary of `text` that does not split a `\r\n`.
fn boundary(rng: &mut fastrand::Rng, text: &str) -> usize {
    loop {
        let at = rng.usize(..=text.len());
        let splits_crlf = at > 0 && text.as_bytes()[at - 1] == b'\r' && text.as_bytes().get(at) == Some(&b'\n');
        if text.is_char_boundary(at) && !splits_crlf {
            return at;
        }
    }
}

/// Random edit batches go to the server as `didChange` with UTF-16 ranges and to a plain
/// String; after each batch the server's diagnostics must equal `check` on the String's text.
/// `STEPWISE_FUZZ_CASES` sets the number of batches (default 30).
#[test]
fn random_edits_through_the_server_give_the_diagnostics_check_gives_for_the_same_text() {
    let batches: usize = std::env::var("STEPWISE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.flow.yaml");
    let uri = support::lsp::uri(&path);
    let (mut server, _) = TestServer::initialized(&[], TestServer::default_capabilities());
    let mut rng = fastrand::Rng::with_seed(10);
    let mut text = EDITED.to_string();
    server.open(&uri, &text);
    for version in 2..batches as i64 + 2 {
        if version % 10 == 0 {
            text = EDITED.to_string();
            server.notify(
                "textDocument/didChange",
                json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
            );
        } else {
            let mut changes = Vec::new();
            for _ in 0..rng.usize(1..6) {
                let (a, b) = (boundary(&mut rng, &text), boundary(&mut rng, &text));
                let (start, end) = (a.min(b), a.max(b).min(a.min(b) + 12));
                let end = if text.is_char_boundary(end)
                    && !(end > 0 && text.as_bytes()[end - 1] == b'\r' && text.as_bytes().get(end) == Some(&b'\n'))
                {
                    end
                } else {
                    start
                };
                let insert: String = (0..rng.usize(0..4))
                    .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
                    .collect();
                changes.push(json!({
                    "range": { "start": protocol_position(&text, start), "end": protocol_position(&text, end) },
                    "text": insert,
                }));
                text.replace_range(start..end, &insert);
            }
            server.notify(
                "textDocument/didChange",
                json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": changes }),
            );
        }
        let published = published_keys(&server.diagnostics(&uri, version));
        std::fs::write(&path, &text).unwrap();
        assert_eq!(published, checked_keys(&path), "version {version}, text {text:?}");
    }
    assert!(server.shutdown().success());
}
