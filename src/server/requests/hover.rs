//! `textDocument/hover`.

use tower_lsp_server::ls_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

use crate::analysis::hover::hover;
use crate::server::convert;
use crate::server::session::Snapshot;

/// The hover under the cursor, in Markdown.
pub fn handle(s: &Snapshot, params: HoverParams) -> Option<Hover> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let pos = params.text_document_position_params.position;
    let info = hover(&analysis, &s.runs, convert::offset(index, pos, s.encoding))?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: info.markdown,
        }),
        range: Some(convert::range(index, info.span, s.encoding)),
    })
}
