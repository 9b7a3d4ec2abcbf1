//! Comparing a step across providers, in the editor: the `⇄ Compare` lens and action on each
//! step, the targets it can be compared on (the available providers' models, and the
//! personas), and the edits that adopt a compared target — as the step's provider, model and
//! persona, or as one more entry of its `fallback` list.

use super::Analysis;
use super::actions::{Action, ActionKind, Edit, Lens, RunAction, set_key};
use crate::model::resolve::{Overrides, resolve_step};
use crate::model::workflow::Step;
use crate::syntax::text::Span;

/// The `⇄ Compare` lens above each step.
pub fn compare_lenses(analysis: &Analysis) -> Vec<Lens> {
    analysis
        .workflow
        .steps
        .iter()
        .filter_map(|step| {
            let id = step.id.as_ref()?;
            Some(Lens {
                span: Span::new(step.span.start, id.span.end),
                title: "⇄ Compare".to_string(),
                command: Some(RunAction::Compare { step: id.value.clone() }),
            })
        })
        .collect()
}

/// "Compare `ID` across providers…" on the step at `offset`.
pub fn compare_action(analysis: &Analysis, offset: usize) -> Option<Action> {
    let index = analysis.workflow.step_at(offset)?;
    let id = analysis.workflow.steps[index].id.as_ref()?;
    Some(Action {
        title: format!("Compare `{}` across providers…", id.value),
        kind: ActionKind::Run,
        edits: Vec::new(),
        command: Some(RunAction::Compare { step: id.value.clone() }),
        disabled: None,
        fixes: None,
        preferred: false,
    })
}

/// A provider/model pair a step can be compared on.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateTarget {
    /// Provider ID.
    pub provider: String,
    /// Model ID.
    pub model: String,
    /// The model's description from the catalog.
    pub description: String,
    /// Whether the step runs on it now.
    pub current: bool,
}

/// What a step can be compared on.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidates {
    /// The step's provider/model now, if it has both.
    pub current: Option<(String, String)>,
    /// Its persona now.
    pub current_persona: Option<String>,
    /// Every model of every available provider, the step's own first.
    pub targets: Vec<CandidateTarget>,
    /// The personas it could use: the workflow's, then the library's.
    pub personas: Vec<String>,
}

/// The targets step `id` can be compared on; `None` when there is no such step.
pub fn candidates(analysis: &Analysis, id: &str) -> Option<Candidates> {
    let workflow = &analysis.workflow;
    let step = workflow.step(id)?;
    let ws = &analysis.workspace;
    let effective = resolve_step(workflow, step, ws, &Overrides::default());
    let current = effective
        .provider
        .as_ref()
        .map(|p| p.value.clone())
        .zip(effective.model.as_ref().map(|m| m.value.clone()));
    let mut targets: Vec<CandidateTarget> = ws
        .catalog
        .providers()
        .iter()
        .filter(|p| p.is_available())
        .flat_map(|p| {
            p.models.iter().map(|m| CandidateTarget {
                provider: p.id.clone(),
                model: m.id.clone(),
                description: m.description.clone(),
                current: current.as_ref().is_some_and(|(cp, cm)| *cp == p.id && *cm == m.id),
            })
        })
        .collect();
    targets.sort_by_key(|t| !t.current);
    let mut personas: Vec<String> = workflow.personas.iter().map(|p| p.id.value.clone()).collect();
    for id in ws.library.ids() {
        if !personas.iter().any(|p| p == id) {
            personas.push(id.to_string());
        }
    }
    Some(Candidates {
        current,
        current_persona: effective.persona_id().map(str::to_string),
        targets,
        personas,
    })
}

/// The edits that make `step` run on `provider`/`model` (and `persona`, when given), keeping
/// the rest of the step as it is.
pub fn use_target_edits(
    analysis: &Analysis,
    step: &Step,
    provider: &str,
    model: &str,
    persona: Option<&str>,
) -> Vec<Edit> {
    let text = analysis.text();
    let mut edits = Vec::new();
    edits.extend(set_key(
        text,
        step,
        "provider",
        provider,
        step.provider.as_ref().map(|p| p.span),
    ));
    edits.extend(set_key(text, step, "model", model, step.model.as_ref().map(|m| m.span)));
    if let Some(persona) = persona {
        edits.extend(set_key(
            text,
            step,
            "persona",
            persona,
            step.persona.as_ref().map(|p| p.span),
        ));
    }
    edits
}

/// The edit that appends `provider/model` to the step's `fallback` list (creating the list
/// when there is none); `None` when the list has it already.
pub fn add_fallback_edit(analysis: &Analysis, step: &Step, provider: &str, model: &str) -> Option<Edit> {
    let text = analysis.text();
    let entry = format!("{provider}/{model}");
    let catalog = &analysis.workspace.catalog;
    let listed = step.fallback.iter().any(|f| {
        let default = || catalog.provider(&f.provider.value).map(|p| p.default_model.clone());
        let fallback_model = f.model.as_ref().map(|m| m.value.clone()).or_else(default);
        f.provider.value == provider && fallback_model.as_deref() == Some(model)
    });
    if listed {
        return None;
    }
    let Some(last) = step.fallback.last() else {
        let key = step.key_span("fallback");
        let value = key.and_then(|k| {
            let line_end = text[k.end..].find('\n').map_or(text.len(), |i| k.end + i);
            let open = text[k.end..line_end].find('[')? + k.end;
            let close = text[open..line_end].find(']')? + open;
            Some(Span::new(open, close + 1))
        });
        return set_key(text, step, "fallback", &format!("[{entry}]"), value);
    };
    let after = text[last.span.end..].trim_start_matches([' ', '\t']);
    if after.starts_with([',', ']']) {
        return Some(Edit {
            span: Span::empty(last.span.end),
            new_text: format!(", {entry}"),
        });
    }
    let line_start = text[..last.span.start].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &text[line_start..last.span.start];
    let line_end = text[last.span.end..]
        .find('\n')
        .map_or(text.len(), |i| last.span.end + i);
    Some(Edit {
        span: Span::empty(line_end),
        new_text: format!("\n{prefix}{entry}"),
    })
}
