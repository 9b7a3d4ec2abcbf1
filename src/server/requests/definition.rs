//! `textDocument/definition`.

use tower_lsp_server::ls_types::{GotoDefinitionParams, GotoDefinitionResponse, Location, Range, Uri};

use crate::analysis::navigation::{Definition, definition};
use crate::server::convert;
use crate::server::session::Snapshot;

/// A persona's inline definition or library file; a referenced step's or input's definition.
pub fn handle(s: &Snapshot, params: GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let pos = params.text_document_position_params.position;
    let location = match definition(&analysis, convert::offset(index, pos, s.encoding))? {
        Definition::Here(span) => Location::new(s.uri.clone(), convert::range(index, span, s.encoding)),
        Definition::File(path) => Location::new(Uri::from_file_path(path)?, Range::default()),
    };
    Some(GotoDefinitionResponse::Scalar(location))
}
