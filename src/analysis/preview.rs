//! "Preview request" on each step: a code lens above it and a code action on it, both asking
//! the server for the request the step would send now.

use super::Analysis;
use super::actions::{Action, ActionKind, Lens, RunAction};
use crate::syntax::text::Span;

/// The lens title.
pub const LENS_TITLE: &str = "Preview request";

/// A "Preview request" lens above each step with an ID.
pub fn preview_lenses(analysis: &Analysis) -> Vec<Lens> {
    analysis
        .workflow
        .steps
        .iter()
        .filter_map(|step| {
            let id = step.id.as_ref()?;
            Some(Lens {
                span: Span::new(step.span.start, id.span.end),
                title: LENS_TITLE.to_string(),
                command: Some(RunAction::PreviewRequest { step: id.value.clone() }),
            })
        })
        .collect()
}

/// The "Preview request" action for the step at `span`, if there is one. It sends nothing,
/// so a run in progress does not disable it.
pub fn preview_action(analysis: &Analysis, span: Span) -> Option<Action> {
    let index = analysis.workflow.step_at(span.start)?;
    let id = analysis.workflow.steps[index].id.as_ref()?;
    Some(Action {
        title: format!("Preview the request of `{}`", id.value),
        kind: ActionKind::Run,
        edits: Vec::new(),
        command: Some(RunAction::PreviewRequest { step: id.value.clone() }),
        disabled: None,
        fixes: None,
        preferred: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixture::fixture;

    #[test]
    fn every_step_has_a_preview_lens_on_its_first_line() {
        let f =
            fixture("version: 1\nprovider: openai\nsteps:\n  - id: a\n    prompt: hi\n  - id: b\n    prompt: there\n");
        let lenses = preview_lenses(&f.analysis);
        let commands: Vec<_> = lenses.iter().map(|l| l.command.clone()).collect();
        assert_eq!(
            commands,
            vec![
                Some(RunAction::PreviewRequest { step: "a".into() }),
                Some(RunAction::PreviewRequest { step: "b".into() })
            ]
        );
        let text = f.analysis.line_index.text();
        assert_eq!(&text[lenses[1].span.start..lenses[1].span.end], "id: b");
    }

    #[test]
    fn the_preview_action_is_offered_on_the_step_under_the_cursor() {
        let f = fixture(
            "version: 1\nprovider: openai\nsteps:\n  - id: a\n    prompt: hi\n  - id: b\n    prompt: th$0ere\n",
        );
        let action = preview_action(&f.analysis, Span::new(f.offset, f.offset));
        assert_eq!(
            action.and_then(|a| a.command),
            Some(RunAction::PreviewRequest { step: "b".into() })
        );
    }

    #[test]
    fn no_preview_action_outside_the_steps() {
        let f = fixture("version: 1\nprov$0ider: openai\nsteps:\n  - id: a\n    prompt: hi\n");
        assert_eq!(preview_action(&f.analysis, Span::new(f.offset, f.offset)), None);
    }
}
