//! `textDocument/inlayHint` and `inlayHint/resolve`: the label first, the tooltip on demand,
//! so that hints for a whole large file stay small.
//!
//! The reply to `textDocument/inlayHint` is written here, straight from the analysis's hints
//! ([`encode`], through `encoded_reply`): tower-lsp-server would build a JSON value tree of
//! every hint first and then serialize the tree, which cost three times what finding the
//! hints does.

use tower_lsp_server::jsonrpc::Id;
use tower_lsp_server::ls_types::{InlayHint, InlayHintTooltip, MarkupContent, MarkupKind, Position, Range, Uri};

use crate::analysis::hints::{StepHint, step_hints, tooltip};
use crate::server::convert;
use crate::server::session::Snapshot;
use crate::syntax::line_cursor::LineCursor;

/// The whole JSON-RPC reply with the hints of the steps whose `id` is in `range`.
pub(crate) fn encode(id: &Id, s: &Snapshot, range: Range) -> Vec<u8> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let from = convert::offset(index, range.start, s.encoding);
    let to = convert::offset(index, range.end, s.encoding);
    let hints = step_hints(&analysis, &s.runs, from, to);
    // Labels are most of a hint; the rest is about 90 bytes and the URI.
    let estimate = hints
        .iter()
        .map(|h| h.label.len() + s.uri.as_str().len() + 96)
        .sum::<usize>()
        + 64;
    let mut out = Vec::with_capacity(estimate);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut out, id).expect("a request id serializes");
    out.extend_from_slice(br#","result":"#);
    let mut cursor = LineCursor::new(index, s.encoding);
    let placed = hints.iter().map(|hint| {
        let at = cursor.position(hint.offset);
        (Position::new(at.line, at.col), hint)
    });
    write_hints(&mut out, s.uri.as_str(), s.version, placed);
    out.push(b'}');
    out
}

/// Writes `hints` as the JSON array of `InlayHint`s tower-lsp-server would send: a string
/// label, a space before it, and [`HintData`]. Written by hand, as every hint has this one
/// shape and the same URI: through serde_json, escaping the keys and the URI again for each
/// hint and writing every piece through `io::Write` cost 3,000 instructions a hint.
fn write_hints<'h>(out: &mut Vec<u8>, uri: &str, version: i32, hints: impl Iterator<Item = (Position, &'h StepHint)>) {
    let uri = serde_json::to_string(uri).expect("a string serializes");
    let mut numbers = itoa::Buffer::new();
    out.push(b'[');
    for (i, (position, hint)) in hints.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"position":{"line":"#);
        out.extend_from_slice(numbers.format(position.line).as_bytes());
        out.extend_from_slice(br#","character":"#);
        out.extend_from_slice(numbers.format(position.character).as_bytes());
        out.extend_from_slice(br#"},"label":"#);
        write_string(out, &hint.label);
        out.extend_from_slice(br#","paddingLeft":true,"data":""#);
        out.extend_from_slice(numbers.format(version).as_bytes());
        out.push(b':');
        out.extend_from_slice(numbers.format(hint.step).as_bytes());
        out.push(b':');
        out.extend_from_slice(&uri.as_bytes()[1..]);
        out.push(b'}');
    }
    out.push(b']');
}

/// Writes `text` as a JSON string: copied when nothing in it needs escaping (a label seldom
/// does), else escaped by serde_json.
fn write_string(out: &mut Vec<u8>, text: &str) {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        serde_json::to_writer(out, text).expect("a string serializes");
    } else {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// What `inlayHint/resolve` needs of a hint: the document, its version and the step, as one
/// string `"<version>:<step>:<uri>"` ([`write_hints`] writes it) — the editor parses and keeps
/// this for every hint of the file, and a string costs it a fraction of an object of three.
#[derive(Debug, PartialEq)]
struct HintData<'a> {
    version: i32,
    step: usize,
    uri: &'a str,
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

    /// The hints `write_hints` writes for `labels`, one per line, and those tower-lsp-server
    /// would have sent.
    fn both(uri: &str, labels: &[&str]) -> (serde_json::Value, serde_json::Value) {
        let hints: Vec<StepHint> = labels
            .iter()
            .enumerate()
            .map(|(i, label)| StepHint {
                offset: 0,
                label: label.to_string(),
                step: i,
            })
            .collect();
        let position = |i: usize| Position::new(4 + i as u32, 13 + i as u32);
        let mut ours = Vec::new();
        write_hints(
            &mut ours,
            uri,
            3,
            hints.iter().enumerate().map(|(i, h)| (position(i), h)),
        );
        let theirs: Vec<InlayHint> = hints
            .iter()
            .enumerate()
            .map(|(i, h)| InlayHint {
                position: position(i),
                label: InlayHintLabel::String(h.label.clone()),
                kind: None,
                text_edits: None,
                tooltip: None,
                padding_left: Some(true),
                padding_right: None,
                data: Some(json!(format!("3:{i}:{uri}"))),
            })
            .collect();
        (
            serde_json::from_slice(&ours).unwrap(),
            serde_json::to_value(theirs).unwrap(),
        )
    }

    #[test]
    fn the_hints_are_written_as_tower_lsp_server_would_send_them() {
        let labels = [
            "anthropic/claude-sonnet-4-5 (workflow) · analyst (workflow)",
            "openai/gpt-4o (step) · ✗ 401 \"auth\"\\ \u{7}",
        ];
        let (ours, theirs) = both("file:///w/a%20b.flow.yaml", &labels);
        assert_eq!(ours, theirs);
        let (ours, theirs) = both("file:///w/a.flow.yaml", &[]);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_hint_sent_back_names_its_document_version_and_step() {
        let uri: Uri = "file:///w/a%20b.flow.yaml".parse().unwrap();
        let (ours, _) = both(uri.as_str(), &["a", "b"]);
        let echoed: InlayHint = serde_json::from_value(ours[1].clone()).unwrap();
        let expected = HintData {
            version: 3,
            step: 1,
            uri: uri.as_str(),
        };
        assert_eq!(HintData::of(&echoed), Some(expected));
        assert_eq!(uri_of(&echoed), Some(uri));
    }
}
