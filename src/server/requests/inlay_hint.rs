//! `textDocument/inlayHint` and `inlayHint/resolve`: the label first, the tooltip on demand,
//! so that hints for a whole large file stay small.
//!
//! The reply to `textDocument/inlayHint` is encoded here, straight from the analysis's hints,
//! and handed to the wire whole ([`answer`], called by `dispatch`): tower-lsp-server would build
//! a JSON value tree of every hint first and then serialize the tree, which cost three times
//! what finding the hints does.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt};
use serde::{Serialize, Serializer};
use tower_lsp_server::jsonrpc::{Error, Id, Request, Response};
use tower_lsp_server::ls_types::{
    InlayHint, InlayHintParams, InlayHintTooltip, MarkupContent, MarkupKind, Position, Range, Uri,
};

use crate::analysis::hints::{StepHint, step_hints, tooltip};
use crate::json_stream::Streamed;
use crate::server::session::Snapshot;
use crate::server::{Shared, convert, internal_error};
use crate::syntax::line_cursor::LineCursor;

/// The request answered by [`answer`].
pub const METHOD: &str = "textDocument/inlayHint";

/// Answers a `textDocument/inlayHint` request: the document is the one the client had sent
/// when the request arrived (taken here, in arrival order); the hints are found and encoded
/// on the blocking pool and written to the client, and the future yields no reply for the
/// transport to send — only an error, or `null` for a document that is not open.
pub(crate) fn answer(shared: &Arc<Shared>, request: Request) -> BoxFuture<'static, Option<Response>> {
    let (_, id, params) = request.into_parts();
    let Some(id) = id else {
        return futures::future::ready(None).boxed();
    };
    let params: InlayHintParams = match serde_json::from_value(params.unwrap_or_default()) {
        Ok(params) => params,
        Err(err) => {
            return futures::future::ready(Some(Response::from_error(id, Error::invalid_params(err.to_string()))))
                .boxed();
        }
    };
    let Some(snapshot) = shared.session().snapshot(&params.text_document.uri) else {
        return futures::future::ready(Some(Response::from_ok(id, serde_json::Value::Null))).boxed();
    };
    let shared = shared.clone();
    async move {
        let reply_id = id.clone();
        match tokio::task::spawn_blocking(move || encode(&reply_id, &snapshot, params.range)).await {
            Ok(encoded) => {
                send(&shared, encoded).await;
                None
            }
            Err(err) => {
                tracing::error!("{METHOD} on {} failed: {err}", params.text_document.uri.as_str());
                Some(Response::from_error(
                    id,
                    internal_error("the request panicked; see the server log"),
                ))
            }
        }
    }
    .boxed()
}

/// The whole JSON-RPC reply with the hints of the steps whose `id` is in `range`.
fn encode(id: &Id, s: &Snapshot, range: Range) -> Vec<u8> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let from = convert::offset(index, range.start, s.encoding);
    let to = convert::offset(index, range.end, s.encoding);
    let hints = step_hints(&analysis, &s.runs, from, to);
    let mut cursor = LineCursor::new(index, s.encoding);
    let reply = Reply {
        jsonrpc: "2.0",
        id,
        result: Streamed::new(hints.iter().map(|hint| {
            let at = cursor.position(hint.offset);
            Hint::of(hint, Position::new(at.line, at.col), s)
        })),
    };
    // Labels are most of a hint; the rest is about 90 bytes and the URI.
    let estimate = hints
        .iter()
        .map(|h| h.label.len() + s.uri.as_str().len() + 96)
        .sum::<usize>()
        + 64;
    let mut encoded = Vec::with_capacity(estimate);
    serde_json::to_writer(&mut encoded, &reply).expect("inlay hints serialize");
    encoded
}

/// Sends an encoded reply and returns once it is written.
async fn send(shared: &Shared, encoded: Vec<u8>) {
    let (written, on_wire) = futures::channel::oneshot::channel();
    if shared.wire.clone().send((encoded, written)).await.is_err() || on_wire.await.is_err() {
        tracing::warn!("the connection closed before inlay hints could be sent");
    }
}

#[derive(Serialize)]
struct Reply<'a, R> {
    jsonrpc: &'static str,
    id: &'a Id,
    result: R,
}

/// An `InlayHint` as the reply has it: a string label, a space before it, and `data` for
/// `inlayHint/resolve`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Hint<'a> {
    position: Position,
    label: &'a str,
    padding_left: bool,
    data: HintData<'a>,
}

impl<'a> Hint<'a> {
    fn of(hint: &'a StepHint, position: Position, s: &'a Snapshot) -> Hint<'a> {
        Hint {
            position,
            label: &hint.label,
            padding_left: true,
            data: HintData {
                version: s.version,
                step: hint.step,
                uri: s.uri.as_str(),
            },
        }
    }
}

/// What `inlayHint/resolve` needs of a hint: the document, its version and the step, as one
/// string `"<version>:<step>:<uri>"` — the editor parses and keeps this for every hint of the
/// file, and a string costs it a fraction of what an object of three fields does.
#[derive(Debug, PartialEq)]
struct HintData<'a> {
    version: i32,
    step: usize,
    uri: &'a str,
}

impl Serialize for HintData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}:{}:{}", self.version, self.step, self.uri))
    }
}

impl HintData<'_> {
    /// The data of a hint the editor sent back, if it is one of ours.
    fn of(hint: &InlayHint) -> Option<HintData<'_>> {
        let mut parts = hint.data.as_ref()?.as_str()?.splitn(3, ':');
        Some(HintData {
            version: parts.next()?.parse().ok()?,
            step: parts.next()?.parse().ok()?,
            uri: parts.next()?,
        })
    }
}

/// The document a hint belongs to, from its `data`.
pub fn uri_of(hint: &InlayHint) -> Option<Uri> {
    HintData::of(hint)?.uri.parse().ok()
}

/// Adds the tooltip explaining the sources, if the document has not changed since.
pub fn resolve(s: &Snapshot, mut hint: InlayHint) -> InlayHint {
    if let Some(data) = HintData::of(&hint)
        && data.version == s.version
        && let Some(text) = tooltip(&s.analysis(), data.step)
    {
        hint.tooltip = Some(InlayHintTooltip::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }));
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tower_lsp_server::ls_types::InlayHintLabel;

    #[test]
    fn the_encoding_is_the_one_tower_lsp_server_would_send() {
        let uri: Uri = "file:///w/a%20b.flow.yaml".parse().unwrap();
        let label = "openai/gpt-4o (step) · \"quoted\"\\".to_string();
        let hint = StepHint {
            offset: 0,
            label: label.clone(),
            step: 7,
        };
        let data = HintData {
            version: 3,
            step: hint.step,
            uri: uri.as_str(),
        };
        let ours = serde_json::to_value(Hint {
            position: Position::new(4, 13),
            label: &hint.label,
            padding_left: true,
            data,
        })
        .unwrap();
        let theirs = InlayHint {
            position: Position::new(4, 13),
            label: InlayHintLabel::String(label),
            kind: None,
            text_edits: None,
            tooltip: None,
            padding_left: Some(true),
            padding_right: None,
            data: Some(json!(format!("3:7:{}", uri.as_str()))),
        };
        assert_eq!(ours, serde_json::to_value(&theirs).unwrap());
        let echoed: InlayHint = serde_json::from_value(ours).unwrap();
        assert_eq!(
            HintData::of(&echoed),
            Some(HintData {
                version: 3,
                step: 7,
                uri: uri.as_str()
            })
        );
        assert_eq!(uri_of(&echoed), Some(uri));
    }

    #[test]
    fn a_reply_is_a_json_rpc_response_with_the_hints_as_its_result() {
        let reply = Reply {
            jsonrpc: "2.0",
            id: &Id::Number(12),
            result: Streamed::new(std::iter::empty::<Hint>()),
        };
        let ours: Response = serde_json::from_slice(&serde_json::to_vec(&reply).unwrap()).unwrap();
        assert_eq!(ours, Response::from_ok(Id::Number(12), json!([])));
    }
}
