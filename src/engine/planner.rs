//! The planner: from a target, the previous record and the step graph, which steps a run
//! sends and which step records it starts from. Pure: no HTTP, no files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use uuid::Uuid;

use super::graph::Graph;
use super::record::now_ms;
use super::{EngineError, RunRequest};
use crate::model::diagnostic::Unknown;
use crate::model::resolve::resolve_step;
use crate::model::runs::{RunRecord, RunTarget, StepRecord, StepStatus};
use crate::model::workflow::Workflow;

/// What a run will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The record the run starts from (steps in graph order, carried over where reused).
    pub record: RunRecord,
    /// Indices of the steps it runs.
    pub to_run: BTreeSet<usize>,
}

impl Plan {
    /// The steps it runs, each after its dependencies.
    pub fn order(&self, graph: &Graph) -> Vec<usize> {
        graph.order().into_iter().filter(|i| self.to_run.contains(i)).collect()
    }
}

/// Plans `request` of `workflow` against the latest record `prior`; the new record names
/// the workflow file `workflow_key`.
pub fn plan(
    request: &RunRequest,
    workflow: &Workflow,
    graph: &Graph,
    prior: Option<&RunRecord>,
    workflow_key: PathBuf,
) -> Result<Plan, EngineError> {
    let (steps, to_run) = plan_steps(graph, &request.target, prior)?;
    check_overrides(request, workflow, to_run.iter().map(|&i| graph.ids[i].as_str()))?;
    let record = match (&request.target, prior) {
        (RunTarget::Resume, Some(prior)) => RunRecord {
            inputs: inputs(workflow, &request.inputs, Some(&prior.inputs))?,
            steps,
            finished_at: None,
            overrides: if request.overrides == Default::default() {
                prior.overrides.clone()
            } else {
                request.overrides.clone()
            },
            ..prior.clone()
        },
        (target, prior) => {
            let recorded = match target {
                RunTarget::Workflow => None,
                _ => prior.map(|p| &p.inputs),
            };
            RunRecord {
                id: Uuid::now_v7(),
                workflow: workflow_key,
                name: workflow.name.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
                target: target.clone(),
                inputs: inputs(workflow, &request.inputs, recorded)?,
                overrides: request.overrides.clone(),
                started_at: now_ms(),
                finished_at: None,
                steps,
            }
        }
    };
    Ok(Plan { record, to_run })
}

/// The step records a run of `target` starts from, aligned with `graph`, and the indices of
/// the steps it runs:
/// - `Workflow`: every step, from scratch;
/// - `Step`: the step, after its upstream steps without an output; the rest carried over;
/// - `FromStep`: the same plus everything downstream;
/// - `Resume`: every step of `prior` not completed.
pub fn plan_steps(
    graph: &Graph,
    target: &RunTarget,
    prior: Option<&RunRecord>,
) -> Result<(Vec<StepRecord>, BTreeSet<usize>), EngineError> {
    match target {
        RunTarget::Workflow => {
            let steps = graph.ids.iter().map(|id| StepRecord::pending(id)).collect();
            Ok((steps, (0..graph.ids.len()).collect()))
        }
        RunTarget::Step(id) | RunTarget::FromStep(id) => {
            let target_index = graph
                .index(id)
                .ok_or_else(|| EngineError::UnknownStep(Unknown::new(id, graph.ids.iter().map(String::as_str))))?;
            let steps = carried_over(graph, prior);
            let mut to_run: BTreeSet<usize> = graph
                .upstream(target_index)
                .into_iter()
                .filter(|&u| !steps[u].has_output())
                .collect();
            to_run.insert(target_index);
            if matches!(target, RunTarget::FromStep(_)) {
                to_run.extend(graph.downstream(target_index));
            }
            Ok((steps, to_run))
        }
        RunTarget::Resume => {
            let prior = prior.ok_or(EngineError::NothingToResume)?;
            let steps: Vec<StepRecord> = graph
                .ids
                .iter()
                .map(|id| prior.step(id).map_or_else(|| StepRecord::pending(id), interrupted))
                .collect();
            let to_run = (0..steps.len()).filter(|&i| steps[i].status.needs_run()).collect();
            Ok((steps, to_run))
        }
    }
}

/// The step records of `prior` carried into a new run, aligned with the current steps; an
/// output carried over names the run that produced it.
fn carried_over(graph: &Graph, prior: Option<&RunRecord>) -> Vec<StepRecord> {
    graph
        .ids
        .iter()
        .map(|id| match prior.and_then(|p| p.step(id).map(|s| (p, s))) {
            Some((p, s)) => {
                let mut step = interrupted(s);
                if step.has_output() {
                    step.reused_from = Some(s.reused_from.unwrap_or(p.id));
                }
                step
            }
            None => StepRecord::pending(id),
        })
        .collect()
}

/// A step as a new run finds it: one left `running` by a crash has its attempt marked
/// cancelled, and its earlier output (if any) counts as stale.
fn interrupted(step: &StepRecord) -> StepRecord {
    let mut step = step.clone();
    if step.status == StepStatus::Running {
        if let Some(last) = step.attempts.last_mut().filter(|a| a.status == StepStatus::Running) {
            last.status = StepStatus::Cancelled;
        }
        step.status = if step.result().is_some() {
            StepStatus::Stale
        } else {
            StepStatus::Pending
        };
    }
    step
}

/// One-time overrides must name a provider and persona the workspace has, and a model
/// override must not be another provider's model for any step that runs.
fn check_overrides<'a>(
    request: &RunRequest,
    workflow: &Workflow,
    running: impl Iterator<Item = &'a str>,
) -> Result<(), EngineError> {
    let overrides = &request.overrides;
    let workspace = &request.workspace;
    let catalog = &workspace.catalog;
    if let Some(p) = &overrides.provider
        && catalog.provider(p).is_none()
    {
        let ids = catalog.providers().iter().map(|p| p.id.as_str());
        return Err(EngineError::UnknownOverride("provider", Unknown::new(p, ids)));
    }
    if let Some(Some(p)) = &overrides.persona
        && workspace.persona(workflow, p).is_none()
    {
        let inline = workflow.personas.iter().map(|p| p.id.value.as_str());
        return Err(EngineError::UnknownOverride(
            "persona",
            Unknown::new(p, inline.chain(workspace.library.ids())),
        ));
    }
    let Some(model) = &overrides.model else {
        return Ok(());
    };
    for id in running {
        let Some(step) = workflow.step(id) else {
            continue;
        };
        let Some(provider) = resolve_step(workflow, step, workspace, overrides)
            .provider
            .and_then(|p| catalog.provider(&p.value))
        else {
            continue;
        };
        if provider.knows_model(model) {
            continue;
        }
        if let Some(owner) = catalog.providers().iter().find(|p| p.knows_model(model)) {
            return Err(EngineError::ModelOfOtherProvider {
                model: model.clone(),
                provider: provider.id.clone(),
                owner: owner.id.clone(),
                provider_models: provider.models.iter().map(|m| m.id.clone()).collect(),
            });
        }
    }
    Ok(())
}

/// The inputs of the run: given, else recorded (step runs and resume), else defaults.
fn inputs(
    workflow: &Workflow,
    given: &BTreeMap<String, String>,
    recorded: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, EngineError> {
    if let Some(name) = given.keys().find(|k| workflow.input(k).is_none()) {
        return Err(EngineError::UnknownInput(name.clone()));
    }
    let mut missing = Vec::new();
    let mut values = BTreeMap::new();
    for input in &workflow.inputs {
        let name = &input.name.value;
        let value = given
            .get(name)
            .or_else(|| recorded.and_then(|r| r.get(name)))
            .cloned()
            .or_else(|| input.default.as_ref().map(|d| d.value.clone()));
        match value {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None => missing.push(name.clone()),
        }
    }
    if missing.is_empty() {
        Ok(values)
    } else {
        Err(EngineError::MissingInputs(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resolve::Overrides;
    use crate::model::runs::StepAttempt;
    use crate::model::workflow::lower_workflow;
    use crate::syntax::yaml;

    /// `a` → `b` → `c`, and `d` on its own.
    const FLOW: &str = "version: 1\nname: x\nsteps:\n  - id: a\n    prompt: A\n  - id: b\n    prompt: \"{{ steps.a.output }}\"\n  - id: c\n    prompt: \"{{ steps.b.output }}\"\n  - id: d\n    prompt: D\n";

    fn graph() -> Graph {
        let parsed = yaml::parse(FLOW);
        Graph::new(&lower_workflow(FLOW, parsed.root.as_ref()).0)
    }

    fn attempt(status: StepStatus, output: Option<&str>) -> StepAttempt {
        StepAttempt {
            output: output.map(str::to_string),
            ..StepAttempt::new(status)
        }
    }

    /// A record where each step has the given status and, when completed or stale, an output.
    fn prior(statuses: [StepStatus; 4]) -> RunRecord {
        let steps = ["a", "b", "c", "d"]
            .iter()
            .zip(statuses)
            .map(|(id, status)| {
                let mut step = StepRecord::pending(id);
                step.status = status;
                match status {
                    StepStatus::Completed | StepStatus::Stale => {
                        step.attempts.push(attempt(StepStatus::Completed, Some("out")));
                    }
                    StepStatus::Pending => {}
                    other => step.attempts.push(attempt(other, None)),
                }
                step
            })
            .collect();
        RunRecord {
            id: Uuid::now_v7(),
            workflow: PathBuf::from("x.flow.yaml"),
            name: "x".to_string(),
            target: RunTarget::Workflow,
            inputs: BTreeMap::new(),
            overrides: Overrides::default(),
            started_at: 0,
            finished_at: Some(1),
            steps,
        }
    }

    fn runs(target: RunTarget, prior: Option<&RunRecord>) -> Vec<&'static str> {
        let (_, to_run) = plan_steps(&graph(), &target, prior).unwrap();
        to_run.into_iter().map(|i| ["a", "b", "c", "d"][i]).collect()
    }

    use StepStatus::{Completed, Failed, Pending, Running, Stale};

    #[test]
    fn a_workflow_runs_every_step_from_scratch() {
        let all = prior([Completed; 4]);
        assert_eq!(runs(RunTarget::Workflow, Some(&all)), ["a", "b", "c", "d"]);
        let (steps, _) = plan_steps(&graph(), &RunTarget::Workflow, Some(&all)).unwrap();
        assert!(steps.iter().all(|s| s.attempts.is_empty()));
    }

    #[test]
    fn a_step_runs_after_its_upstream_steps_without_output_only() {
        assert_eq!(runs(RunTarget::Step("c".into()), None), ["a", "b", "c"]);
        let done = prior([Completed, Stale, Pending, Pending]);
        assert_eq!(runs(RunTarget::Step("c".into()), Some(&done)), ["c"]);
        let failed = prior([Completed, Failed, Pending, Pending]);
        assert_eq!(runs(RunTarget::Step("c".into()), Some(&failed)), ["b", "c"]);
    }

    #[test]
    fn a_step_run_leaves_its_downstream_fresh_until_its_output_changes() {
        let all = prior([Completed; 4]);
        let (steps, to_run) = plan_steps(&graph(), &RunTarget::Step("a".into()), Some(&all)).unwrap();
        assert_eq!(to_run, BTreeSet::from([0]));
        assert_eq!(steps[1].status, Completed);
        assert_eq!(steps[1].reused_from, Some(all.id));
        assert_eq!(steps[1].output(), Some("out"));
    }

    #[test]
    fn run_from_a_step_adds_everything_downstream() {
        let all = prior([Completed; 4]);
        assert_eq!(runs(RunTarget::FromStep("b".into()), Some(&all)), ["b", "c"]);
    }

    #[test]
    fn resume_runs_what_is_not_completed_and_needs_a_record() {
        let left = prior([Completed, Failed, Pending, Completed]);
        assert_eq!(runs(RunTarget::Resume, Some(&left)), ["b", "c"]);
        assert!(matches!(
            plan_steps(&graph(), &RunTarget::Resume, None),
            Err(EngineError::NothingToResume)
        ));
    }

    #[test]
    fn resume_after_a_failed_rerun_that_kept_its_output_has_nothing_to_do() {
        let mut kept = prior([Completed; 4]);
        kept.steps[0].attempts.push(attempt(Failed, None));
        assert!(runs(RunTarget::Resume, Some(&kept)).is_empty());
    }

    #[test]
    fn a_step_left_running_by_a_crash_is_run_again_and_its_attempt_marked_cancelled() {
        let mut crashed = prior([Completed, Running, Pending, Pending]);
        crashed.steps[1].attempts[0].status = Running;
        assert_eq!(runs(RunTarget::Resume, Some(&crashed)), ["b", "c", "d"]);
        let (steps, _) = plan_steps(&graph(), &RunTarget::Resume, Some(&crashed)).unwrap();
        assert_eq!(steps[1].status, Pending);
        assert_eq!(steps[1].attempts[0].status, StepStatus::Cancelled);
    }

    #[test]
    fn an_unknown_step_is_an_error() {
        assert!(matches!(
            plan_steps(&graph(), &RunTarget::Step("zz".into()), None),
            Err(EngineError::UnknownStep(s)) if s.name == "zz" && s.choices == ["a", "b", "c", "d"]
        ));
    }
}
