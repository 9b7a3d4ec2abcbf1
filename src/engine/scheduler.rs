//! Running the graph: planning which steps a target runs, starting each step once its
//! dependencies have outputs, fanning out items, and trying each provider with retries
//! before moving down the fallback list.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use minijinja::Value;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::error::{ErrorClass, ProviderError};
use super::graph::Graph;
use super::health::HealthFile;
use super::providers::{self, ChatRequest, GenParams, HttpRequest, Usage, chat_request};
use super::record::{
    self, Attempt, Failure, ItemRecord, ProviderModel, RecordedSetting, RunRecord, RunTarget, StepError, StepRecord,
    StepStatus, now_ms, sha256_hex,
};
use super::render::{Renderer, StepOutput, context, render, with_item};
use super::retry::{RetryDecision, RetryPolicy};
use super::secret::ApiKey;
use super::{Engine, EngineError, PlannedRequest, RunEvent, RunRequest};
use crate::analysis::Analysis;
use crate::model::diagnostic::Severity;
use crate::model::resolve::{Effective, Overrides, resolve_step, step_fingerprint};
use crate::model::workflow::{Step, Workflow};
use crate::model::workspace::Workspace;

/// How often finished fan-out items are written while their step runs (when some finished).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// What a target means for this workflow and its latest record.
struct Plan {
    analysis: Analysis,
    graph: Graph,
    record: RunRecord,
    to_run: BTreeSet<usize>,
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
    workflow
        .inputs
        .iter()
        .map(|input| {
            let name = &input.name.value;
            let value = given
                .get(name)
                .or_else(|| recorded.and_then(|r| r.get(name)))
                .cloned()
                .or_else(|| input.default.as_ref().map(|d| d.value.clone()))
                .ok_or_else(|| EngineError::MissingInput(name.clone()))?;
            Ok((name.clone(), value))
        })
        .collect()
}

/// The step records of `prior` carried into a new run, aligned with the current steps.
fn carried_over(graph: &Graph, prior: Option<&RunRecord>) -> Vec<StepRecord> {
    graph
        .ids
        .iter()
        .map(|id| match prior.and_then(|p| p.step(id).map(|s| (p, s))) {
            Some((p, s)) if s.has_output() => StepRecord {
                reused_from: Some(s.reused_from.unwrap_or(p.id)),
                ..s.clone()
            },
            Some((_, s)) if s.status == StepStatus::Failed => s.clone(),
            _ => StepRecord::pending(id),
        })
        .collect()
}

fn plan(request: &RunRequest) -> Result<Plan, EngineError> {
    let analysis = Analysis::new(request.text.clone(), request.workspace.clone());
    let errors: Vec<_> = analysis
        .diagnostics()
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        return Err(EngineError::Invalid(errors));
    }
    let workflow = &analysis.workflow;
    let overrides = &request.overrides;
    if let Some(p) = &overrides.provider
        && request.workspace.catalog.provider(p).is_none()
    {
        return Err(EngineError::UnknownOverride("provider", p.clone()));
    }
    if let Some(Some(p)) = &overrides.persona
        && request.workspace.persona(workflow, p).is_none()
    {
        return Err(EngineError::UnknownOverride("persona", p.clone()));
    }
    let graph = Graph::new(workflow);
    let runs_dir = request.workspace.config.runs_dir();
    let prior = record::latest(&runs_dir, &request.path);
    let new_record = |inputs, steps| RunRecord {
        id: Uuid::now_v7(),
        workflow: record::workflow_key(&request.path),
        name: workflow.name.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
        target: request.target.clone(),
        inputs,
        overrides: request.overrides.clone(),
        started_at: now_ms(),
        finished_at: None,
        steps,
    };
    let (record, to_run) = match &request.target {
        RunTarget::Workflow => {
            let inputs = inputs(workflow, &request.inputs, None)?;
            let steps = graph.ids.iter().map(|id| StepRecord::pending(id)).collect();
            (new_record(inputs, steps), (0..graph.ids.len()).collect())
        }
        RunTarget::Step(id) | RunTarget::FromStep(id) => {
            let target = graph.index(id).ok_or_else(|| EngineError::UnknownStep(id.clone()))?;
            let inputs = inputs(workflow, &request.inputs, prior.as_ref().map(|p| &p.inputs))?;
            let mut record = new_record(inputs, carried_over(&graph, prior.as_ref()));
            let mut to_run: BTreeSet<usize> = graph
                .upstream(target)
                .into_iter()
                .filter(|&u| !record.steps[u].has_output())
                .collect();
            to_run.insert(target);
            for d in graph.downstream(target) {
                if matches!(request.target, RunTarget::FromStep(_)) {
                    to_run.insert(d);
                } else if record.steps[d].status == StepStatus::Completed {
                    record.steps[d].status = StepStatus::Stale;
                }
            }
            (record, to_run)
        }
        RunTarget::Resume => {
            let prior = prior.ok_or(EngineError::NothingToResume)?;
            let inputs = inputs(workflow, &request.inputs, Some(&prior.inputs))?;
            let steps: Vec<StepRecord> = graph
                .ids
                .iter()
                .map(|id| prior.step(id).cloned().unwrap_or_else(|| StepRecord::pending(id)))
                .collect();
            let to_run = (0..steps.len()).filter(|&i| steps[i].status.needs_run()).collect();
            let record = RunRecord {
                inputs,
                steps,
                finished_at: None,
                overrides: if request.overrides == Default::default() {
                    prior.overrides.clone()
                } else {
                    request.overrides.clone()
                },
                ..prior
            };
            (record, to_run)
        }
    };
    Ok(Plan {
        analysis,
        graph,
        record,
        to_run,
    })
}

/// The outputs templates can see: every step of `record` that has one.
fn outputs(record: &RunRecord) -> BTreeMap<String, StepOutput> {
    record
        .steps
        .iter()
        .filter(|s| s.has_output())
        .map(|s| {
            let output = s.output.clone().unwrap_or_default();
            let outputs = s.outputs.clone().unwrap_or_else(|| vec![output.clone()]);
            (s.id.clone(), StepOutput { output, outputs })
        })
        .collect()
}

/// The step's definition as the document states it, one-time overrides left out: a run "with
/// openai (this run only)" must not make the step look edited.
fn document_fingerprint(workflow: &Workflow, step: &Step, workspace: &Workspace) -> String {
    let effective = resolve_step(workflow, step, workspace, &Overrides::default());
    step_fingerprint(workflow, step, workspace, &effective)
}

/// A provider/model to try, in fallback order.
#[derive(Debug, Clone)]
struct Candidate {
    provider: String,
    model: String,
}

/// Everything a step needs to build its requests.
struct StepSetup {
    candidates: Vec<Candidate>,
    system: Option<String>,
    params: GenParams,
}

fn setup(request: &RunRequest, workflow: &Workflow, index: usize, effective: &Effective) -> Result<StepSetup, String> {
    let step = &workflow.steps[index];
    let workspace = &request.workspace;
    let provider = effective
        .provider
        .as_ref()
        .ok_or("no provider: set `provider` on the step or the workflow")?;
    let model = effective
        .model
        .as_ref()
        .ok_or_else(|| format!("no model for provider `{}`", provider.value))?;
    let mut candidates = vec![Candidate {
        provider: provider.value.clone(),
        model: model.value.clone(),
    }];
    for fb in &step.fallback {
        let model = fb.model.as_ref().map(|m| m.value.clone()).or_else(|| {
            workspace
                .catalog
                .provider(&fb.provider.value)
                .map(|p| p.default_model.clone())
        });
        if let Some(model) = model {
            candidates.push(Candidate {
                provider: fb.provider.value.clone(),
                model,
            });
        }
    }
    let system = effective
        .persona_id()
        .and_then(|id| workspace.persona(workflow, id))
        .and_then(|p| p.persona().system.as_ref().map(|s| s.value.clone()));
    let p = &effective.params;
    let params = GenParams {
        temperature: p.temperature.as_ref().map(|v| v.value),
        max_tokens: p.max_tokens.as_ref().map(|v| v.value),
        top_p: p.top_p.as_ref().map(|v| v.value),
        stop: p.stop.as_ref().map(|v| v.value.clone()),
    };
    Ok(StepSetup {
        candidates,
        system,
        params,
    })
}

fn request_for(
    request: &RunRequest,
    candidate: &Candidate,
    setup: &StepSetup,
    prompt: &str,
    key: Option<ApiKey>,
) -> Option<HttpRequest> {
    let provider = request.workspace.catalog.provider(&candidate.provider)?;
    let chat = ChatRequest {
        model: candidate.model.clone(),
        system: setup.system.clone(),
        prompt: prompt.to_string(),
        params: setup.params.clone(),
    };
    Some(chat_request(provider, key, &chat))
}

fn request_hash(req: &HttpRequest) -> String {
    let body = req.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
    sha256_hex(format!("{} {}\n{body}", req.method, req.url).as_bytes())
}

pub(super) fn dry_run(request: &RunRequest) -> Result<Vec<PlannedRequest>, EngineError> {
    let plan = plan(request)?;
    let workflow = &plan.analysis.workflow;
    let renderer = Renderer::new();
    let mut known = outputs(&plan.record);
    let mut planned = Vec::new();
    for index in plan.graph.order() {
        if !plan.to_run.contains(&index) {
            continue;
        }
        let step = &workflow.steps[index];
        let id = step.id_str().to_string();
        let effective = resolve_step(workflow, step, &request.workspace, &request.overrides);
        let setup = setup(request, workflow, index, &effective);
        let base = context(&plan.record.inputs, &known);
        let items: Vec<Option<(Value, usize)>> = match &step.for_each {
            Some(expr) => renderer
                .items(&expr.source, &base)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, v)| Some((v, i)))
                .collect(),
            None => vec![None],
        };
        if let (Ok(setup), Some(prompt)) = (&setup, &step.prompt) {
            for item in items {
                let ctx = match &item {
                    Some((v, i)) => with_item(&base, v, *i),
                    None => base.clone(),
                };
                let text = renderer
                    .prompt(&prompt.source, &ctx)
                    .unwrap_or_else(|e| format!("<{e}>"));
                if let Some(req) = request_for(request, &setup.candidates[0], setup, &text, None) {
                    planned.push(PlannedRequest {
                        step: id.clone(),
                        item: item.map(|(_, i)| i),
                        request: req,
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

/// The run in progress, shared by the step futures.
struct Run<'a> {
    engine: &'a Engine,
    request: &'a RunRequest,
    workflow: &'a Workflow,
    retry: RetryPolicy,
    timeout: Duration,
    runs_dir: PathBuf,
    record: Mutex<RunRecord>,
    events: UnboundedSender<RunEvent>,
    cancel: CancellationToken,
    global: Semaphore,
    health: HealthFile,
    renderer: Renderer,
}

/// How one fan-out item (or the single request of a step) ended.
enum ItemOutcome {
    Done {
        completion: providers::Completion,
        answered_by: ProviderModel,
    },
    Failed(StepError),
    Cancelled,
}

pub(super) async fn run(
    engine: &Engine,
    request: RunRequest,
    events: UnboundedSender<RunEvent>,
    cancel: CancellationToken,
) -> Result<RunRecord, EngineError> {
    let Plan {
        analysis,
        graph,
        mut record,
        to_run,
    } = plan(&request)?;
    let config = &request.workspace.config;
    let runs_dir = config.runs_dir();
    for &i in &to_run {
        if record.steps[i].status == StepStatus::Running {
            record.steps[i].status = StepStatus::Pending;
        }
    }
    let record_path = record.save(&runs_dir)?;
    let order: Vec<usize> = graph.order().into_iter().filter(|i| to_run.contains(i)).collect();
    events
        .send(RunEvent::RunStarted {
            run_id: record.id,
            record_path,
            steps: order.iter().map(|&i| graph.ids[i].clone()).collect(),
        })
        .ok();
    let run = &Run {
        engine,
        request: &request,
        workflow: &analysis.workflow,
        retry: engine.options.retry.clone().unwrap_or(RetryPolicy {
            max_retries: config.config.max_retries,
            ..RetryPolicy::default()
        }),
        timeout: engine
            .options
            .timeout
            .unwrap_or(Duration::from_secs(config.config.timeout_secs.max(1))),
        health: HealthFile::load(runs_dir.clone()),
        runs_dir,
        record: Mutex::new(record),
        events,
        cancel,
        global: Semaphore::new(config.config.concurrency.max(1) as usize),
        renderer: Renderer::new(),
    };
    #[derive(PartialEq)]
    enum Phase {
        Waiting,
        Running,
        Done(bool),
    }
    let mut phase: Vec<Phase> = (0..graph.ids.len()).map(|_| Phase::Waiting).collect();
    let mut running = FuturesUnordered::new();
    loop {
        if !run.cancel.is_cancelled() {
            for &i in &order {
                let ready = phase[i] == Phase::Waiting
                    && graph.deps[i].iter().all(|&d| {
                        if to_run.contains(&d) {
                            phase[d] == Phase::Done(true)
                        } else {
                            run.lock().steps[d].has_output()
                        }
                    });
                if ready {
                    phase[i] = Phase::Running;
                    running.push(async move { (i, run.step(i).await) });
                }
            }
        }
        match running.next().await {
            Some((i, ok)) => phase[i] = Phase::Done(ok),
            None => break,
        }
    }
    let mut record = run.lock().clone();
    record.finished_at = Some(now_ms());
    record.save(&run.runs_dir)?;
    Ok(record)
}

impl Run<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, RunRecord> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: RunEvent) {
        self.events.send(event).ok();
    }

    /// Applies `update` to step `id` without writing the record.
    fn modify(&self, id: &str, update: impl FnOnce(&mut StepRecord)) {
        if let Some(step) = self.lock().step_mut(id) {
            update(step);
        }
    }

    /// Applies `update` to step `id` and writes the record.
    fn update(&self, id: &str, update: impl FnOnce(&mut StepRecord)) {
        let mut record = self.lock();
        if let Some(step) = record.step_mut(id) {
            update(step);
        }
        if let Err(e) = record.save(&self.runs_dir) {
            tracing::error!("cannot write the run record: {e}");
        }
    }

    /// Runs step `index`; true when it completed.
    async fn step(&self, index: usize) -> bool {
        let workflow = self.workflow;
        let step = &workflow.steps[index];
        let id = step.id_str().to_string();
        let started = Instant::now();
        let effective = resolve_step(workflow, step, &self.request.workspace, &self.request.overrides);
        let setting = |v: Option<String>, s| RecordedSetting { value: v, source: s };
        let base = {
            let record = self.lock();
            context(&record.inputs, &outputs(&record))
        };
        let prepared = setup(self.request, workflow, index, &effective).and_then(|setup| {
            let items = match &step.for_each {
                Some(expr) => Some(self.renderer.items(&expr.source, &base)?),
                None => None,
            };
            Ok((setup, items))
        });
        let finished_items: HashMap<usize, ItemRecord> = self
            .lock()
            .step(&id)
            .map(|s| s.items.iter().map(|i| (i.index, i.clone())).collect())
            .unwrap_or_default();
        self.update(&id, |s| {
            *s = StepRecord {
                status: StepStatus::Running,
                items: finished_items.values().cloned().collect(),
                provider: effective
                    .provider
                    .as_ref()
                    .map(|p| setting(Some(p.value.clone()), p.source)),
                model: effective
                    .model
                    .as_ref()
                    .map(|m| setting(Some(m.value.clone()), m.source)),
                persona: effective.persona.as_ref().map(|p| setting(p.value.clone(), p.source)),
                fingerprint: Some(document_fingerprint(workflow, step, &self.request.workspace)),
                started_at: Some(now_ms()),
                ..StepRecord::pending(&id)
            }
        });
        let first = prepared.as_ref().ok().map(|(s, _)| s.candidates[0].clone());
        self.emit(RunEvent::StepStarted {
            step: id.clone(),
            provider: first.as_ref().map(|c| c.provider.clone()).unwrap_or_default(),
            model: first.as_ref().map(|c| c.model.clone()).unwrap_or_default(),
            items: prepared
                .as_ref()
                .ok()
                .and_then(|(_, items)| items.as_ref().map(Vec::len)),
        });
        let prompt = step.prompt.as_ref().map_or("", |p| p.source.as_str());
        let prepared = prepared.and_then(|(setup, items)| {
            let template = self.renderer.compile(prompt)?;
            Ok((setup, items, template))
        });
        let (setup, items, template) = match prepared {
            Ok(p) => p,
            Err(message) => {
                let error = StepError {
                    failure: Failure {
                        class: ErrorClass::Prompt,
                        status: None,
                        message,
                    },
                    provider: first.map(|c| c.provider).unwrap_or_default(),
                    attempts: 0,
                };
                return self.finish(&id, started, Vec::new(), Err(Some(error)));
            }
        };
        let fan_out = items.is_some();
        let items: Vec<Option<(Value, usize)>> = match items {
            Some(items) => items.into_iter().enumerate().map(|(i, v)| Some((v, i))).collect(),
            None => vec![None],
        };
        let total = items.len();
        let limit = step
            .concurrency
            .as_ref()
            .map_or(self.request.workspace.config.config.concurrency, |c| c.value)
            .max(1) as usize;
        let stop_items = self.cancel.child_token();
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut results: Vec<(usize, ItemOutcome, Option<String>)> = Vec::with_capacity(total);
        let mut stream = futures::stream::iter(items.into_iter().map(|item| {
            let ctx = match &item {
                Some((v, i)) => with_item(&base, v, *i),
                None => base.clone(),
            };
            let index = item.map(|(_, i)| i);
            let stop = stop_items.clone();
            let setup = &setup;
            let id = &id;
            let template = &template;
            let finished_items = &finished_items;
            async move {
                let rendered = render(template, &ctx);
                let hash = rendered.as_ref().ok().and_then(|text| {
                    request_for(self.request, &setup.candidates[0], setup, text, None).map(|r| request_hash(&r))
                });
                let earlier = index
                    .and_then(|i| finished_items.get(&i))
                    .filter(|item| Some(&item.request_hash) == hash.as_ref());
                let (outcome, item_attempts) = match (rendered, earlier) {
                    (_, Some(item)) => (
                        ItemOutcome::Done {
                            completion: providers::Completion {
                                text: item.output.clone(),
                                usage: item.usage,
                            },
                            answered_by: item.answered_by.clone(),
                        },
                        Vec::new(),
                    ),
                    (Ok(text), None) => self.call(id, index, setup, &text, &stop).await,
                    (Err(message), None) => (
                        ItemOutcome::Failed(StepError {
                            failure: Failure {
                                class: ErrorClass::Prompt,
                                status: None,
                                message,
                            },
                            provider: setup.candidates[0].provider.clone(),
                            attempts: 0,
                        }),
                        Vec::new(),
                    ),
                };
                if matches!(outcome, ItemOutcome::Failed(_)) {
                    stop.cancel();
                }
                (index.unwrap_or(0), outcome, item_attempts, hash)
            }
        }))
        .buffer_unordered(limit);
        let mut checkpoint: Vec<ItemRecord> = Vec::new();
        let mut unsaved = false;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + CHECKPOINT_EVERY, CHECKPOINT_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                _ = ticker.tick(), if unsaved => {
                    self.update(&id, |s| s.items = checkpoint.clone());
                    unsaved = false;
                    continue;
                }
            };
            let Some((i, outcome, item_attempts, hash)) = next else {
                break;
            };
            attempts.extend(item_attempts);
            if let (
                true,
                ItemOutcome::Done {
                    completion,
                    answered_by,
                },
                Some(hash),
            ) = (fan_out, &outcome, &hash)
            {
                checkpoint.push(ItemRecord {
                    index: i,
                    request_hash: hash.clone(),
                    output: completion.text.clone(),
                    usage: completion.usage,
                    answered_by: answered_by.clone(),
                });
                unsaved = true;
            }
            results.push((i, outcome, hash));
            if fan_out {
                self.emit(RunEvent::ItemsProgress {
                    step: id.clone(),
                    done: results.len(),
                    total,
                });
            }
        }
        drop(stream);
        results.sort_by_key(|(i, ..)| *i);
        let hashes: Vec<String> = results.iter().filter_map(|(.., h)| h.clone()).collect();
        let hash = if fan_out {
            sha256_hex(hashes.join("\n").as_bytes())
        } else {
            hashes.into_iter().next().unwrap_or_default()
        };
        let mut texts = Vec::with_capacity(total);
        let mut usage = Usage::default();
        let mut answered = None;
        let mut failure = None;
        let mut cancelled = false;
        for (_, outcome, _) in results {
            match outcome {
                ItemOutcome::Done {
                    completion,
                    answered_by,
                } => {
                    usage.add(completion.usage);
                    texts.push(completion.text);
                    answered = Some(answered_by);
                }
                ItemOutcome::Failed(e) => {
                    failure.get_or_insert(e);
                }
                ItemOutcome::Cancelled => cancelled = true,
            }
        }
        let result = match (failure, cancelled) {
            (Some(e), _) => Err(Some(e)),
            (None, true) => Err(None),
            (None, false) => Ok((texts, usage, answered)),
        };
        let completed = result.is_ok();
        self.modify(&id, |s| {
            s.request_hash = Some(hash);
            s.items = if completed { Vec::new() } else { checkpoint };
        });
        self.finish_with(&id, started, attempts, result, fan_out)
    }

    fn finish(
        &self,
        id: &str,
        started: Instant,
        attempts: Vec<Attempt>,
        result: Result<(), Option<StepError>>,
    ) -> bool {
        self.finish_with(
            id,
            started,
            attempts,
            result.map(|_| (Vec::new(), Usage::default(), None)),
            false,
        )
    }

    /// Records the end of a step: `Err(None)` is a cancellation.
    fn finish_with(
        &self,
        id: &str,
        started: Instant,
        attempts: Vec<Attempt>,
        result: Result<(Vec<String>, Usage, Option<ProviderModel>), Option<StepError>>,
        fan_out: bool,
    ) -> bool {
        let duration = started.elapsed();
        let mut finished = None;
        self.update(id, |s| {
            s.attempts = attempts;
            s.duration_ms = Some(duration.as_millis() as u64);
            match result {
                Ok((texts, usage, answered)) => {
                    s.status = StepStatus::Completed;
                    s.output = Some(texts.join("\n\n"));
                    s.outputs = fan_out.then_some(texts);
                    s.usage = usage;
                    s.answered_by = answered;
                }
                Err(Some(error)) => {
                    s.status = StepStatus::Failed;
                    s.error = Some(error);
                }
                Err(None) => s.status = StepStatus::Cancelled,
            }
            finished = Some(RunEvent::StepFinished {
                step: id.to_string(),
                status: s.status,
                answered_by: s.answered_by.clone(),
                duration,
                usage: s.usage,
                error: s.error.as_ref().map(StepError::summary),
            });
        });
        let ok = matches!(
            finished,
            Some(RunEvent::StepFinished {
                status: StepStatus::Completed,
                ..
            })
        );
        if let Some(event) = finished {
            self.emit(event);
        }
        ok
    }

    /// One prompt through the candidates: retries per provider, then the next fallback for
    /// outage-class failures. Returns the outcome and every attempt.
    async fn call(
        &self,
        step: &str,
        item: Option<usize>,
        setup: &StepSetup,
        prompt: &str,
        stop: &CancellationToken,
    ) -> (ItemOutcome, Vec<Attempt>) {
        let catalog = &self.request.workspace.catalog;
        let mut attempts = Vec::new();
        let mut last: Option<(ProviderError, String)> = None;
        for (position, candidate) in setup.candidates.iter().enumerate() {
            let attempt = |error: Option<&ProviderError>, duration: Duration| Attempt {
                provider: candidate.provider.clone(),
                model: candidate.model.clone(),
                item,
                duration_ms: duration.as_millis() as u64,
                error: error.map(|e| Failure {
                    class: e.class,
                    status: e.status,
                    message: e.message.clone(),
                }),
                discarded_chars: error.map_or(0, |e| e.partial_chars),
            };
            let Some(info) = catalog.provider(&candidate.provider) else {
                let e = ProviderError::new(ErrorClass::Prompt, format!("unknown provider `{}`", candidate.provider));
                attempts.push(attempt(Some(&e), Duration::ZERO));
                last = Some((e, candidate.provider.clone()));
                continue;
            };
            let key = ApiKey::for_provider(info, self.request.env.as_ref());
            if key.is_none() && !info.api_key_env.is_empty() {
                let e = ProviderError::new(
                    ErrorClass::Auth,
                    format!("{} is not set", info.api_key_env.join(" or ")),
                );
                attempts.push(attempt(Some(&e), Duration::ZERO));
                if position == 0 {
                    let n = attempts.len();
                    return (self.failed(e, &candidate.provider, n), attempts);
                }
                last = Some((e, candidate.provider.clone()));
                continue;
            }
            let Some(http) = request_for(self.request, candidate, setup, prompt, key) else {
                continue;
            };
            let mut retries = 0;
            loop {
                let started = Instant::now();
                let result = tokio::select! {
                    _ = stop.cancelled() => return (ItemOutcome::Cancelled, attempts),
                    result = async {
                        let _permit = self.global.acquire().await;
                        let mut on_text = |text: &str| {
                            if item.is_none() {
                                self.emit(RunEvent::Text { step: step.to_string(), text: text.to_string() });
                            }
                        };
                        providers::send(&self.engine.client, info.kind, &http, self.timeout, &mut on_text).await
                    } => result,
                };
                match result {
                    Ok(completion) => {
                        attempts.push(attempt(None, started.elapsed()));
                        self.health.success(&candidate.provider);
                        let answered_by = ProviderModel {
                            provider: candidate.provider.clone(),
                            model: candidate.model.clone(),
                        };
                        return (
                            ItemOutcome::Done {
                                completion,
                                answered_by,
                            },
                            attempts,
                        );
                    }
                    Err(e) => {
                        attempts.push(attempt(Some(&e), started.elapsed()));
                        self.emit(RunEvent::AttemptFailed {
                            step: step.to_string(),
                            provider: candidate.provider.clone(),
                            error: e.to_string(),
                            discarded_chars: e.partial_chars,
                        });
                        match self.retry.decide(&e, retries) {
                            RetryDecision::RetryAfter(wait) => {
                                retries += 1;
                                tokio::select! {
                                    _ = stop.cancelled() => return (ItemOutcome::Cancelled, attempts),
                                    _ = tokio::time::sleep(wait) => {}
                                }
                            }
                            RetryDecision::NextProvider => {
                                self.health.failure(&candidate.provider, &e.reason());
                                last = Some((e, candidate.provider.clone()));
                                break;
                            }
                            RetryDecision::Fail => {
                                let n = attempts.len();
                                return (self.failed(e, &candidate.provider, n), attempts);
                            }
                        }
                    }
                }
            }
        }
        let n = attempts.len();
        let (e, provider) = last.unwrap_or_else(|| {
            (
                ProviderError::new(ErrorClass::Prompt, "no provider to call"),
                String::new(),
            )
        });
        (self.failed(e, &provider, n), attempts)
    }

    fn failed(&self, e: ProviderError, provider: &str, attempts: usize) -> ItemOutcome {
        ItemOutcome::Failed(StepError {
            failure: Failure {
                class: e.class,
                status: e.status,
                message: e.message,
            },
            provider: provider.to_string(),
            attempts,
        })
    }
}
