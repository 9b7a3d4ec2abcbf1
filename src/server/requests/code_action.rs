//! `textDocument/codeAction`: run, re-run, run with another provider, switch provider, set or
//! remove the persona override, and quick fixes — disabled with the reason while a run is on.

use std::collections::HashMap;

use tower_lsp_server::ls_types::{
    CodeAction, CodeActionDisabled, CodeActionKind, CodeActionOrCommand, CodeActionParams, TextEdit, WorkspaceEdit,
};

use crate::analysis::actions::{ActionKind, code_actions, run_diagnostics};
use crate::analysis::compare::compare_action;
use crate::analysis::preview::preview_action;
use crate::server::commands::ServerCommand;
use crate::server::convert;
use crate::server::session::Snapshot;

/// The actions at the requested range.
pub fn handle(s: &Snapshot, params: CodeActionParams) -> Option<Vec<CodeActionOrCommand>> {
    let analysis = s.analysis();
    let index = &analysis.line_index;
    let span = convert::span(index, params.range, s.encoding);
    let mut diagnostics = analysis.diagnostics();
    diagnostics.extend(run_diagnostics(&analysis, &s.runs));
    let mut actions = code_actions(&analysis, &s.runs, span, &diagnostics);
    actions.extend(preview_action(&analysis, span));
    actions.extend(compare_action(&analysis, span.start));
    let mut reply: Vec<CodeActionOrCommand> = actions
        .into_iter()
        .map(|a| {
            let edit = (!a.edits.is_empty()).then(|| {
                let edits = a
                    .edits
                    .iter()
                    .map(|e| TextEdit::new(convert::range(index, e.span, s.encoding), e.new_text.clone()))
                    .collect();
                WorkspaceEdit {
                    changes: Some(HashMap::from([(s.uri.clone(), edits)])),
                    ..Default::default()
                }
            });
            CodeActionOrCommand::CodeAction(CodeAction {
                kind: Some(match a.kind {
                    ActionKind::QuickFix => CodeActionKind::QUICKFIX,
                    ActionKind::Refactor => CodeActionKind::REFACTOR_REWRITE,
                    ActionKind::Run => CodeActionKind::new("source.run"),
                }),
                diagnostics: a
                    .fixes
                    .as_ref()
                    .map(|d| vec![convert::diagnostic(index, &s.uri, d, s.encoding)]),
                edit,
                command: a
                    .command
                    .as_ref()
                    .map(|c| ServerCommand::lsp(&a.title, c, s.uri.as_str())),
                is_preferred: a.preferred.then_some(true),
                disabled: a.disabled.map(|reason| CodeActionDisabled { reason }),
                title: a.title,
                data: None,
            })
        })
        .collect();
    reply.extend(crate::server::trust::code_action(s, span, &diagnostics));
    Some(reply)
}
