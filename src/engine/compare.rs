//! Comparing one step across targets: the step is rendered once from the latest recorded
//! upstream outputs (upstream steps without one run first, as a one-step run does), then
//! sent to every target concurrently — each exactly as asked, with no retry and no fallback,
//! since the point is to measure that target. The comparison is written as its own record
//! under `runs_dir`; the run records are only read. A budget (`budget_usd`, `compare
//! --budget`) covers the comparison with its upstream runs: a target whose request the
//! estimate says would exceed it is not sent, and its sample says so; the others still go.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::budget::Budget;
use super::error::ProviderError;
use super::graph::Graph;
use super::models::ModelCache;
use super::planner::plan;
use super::providers::{self, Usage};
use super::record::{latest, now_ms, records_dir, workflow_key, write_atomically};
use super::render::{Renderer, context};
use super::requests::{StepSetup, items, outputs};
use super::secret::ApiKey;
use super::{Engine, EngineError, RunEvent, RunRequest, RunTarget};
use crate::model::comparison::{CompareTarget, Comparison, Sample, SampleStatus, TargetResult};
use crate::model::diagnostic::{Unknown, choice_list};
use crate::model::prices::CallCost;
use crate::model::resolve::{Overrides, resolve_step};
use crate::model::run_history::run_cost;
use crate::model::runs::{ErrorClass, Failure, StepRecord};
use crate::model::workflow::Workflow;

/// What to compare.
#[derive(Clone)]
pub struct CompareRequest {
    /// The workflow, workspace, keys and input values (its target and overrides are not
    /// used: the step and the targets below say what is sent).
    pub run: RunRequest,
    /// The step to compare.
    pub step: String,
    /// Where to send it, in the order to show them.
    pub targets: Vec<CompareTarget>,
    /// How many times each target gets it (at least 1).
    pub repeat: u32,
}

/// Progress of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum CompareEvent {
    /// An event of the run that gives an upstream step its missing output.
    Upstream(RunEvent),
    /// The requests are going out: `targets` (resolved labels) × `repeat`.
    Sending {
        /// Each target as `provider/model[@persona]`.
        targets: Vec<String>,
        /// Samples per target.
        repeat: u32,
    },
    /// One sample of target `target` (its index) ended.
    SampleFinished {
        /// Index of the target.
        target: usize,
        /// The sample.
        sample: Sample,
    },
}

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// No target was given.
    #[error("nothing to compare: give at least one target")]
    NoTargets,
    /// A target names a provider the workspace does not have.
    #[error("target `{target}`: unknown provider {unknown}")]
    UnknownProvider {
        /// The target as given.
        target: String,
        /// The provider, with the nearest and all choices.
        unknown: Unknown,
    },
    /// A target names a model its provider does not list.
    #[error(
        "target `{target}`: `{provider}` has no model {unknown} (`stepwise models --refresh` updates the listings)"
    )]
    UnknownModel {
        /// The target as given.
        target: String,
        /// Its provider.
        provider: String,
        /// The model, with the nearest and all choices.
        unknown: Unknown,
    },
    /// A target names another provider's model.
    #[error(
        "target `{target}`: model `{model}` is `{owner}`'s, not `{provider}`'s: write `{owner}/{model}`, or pick one of `{provider}`'s models{}",
        choice_list(.provider_models)
    )]
    ModelOfOtherProvider {
        /// The target as given.
        target: String,
        /// The model.
        model: String,
        /// The provider given.
        provider: String,
        /// The provider whose catalog has the model.
        owner: String,
        /// The models `provider` does have.
        provider_models: Vec<String>,
    },
    /// A target names a persona neither the workflow nor the library has.
    #[error("target `{target}`: unknown persona {unknown}")]
    UnknownPersona {
        /// The target as given.
        target: String,
        /// The persona, with the nearest and all choices.
        unknown: Unknown,
    },
    /// The step cannot be rendered or has nothing to send.
    #[error("step `{step}`: {message}")]
    Prompt {
        /// The step.
        step: String,
        /// What is wrong.
        message: String,
    },
    /// An upstream step still has no output after running it.
    #[error("upstream step `{step}` has no output to compare from: {message}")]
    Upstream {
        /// The upstream step.
        step: String,
        /// Its failure, or why it did not run.
        message: String,
    },
    /// The run of the upstream steps, or the plan, could not start.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl Comparison {
    /// The file this comparison is stored in: `comparisons/` in the folder of the workflow's
    /// run records, so reading the latest run never meets one.
    pub fn path(&self, runs_dir: &Path) -> PathBuf {
        comparisons_dir(runs_dir, &self.workflow).join(format!("{}.json", self.id))
    }

    /// Writes the comparison atomically; returns its path.
    pub fn save(&self, runs_dir: &Path) -> std::io::Result<PathBuf> {
        let path = self.path(runs_dir);
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(&path, &bytes)?;
        Ok(path)
    }
}

/// The folder of the comparisons of one workflow file.
pub fn comparisons_dir(runs_dir: &Path, workflow: &Path) -> PathBuf {
    records_dir(runs_dir, workflow).join("comparisons")
}

/// A target checked against the workspace, with what the step resolves to under it.
struct Resolved {
    target: CompareTarget,
    setup: StepSetup,
    persona: Option<String>,
}

impl Resolved {
    fn result(&self, samples: Vec<Sample>) -> TargetResult {
        let first = self.setup.first();
        TargetResult {
            target: self.target.clone(),
            provider: first.provider.clone(),
            model: first.model.clone(),
            persona: self.persona.clone(),
            samples,
        }
    }

    fn label(&self) -> String {
        self.result(Vec::new()).label()
    }
}

/// The target's one-time overrides.
fn overrides(target: &CompareTarget) -> Overrides {
    Overrides {
        provider: Some(target.provider.clone()),
        model: target.model.clone(),
        persona: target.persona.clone().map(Some),
    }
}

/// Checks `target` against the workspace (did-you-mean on every unknown name) and resolves
/// the step under it; the setup has exactly one candidate: no fallback.
fn resolve_target(
    request: &RunRequest,
    workflow: &Workflow,
    step: &str,
    target: &CompareTarget,
) -> Result<Resolved, CompareError> {
    let workspace = &request.workspace;
    let catalog = &workspace.catalog;
    let shown = target.to_string();
    let Some(provider) = catalog.provider(&target.provider) else {
        let ids = catalog.providers().iter().map(|p| p.id.as_str());
        return Err(CompareError::UnknownProvider {
            target: shown,
            unknown: Unknown::new(&target.provider, ids),
        });
    };
    if let Some(model) = &target.model {
        let cache = ModelCache::load(&workspace.config.runs_dir());
        let listed = cache.fresh(&provider.id, Duration::MAX).unwrap_or_default();
        let mut known: Vec<&str> = provider.models.iter().map(|m| m.id.as_str()).collect();
        known.extend(listed.iter().map(String::as_str).filter(|m| !provider.knows_model(m)));
        if !known.is_empty() && !known.contains(&model.as_str()) {
            if let Some(owner) = catalog.providers().iter().find(|p| p.knows_model(model)) {
                return Err(CompareError::ModelOfOtherProvider {
                    target: shown,
                    model: model.clone(),
                    provider: provider.id.clone(),
                    owner: owner.id.clone(),
                    provider_models: known.iter().map(|m| m.to_string()).collect(),
                });
            }
            return Err(CompareError::UnknownModel {
                target: shown,
                provider: provider.id.clone(),
                unknown: Unknown::new(model, known),
            });
        }
    }
    if let Some(persona) = &target.persona
        && workspace.persona(workflow, persona).is_none()
    {
        let inline = workflow.personas.iter().map(|p| p.id.value.as_str());
        return Err(CompareError::UnknownPersona {
            target: shown,
            unknown: Unknown::new(persona, inline.chain(workspace.library.ids())),
        });
    }
    let definition = workflow
        .step(step)
        .ok_or_else(|| EngineError::UnknownStep(Unknown::new(step, workflow.steps.iter().map(|s| s.id_str()))))?;
    let effective = resolve_step(workflow, definition, workspace, &overrides(target));
    let mut setup =
        StepSetup::new(request, workflow, definition, &effective).map_err(|message| CompareError::Prompt {
            step: step.to_string(),
            message,
        })?;
    setup.candidates.truncate(1);
    Ok(Resolved {
        target: target.clone(),
        setup,
        persona: effective.persona_id().map(str::to_string),
    })
}

impl Engine {
    /// Compares step `request.step` across `request.targets` (see the module docs), sending
    /// progress to `events`; returns the comparison, also written under `runs_dir`.
    pub async fn compare(
        &self,
        request: CompareRequest,
        events: UnboundedSender<CompareEvent>,
        cancel: CancellationToken,
    ) -> Result<Comparison, CompareError> {
        if request.targets.is_empty() {
            return Err(CompareError::NoTargets);
        }
        let run = &request.run;
        let workflow = run.workflow.clone();
        let resolved: Vec<Resolved> = request
            .targets
            .iter()
            .map(|t| resolve_target(run, &workflow, &request.step, t))
            .collect::<Result<_, _>>()?;
        let providers: BTreeSet<&str> = request.targets.iter().map(|t| t.provider.as_str()).collect();
        if let Some(why) = run
            .workspace
            .trust
            .refusal_for(|need| need.provider().is_none_or(|p| providers.contains(p)))
        {
            return Err(EngineError::Untrusted(why).into());
        }
        let graph = Graph::new(&workflow);
        let index = graph.index(&request.step).ok_or_else(|| {
            EngineError::UnknownStep(Unknown::new(&request.step, graph.ids.iter().map(String::as_str)))
        })?;
        let budget = Budget::for_comparison(run.budget_usd.or(workflow.budget_usd.as_ref().map(|b| b.value)));
        let upstream = self
            .upstream(&request, &graph, index, &budget, &events, &cancel)
            .await?;
        let renderer = Renderer::new();
        let step = &workflow.steps[index];
        let deps = graph.deps[index].iter().map(|&d| &upstream.steps[d]);
        let base = context(&upstream.inputs, &outputs(deps));
        let prompt_error = |message| CompareError::Prompt {
            step: request.step.clone(),
            message,
        };
        let template = step.prompt.as_ref().map_or("", |p| p.source.as_str());
        let prompt_items = items(&renderer, step, &base).map_err(prompt_error)?;
        let prompts: Vec<String> = prompt_items
            .into_items()
            .map(|item| renderer.prompt(template, &item.context))
            .collect::<Result<_, _>>()
            .map_err(prompt_error)?;
        events
            .send(CompareEvent::Sending {
                targets: resolved.iter().map(Resolved::label).collect(),
                repeat: request.repeat.max(1),
            })
            .ok();
        let started_at = now_ms();
        let repeat = request.repeat.max(1) as usize;
        let limit = (run.workspace.config.config.concurrency.max(1) as usize).max(resolved.len());
        let jobs = (0..repeat).flat_map(|_| 0..resolved.len());
        let mut samples: Vec<Vec<Sample>> = resolved.iter().map(|_| Vec::new()).collect();
        let mut stream = futures::stream::iter(jobs.map(|t| {
            let (resolved, prompts, budget, cancel) = (&resolved[t], &prompts, &budget, &cancel);
            async move { (t, self.sample(run, resolved, prompts, budget, cancel).await) }
        }))
        .buffer_unordered(limit);
        while let Some((target, sample)) = stream.next().await {
            events
                .send(CompareEvent::SampleFinished {
                    target,
                    sample: sample.clone(),
                })
                .ok();
            samples[target].push(sample);
        }
        drop(stream);
        let comparison = Comparison {
            id: Uuid::now_v7(),
            workflow: workflow_key(&run.path),
            step: request.step.clone(),
            inputs: upstream.inputs,
            upstream_run: upstream.run,
            prompts,
            repeat: repeat as u32,
            started_at,
            finished_at: now_ms(),
            targets: resolved.iter().zip(samples).map(|(r, s)| r.result(s)).collect(),
        };
        comparison
            .save(&run.workspace.config.runs_dir())
            .map_err(EngineError::Io)?;
        Ok(comparison)
    }

    /// The step records and input values the comparison renders from, after running the
    /// step's direct upstream steps that have no output (each as a one-step run, which runs
    /// its own upstream steps first, on what is left of `budget`); and the run record they
    /// came from.
    async fn upstream(
        &self,
        request: &CompareRequest,
        graph: &Graph,
        index: usize,
        budget: &Budget,
        events: &UnboundedSender<CompareEvent>,
        cancel: &CancellationToken,
    ) -> Result<Upstream, CompareError> {
        let run = &request.run;
        let runs_dir = run.workspace.config.runs_dir();
        let planned = |request: &RunRequest| {
            let prior = latest(&runs_dir, &request.path);
            let planned = plan(
                request,
                &request.workflow,
                graph,
                prior.as_ref(),
                workflow_key(&request.path),
            )?;
            Ok::<_, EngineError>((planned.record, prior.map(|p| p.id)))
        };
        let step_run = RunRequest {
            target: RunTarget::Step(request.step.clone()),
            overrides: Overrides::default(),
            ..run.clone()
        };
        let (mut record, mut prior) = planned(&step_run)?;
        let missing: Vec<String> = graph.deps[index]
            .iter()
            .filter(|&&d| !record.steps[d].has_output())
            .map(|&d| graph.ids[d].clone())
            .collect();
        for id in &missing {
            let upstream = RunRequest {
                target: RunTarget::Step(id.clone()),
                inputs: record.inputs.clone(),
                budget_usd: budget.remaining(),
                ..step_run.clone()
            };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let forward = async {
                while let Some(event) = rx.recv().await {
                    events.send(CompareEvent::Upstream(event)).ok();
                }
            };
            let (ran, ()) = tokio::join!(self.run(upstream, tx, cancel.clone()), forward);
            let ran = ran?;
            budget.spend(run_cost(&ran).usd.unwrap_or(0.0));
            let step = ran.step(id);
            if !step.is_some_and(StepRecord::has_output) {
                let message = step
                    .and_then(StepRecord::failure)
                    .map_or_else(|| "it did not complete".to_string(), |e| e.failure.message.clone());
                return Err(CompareError::Upstream {
                    step: id.clone(),
                    message,
                });
            }
        }
        if !missing.is_empty() {
            (record, prior) = planned(&step_run)?;
        }
        Ok(Upstream {
            steps: record.steps,
            inputs: record.inputs,
            run: prior,
        })
    }

    /// Sends the step's prompts to one target once, each request once and only when `budget`
    /// admits it.
    async fn sample(
        &self,
        run: &RunRequest,
        target: &Resolved,
        prompts: &[String],
        budget: &Budget,
        cancel: &CancellationToken,
    ) -> Sample {
        let started = Instant::now();
        let mut usage = Usage::default();
        let mut texts = Vec::with_capacity(prompts.len());
        let mut cost = Some(0.0);
        let ended = |status, usage, cost_usd, output, error| Sample {
            status,
            duration_ms: started.elapsed().as_millis() as u64,
            usage,
            cost_usd,
            output,
            error,
        };
        let candidate = target.setup.first();
        let Some(info) = run.workspace.catalog.provider(&candidate.provider) else {
            let e = failure(ErrorClass::Prompt, format!("unknown provider `{}`", candidate.provider));
            return ended(SampleStatus::Failed, usage, cost, None, Some(e));
        };
        let key = ApiKey::for_provider(info, run.env.as_ref());
        if key.is_none() && !info.api_key_env.is_empty() {
            let e = failure(
                ErrorClass::Auth,
                format!("{} is not set", info.api_key_env.join(" or ")),
            );
            return ended(SampleStatus::Failed, usage, cost, None, Some(e));
        }
        let timeout = self
            .options
            .timeout
            .unwrap_or(Duration::from_secs(run.workspace.config.config.timeout_secs.max(1)));
        for prompt in prompts {
            let Some(http) = target.setup.request(run, candidate, prompt, key.clone()) else {
                let e = failure(ErrorClass::Prompt, format!("unknown provider `{}`", candidate.provider));
                return ended(SampleStatus::Failed, usage, cost, None, Some(e));
            };
            let system = target.setup.system.as_deref();
            let reservation =
                match budget.reserve(info, &candidate.model, system, prompt, target.setup.params.max_tokens) {
                    Ok(r) => r,
                    Err(e) => return ended(SampleStatus::Failed, usage, cost, None, Some(from_provider(&e))),
                };
            let mut ignore_stream = |_: &str| {};
            let result = tokio::select! {
                _ = cancel.cancelled() => {
                    budget.settle(reservation, 0.0);
                    return ended(SampleStatus::Cancelled, usage, cost, None, None);
                }
                result = providers::send(&self.client, info.kind, &http, timeout, &mut ignore_stream) => result,
            };
            let (billed, reported) = match &result {
                Ok(completion) => (completion.usage, completion.reported_cost),
                Err(e) => (e.usage, e.reported_cost),
            };
            usage.add(billed);
            let mut spent = 0.0;
            if billed != Usage::default() || reported.is_some() {
                let priced = CallCost::of(billed, reported, info.price(&candidate.model));
                spent = priced.map_or(0.0, |c| c.usd);
                cost = cost.zip(priced).map(|(sum, c)| sum + c.usd);
            }
            budget.settle(reservation, spent);
            match result {
                Ok(completion) => texts.push(completion.text),
                Err(e) => return ended(SampleStatus::Failed, usage, cost, None, Some(from_provider(&e))),
            }
        }
        ended(SampleStatus::Completed, usage, cost, Some(texts.join("\n\n")), None)
    }
}

/// What a comparison renders from.
struct Upstream {
    /// The step records, aligned with the graph.
    steps: Vec<StepRecord>,
    /// The input values.
    inputs: BTreeMap<String, String>,
    /// The run record they came from.
    run: Option<Uuid>,
}

fn failure(class: ErrorClass, message: String) -> Failure {
    Failure {
        class,
        status: None,
        message,
    }
}

fn from_provider(e: &ProviderError) -> Failure {
    Failure {
        class: e.class,
        status: e.status,
        message: e.message.clone(),
    }
}
