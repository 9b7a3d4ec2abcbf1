//! Conversions between analysis results (byte offsets) and LSP types (positions in the
//! negotiated encoding), all through `LineIndex`.

use tower_lsp_server::ls_types::{self as lsp, Uri};

use crate::model::diagnostic::{Diagnostic, Severity};
use crate::syntax::text::{LineCol, LineIndex, PositionEncoding, Span};

/// The LSP position of byte `offset`.
pub fn position(index: &LineIndex, offset: usize, enc: PositionEncoding) -> lsp::Position {
    let lc = index.position(offset, enc);
    lsp::Position::new(lc.line, lc.col)
}

/// The LSP range of a span.
pub fn range(index: &LineIndex, span: Span, enc: PositionEncoding) -> lsp::Range {
    lsp::Range::new(position(index, span.start, enc), position(index, span.end, enc))
}

/// The byte offset of an LSP position (clamped to the text).
pub fn offset(index: &LineIndex, pos: lsp::Position, enc: PositionEncoding) -> usize {
    index.offset(line_col(pos), enc)
}

/// The byte span of an LSP range.
pub fn span(index: &LineIndex, range: lsp::Range, enc: PositionEncoding) -> Span {
    let start = offset(index, range.start, enc);
    Span::new(start, offset(index, range.end, enc).max(start))
}

/// An LSP position as a `LineCol`.
pub fn line_col(pos: lsp::Position) -> LineCol {
    LineCol {
        line: pos.line,
        col: pos.character,
    }
}

/// A stepwise diagnostic as the editor shows it.
pub fn diagnostic(index: &LineIndex, uri: &Uri, d: &Diagnostic, enc: PositionEncoding) -> lsp::Diagnostic {
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .related
        .iter()
        .map(|r| lsp::DiagnosticRelatedInformation {
            location: lsp::Location::new(uri.clone(), range(index, r.span, enc)),
            message: r.message.clone(),
        })
        .collect();
    lsp::Diagnostic {
        range: range(index, d.span, enc),
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
            Severity::Info => lsp::DiagnosticSeverity::INFORMATION,
        }),
        code: Some(lsp::NumberOrString::String(d.code.as_str().to_string())),
        source: Some("stepwise".to_string()),
        message: d.message.clone(),
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}
