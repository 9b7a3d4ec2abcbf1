//! The dry run: the requests a run would send, through the same planner and request builder
//! as a real run, without sending any or reading any key.

use super::estimate::estimate;
use super::graph::Graph;
use super::planner::plan;
use super::record::{latest, workflow_key};
use super::render::{Renderer, StepOutput, context};
use super::requests::{StepSetup, items, outputs};
use super::{EngineError, PlannedRequest, RunRequest};
use crate::model::resolve::resolve_step;

/// Outputs of steps that would run first appear as `<output of step ID>`.
pub(super) fn dry_run(request: &RunRequest) -> Result<Vec<PlannedRequest>, EngineError> {
    let workflow = &request.workflow;
    let graph = Graph::new(workflow);
    let prior = latest(&request.workspace.config.runs_dir(), &request.path);
    let plan = plan(request, workflow, &graph, prior.as_ref(), workflow_key(&request.path))?;
    let renderer = Renderer::new();
    let mut known = outputs(plan.record.steps.iter());
    let mut planned = Vec::new();
    for index in plan.order(&graph) {
        let step = &workflow.steps[index];
        let id = step.id_str().to_string();
        let effective = resolve_step(workflow, step, &request.workspace, &request.overrides);
        let base = context(&plan.record.inputs, &known);
        let setup = StepSetup::new(request, workflow, step, &effective);
        if let (Ok(setup), Some(prompt), Ok((_, items))) = (&setup, &step.prompt, items(&renderer, step, &base)) {
            for item in items {
                let text = renderer
                    .prompt(&prompt.source, &item.context)
                    .unwrap_or_else(|e| format!("<{e}>"));
                if let Some(req) = setup.request(request, setup.first(), &text, None) {
                    planned.push(PlannedRequest {
                        step: id.clone(),
                        item: item.index,
                        request: req,
                        estimate: estimate(request, setup, &text),
                    });
                }
            }
        }
        let placeholder = format!("<output of step {id}>");
        known.insert(
            id,
            StepOutput {
                output: placeholder.clone(),
                outputs: vec![placeholder],
            },
        );
    }
    Ok(planned)
}
