//! `textDocument/publishDiagnostics` for workflow documents, encoded here: the notification is
//! serialized straight from the analysis, one diagnostic at a time, and handed to the wire
//! whole. tower-lsp-server's client builds a JSON value tree of the message first; with 50,000
//! diagnostics that tree (and the converted list under it) peaked the server at 334 MiB.

use serde::Serialize;
use tower_lsp_server::ls_types::{Diagnostic, Uri};

use crate::json_stream::Streamed;

use super::Shared;

#[derive(Serialize)]
struct Notification<'a, D> {
    jsonrpc: &'static str,
    method: &'static str,
    params: Params<'a, D>,
}

#[derive(Serialize)]
struct Params<'a, D> {
    uri: &'a Uri,
    diagnostics: D,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i32>,
}

/// The whole notification publishing `diagnostics` on `uri` (of `version`, when given). It is
/// measured first and then written into a buffer of exactly its size: a buffer grown by
/// doubling held up to twice the message, plus the copy made at each growth.
pub(crate) fn encode<I>(uri: &Uri, version: Option<i32>, diagnostics: I) -> Vec<u8>
where
    I: Iterator<Item = Diagnostic> + Clone,
{
    let notification = |diagnostics: I| Notification {
        jsonrpc: "2.0",
        method: "textDocument/publishDiagnostics",
        params: Params {
            uri,
            diagnostics: Streamed::new(diagnostics),
            version,
        },
    };
    let length = crate::json_stream::encoded_len(&notification(diagnostics.clone())).expect("diagnostics serialize");
    let mut encoded = Vec::with_capacity(length);
    serde_json::to_writer(&mut encoded, &notification(diagnostics)).expect("diagnostics serialize");
    encoded
}

/// Sends an encoded notification and returns once it is written; every publication goes
/// this way, so they reach the editor in the order they were made, and before anything the
/// server sends after them (a failover prompt after the failure's diagnostic).
pub(crate) async fn send(shared: &Shared, encoded: Vec<u8>) {
    shared.write_encoded(encoded, "diagnostics").await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::{DiagnosticSeverity, Position, PublishDiagnosticsParams, Range};

    #[test]
    fn the_encoding_is_the_one_tower_lsp_server_would_send() {
        let uri: Uri = "file:///w/a.flow.yaml".parse().unwrap();
        let diagnostics = vec![Diagnostic {
            range: Range::new(Position::new(1, 2), Position::new(1, 5)),
            severity: Some(DiagnosticSeverity::ERROR),
            message: "unknown step `b`".to_string(),
            ..Diagnostic::default()
        }];
        for version in [Some(3), None] {
            let ours: serde_json::Value =
                serde_json::from_slice(&encode(&uri, version, diagnostics.clone().into_iter())).unwrap();
            let params = PublishDiagnosticsParams::new(uri.clone(), diagnostics.clone(), version);
            let expected = serde_json::json!({
                "jsonrpc": "2.0",
                "method": "textDocument/publishDiagnostics",
                "params": params,
            });
            assert_eq!(ours, expected);
        }
    }

    #[test]
    fn the_encoding_is_held_in_a_buffer_of_its_own_size() {
        let uri: Uri = "file:///w/a.flow.yaml".parse().unwrap();
        let diagnostics: Vec<Diagnostic> = (0..1000)
            .map(|i| Diagnostic {
                range: Range::new(Position::new(i, 2), Position::new(i, 5)),
                message: format!("unknown step `b{i}`"),
                ..Diagnostic::default()
            })
            .collect();
        let encoded = encode(&uri, Some(1), diagnostics.iter().cloned());
        assert_eq!(encoded.capacity(), encoded.len());
    }
}
