//! `textDocument/completion`.

use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionParams, CompletionResponse, CompletionTextEdit, Documentation,
    MarkupContent, MarkupKind, TextEdit,
};

use crate::analysis::completion::{CompletionItem as Completion, CompletionKind, completions};
use crate::server::convert;
use crate::server::session::Snapshot;
use crate::syntax::text::{LineIndex, PositionEncoding};

/// Completions at the cursor, each replacing the partly typed word.
pub fn handle(s: &Snapshot, params: CompletionParams) -> Option<CompletionResponse> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let offset = convert::offset(index, params.text_document_position.position, s.encoding);
    let items = completions(&analysis, offset)
        .into_iter()
        .map(|c| to_lsp(index, c, s.encoding))
        .collect();
    Some(CompletionResponse::Array(items))
}

/// A completion as the editor takes it.
pub fn to_lsp(index: &LineIndex, c: Completion, encoding: PositionEncoding) -> CompletionItem {
    CompletionItem {
        label: c.label,
        kind: Some(match c.kind {
            CompletionKind::Key => CompletionItemKind::PROPERTY,
            CompletionKind::Provider => CompletionItemKind::MODULE,
            CompletionKind::Model => CompletionItemKind::CLASS,
            CompletionKind::Persona => CompletionItemKind::INTERFACE,
            CompletionKind::Step => CompletionItemKind::FUNCTION,
            CompletionKind::Input => CompletionItemKind::FIELD,
            CompletionKind::Variable => CompletionItemKind::VARIABLE,
        }),
        detail: Some(c.detail),
        documentation: (!c.documentation.is_empty()).then_some(Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: c.documentation,
        })),
        sort_text: Some(c.sort),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit {
            range: convert::range(index, c.replace, encoding),
            new_text: c.insert,
        })),
        ..Default::default()
    }
}
