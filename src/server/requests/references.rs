//! `textDocument/references`: steps, inputs and inline personas in the document; library
//! personas across every open workflow of the same workspace, plus their file.

use std::sync::Arc;

use tower_lsp_server::ls_types::{Location, Range, ReferenceParams, Uri};

use crate::analysis::navigation::{Target, occurrence_at, references_to};
use crate::model::workspace::PersonaRef;
use crate::server::convert;
use crate::server::session::Snapshot;

/// Every place naming the thing under the cursor.
pub fn handle(s: &Snapshot, open: &[Arc<Snapshot>], params: ReferenceParams) -> Option<Vec<Location>> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let pos = params.text_document_position.position;
    let at = occurrence_at(&analysis, convert::offset(index, pos, s.encoding))?;
    let include_declaration = params.context.include_declaration;
    let mut out = Vec::new();
    let library_file = match &at.target {
        Target::Persona(id) => match analysis.workspace.persona(&analysis.workflow, id) {
            Some(PersonaRef::Library(lp)) => Some(lp.path.clone()),
            _ => None,
        },
        _ => None,
    };
    let Some(path) = library_file else {
        let defs: Vec<_> = crate::analysis::navigation::occurrences(&analysis.workflow)
            .into_iter()
            .filter(|o| o.target == at.target && (include_declaration || !o.definition))
            .collect();
        for o in defs {
            out.push(Location::new(s.uri.clone(), convert::range(index, o.span, s.encoding)));
        }
        return Some(out);
    };
    if include_declaration && let Some(uri) = Uri::from_file_path(&path) {
        out.push(Location::new(uri, Range::default()));
    }
    let root = &analysis.workspace.config.root;
    for doc in open {
        let other = if doc.uri == s.uri {
            analysis.clone()
        } else {
            doc.analysis()
        };
        if other.workspace.config.root != *root {
            continue;
        }
        // A document with its own inline persona of this ID does not use the library one.
        if let Target::Persona(id) = &at.target
            && other.workflow.inline_persona(id).is_some()
        {
            continue;
        }
        for span in references_to(&other, &at.target) {
            out.push(Location::new(
                doc.uri.clone(),
                convert::range(&other.line_index, span, doc.encoding),
            ));
        }
    }
    Some(out)
}
