//! The `over-budget` warning: a step whose estimated cost alone (one request, one item for
//! fan-out, at its `max_tokens`) exceeds the workflow's `budget_usd`, which a run would stop
//! before sending.

use super::Analysis;
use super::estimate::step_estimate;
use crate::model::diagnostic::{Code, Diagnostic};
use crate::model::prices::usd;

/// The `over-budget` warnings of `analysis`, on each such step's `id`.
pub fn over_budget(analysis: &Analysis) -> Vec<Diagnostic> {
    let Some(budget) = &analysis.workflow.budget_usd else {
        return Vec::new();
    };
    analysis
        .workflow
        .steps
        .iter()
        .filter_map(|step| {
            let found = step_estimate(analysis, step)?;
            if found.estimate.worst() <= budget.value {
                return None;
            }
            let span = step.id.as_ref().map_or(step.span, |id| id.span);
            let each = if found.per_item { " per item" } else { "" };
            let message = format!(
                "this step's estimated cost{each} ({} with {}) alone exceeds the workflow's budget_usd of {}: \
                 a run stops before sending it",
                found.estimate.range(),
                found.who,
                usd(budget.value)
            );
            Some(Diagnostic::new(Code::OverBudget, span, message))
        })
        .collect()
}
