//! `textDocument/prepareRename` and `textDocument/rename`: step, input and inline persona
//! IDs; library personas are refused with the reason.

use std::collections::HashMap;

use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::{
    PrepareRenameResponse, RenameParams, TextDocumentPositionParams, TextEdit, WorkspaceEdit,
};

use crate::analysis::navigation;
use crate::server::convert;
use crate::server::session::Snapshot;

/// The range and current name to rename, or why it cannot be renamed.
pub fn prepare(s: &Snapshot, params: TextDocumentPositionParams) -> Result<Option<PrepareRenameResponse>> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let offset = convert::offset(index, params.position, s.encoding);
    let (_, span) = navigation::prepare_rename(&analysis, offset).map_err(Error::invalid_params)?;
    Ok(Some(PrepareRenameResponse::RangeWithPlaceholder {
        range: convert::range(index, span, s.encoding),
        placeholder: analysis.text()[span.start..span.end].to_string(),
    }))
}

/// The edits renaming every occurrence in the document.
pub fn handle(s: &Snapshot, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let offset = convert::offset(index, params.text_document_position.position, s.encoding);
    let edits = navigation::rename(&analysis, offset, &params.new_name).map_err(Error::invalid_params)?;
    let edits = edits
        .into_iter()
        .map(|(span, new_text)| TextEdit::new(convert::range(index, span, s.encoding), new_text))
        .collect();
    Ok(Some(WorkspaceEdit {
        changes: Some(HashMap::from([(s.uri.clone(), edits)])),
        ..Default::default()
    }))
}
