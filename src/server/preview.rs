//! `stepwise.previewRequest`: the request a step of the open document would send now, as the
//! editors show it beside the workflow (and refresh while it is edited). Sends nothing and
//! reads no key; anything key-like in the document is redacted as everywhere else.

use std::sync::Arc;

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::Uri;

use super::Shared;
use super::commands::StepArgs;
use super::runs::{error, file_of, step_of};
use crate::analysis::actions::runnable;
use crate::engine::preview::{RequestPreview, preview};
use crate::engine::{RunRequest, RunTarget};
use crate::model::catalog::ProcessEnv;
use crate::model::secrets::redact;

/// Handles the command: the preview as data and as the document text the editors show.
pub(crate) async fn execute(shared: &Shared, args: StepArgs) -> Result<Option<Value>> {
    let uri: Uri = args
        .uri
        .parse()
        .map_err(|e| error(format!("bad uri {}: {e}", args.uri)))?;
    let overrides = args.overrides();
    let inputs = args.inputs.clone();
    let step = step_of(shared, &uri, args.at).await?;
    let snapshot = shared
        .session()
        .snapshot(&uri)
        .ok_or_else(|| error("open the workflow in the editor to preview a request"))?;
    let path = file_of(&uri)?;
    let built = tokio::task::spawn_blocking(move || {
        let analysis = snapshot.analysis();
        let workflow = runnable(&analysis).map_err(|errors| {
            let first = errors.first().map(|d| d.message.clone()).unwrap_or_default();
            format!(
                "the workflow has {} error(s), so it would not run; first: {first}",
                errors.len()
            )
        })?;
        let request = RunRequest {
            path,
            workflow: Arc::new(workflow),
            workspace: snapshot.workspace.clone(),
            env: Arc::new(ProcessEnv),
            target: RunTarget::Step(step.clone()),
            overrides,
            inputs,
            budget_usd: None,
        };
        preview(&request, &step).map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| Error::internal_error())?;
    built.map(|p| Some(reply(&p))).map_err(|e| error(redact(&e)))
}

/// The reply: what is shown, the request (headers with keys as `***`, the body as sent),
/// the params with their sources, the curl line and the document text.
fn reply(p: &RequestPreview) -> Value {
    let headers: Vec<Value> = p
        .headers()
        .into_iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let params: Vec<Value> = p
        .params
        .iter()
        .map(|r| json!({ "name": r.name, "value": r.value, "source": r.source.as_str() }))
        .collect();
    let redacted = |v: &Value| serde_json::from_str::<Value>(&redact(&v.to_string())).unwrap_or(Value::Null);
    json!({
        "step": p.step,
        "provider": { "value": p.provider.value, "source": p.provider.source.as_str() },
        "model": { "value": p.model.value, "source": p.model.source.as_str() },
        "persona": p.persona.as_ref().map(|s| json!({ "value": s.value, "source": s.source.as_str() })),
        "item": p.item.map(|i| json!({ "index": i.index, "total": i.total })),
        "notRun": p.not_run,
        "missingInputs": p.missing_inputs,
        "method": p.request.method,
        "url": p.request.url,
        "headers": headers,
        "body": p.request.body.as_ref().map(redacted),
        "bodyText": p.body_text().map(|b| redact(&b)),
        "params": params,
        "system": p.system.as_deref().map(redact),
        "prompt": redact(&p.prompt),
        "curl": redact(&p.curl()),
        "text": redact(&p.text()),
    })
}
