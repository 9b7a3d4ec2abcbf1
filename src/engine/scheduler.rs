//! Running the graph: each planned step starts once its dependencies have outputs, under the
//! global concurrency; the journal gets a line when a step starts and ends, the compact record
//! is written at the end, and a step whose output changed makes the steps that read it stale.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::budget::Budget;
use super::compact_record;
use super::failover::Sent;
use super::graph::Graph;
use super::health::HealthFile;
use super::journal::{Entry, Journal, journaled_items};
use super::planner::Plan;
use super::preflight::checked_plan;
use super::record::{hex, latest, now_ms};
use super::render::Renderer;
use super::retry::RetryPolicy;
use super::step::{StepEnd, StepOutcome};
use super::{Engine, EngineError, RunEvent, RunRequest};
use crate::model::runs::{Call, ItemRecord, RunRecord, StepAttempt, StepRecord, StepStatus};
use crate::model::workflow::Workflow;

/// The run in progress, shared by the step futures.
pub(super) struct Run<'a> {
    pub(super) engine: &'a Engine,
    pub(super) request: &'a RunRequest,
    pub(super) workflow: &'a Workflow,
    pub(super) retry: RetryPolicy,
    pub(super) timeout: Duration,
    pub(super) cancel: CancellationToken,
    pub(super) global: Semaphore,
    pub(super) health: HealthFile,
    pub(super) renderer: Renderer,
    pub(super) graph: Graph,
    pub(super) budget: Budget,
    to_run: BTreeSet<usize>,
    record: Mutex<RunRecord>,
    /// Steps whose latest attempt's requests are in the journal (fan-outs that ran).
    calls_journaled: Mutex<BTreeSet<usize>>,
    journal: &'a Journal,
    events: UnboundedSender<RunEvent>,
}

pub(super) async fn run(
    engine: &Engine,
    request: RunRequest,
    events: UnboundedSender<RunEvent>,
    cancel: CancellationToken,
) -> Result<RunRecord, EngineError> {
    let workflow = request.workflow.clone();
    let graph = Graph::new(&workflow);
    let config = &request.workspace.config;
    let runs_dir = config.runs_dir();
    let prior = latest(&runs_dir, &request.path);
    let (plan, _warnings) = checked_plan(&request, &graph, prior.as_ref())?;
    let order = plan.order(&graph);
    let Plan { record, to_run } = plan;
    let record_path = record.path(&runs_dir);
    let journal = Journal::open(record.journal_path(&runs_dir), &record)?;
    events
        .send(RunEvent::RunStarted {
            run_id: record.id,
            record_path,
            steps: order.iter().map(|&i| graph.ids[i].clone()).collect(),
        })
        .ok();
    let run = Run {
        engine,
        request: &request,
        workflow: &workflow,
        retry: engine.options.retry.clone().unwrap_or(RetryPolicy {
            max_retries: config.config.max_retries,
            ..RetryPolicy::default()
        }),
        timeout: engine
            .options
            .timeout
            .unwrap_or(Duration::from_secs(config.config.timeout_secs.max(1))),
        health: HealthFile::load(runs_dir.clone()),
        cancel,
        global: Semaphore::new(config.config.concurrency.max(1) as usize),
        renderer: Renderer::new(),
        graph,
        budget: Budget::new(request.budget_usd.or(workflow.budget_usd.as_ref().map(|b| b.value))),
        to_run,
        record: Mutex::new(record),
        calls_journaled: Mutex::new(BTreeSet::new()),
        journal: &journal,
        events,
    };
    schedule(&run, &order).await;
    let calls_journaled = run.calls_journaled.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut record = run.record.into_inner().unwrap_or_else(|e| e.into_inner());
    let finished_at = now_ms();
    record.finished_at = Some(finished_at);
    journal.append_written(&Entry::FinishedAt(finished_at)).await.ok();
    compact_record::save(&mut record, &runs_dir, journal.path(), &calls_journaled)?;
    let committed = journal.close()?;
    tracing::debug!(
        lines = committed.lines,
        syncs = committed.syncs,
        "run journal committed"
    );
    Ok(record)
}

/// Runs the steps of `order`: each starts once the steps it reads that this run runs have
/// completed (a count per step, so starting is O(its readers)), in plan order among the ready.
async fn schedule(run: &Run<'_>, order: &[usize]) {
    let mut waiting: Vec<usize> = (0..run.graph.ids.len())
        .map(|i| run.graph.deps[i].iter().filter(|d| run.to_run.contains(d)).count())
        .collect();
    let mut rank = vec![usize::MAX; run.graph.ids.len()];
    for (position, &i) in order.iter().enumerate() {
        rank[i] = position;
    }
    let mut ready: Vec<usize> = order.iter().copied().filter(|&i| waiting[i] == 0).collect();
    let mut running = FuturesUnordered::new();
    loop {
        if !run.cancel.is_cancelled() {
            ready.sort_unstable_by_key(|&i| rank[i]);
            for i in ready.drain(..).filter(|&i| run.inputs_ready(i)) {
                running.push(async move {
                    let end = run.step(i).await;
                    (i, run.finish(i, end))
                });
            }
        }
        match running.next().await {
            Some((i, true)) => {
                for &r in &run.graph.readers[i] {
                    if rank[r] != usize::MAX {
                        waiting[r] -= 1;
                        if waiting[r] == 0 {
                            ready.push(r);
                        }
                    }
                }
            }
            Some((_, false)) => {}
            None => break,
        }
    }
}

impl Run<'_> {
    /// Whether the dependencies of step `index` that this run does not run have outputs (those
    /// it runs have completed when this is asked).
    fn inputs_ready(&self, index: usize) -> bool {
        let record = self.lock();
        self.graph.deps[index]
            .iter()
            .all(|d| self.to_run.contains(d) || record.steps[*d].has_output())
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, RunRecord> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn emit(&self, event: RunEvent) {
        self.events.send(event).ok();
    }

    /// Journals a finished fan-out item `index` of step `id`: its requests, and its answer
    /// (for a resume) when it was answered.
    pub(super) fn item_done(&self, id: &str, index: usize, sent: &Sent, calls: &[Call], digest: Option<[u8; 32]>) {
        if !calls.is_empty() {
            self.journal.append(&Entry::Calls {
                step: id.to_string(),
                calls: calls.to_vec(),
            });
        }
        if let (
            Sent::Answered {
                text,
                usage,
                answered_by,
            },
            Some(digest),
        ) = (sent, digest)
        {
            self.journal.append(&Entry::Item {
                step: id.to_string(),
                item: ItemRecord {
                    index,
                    request_hash: hex(&digest),
                    output: text.clone(),
                    usage: *usage,
                    answered_by: answered_by.clone(),
                },
            });
        }
    }

    /// The fan-out items of step `id` this run's journal holds (every answered one), once
    /// every line sent before is written.
    pub(super) async fn journaled_items(&self, id: &str) -> Vec<ItemRecord> {
        self.journal.written().await.ok();
        let (path, id) = (self.journal.path().to_path_buf(), id.to_string());
        let read = tokio::task::spawn_blocking(move || journaled_items(&path, &id)).await;
        match read {
            Ok(Ok(items)) => items,
            Ok(Err(e)) => {
                tracing::error!("cannot read the run journal: {e}");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Records that step `id` starts `attempt` and announces it once that is written (so a
    /// process killed after its first request leaves it `running`; the group commit makes it
    /// durable without the step waiting for the disk); returns the step's record as it was
    /// (its status, and the fan-out items it had finished).
    pub(super) async fn start(&self, index: usize, attempt: StepAttempt, items: Option<usize>) -> StepRecord {
        let (before, written) = {
            let mut record = self.lock();
            let s = &mut record.steps[index];
            let before = s.clone();
            s.status = StepStatus::Running;
            s.reused_from = None;
            s.attempts.push(attempt.clone());
            (before, self.journal.append_step_written(s))
        };
        written.await.ok();
        self.emit(RunEvent::StepStarted {
            step: self.graph.ids[index].clone(),
            attempt: Box::new(attempt),
            items,
        });
        before
    }

    /// Records how step `index` ended and announces it; true when it completed. A failed or
    /// cancelled attempt leaves an earlier output, its status and its readers as they were;
    /// a new output that differs makes the steps reading it (and not running now) stale.
    fn finish(&self, index: usize, end: StepEnd) -> bool {
        let mut record = self.lock();
        let step = &mut record.steps[index];
        let output = match &end.outcome {
            StepOutcome::Completed { texts, .. } => Some(texts.join("\n\n")),
            _ => None,
        };
        let changed = match (&end.outcome, &output) {
            (StepOutcome::Completed { texts, fan_out, .. }, Some(output)) => step.result().is_none_or(|earlier| {
                earlier.output.as_ref() != Some(output)
                    || earlier.outputs.as_deref() != fan_out.then_some(texts.as_slice())
            }),
            _ => false,
        };
        let completed = matches!(end.outcome, StepOutcome::Completed { .. });
        step.items = if completed { Vec::new() } else { end.unfinished };
        let Some(attempt) = step.attempts.last_mut() else {
            return false;
        };
        attempt.cost_usd = StepAttempt::cost_of(&end.calls);
        attempt.calls = end.calls;
        if end.calls_journaled {
            self.calls_journaled
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(index);
        }
        attempt.duration_ms = Some(end.duration.as_millis() as u64);
        attempt.request_hash = end.request_hash;
        match end.outcome {
            StepOutcome::Completed {
                texts,
                fan_out,
                usage,
                answered_by,
            } => {
                attempt.status = StepStatus::Completed;
                attempt.output = output;
                attempt.outputs = fan_out.then_some(texts);
                attempt.usage = usage;
                attempt.answered_by = answered_by;
                step.status = StepStatus::Completed;
                let last = step.attempts.len() - 1;
                for older in &mut step.attempts[..last] {
                    older.output = None;
                    older.outputs = None;
                }
            }
            StepOutcome::Failed(error) => {
                attempt.status = StepStatus::Failed;
                attempt.error = Some(error);
                step.status = kept_status(step, end.before, StepStatus::Failed);
            }
            StepOutcome::Cancelled => {
                attempt.status = StepStatus::Cancelled;
                step.status = kept_status(step, end.before, StepStatus::Cancelled);
            }
        }
        let finished = step.clone();
        if end.calls_journaled {
            // The journal has each of these requests already; its line carries none.
            let merged = step.attempts.last_mut().map(|a| std::mem::take(&mut a.calls));
            self.journal.append_step(step);
            if let (Some(a), Some(merged)) = (step.attempts.last_mut(), merged) {
                a.calls = merged;
            }
        } else {
            self.journal.append_step(step);
        }
        let mut stale = Vec::new();
        if changed && self.to_run.len() < self.graph.ids.len() {
            for d in self.graph.downstream(index) {
                let reader = &mut record.steps[d];
                if !self.to_run.contains(&d) && reader.status == StepStatus::Completed {
                    reader.status = StepStatus::Stale;
                    stale.push(reader.id.clone());
                    self.journal.append_step(reader);
                }
            }
        }
        drop(record);
        self.emit(RunEvent::StepFinished { step: finished, stale });
        completed
    }
}

/// The status of a step whose attempt ended `ended` (failed or cancelled): an earlier output
/// keeps the status it had (`stale` when a crash lost it), else the step is `ended`.
fn kept_status(step: &StepRecord, before: StepStatus, ended: StepStatus) -> StepStatus {
    match (step.result(), before) {
        (Some(_), StepStatus::Completed | StepStatus::Stale) => before,
        (Some(_), _) => StepStatus::Stale,
        (None, _) => ended,
    }
}
