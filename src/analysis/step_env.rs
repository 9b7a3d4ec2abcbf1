//! A step's environment: everything outside a step that its semantic diagnostics depend on,
//! as one value. It is the step checker's only input besides the step, and the key of the
//! per-step diagnostics cache, so no check can read something the key does not hold.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::vocabulary::Vocabulary;
use crate::model::workflow::{Params, Persona, Spanned, Workflow};
use crate::model::workspace::Workspace;
use crate::syntax::text::Span;

/// What a step is checked against. Spans outside the step are left out (an edit elsewhere in
/// the header moves them without changing any step's diagnostics).
#[derive(Debug)]
pub(crate) struct StepEnv {
    /// The workspace (compared by identity: a new one is loaded when anything in it changes).
    pub(crate) workspace: Arc<Workspace>,
    /// The workflow's defaults that resolution reads: provider, model, persona, params and the
    /// inline personas' IDs and params, without spans.
    pub(crate) defaults: Workflow,
    /// Inline persona IDs.
    pub(crate) inline_personas: Vocabulary,
    /// Inline and library persona IDs, for suggestions.
    pub(crate) personas: Vocabulary,
    /// Input names.
    pub(crate) inputs: Vocabulary,
    /// Step IDs.
    pub(crate) steps: Vocabulary,
    /// The step IDs in document order, as the document has them (what `carry` compares).
    step_ids: Vec<String>,
    /// A hash of all of the above, so that unequal environments compare in O(1).
    fingerprint: u64,
}

impl PartialEq for StepEnv {
    fn eq(&self, other: &StepEnv) -> bool {
        self.fingerprint == other.fingerprint
            && Arc::ptr_eq(&self.workspace, &other.workspace)
            && self.defaults == other.defaults
            && self.inline_personas == other.inline_personas
            && self.inputs == other.inputs
            && self.step_ids == other.step_ids
    }
}

impl StepEnv {
    /// The environment of `workflow`'s steps in `workspace`: `previous` itself when it is
    /// equal (so that cached step diagnostics stay valid by identity), else a new one.
    /// `same_ids` says the steps' IDs are known to be `previous`'s (they are then not compared).
    pub(crate) fn carry(
        previous: Option<&Arc<StepEnv>>,
        workflow: &Workflow,
        workspace: &Arc<Workspace>,
        same_ids: bool,
    ) -> Arc<StepEnv> {
        let defaults = defaults_of(workflow, workspace);
        if let Some(prev) = previous
            && Arc::ptr_eq(&prev.workspace, workspace)
            && prev.defaults == defaults
            && same_names(&prev.inputs, workflow.inputs.iter().map(|i| i.name.value.as_str()))
            && same_names(
                &prev.inline_personas,
                workflow.personas.iter().map(|p| p.id.value.as_str()),
            )
            && (same_ids
                || prev
                    .step_ids
                    .iter()
                    .map(String::as_str)
                    .eq(workflow.steps.iter().map(|s| s.id_str())))
        {
            return prev.clone();
        }
        let step_ids: Vec<String> = workflow.steps.iter().map(|s| s.id_str().to_string()).collect();
        let inputs = Vocabulary::new(workflow.inputs.iter().map(|i| i.name.value.as_str()));
        let inline_personas = Vocabulary::new(workflow.personas.iter().map(|p| p.id.value.as_str()));
        let personas = Vocabulary::new(
            workflow
                .personas
                .iter()
                .map(|p| p.id.value.as_str())
                .chain(workspace.library.personas.keys().map(String::as_str)),
        );
        let steps = Vocabulary::new(
            workflow
                .steps
                .iter()
                .filter_map(|s| s.id.as_ref())
                .map(|i| i.value.as_str()),
        );
        let mut h = rustc_hash::FxHasher::default();
        (Arc::as_ptr(workspace) as usize).hash(&mut h);
        format!("{defaults:?}").hash(&mut h);
        workflow.inputs.iter().for_each(|i| i.name.value.hash(&mut h));
        workflow.personas.iter().for_each(|p| p.id.value.hash(&mut h));
        step_ids.hash(&mut h);
        Arc::new(StepEnv {
            workspace: workspace.clone(),
            defaults,
            inline_personas,
            personas,
            inputs,
            steps,
            step_ids,
            fingerprint: h.finish(),
        })
    }
}

/// Whether `names` are exactly the names of `vocabulary` (in any order, repeats allowed).
fn same_names<'a>(vocabulary: &Vocabulary, names: impl Iterator<Item = &'a str>) -> bool {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    names.len() == vocabulary.len() && names.into_iter().all(|n| vocabulary.contains(n))
}

fn unspanned<T: Clone>(s: &Spanned<T>) -> Spanned<T> {
    Spanned {
        value: s.value.clone(),
        span: Span::default(),
    }
}

fn unspanned_params(p: &Params) -> Params {
    Params {
        temperature: p.temperature.as_ref().map(unspanned),
        max_tokens: p.max_tokens.as_ref().map(unspanned),
        top_p: p.top_p.as_ref().map(unspanned),
        stop: p.stop.as_ref().map(unspanned),
    }
}

/// The part of the workflow that resolving a step reads, without spans. Of the inline
/// personas only those resolution can tell apart from no persona are kept: ones with params,
/// or that shadow a library persona (so a step's lookup stays short however many there are).
fn defaults_of(wf: &Workflow, workspace: &Workspace) -> Workflow {
    Workflow {
        provider: wf.provider.as_ref().map(unspanned),
        model: wf.model.as_ref().map(unspanned),
        persona: wf.persona.as_ref().map(unspanned),
        params: unspanned_params(&wf.params),
        personas: wf
            .personas
            .iter()
            .filter(|p| p.params != Params::default() || workspace.library.get(&p.id.value).is_some())
            .map(|p| Persona {
                id: unspanned(&p.id),
                name: None,
                description: None,
                system: None,
                params: unspanned_params(&p.params),
                origin: p.origin.clone(),
                span: Span::default(),
            })
            .collect(),
        ..Workflow::default()
    }
}
