//! `textDocument/codeLens`: `▶ Run` / `↻ Re-run` above each step, its last result, and
//! "Preview request".

use tower_lsp_server::ls_types::{CodeLens, CodeLensParams, Command};

use crate::analysis::actions::code_lenses;
use crate::analysis::compare::compare_lenses;
use crate::analysis::preview::preview_lenses;
use crate::server::commands::ServerCommand;
use crate::server::convert;
use crate::server::session::Snapshot;

/// The lenses of the document.
pub fn handle(s: &Snapshot, _: CodeLensParams) -> Option<Vec<CodeLens>> {
    let analysis = s.analysis();
    let mut lenses = code_lenses(&analysis, &s.runs);
    lenses.extend(preview_lenses(&analysis));
    let lenses = lenses
        .into_iter()
        .chain(compare_lenses(&analysis))
        .map(|l| CodeLens {
            range: convert::range(&analysis.line_index, l.span, s.encoding),
            command: Some(match &l.command {
                Some(c) => ServerCommand::lsp(&l.title, c, s.uri.as_str()),
                None => Command {
                    title: l.title.clone(),
                    command: String::new(),
                    arguments: None,
                },
            }),
            data: None,
        })
        .collect();
    Some(lenses)
}
