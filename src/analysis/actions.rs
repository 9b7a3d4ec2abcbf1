//! Code actions, code lenses and run results on steps (SPEC §5): typed commands and text edits,
//! computed from a snapshot and the last run results, with no LSP types and no I/O.

use super::Analysis;
use super::run_text;
use crate::model::diagnostic::{Code, Diagnostic, Severity};
use crate::model::resolve::{Overrides, resolve_step};
use crate::model::runs::{RunView, StepStatus};
use crate::model::workflow::{Step, Workflow};
use crate::syntax::text::Span;

/// What a run action or lens does when chosen, on the document it belongs to; the server
/// turns it into one of its commands.
#[derive(Debug, Clone, PartialEq)]
pub enum RunAction {
    /// Run one step (upstream steps without output first), with another provider this run
    /// only when `provider` is set.
    RunStep {
        /// The step ID.
        step: String,
        /// Provider for this run only.
        provider: Option<String>,
    },
    /// Run one step and everything downstream of it.
    RunFrom {
        /// The step ID.
        step: String,
    },
    /// Stop the run in progress.
    Cancel,
    /// Show the step's last output.
    OpenOutput {
        /// The step ID.
        step: String,
    },
    /// Show the request the step would send now (`analysis::preview`).
    PreviewRequest {
        /// The step ID.
        step: String,
    },
    /// Compare the step across providers (the editor asks which targets).
    Compare {
        /// The step ID.
        step: String,
    },
}

/// The workflow a run starts from, or the error diagnostics that forbid running it.
pub fn runnable(analysis: &Analysis) -> Result<Workflow, Vec<Diagnostic>> {
    let errors: Vec<Diagnostic> = analysis
        .diagnostics()
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if errors.is_empty() {
        Ok(analysis.workflow.clone())
    } else {
        Err(errors)
    }
}

/// The ID of the step whose lines include line `line` (0-based): where a command given a
/// position acts.
pub fn step_on_line(analysis: &Analysis, line: usize) -> Option<String> {
    let index = &analysis.line_index;
    analysis.workflow.steps.iter().find_map(|step| {
        let first = index.line_of(step.span.start);
        let last = index.line_of(step.span.end.saturating_sub(1).max(step.span.start));
        (first..=last)
            .contains(&line)
            .then(|| step.id.as_ref().map(|i| i.value.clone()))?
    })
}

/// A replacement of a byte range.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// What is replaced.
    pub span: Span,
    /// By what.
    pub new_text: String,
}

/// What kind of action it is, for the editor's menus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Fixes a diagnostic.
    QuickFix,
    /// Changes the document.
    Refactor,
    /// Runs something.
    Run,
}

/// One code action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The menu title.
    pub title: String,
    /// Its kind.
    pub kind: ActionKind,
    /// Edits to the document, applied first.
    pub edits: Vec<Edit>,
    /// A command to run after the edits.
    pub command: Option<RunAction>,
    /// Why it cannot be used now (shown greyed out).
    pub disabled: Option<String>,
    /// The diagnostic it fixes.
    pub fixes: Option<Diagnostic>,
    /// Whether it is the obvious fix.
    pub preferred: bool,
}

impl Action {
    fn run(title: String, command: RunAction, view: &RunView) -> Action {
        Action {
            title,
            kind: ActionKind::Run,
            edits: Vec::new(),
            command: Some(command),
            disabled: in_progress(view),
            fixes: None,
            preferred: false,
        }
    }

    fn edit(title: String, kind: ActionKind, edits: Vec<Edit>) -> Action {
        Action {
            title,
            kind,
            edits,
            command: None,
            disabled: None,
            fixes: None,
            preferred: false,
        }
    }
}

fn in_progress(view: &RunView) -> Option<String> {
    view.in_progress
        .then(|| "a run of this workflow is in progress; cancel it or wait for it to end".to_string())
}

/// The start and end (after its line break) of the line holding `offset`.
fn line_around(text: &str, offset: usize) -> (usize, usize) {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i + 1);
    (start, end)
}

/// Sets `key: value` in `step`: replaces the value if there is one, fills in an empty one,
/// or inserts a line after the `id` line with the indentation of the step's keys.
pub(super) fn set_key(text: &str, step: &Step, key: &str, value: &str, current: Option<Span>) -> Option<Edit> {
    match (step.key_span(key), current) {
        (Some(_), Some(v)) if !v.is_empty() => Some(Edit {
            span: v,
            new_text: value.to_string(),
        }),
        (Some(k), _) => {
            let (_, end) = line_around(text, k.end);
            let line_end = end - usize::from(text[..end].ends_with('\n'));
            let after_colon = (k.end + 1).min(line_end);
            Some(Edit {
                span: Span::new(after_colon, line_end),
                new_text: format!(" {value}"),
            })
        }
        (None, _) => {
            let id_key = step.key_span("id")?;
            let (line_start, line_end) = line_around(text, id_key.start);
            let indent = id_key.start - line_start;
            let newline = if text[..line_end].ends_with('\n') { "" } else { "\n" };
            Some(Edit {
                span: Span::empty(line_end),
                new_text: format!("{newline}{}{key}: {value}\n", " ".repeat(indent)),
            })
        }
    }
}

/// The edits that move `step` to `provider`: its `provider:` set, and its `model:` changed to
/// the provider's default when the current model is not one of the new provider's.
pub fn switch_provider_edits(analysis: &Analysis, step: &Step, provider: &str) -> Vec<Edit> {
    let text = analysis.text();
    let mut edits = Vec::new();
    if let Some(edit) = set_key(text, step, "provider", provider, step.provider.as_ref().map(|p| p.span)) {
        edits.push(edit);
    }
    if let (Some(model), Some(info)) = (&step.model, analysis.workspace.catalog.provider(provider))
        && !info.knows_model(&model.value)
        && !info.default_model.is_empty()
    {
        edits.push(Edit {
            span: model.span,
            new_text: info.default_model.clone(),
        });
    }
    edits
}

/// Code actions for the byte range `span`: run actions for the step there, edits, and quick
/// fixes for `diagnostics` that overlap it.
pub fn code_actions(analysis: &Analysis, view: &RunView, span: Span, diagnostics: &[Diagnostic]) -> Vec<Action> {
    let mut actions = Vec::new();
    for d in diagnostics
        .iter()
        .filter(|d| d.span.start <= span.end && span.start <= d.span.end)
    {
        actions.extend(quick_fixes(analysis, view, d));
    }
    let Some(index) = analysis.workflow.step_at(span.start) else {
        return actions;
    };
    let step = &analysis.workflow.steps[index];
    let Some(id) = step.id.as_ref().map(|i| i.value.clone()) else {
        return actions;
    };
    let ws = &analysis.workspace;
    let effective = resolve_step(&analysis.workflow, step, ws, &Overrides::default());
    let current = effective.provider.as_ref().map(|p| p.value.clone());
    let run_step = |provider: Option<&str>| RunAction::RunStep {
        step: id.clone(),
        provider: provider.map(str::to_string),
    };
    let title = if view.step(&id).is_some() {
        format!("Re-run step `{id}`")
    } else {
        format!("Run step `{id}`")
    };
    actions.push(Action::run(title, run_step(None), view));
    actions.push(Action::run(
        format!("Run from `{id}` (this step and everything downstream)"),
        RunAction::RunFrom { step: id.clone() },
        view,
    ));
    for p in ws.catalog.healthy().filter(|p| Some(&p.id) != current.as_ref()) {
        actions.push(Action::run(
            format!("Run `{id}` with {} (this run only)", p.id),
            run_step(Some(&p.id)),
            view,
        ));
    }
    for p in ws.catalog.healthy().filter(|p| Some(&p.id) != current.as_ref()) {
        let edits = switch_provider_edits(analysis, step, &p.id);
        actions.push(Action::edit(
            format!("Switch `{id}` to {}", p.id),
            ActionKind::Refactor,
            edits,
        ));
    }
    let text = analysis.text();
    let current_persona = effective.persona_id().map(str::to_string);
    let mut personas: Vec<String> = analysis.workflow.personas.iter().map(|p| p.id.value.clone()).collect();
    personas.extend(
        ws.library
            .personas
            .keys()
            .filter(|k| !personas.contains(k))
            .cloned()
            .collect::<Vec<_>>(),
    );
    for persona in personas.iter().filter(|p| Some(*p) != current_persona.as_ref()) {
        let value_span = step.persona.as_ref().map(|p| p.span);
        if let Some(edit) = set_key(text, step, "persona", persona, value_span) {
            actions.push(Action::edit(
                format!("Set persona of `{id}` to {persona}"),
                ActionKind::Refactor,
                vec![edit],
            ));
        }
    }
    if let Some(key) = step.key_span("persona") {
        let (start, end) = line_around(text, key.start);
        actions.push(Action::edit(
            format!("Remove the persona override of `{id}`"),
            ActionKind::Refactor,
            vec![Edit {
                span: Span::new(start, end),
                new_text: String::new(),
            }],
        ));
    }
    actions
}

fn quick_fixes(analysis: &Analysis, view: &RunView, d: &Diagnostic) -> Vec<Action> {
    let replace = |s: &String| Edit {
        span: d.span,
        new_text: s.clone(),
    };
    let fix = |title: String, edits: Vec<Edit>, command: Option<RunAction>, preferred: bool| Action {
        title,
        kind: ActionKind::QuickFix,
        edits,
        disabled: command.as_ref().and_then(|_| in_progress(view)),
        command,
        fixes: Some(d.clone()),
        preferred,
    };
    match d.code {
        Code::UnknownProvider
        | Code::UnknownModel
        | Code::UnknownPersona
        | Code::UnknownReference
        | Code::UnknownFilter
        | Code::UnknownKey
        | Code::ProviderUnavailable => d
            .suggestions
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let title = match d.code {
                    Code::ProviderUnavailable => format!("Switch to {s}"),
                    _ => format!("Change to `{s}`"),
                };
                fix(title, vec![replace(s)], None, i == 0)
            })
            .collect(),
        Code::StepFailed => {
            let Some(index) = analysis.workflow.step_at(d.span.start) else {
                return Vec::new();
            };
            let step = &analysis.workflow.steps[index];
            let id = step.id_str().to_string();
            d.suggestions
                .iter()
                .enumerate()
                .map(|(i, provider)| {
                    let command = RunAction::RunStep {
                        step: id.clone(),
                        provider: None,
                    };
                    let edits = switch_provider_edits(analysis, step, provider);
                    fix(format!("Switch to {provider} and re-run"), edits, Some(command), i == 0)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// `step-failed` diagnostics on the `id` of each step whose last run failed, suggesting the
/// healthy providers other than the one that failed.
pub fn run_diagnostics(analysis: &Analysis, view: &RunView) -> Vec<Diagnostic> {
    if !view.steps.values().any(|s| s.status == StepStatus::Failed) {
        // Nothing failed: no need to look up every step of the document.
        return Vec::new();
    }
    let ws = &analysis.workspace;
    analysis
        .workflow
        .steps
        .iter()
        .filter_map(|step| {
            let id = step.id.as_ref()?;
            let run = view.step(&id.value)?;
            if run.status != StepStatus::Failed || view.is_running(&id.value) {
                return None;
            }
            let failed = run.failure().map(|e| e.provider.as_str());
            let alternatives: Vec<String> = ws
                .catalog
                .healthy()
                .filter(|p| Some(p.id.as_str()) != failed)
                .map(|p| p.id.clone())
                .collect();
            let message = run_text::failed_message(run);
            Some(Diagnostic::new(Code::StepFailed, id.span, message).with_suggestions(alternatives))
        })
        .collect()
}

/// One code lens: where, what it says, what clicking it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Lens {
    /// The span it sits above (the step's first line).
    pub span: Span,
    /// Its title.
    pub title: String,
    /// What clicking it runs (`None`: informational).
    pub command: Option<RunAction>,
}

/// Lenses above each step: run or re-run, and its last result.
pub fn code_lenses(analysis: &Analysis, view: &RunView) -> Vec<Lens> {
    let mut lenses = Vec::new();
    for step in &analysis.workflow.steps {
        let Some(id) = &step.id else { continue };
        let span = Span::new(step.span.start, id.span.end);
        let last = view.step(&id.value);
        let run_step = RunAction::RunStep {
            step: id.value.clone(),
            provider: None,
        };
        let running = view.is_running(&id.value);
        let (title, command) = match last {
            _ if running => ("⏳ running…".to_string(), Some(RunAction::Cancel)),
            _ if view.in_progress => ("▶ Run (a run is in progress)".to_string(), None),
            Some(_) => ("↻ Re-run".to_string(), Some(run_step)),
            None => ("▶ Run".to_string(), Some(run_step)),
        };
        lenses.push(Lens { span, title, command });
        let result = last.filter(|_| !running).map(|r| run_text::labels(analysis, step, r).1);
        if let Some(title) = result.filter(|t| !t.is_empty()) {
            lenses.push(Lens {
                span,
                title,
                command: Some(RunAction::OpenOutput { step: id.value.clone() }),
            });
        }
    }
    lenses
}
