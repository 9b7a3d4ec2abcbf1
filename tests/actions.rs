//! Code actions and lenses on steps: the edits keep the rest of the step intact, run actions
//! are disabled while a run is on, and failed steps get a switch-and-rerun fix.

mod fixture;

use fixture::{all_keys, analyse};
use stepwise::analysis::Analysis;
use stepwise::analysis::actions::{Action, RunAction, code_actions, code_lenses, run_diagnostics, step_on_line};
use stepwise::model::runs::{
    ErrorClass, Failure, ProviderModel, RunView, StepAttempt, StepError, StepRecord, StepStatus,
};
use stepwise::syntax::text::Span;

const FLOW: &str = "version: 1
name: Brief
provider: anthropic
model: claude-sonnet-4-5
personas:
  analyst:
    name: Analyst
    system: Be brief.
steps:
  - id: summarize
    prompt: Summarize skates.
  - id: ideas
    provider: anthropic
    model: claude-haiku-4-5   # fast
    persona: analyst
    prompt: Ideas
";

/// Applies edits (non-overlapping) to `text`.
fn apply(text: &str, action: &Action) -> String {
    let mut edits = action.edits.clone();
    edits.sort_by_key(|e| std::cmp::Reverse(e.span.start));
    let mut out = text.to_string();
    for e in edits {
        out.replace_range(e.span.start..e.span.end, &e.new_text);
    }
    out
}

fn actions_at(analysis: &Analysis, view: &RunView, needle: &str) -> Vec<Action> {
    let at = analysis.text().find(needle).unwrap();
    code_actions(analysis, view, Span::empty(at), &analysis.diagnostics())
}

fn find<'a>(actions: &'a [Action], title: &str) -> &'a Action {
    actions.iter().find(|a| a.title == title).unwrap_or_else(|| {
        panic!(
            "no `{title}` in {:?}",
            actions.iter().map(|a| &a.title).collect::<Vec<_>>()
        )
    })
}

#[test]
fn switching_provider_inserts_a_provider_line_with_the_steps_indentation() {
    let analysis = analyse(FLOW, all_keys());
    let actions = actions_at(&analysis, &RunView::default(), "Summarize");
    let switched = apply(FLOW, find(&actions, "Switch `summarize` to openai"));
    assert!(
        switched.contains("  - id: summarize\n    provider: openai\n    prompt: Summarize skates.\n"),
        "{switched}"
    );
    assert!(analyse(&switched, all_keys()).diagnostics().is_empty());
}

#[test]
fn switching_provider_replaces_the_value_and_a_model_of_the_old_provider() {
    let analysis = analyse(FLOW, all_keys());
    let actions = actions_at(&analysis, &RunView::default(), "Ideas");
    let switched = apply(FLOW, find(&actions, "Switch `ideas` to google"));
    assert!(
        switched.contains("    provider: google\n    model: gemini-2.5-flash   # fast\n    persona: analyst\n"),
        "{switched}"
    );
}

#[test]
fn the_persona_override_can_be_set_and_removed() {
    let analysis = analyse(FLOW, all_keys());
    let actions = actions_at(&analysis, &RunView::default(), "Ideas");
    let removed = apply(FLOW, find(&actions, "Remove the persona override of `ideas`"));
    assert!(!removed.contains("persona: analyst"), "{removed}");
    assert!(removed.contains("    model: claude-haiku-4-5   # fast\n    prompt: Ideas\n"));
    let actions = actions_at(&analysis, &RunView::default(), "Summarize");
    let set = apply(FLOW, find(&actions, "Set persona of `summarize` to analyst"));
    assert!(set.contains("  - id: summarize\n    persona: analyst\n"), "{set}");
}

#[test]
fn run_actions_are_offered_per_available_provider_and_disabled_during_a_run() {
    let analysis = analyse(FLOW, all_keys());
    let idle = actions_at(&analysis, &RunView::default(), "Summarize");
    let run = find(&idle, "Run step `summarize`");
    assert!(run.disabled.is_none());
    assert!(matches!(&run.command, Some(RunAction::RunStep { step, provider: None }) if step == "summarize"));
    let with_openai = find(&idle, "Run `summarize` with openai (this run only)");
    assert!(matches!(&with_openai.command, Some(RunAction::RunStep { provider: Some(p), .. }) if p == "openai"));
    let busy = RunView {
        in_progress: true,
        ..RunView::default()
    };
    let during = actions_at(&analysis, &busy, "Summarize");
    let reason = find(&during, "Run step `summarize`").disabled.clone().unwrap();
    assert!(reason.contains("in progress"));
}

fn failed_view() -> RunView {
    let mut view = RunView::default();
    view.steps.insert(
        "ideas".to_string(),
        StepRecord {
            status: StepStatus::Failed,
            attempts: vec![StepAttempt {
                error: Some(StepError {
                    failure: Failure {
                        class: ErrorClass::Overloaded,
                        status: Some(529),
                        message: "Overloaded".to_string(),
                    },
                    provider: "anthropic".to_string(),
                    attempts: 3,
                }),
                ..StepAttempt::new(StepStatus::Failed)
            }],
            ..StepRecord::pending("ideas")
        },
    );
    view
}

#[test]
fn a_failed_step_has_a_diagnostic_on_its_id_and_a_switch_and_rerun_fix() {
    let analysis = analyse(FLOW, all_keys());
    let view = failed_view();
    let diagnostics = run_diagnostics(&analysis, &view);
    assert_eq!(diagnostics.len(), 1);
    let d = &diagnostics[0];
    assert_eq!(&FLOW[d.span.start..d.span.end], "ideas");
    assert!(
        d.message.contains("anthropic overloaded (529) after 3 attempts"),
        "{}",
        d.message
    );
    assert!(!d.suggestions.contains(&"anthropic".to_string()));
    let actions = code_actions(&analysis, &view, d.span, &diagnostics);
    let fix = find(&actions, "Switch to openai and re-run");
    assert!(fix.preferred || d.suggestions[0] != "openai");
    assert!(matches!(&fix.command, Some(RunAction::RunStep { step, .. }) if step == "ideas"));
    assert!(apply(FLOW, fix).contains("    provider: openai\n    model: gpt-4o   # fast\n"));
}

#[test]
fn lenses_show_run_or_rerun_and_the_last_result() {
    let analysis = analyse(FLOW, all_keys());
    let titles: Vec<String> = code_lenses(&analysis, &failed_view())
        .into_iter()
        .map(|l| l.title)
        .collect();
    assert_eq!(titles, ["▶ Run", "↻ Re-run", "✗ overloaded (529) · anthropic"]);
}

#[test]
fn a_position_anywhere_on_a_steps_lines_is_on_that_step() {
    let analysis = analyse(FLOW, all_keys());
    let line_of = |needle: &str| FLOW[..FLOW.find(needle).unwrap()].matches('\n').count();
    let first = line_of("- id: summarize");
    assert_eq!(step_on_line(&analysis, first).as_deref(), Some("summarize"));
    assert_eq!(step_on_line(&analysis, first + 1).as_deref(), Some("summarize"));
    assert_eq!(
        step_on_line(&analysis, line_of("- id: ideas")).as_deref(),
        Some("ideas")
    );
    assert_eq!(step_on_line(&analysis, 0), None);
}

#[test]
fn run_from_here_is_offered_on_every_step() {
    let analysis = analyse(FLOW, all_keys());
    let actions = actions_at(&analysis, &RunView::default(), "Summarize");
    let from = find(&actions, "Run from `summarize` (this step and everything downstream)");
    assert!(matches!(&from.command, Some(RunAction::RunFrom { step }) if step == "summarize"));
}

#[test]
fn a_step_edited_since_its_run_shows_stale() {
    use stepwise::model::resolve::{Overrides, resolve_step, step_fingerprint};
    let analysis = analyse(FLOW, all_keys());
    let step = &analysis.workflow.steps[0];
    let effective = resolve_step(&analysis.workflow, step, &analysis.workspace, &Overrides::default());
    let mut view = RunView::default();
    view.steps.insert(
        "summarize".to_string(),
        StepRecord {
            status: StepStatus::Completed,
            attempts: vec![StepAttempt {
                duration_ms: Some(1000),
                answered_by: Some(ProviderModel {
                    provider: "anthropic".to_string(),
                    model: "claude-sonnet-4-5".to_string(),
                }),
                output: Some("out".to_string()),
                fingerprint: Some(step_fingerprint(
                    &analysis.workflow,
                    step,
                    &analysis.workspace,
                    &effective,
                )),
                ..StepAttempt::new(StepStatus::Completed)
            }],
            ..StepRecord::pending("summarize")
        },
    );
    let titles = |a: &Analysis| -> Vec<String> { code_lenses(a, &view).into_iter().map(|l| l.title).collect() };
    assert_eq!(titles(&analysis)[1], "✓ 1.0s · anthropic/claude-sonnet-4-5");
    let edited = analyse(
        &FLOW.replace("Summarize skates.", "Summarize skates briefly."),
        all_keys(),
    );
    assert_eq!(titles(&edited)[1], "stale · edited since its run");
    let persona_changed = analyse(
        &FLOW.replace("    prompt: Summarize", "    persona: analyst\n    prompt: Summarize"),
        all_keys(),
    );
    assert_eq!(titles(&persona_changed)[1], "stale · edited since its run");
}

#[test]
fn an_unknown_filter_gets_a_change_to_fix() {
    let text = FLOW.replace("Summarize skates.", "Summarize {{ inputs.x | uper }}");
    let analysis = analyse(&text, all_keys());
    let actions = actions_at(&analysis, &RunView::default(), "uper");
    let fixed = apply(&text, find(&actions, "Change to `upper`"));
    assert!(fixed.contains("{{ inputs.x | upper }}"), "{fixed}");
}
