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
