//! Comparing a step from the editor: `stepwise.compareTargets` lists what a step can be
//! compared on, `stepwise.compareStep` sends it to the chosen targets (reporting
//! `$/progress`) and returns the comparison, `stepwise.useTarget` applies one of them to the
//! step — as its provider/model/persona or as a fallback — through `workspace/applyEdit`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::{ProgressToken, TextEdit, Uri, WorkspaceEdit};

use super::commands::{CompareArgs, ServerCommand, StepArgs, TargetRole, UseTargetArgs};
use super::runs::{error, file_of, missing_inputs, progress_token, show, step_of};
use super::session::Snapshot;
use super::{Shared, convert};
use crate::analysis::Analysis;
use crate::analysis::actions::{Edit, runnable};
use crate::analysis::compare::{add_fallback_edit, candidates, use_target_edits};
use crate::analysis::run_text::{finished, reason};
use crate::engine::compare::{CompareError, CompareEvent, CompareRequest};
use crate::engine::{EngineError, RunEvent, RunRequest, RunTarget};
use crate::model::catalog::ProcessEnv;
use crate::model::comparison::TargetResult;
use crate::model::resolve::Overrides;
use crate::model::runs::RunView;

/// Handles the three comparison commands.
pub(crate) async fn execute(
    shared: Arc<Shared>,
    command: ServerCommand,
    token: Option<ProgressToken>,
) -> Result<Option<Value>> {
    match command {
        ServerCommand::CompareTargets(a) => compare_targets(&shared, a).await,
        ServerCommand::CompareStep(a) => compare_step(shared, a, token).await,
        ServerCommand::UseTarget(a) => use_target(&shared, a).await,
        _ => Err(Error::method_not_found()),
    }
}

fn uri_of(s: &str) -> Result<Uri> {
    s.parse::<Uri>().map_err(|e| error(format!("bad uri {s}: {e}")))
}

/// The document's snapshot and its analysis (computed off the async threads).
async fn analysed(shared: &Shared, uri: &Uri) -> Result<(Arc<Snapshot>, Arc<Analysis>)> {
    let snapshot = shared
        .session()
        .snapshot(uri)
        .ok_or_else(|| error("open the workflow in the editor first"))?;
    let analysis = {
        let snapshot = snapshot.clone();
        tokio::task::spawn_blocking(move || snapshot.analysis())
            .await
            .map_err(|_| Error::internal_error())?
    };
    Ok((snapshot, analysis))
}

async fn compare_targets(shared: &Shared, a: StepArgs) -> Result<Option<Value>> {
    let uri = uri_of(&a.uri)?;
    let step = step_of(shared, &uri, a.at).await?;
    let (_, analysis) = analysed(shared, &uri).await?;
    let found = candidates(&analysis, &step).ok_or_else(|| error(format!("the workflow has no step `{step}`")))?;
    let targets: Vec<Value> = found
        .targets
        .iter()
        .map(|t| {
            json!({
                "provider": t.provider,
                "model": t.model,
                "label": format!("{}/{}", t.provider, t.model),
                "description": t.description,
                "current": t.current,
            })
        })
        .collect();
    Ok(Some(json!({
        "step": step,
        "current": found.current.map(|(p, m)| json!({ "provider": p, "model": m })),
        "currentPersona": found.current_persona,
        "targets": targets,
        "personas": found.personas,
    })))
}

async fn compare_step(shared: Arc<Shared>, a: CompareArgs, token: Option<ProgressToken>) -> Result<Option<Value>> {
    let uri = uri_of(&a.uri)?;
    if a.targets.is_empty() {
        return Err(error(
            "choose the targets to compare on (`stepwise.compareTargets` lists them)",
        ));
    }
    let step = step_of(&shared, &uri, a.at).await?;
    let (snapshot, analysis) = analysed(&shared, &uri).await?;
    let file = file_of(&uri)?;
    let workflow = runnable(&analysis).map_err(|errors| {
        error(format!(
            "the workflow has {} error(s); fix them first (see Problems)",
            errors.len()
        ))
    })?;
    let workflow = Arc::new(workflow);
    let runs_dir = snapshot.workspace.config.runs_dir();
    let request = CompareRequest {
        run: RunRequest {
            path: file.clone(),
            workflow: workflow.clone(),
            workspace: snapshot.workspace.clone(),
            env: Arc::new(ProcessEnv),
            target: RunTarget::Step(step.clone()),
            overrides: Overrides::default(),
            inputs: a.inputs,
            budget_usd: None,
        },
        step: step.clone(),
        targets: a.targets,
        repeat: a.repeat.unwrap_or(1).clamp(1, 100),
    };
    let token = progress_token(&shared, token).await;
    let progress = match &token {
        Some(t) => Some(
            shared
                .client
                .progress(t.clone(), format!("stepwise: compare {step}"))
                .begin()
                .await,
        ),
        None => None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = shared.engine().clone();
    let handle = tokio::spawn(async move { engine.compare(request, tx, CancellationToken::new()).await });
    let mut labels: Vec<String> = Vec::new();
    let mut upstream_ran = false;
    while let Some(event) = rx.recv().await {
        let message = match event {
            CompareEvent::Upstream(RunEvent::StepFinished { step, .. }) => {
                upstream_ran = true;
                Some(format!("upstream {}", finished(&step)))
            }
            CompareEvent::Upstream(_) => None,
            CompareEvent::Sending { targets, repeat } => {
                let times = if repeat > 1 {
                    format!(" × {repeat}")
                } else {
                    String::new()
                };
                let message = format!("sending to {}{times}", targets.join(", "));
                labels = targets;
                Some(message)
            }
            CompareEvent::SampleFinished { target, sample } => {
                let label = labels.get(target).map_or("?", String::as_str);
                let how = sample
                    .error
                    .as_ref()
                    .map_or_else(|| sample.status.as_str().to_string(), reason);
                Some(format!("{label}: {how} in {} ms", sample.duration_ms))
            }
        };
        if let (Some(p), Some(m)) = (&progress, message) {
            p.report(crate::model::secrets::redact(&m)).await;
        }
    }
    let outcome = handle.await.map_err(|_| Error::internal_error())?;
    if upstream_ran {
        let (dir, path) = (runs_dir.clone(), file.clone());
        let view = tokio::task::spawn_blocking(move || super::runs::load_view(&dir, &path)).await;
        show(&shared, &uri, view.unwrap_or_else(|_| RunView::default()));
    }
    if let Some(p) = progress {
        p.finish_with_message(if outcome.is_ok() { "done" } else { "failed" })
            .await;
    }
    match outcome {
        Ok(comparison) => {
            let record = comparison.path(&runs_dir);
            let labels: Vec<String> = comparison.targets.iter().map(|t| t.label()).collect();
            let latency: Vec<Value> = comparison.targets.iter().map(|t| json!(t.latency())).collect();
            let cost: Vec<Option<f64>> = comparison.targets.iter().map(TargetResult::cost_usd).collect();
            let mut value = serde_json::to_value(&comparison).map_err(|_| Error::internal_error())?;
            value["record"] = json!(std::path::absolute(&record).unwrap_or(record));
            for (i, target) in value["targets"].as_array_mut().into_iter().flatten().enumerate() {
                target["label"] = json!(labels[i]);
                target["latency"] = latency[i].clone();
                target["cost_usd"] = json!(cost[i]);
            }
            let text = crate::model::secrets::redact(&value.to_string());
            Ok(Some(serde_json::from_str(&text).unwrap_or(value)))
        }
        Err(CompareError::Engine(EngineError::MissingInputs(names))) => {
            Err(missing_inputs(&workflow, &runs_dir, &file, &names))
        }
        Err(e) => Err(error(crate::model::secrets::redact(&e.to_string()))),
    }
}

async fn use_target(shared: &Shared, a: UseTargetArgs) -> Result<Option<Value>> {
    let uri = uri_of(&a.uri)?;
    let step_id = step_of(shared, &uri, a.at).await?;
    let (snapshot, analysis) = analysed(shared, &uri).await?;
    let step = analysis
        .workflow
        .step(&step_id)
        .ok_or_else(|| error(format!("the workflow has no step `{step_id}`")))?;
    let edits: Vec<Edit> = match a.role {
        TargetRole::Step => use_target_edits(&analysis, step, &a.provider, &a.model, a.persona.as_deref()),
        TargetRole::Fallback => add_fallback_edit(&analysis, step, &a.provider, &a.model)
            .into_iter()
            .collect(),
    };
    if edits.is_empty() {
        let message = format!(
            "`{}/{}` is already in the fallback list of `{step_id}`",
            a.provider, a.model
        );
        return Ok(Some(json!({ "applied": false, "message": message })));
    }
    let edits = edits
        .iter()
        .map(|e| {
            TextEdit::new(
                convert::range(&analysis.line_index, e.span, snapshot.encoding),
                e.new_text.clone(),
            )
        })
        .collect();
    let edit = WorkspaceEdit {
        changes: Some(HashMap::from([(uri.clone(), edits)])),
        ..Default::default()
    };
    let applied = shared.client.apply_edit(edit.clone()).await.is_ok_and(|r| r.applied);
    Ok(Some(json!({ "applied": applied, "edit": edit })))
}
