//! Running steps from the editor (`workspace/executeCommand`): the run executes on the
//! server's runtime, reports `$/progress`, and after every step refreshes diagnostics, inlay
//! hints and code lenses through the event loop; a failed step is offered a switch to another
//! provider with `window/showMessageRequest`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::{
    ExecuteCommandParams, MessageActionItem, MessageType, NumberOrString, ProgressToken, Uri,
};

use super::commands::{ServerCommand, StepAt};
use super::live_output::{OutputNotification, OutputParams};
use super::run_progress;
use super::run_refusal::preflight_error;
use super::{Event, Shared};
use crate::analysis::actions::{runnable, step_on_line};
use crate::analysis::run_history_text::{attempt_document, output_document};
use crate::analysis::run_text::{asked, error_summary, provider_model, reason};
use crate::engine::record::records_dir;
use crate::engine::{EngineError, RunEvent, RunRequest, RunTarget, latest};
use crate::model::catalog::ProcessEnv;
use crate::model::resolve::Overrides;
use crate::model::runs::{RunRecord, RunView, StepError, StepRecord, StepStatus};
use crate::model::workflow::Workflow;

pub(super) fn error(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::InvalidParams,
        message: message.into().into(),
        data: None,
    }
}

pub(super) fn file_of(uri: &Uri) -> Result<PathBuf> {
    uri.to_file_path()
        .map(|p| p.into_owned())
        .ok_or_else(|| error("only workflow files on disk can be run"))
}

/// The run results of a workflow file from its latest record (blocking I/O).
pub fn load_view(runs_dir: &Path, file: &Path) -> RunView {
    latest(runs_dir, file).map_or_else(RunView::default, |r| RunView::of(&r))
}

/// Loads the run results of `uri` once, when the document is first analysed, and has its
/// records folder watched while it is open.
pub(crate) async fn ensure_loaded(shared: &Shared, uri: &Uri) {
    let tracked = shared.runs_watch.is_tracked(uri);
    if tracked && shared.session().runs(uri).is_some() {
        return;
    }
    let Some(snapshot) = shared.session().snapshot(uri) else {
        return;
    };
    let Ok(file) = file_of(uri) else { return };
    let runs_dir = snapshot.workspace.config.runs_dir();
    if !tracked {
        shared.runs_watch.track(uri, records_dir(&runs_dir, &file));
    }
    if shared.session().runs(uri).is_some() {
        return;
    }
    let view = tokio::task::spawn_blocking(move || load_view(&runs_dir, &file)).await;
    if let Ok(view) = view {
        shared.session().set_runs(uri, view);
    }
}

/// Handles `workspace/executeCommand` (the trust commands go to `server::trust`).
pub(crate) async fn execute(shared: Arc<Shared>, params: ExecuteCommandParams) -> Result<Option<Value>> {
    let argument = params.arguments.first().cloned().unwrap_or(Value::Null);
    let command = ServerCommand::parse(&params.command, argument).map_err(error)?;
    let token = params.work_done_progress_params.work_done_token.clone();
    let uri_of = |s: &str| s.parse::<Uri>().map_err(|e| error(format!("bad uri {s}: {e}")));
    match command {
        ServerCommand::Cancel(a) => {
            let cancelled = shared.session().cancel_run(&uri_of(&a.uri)?);
            Ok(Some(json!({ "cancelled": cancelled })))
        }
        ServerCommand::OpenOutput(a) => {
            let uri = uri_of(&a.uri)?;
            let step = step_of(&shared, &uri, a.at).await?;
            let runs = shared.session().runs(&uri).unwrap_or_default();
            let run = runs.step(&step);
            let result = run.and_then(StepRecord::result);
            let live = runs
                .is_running(&step)
                .then(|| shared.live_output.streamed(&uri, &step))
                .flatten();
            let document = match &live {
                Some((_, parts)) => Some(output_document(parts.iter().map(|(i, t)| (*i, t.as_str())))),
                None => result.and_then(attempt_document),
            };
            Ok(Some(json!({
                "step": step,
                "running": live.is_some(),
                "run": live.as_ref().map(|(id, _)| id.to_string()),
                "parts": live.as_ref().map(|(_, parts)| {
                    parts.iter().map(|(item, text)| json!({ "item": item, "text": text })).collect::<Vec<_>>()
                }),
                "document": document,
                "status": run.map(|r| r.status.as_str()),
                "answered_by": result.and_then(|r| r.answered_by.as_ref()).map(provider_model),
                "output": run.and_then(StepRecord::output),
                "error": run.and_then(|r| r.last()?.error.as_ref()).map(error_summary),
            })))
        }
        ServerCommand::RunStep(a) => {
            let uri = uri_of(&a.uri)?;
            let overrides = a.overrides();
            let step = step_of(&shared, &uri, a.at).await?;
            run(shared, uri, RunTarget::Step(step), overrides, a.inputs, token).await
        }
        ServerCommand::RunFrom(a) => {
            let uri = uri_of(&a.uri)?;
            let overrides = a.overrides();
            let step = step_of(&shared, &uri, a.at).await?;
            run(shared, uri, RunTarget::FromStep(step), overrides, a.inputs, token).await
        }
        ServerCommand::RunWorkflow(a) => {
            let uri = uri_of(&a.uri)?;
            run(shared, uri, RunTarget::Workflow, Overrides::default(), a.inputs, token).await
        }
        ServerCommand::Resume(a) => {
            let uri = uri_of(&a.uri)?;
            run(shared, uri, RunTarget::Resume, Overrides::default(), a.inputs, token).await
        }
        ServerCommand::PreviewRequest(a) => super::preview::execute(&shared, a).await,
        ServerCommand::CompareStep(_) | ServerCommand::CompareTargets(_) | ServerCommand::UseTarget(_) => {
            super::compare::execute(shared, command, token).await
        }
        ServerCommand::TrustWorkspace(_) | ServerCommand::TrustStatus(_) => super::trust::execute(shared, params).await,
    }
}

/// The step a one-step command names: by ID, or the step on the line of its position in the
/// open document.
pub(super) async fn step_of(shared: &Shared, uri: &Uri, at: StepAt) -> Result<String> {
    let position = match at {
        StepAt::Id { step } => return Ok(step),
        StepAt::Position { position } => position,
    };
    let snapshot = shared
        .session()
        .snapshot(uri)
        .ok_or_else(|| error("open the workflow in the editor first"))?;
    let line = position.line as usize;
    let found = tokio::task::spawn_blocking(move || step_on_line(&snapshot.analysis(), line)).await;
    found
        .ok()
        .flatten()
        .ok_or_else(|| error(format!("no step at line {}: put the cursor on a step", line + 1)))
}

/// Publishes new run results for `uri` and asks the event loop to refresh the editor.
/// Returns the change's number (for waiting until the editor was asked to show it).
pub(super) fn show(shared: &Shared, uri: &Uri, view: RunView) -> u64 {
    shared.session().set_runs(uri, view);
    let change = shared.runs_changed.fetch_add(1, Ordering::SeqCst) + 1;
    shared.send(Event::RunsChanged(uri.clone()));
    change
}

/// Changes the current run results of `uri` with `change`, then shows them.
fn amend(shared: &Shared, uri: &Uri, change: impl FnOnce(&mut RunView)) -> u64 {
    let mut view = (*shared.session().runs(uri).unwrap_or_default()).clone();
    change(&mut view);
    show(shared, uri, view)
}

static PROGRESS_IDS: AtomicU64 = AtomicU64::new(1);

/// A work-done progress for the run: the client's token, or one the server creates when the
/// client supports it.
pub(super) async fn progress_token(shared: &Shared, given: Option<ProgressToken>) -> Option<ProgressToken> {
    if given.is_some() {
        return given;
    }
    let supported = shared
        .capabilities
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .window
        .as_ref()
        .and_then(|w| w.work_done_progress)
        .unwrap_or(false);
    if !supported {
        return None;
    }
    let token = NumberOrString::String(format!("stepwise-run-{}", PROGRESS_IDS.fetch_add(1, Ordering::Relaxed)));
    shared.client.create_work_done_progress(token.clone()).await.ok()?;
    Some(token)
}

fn token_key(token: &ProgressToken) -> String {
    match token {
        NumberOrString::Number(n) => n.to_string(),
        NumberOrString::String(s) => s.clone(),
    }
}

/// Runs `target` of the document `uri` as it is in the editor, to the end.
async fn run(
    shared: Arc<Shared>,
    uri: Uri,
    target: RunTarget,
    overrides: Overrides,
    inputs: BTreeMap<String, String>,
    token: Option<ProgressToken>,
) -> Result<Option<Value>> {
    let snapshot = shared
        .session()
        .snapshot(&uri)
        .ok_or_else(|| error("open the workflow in the editor to run it"))?;
    let file = file_of(&uri)?;
    let analysis = {
        let snapshot = snapshot.clone();
        tokio::task::spawn_blocking(move || snapshot.analysis())
            .await
            .map_err(|_| Error::internal_error())?
    };
    let workflow = runnable(&analysis).map_err(|errors| {
        error(format!(
            "the workflow has {} error(s); fix them first (see Problems)",
            errors.len()
        ))
    })?;
    let cancel = CancellationToken::new();
    let token = progress_token(&shared, token).await;
    if !shared
        .session()
        .start_run(&uri, cancel.clone(), token.as_ref().map(token_key))
    {
        return Err(error("a run of this workflow is already in progress"));
    }
    amend(&shared, &uri, |view| view.in_progress = true);
    let workflow = Arc::new(workflow);
    let runs_dir = snapshot.workspace.config.runs_dir();
    let file_key = file.clone();
    let request = RunRequest {
        path: file,
        workflow: workflow.clone(),
        workspace: snapshot.workspace.clone(),
        env: Arc::new(ProcessEnv),
        target: target.clone(),
        overrides,
        inputs,
        budget_usd: None,
    };
    let progress = match &token {
        Some(t) => {
            let title = run_progress::title(&target);
            Some(
                shared
                    .client
                    .progress(t.clone(), title)
                    .with_cancel_button()
                    .begin()
                    .await,
            )
        }
        None => None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = shared.engine().clone();
    let handle = tokio::spawn(async move { engine.run(request, tx, cancel).await });
    let mut streamed: BTreeMap<String, usize> = BTreeMap::new();
    let mut ran: Vec<String> = Vec::new();
    while let Some(event) = rx.recv().await {
        let message = match event {
            RunEvent::RunStarted { run_id, steps, .. } => {
                shared.live_output.start(&uri, run_id);
                Some(format!("{} step(s) to run", steps.len()))
            }
            RunEvent::StepStarted { step, attempt, .. } => {
                shared.live_output.step_started(&uri, &step);
                amend(&shared, &uri, |view| {
                    view.running.insert(step.clone());
                    view.in_progress = true;
                });
                Some(run_progress::message(
                    &target,
                    &step,
                    format!("asking {}", asked(&attempt)),
                ))
            }
            RunEvent::ItemsProgress { step, done, total } => {
                Some(run_progress::message(&target, &step, format!("{done}/{total} items")))
            }
            RunEvent::Text { step, item, text } => {
                if let Some(run) = shared.live_output.append(&uri, &step, item, &text) {
                    forward_output(&shared, &uri, run, &step, item, text.clone(), false).await;
                }
                let chars = streamed.entry(step.clone()).or_default();
                let before = *chars / 500;
                *chars += text.chars().count();
                (item.is_none() && *chars / 500 > before)
                    .then(|| run_progress::message(&target, &step, format!("~{} tokens", *chars / 4)))
            }
            RunEvent::CallFailed {
                step,
                call,
                attempt,
                of,
            } => {
                if let Some(run) = shared.live_output.discard(&uri, &step, call.item) {
                    forward_output(&shared, &uri, run, &step, call.item, String::new(), true).await;
                }
                let why = call.error.as_ref().map(reason).unwrap_or_default();
                let what = format!("{} failed ({why}), attempt {attempt}/{of}", call.provider);
                Some(run_progress::message(&target, &step, what))
            }
            RunEvent::FallingBack { step, to, .. } => Some(run_progress::message(
                &target,
                &step,
                format!("falling back to {}", provider_model(&to)),
            )),
            RunEvent::StepFinished { step, stale } => {
                ran.push(step.id.clone());
                let status = step.last().map_or("done", |a| a.status.as_str());
                let message = run_progress::message(&target, &step.id, status);
                let failed = step.failure().cloned();
                let id = step.id.clone();
                let change = amend(&shared, &uri, |view| {
                    view.running.remove(&step.id);
                    for id in &stale {
                        if let Some(reader) = view.steps.get_mut(id) {
                            reader.status = StepStatus::Stale;
                        }
                    }
                    view.steps.insert(step.id.clone(), step);
                });
                if let Some(failed) = failed {
                    offer_switch(shared.clone(), uri.clone(), id, &failed, change);
                }
                Some(message)
            }
        };
        if let (Some(p), Some(m)) = (&progress, message) {
            p.report_with_message(m, Some(true)).await;
        }
    }
    let outcome = handle.await;
    shared.live_output.end(&uri);
    shared.session().end_run(&uri);
    shared.run_ended.notify_waiters();
    let result = match outcome {
        Ok(Ok(record)) => {
            show(&shared, &uri, RunView::of(&record));
            Ok(Some(summary(&record, &ran)))
        }
        Ok(Err(err)) => {
            amend(&shared, &uri, |view| {
                view.in_progress = false;
                view.running.clear();
            });
            Err(match err {
                EngineError::MissingInputs(names) => missing_inputs(&workflow, &runs_dir, &file_key, &names),
                EngineError::Preflight(refused) => {
                    let missing = (!refused.missing_inputs.is_empty())
                        .then(|| missing_inputs_data(&workflow, &runs_dir, &file_key, &refused.missing_inputs));
                    let index = &analysis.line_index;
                    preflight_error(index, &uri, snapshot.encoding, &refused, missing)
                }
                err => error(err.to_string()),
            })
        }
        Err(join) => {
            tracing::error!("the run task failed: {join}");
            Err(Error::internal_error())
        }
    };
    if let Some(p) = progress {
        p.finish_with_message(match &result {
            Ok(Some(v)) => v["status"].as_str().unwrap_or("done").to_string(),
            _ => "failed".to_string(),
        })
        .await;
    }
    result
}

/// Sends the client streamed text of a step (`reset`: what it streamed before is void).
async fn forward_output(
    shared: &Shared,
    uri: &Uri,
    run: uuid::Uuid,
    step: &str,
    item: Option<usize>,
    text: String,
    reset: bool,
) {
    let params = OutputParams {
        uri: uri.as_str().to_string(),
        run: run.to_string(),
        step: step.to_string(),
        item,
        text,
        reset,
    };
    shared.client.send_notification::<OutputNotification>(params).await;
}

/// The error of a run refused for required inputs without a value: `data.missingInputs`
/// lists each with its description and the value the workflow's last run used (for the
/// editor to ask with, prefilled), and the message names them.
pub(super) fn missing_inputs(workflow: &Workflow, runs_dir: &Path, file: &Path, names: &[String]) -> Error {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    Error {
        code: ErrorCode::InvalidParams,
        message: format!("the workflow needs a value for {}", quoted.join(", ")).into(),
        data: Some(json!({ "missingInputs": missing_inputs_data(workflow, runs_dir, file, names) })),
    }
}

/// `[{name, description, lastValue}]` of the inputs `names`.
fn missing_inputs_data(workflow: &Workflow, runs_dir: &Path, file: &Path, names: &[String]) -> Value {
    let last = latest(runs_dir, file).map(|r| r.inputs).unwrap_or_default();
    let missing: Vec<Value> = names
        .iter()
        .map(|name| {
            let description = workflow
                .input(name)
                .and_then(|i| i.description.as_ref())
                .map(|d| d.value.clone());
            json!({ "name": name, "description": description, "lastValue": last.get(name) })
        })
        .collect();
    Value::Array(missing)
}

/// The command's reply: the run's status (of the attempts it made) and, per step that ran
/// (in `ran`, in the order they ended), who answered and how long.
fn summary(record: &RunRecord, ran: &[String]) -> Value {
    let ran: Vec<&StepRecord> = ran.iter().filter_map(|id| record.step(id)).collect();
    let ended = |status: StepStatus| ran.iter().any(|s| s.last().is_some_and(|a| a.status == status));
    let status = if ended(StepStatus::Cancelled) {
        "cancelled"
    } else if ended(StepStatus::Failed) {
        "failed"
    } else {
        "completed"
    };
    let steps: Vec<Value> = ran
        .iter()
        .map(|s| {
            let last = s.last();
            json!({
                "id": s.id,
                "status": s.status.as_str(),
                "attempt": last.map(|a| a.status.as_str()),
                "answered_by": last.and_then(|a| a.answered_by.as_ref()).map(provider_model),
                "duration_ms": last.and_then(|a| a.duration_ms),
                "tokens": last.map_or(0, |a| a.tokens()),
                "cost_usd": last.and_then(|a| a.cost_usd),
                "error": s.failure().map(error_summary),
            })
        })
        .collect();
    json!({ "run_id": record.id.to_string(), "status": status, "steps": steps })
}

/// Offers to re-run a failed step with another available provider; choosing one re-runs
/// that step with it (this run only) once the current run has ended. The offer waits (2 s
/// at most) until run change `change`, the failure, is shown: diagnostics published, hints
/// and lenses refreshed, so the step never reads `running…` while the prompt is open.
fn offer_switch(shared: Arc<Shared>, uri: Uri, step: String, failed: &StepError, change: u64) {
    let Some(snapshot) = shared.session().snapshot(&uri) else {
        return;
    };
    let providers: Vec<String> = snapshot
        .workspace
        .catalog
        .healthy()
        .filter(|p| p.id != failed.provider)
        .map(|p| p.id.clone())
        .collect();
    if providers.is_empty() {
        return;
    }
    let choices: Vec<MessageActionItem> = providers
        .iter()
        .map(|p| MessageActionItem {
            title: format!("Re-run with {p}"),
            properties: Default::default(),
        })
        .collect();
    let message = format!("Step `{step}` failed: {}", error_summary(failed));
    tokio::spawn(async move {
        let mut shown = shared.runs_shown.subscribe();
        let failure_shown = shown.wait_for(|&shown| shown >= change);
        tokio::time::timeout(std::time::Duration::from_secs(2), failure_shown)
            .await
            .ok();
        let Ok(Some(choice)) = shared
            .client
            .show_message_request(MessageType::ERROR, message, Some(choices.clone()))
            .await
        else {
            return;
        };
        let Some(provider) = choices.iter().position(|c| *c == choice).map(|i| providers[i].clone()) else {
            return;
        };
        loop {
            let ended = shared.run_ended.notified();
            if !shared.session().run_in_progress(&uri) {
                break;
            }
            ended.await;
        }
        let overrides = Overrides {
            provider: Some(provider),
            ..Overrides::default()
        };
        if let Err(err) = run(shared, uri, RunTarget::Step(step), overrides, BTreeMap::new(), None).await {
            tracing::warn!("re-run after a failure did not start: {}", err.message);
        }
    });
}
