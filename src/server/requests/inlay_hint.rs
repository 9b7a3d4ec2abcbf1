//! `textDocument/inlayHint` and `inlayHint/resolve`: the label first, the tooltip on demand,
//! so that hints for a whole large file stay small.

use serde_json::json;
use tower_lsp_server::ls_types::{
    InlayHint, InlayHintLabel, InlayHintParams, InlayHintTooltip, MarkupContent, MarkupKind, Uri,
};

use crate::analysis::hints::{step_hints, tooltip};
use crate::server::convert;
use crate::server::session::Snapshot;

/// One hint per step whose `id` is in the requested range.
pub fn handle(s: &Snapshot, params: InlayHintParams) -> Option<Vec<InlayHint>> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let from = convert::offset(index, params.range.start, s.encoding);
    let to = convert::offset(index, params.range.end, s.encoding);
    let hints = step_hints(&analysis, &s.runs, from, to)
        .into_iter()
        .map(|h| InlayHint {
            position: convert::position(index, h.offset, s.encoding),
            label: InlayHintLabel::String(h.label),
            kind: None,
            text_edits: None,
            tooltip: None,
            padding_left: Some(true),
            padding_right: None,
            data: Some(json!({ "uri": s.uri.as_str(), "version": s.version, "step": h.step })),
        })
        .collect();
    Some(hints)
}

/// The document a hint belongs to, from its `data`.
pub fn uri_of(hint: &InlayHint) -> Option<Uri> {
    hint.data.as_ref()?.get("uri")?.as_str()?.parse().ok()
}

/// Adds the tooltip explaining the sources, if the document has not changed since.
pub fn resolve(s: &Snapshot, mut hint: InlayHint) -> InlayHint {
    let data = hint.data.as_ref();
    let version = data.and_then(|d| d.get("version")).and_then(|v| v.as_i64());
    let step = data.and_then(|d| d.get("step")).and_then(|v| v.as_u64());
    if let (Some(version), Some(step)) = (version, step)
        && version == i64::from(s.version)
        && let Some(text) = tooltip(&s.analysis(), step as usize)
    {
        hint.tooltip = Some(InlayHintTooltip::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }));
    }
    hint
}
