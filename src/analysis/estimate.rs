//! What a step is estimated to cost before it runs, from what the editor knows: its
//! effective provider, model, persona and `max_tokens`, and its prompt as written (values the
//! template fills in are not known before a run, so they are not counted).

use super::Analysis;
use crate::model::prices::{Estimate, Priced, request_estimate};
use crate::model::resolve::{Overrides, resolve_step};
use crate::model::workflow::Step;

/// One request of a step, estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEstimate {
    /// `provider/model`.
    pub who: String,
    /// The estimate of one request (one item, for fan-out).
    pub estimate: Estimate,
    /// The price behind it.
    pub priced: Priced,
    /// Whether the step fans out (the estimate is then per item).
    pub per_item: bool,
}

/// The estimate of `step`'s request; `None` without a provider, model or price.
pub fn step_estimate(analysis: &Analysis, step: &Step) -> Option<StepEstimate> {
    let workspace = &analysis.workspace;
    let effective = resolve_step(&analysis.workflow, step, workspace, &Overrides::default());
    let provider = workspace.catalog.provider(&effective.provider.as_ref()?.value)?;
    let model = &effective.model.as_ref()?.value;
    let system = effective
        .persona_id()
        .and_then(|id| workspace.persona(&analysis.workflow, id))
        .and_then(|p| p.persona().system.as_ref().map(|s| s.value.clone()));
    let prompt = step.prompt.as_ref().map_or("", |p| p.source.as_str());
    let max_tokens = effective.params.max_tokens.as_ref().map(|m| m.value);
    let (estimate, priced) = request_estimate(provider, model, system.as_deref(), prompt, max_tokens)?;
    Some(StepEstimate {
        who: format!("{}/{model}", provider.id),
        estimate,
        priced,
        per_item: step.for_each.is_some(),
    })
}
