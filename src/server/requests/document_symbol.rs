//! `textDocument/documentSymbol`: the workflow with its inputs, personas and steps.

use tower_lsp_server::ls_types::{DocumentSymbol, DocumentSymbolResponse, SymbolKind};

use crate::analysis::Analysis;
use crate::analysis::navigation::{self, Symbol};
use crate::server::convert;
use crate::server::session::Snapshot;
use crate::syntax::text::PositionEncoding;

/// The outline of the document.
pub fn handle(s: &Snapshot) -> Option<DocumentSymbolResponse> {
    let analysis = s.analysis();
    let symbols = navigation::document_symbols(&analysis)
        .into_iter()
        .map(|sym| convert_symbol(&analysis, sym, s.encoding))
        .collect();
    Some(DocumentSymbolResponse::Nested(symbols))
}

#[allow(deprecated)] // `deprecated` is a required field of the LSP type.
fn convert_symbol(analysis: &Analysis, sym: Symbol, enc: PositionEncoding) -> DocumentSymbol {
    let index = &analysis.line_index;
    DocumentSymbol {
        name: sym.name,
        detail: sym.detail,
        kind: match sym.kind {
            navigation::SymbolKind::Workflow => SymbolKind::MODULE,
            navigation::SymbolKind::Step => SymbolKind::FUNCTION,
            navigation::SymbolKind::Persona => SymbolKind::INTERFACE,
            navigation::SymbolKind::Input => SymbolKind::VARIABLE,
        },
        tags: None,
        deprecated: None,
        range: convert::range(index, sym.span, enc),
        selection_range: convert::range(index, sym.selection, enc),
        children: Some(
            sym.children
                .into_iter()
                .map(|c| convert_symbol(analysis, c, enc))
                .collect(),
        ),
    }
}
