//! `stepwise/runs {uri, limit?}`: the workflow's runs for the run view, newest first — each
//! record with its status, step counts and duration (`model::run_history::RunEntry`), plus
//! what the view needs to act on them: the providers a step can be re-run with and the line
//! of each step in the open document. Reads the records on the blocking pool.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::Uri;
use tower_lsp_server::ls_types::notification::Notification;

use crate::engine::record::history;
use crate::model::run_history::RunEntry;
use crate::server::Shared;

/// The request's method.
pub const METHOD: &str = "stepwise/runs";

/// `stepwise/runsChanged {uri}`: a record of the workflow changed (a run from the editor
/// moved on, or another process wrote one); ask `stepwise/runs` again.
pub enum RunsChangedNotification {}

/// The params of `stepwise/runsChanged`.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct RunsChangedParams {
    /// The workflow.
    pub uri: Uri,
}

impl Notification for RunsChangedNotification {
    type Params = RunsChangedParams;
    const METHOD: &'static str = "stepwise/runsChanged";
}

/// Runs returned when the request gives no limit.
const DEFAULT_LIMIT: usize = 50;

/// The request's params.
#[derive(Debug, Deserialize)]
pub struct RunsParams {
    /// The workflow document (open in the editor).
    pub uri: Uri,
    /// At most this many runs, newest first.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Answers the request.
pub(crate) async fn handle(shared: &Shared, params: RunsParams) -> Result<Value> {
    let file: PathBuf = params
        .uri
        .to_file_path()
        .map(|p| p.into_owned())
        .ok_or_else(|| Error::invalid_params("only workflow files on disk have runs"))?;
    let snapshot = shared
        .session()
        .snapshot(&params.uri)
        .ok_or_else(|| Error::invalid_params("open the workflow in the editor first"))?;
    let live = shared.session().run_in_progress(&params.uri);
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    let reply = tokio::task::spawn_blocking(move || {
        let runs = history(&snapshot.workspace.config.runs_dir(), &file, limit);
        let analysis = snapshot.analysis();
        let steps: Vec<Value> = analysis
            .workflow
            .steps
            .iter()
            .filter_map(|s| {
                let id = s.id.as_ref()?;
                Some(json!({ "id": id.value, "line": analysis.line_index.line_of(id.span.start) }))
            })
            .collect();
        let providers: Vec<&str> = snapshot.workspace.catalog.healthy().map(|p| p.id.as_str()).collect();
        let entries: Vec<RunEntry<'_>> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| RunEntry::of(r, live && i == 0))
            .collect();
        json!({ "runs": entries, "providers": providers, "steps": steps })
    })
    .await;
    reply.map_err(|_| Error::internal_error())
}
