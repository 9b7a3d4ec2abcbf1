//! The server's event loop: work that reports back to the client after the message that
//! caused it has been handled. Diagnostics go through it today; the run feature will send
//! its step-finished events through the same channel to refresh hints and diagnostics.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tower_lsp_server::ls_types::Uri;

use super::Shared;
use super::convert;
use super::requests::runs::{RunsChangedNotification, RunsChangedParams};
use super::session::{FileKind, Snapshot};
use crate::analysis::actions::run_diagnostics;
use crate::model::catalog::ProcessEnv;
use crate::model::workspace::Workspace;

/// Something that happened and must be reflected in the editor.
#[derive(Debug, Clone)]
pub enum Event {
    /// A document was opened or changed: publish its diagnostics.
    Analyze(Uri),
    /// A document was closed: clear its diagnostics.
    Closed(Uri),
    /// `stepwise.toml` or a persona file changed: reload workspaces, re-check every open
    /// document, and ask the client to refresh its inlay hints.
    WorkspaceChanged,
    /// A run of the document changed state, or another process wrote a record of it:
    /// re-publish its diagnostics (with `step-failed`), refresh inlay hints and code lenses,
    /// and send `stepwise/runsChanged`.
    RunsChanged(Uri),
}

/// Handles events until the server stops; a burst of events is coalesced per document.
pub(crate) async fn run(shared: Arc<Shared>, mut rx: UnboundedReceiver<Event>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = rx.try_recv() {
            batch.push(next);
        }
        // Every run change numbered before its event was sent is shown by this batch.
        let changes = shared.runs_changed.load(std::sync::atomic::Ordering::SeqCst);
        let mut analyze: Vec<Uri> = Vec::new();
        let mut reload = false;
        let mut runs_changed: Vec<Uri> = Vec::new();
        for event in batch {
            match event {
                Event::Analyze(uri) => {
                    let file = shared.session().file(&uri).map(|f| f.kind);
                    if file == Some(FileKind::Config) {
                        // Its open workflows re-check against the text as typed.
                        reload = true;
                        continue;
                    }
                    if file.is_none() {
                        super::runs::ensure_loaded(&shared, &uri).await;
                        super::probes::ensure_fresh(&shared, &uri);
                    }
                    if !analyze.contains(&uri) {
                        analyze.push(uri);
                    }
                }
                Event::RunsChanged(uri) => {
                    if !analyze.contains(&uri) {
                        analyze.push(uri.clone());
                    }
                    if !runs_changed.contains(&uri) {
                        runs_changed.push(uri);
                    }
                }
                Event::Closed(uri) => {
                    shared.runs_watch.untrack(&uri);
                    analyze.retain(|u| *u != uri);
                    if let Some(path) = uri
                        .to_file_path()
                        .filter(|p| p.ends_with(crate::model::config::CONFIG_FILE))
                    {
                        // Its saved text governs again, and its diagnostics are published anew.
                        super::trust::forget_published(&shared, &path);
                        reload = true;
                    }
                    super::publish::send(&shared, super::publish::encode(&uri, None, std::iter::empty())).await;
                }
                Event::WorkspaceChanged => reload = true,
            }
        }
        if reload {
            reload_workspaces(&shared).await;
            analyze = shared
                .session()
                .snapshots()
                .into_iter()
                .map(|s| s.uri.clone())
                .collect();
        }
        let any = !analyze.is_empty() || reload;
        for uri in analyze {
            publish(&shared, &uri).await;
        }
        if any {
            super::trust::publish_config_diagnostics(&shared).await;
        }
        if reload || !runs_changed.is_empty() {
            refresh_hints(&shared).await;
        }
        if !runs_changed.is_empty() {
            refresh_lenses(&shared).await;
            shared.runs_shown.send_modify(|shown| *shown = (*shown).max(changes));
        }
        for uri in runs_changed {
            shared
                .client
                .send_notification::<RunsChangedNotification>(RunsChangedParams { uri })
                .await;
        }
    }
}

/// Computes and publishes the diagnostics of the document's current version, unless a newer
/// version arrived meanwhile (its own event will publish it).
async fn publish(shared: &Shared, uri: &Uri) {
    let file = shared.session().file(uri);
    if let Some(file) = file.filter(|f| f.kind == FileKind::Persona) {
        let version = file.version;
        let Ok(diagnostics) = tokio::task::spawn_blocking(move || super::files::persona_diagnostics(&file)).await
        else {
            return;
        };
        if shared.session().file(uri).map(|f| f.version) == Some(version) {
            let encoded = super::publish::encode(uri, Some(version), diagnostics.into_iter());
            super::publish::send(shared, encoded).await;
        }
        return;
    }
    let Some(snapshot) = shared.session().snapshot(uri) else {
        return;
    };
    let version = snapshot.version;
    let computed = tokio::task::spawn_blocking(move || diagnostics(&snapshot)).await;
    let encoded = match computed {
        Ok(d) => d,
        Err(err) => {
            tracing::error!("diagnostics of {} failed: {err}", uri.as_str());
            return;
        }
    };
    let current = shared.session().snapshot(uri).map(|s| s.version);
    if current == Some(version) {
        super::publish::send(shared, encoded).await;
    }
}

/// The publication of the snapshot's diagnostics, encoded.
fn diagnostics(snapshot: &Snapshot) -> Vec<u8> {
    let analysis = snapshot.analysis();
    let mut all = analysis.diagnostics();
    all.extend(run_diagnostics(&analysis, &snapshot.runs));
    let converted = all
        .iter()
        .map(|d| convert::diagnostic(&analysis.line_index, &snapshot.uri, d, snapshot.encoding));
    super::publish::encode(&snapshot.uri, Some(snapshot.version), converted)
}

/// Reloads every open document's workspace off the lock, then swaps them in.
async fn reload_workspaces(shared: &Shared) {
    let (dirs, reach, trusted, open) = {
        let session = shared.session();
        (
            session.workspace_dirs(),
            session.reachability().clone(),
            session.editor_trust(),
            session.open_configs(),
        )
    };
    let loaded = tokio::task::spawn_blocking(move || {
        let mut by_root: HashMap<std::path::PathBuf, Arc<Workspace>> = HashMap::new();
        dirs.into_iter()
            .map(|dir| {
                let mut ws = Workspace::load_open(&dir, &ProcessEnv, trusted, &|p| open.get(p).cloned());
                ws.catalog.apply_reachability(&reach);
                let ws = by_root
                    .entry(ws.config.root.clone())
                    .or_insert_with(|| Arc::new(ws))
                    .clone();
                (dir, ws)
            })
            .collect::<HashMap<_, _>>()
    })
    .await;
    match loaded {
        Ok(workspaces) => shared.session().replace_workspaces(workspaces),
        Err(err) => tracing::error!("reloading workspaces failed: {err}"),
    }
}

/// Whether the client's workspace capabilities say yes to `support`.
fn client_supports(
    shared: &Shared,
    support: impl Fn(&tower_lsp_server::ls_types::WorkspaceClientCapabilities) -> Option<bool>,
) -> bool {
    let capabilities = shared.capabilities.lock().unwrap_or_else(|e| e.into_inner());
    capabilities.workspace.as_ref().and_then(support).unwrap_or(false)
}

async fn refresh_hints(shared: &Shared) {
    let supported = client_supports(shared, |w| w.inlay_hint.as_ref().and_then(|h| h.refresh_support));
    if supported && let Err(err) = shared.client.inlay_hint_refresh().await {
        tracing::warn!("inlay hint refresh failed: {err}");
    }
}

async fn refresh_lenses(shared: &Shared) {
    let supported = client_supports(shared, |w| w.code_lens.as_ref().and_then(|c| c.refresh_support));
    if supported && let Err(err) = shared.client.code_lens_refresh().await {
        tracing::warn!("code lens refresh failed: {err}");
    }
}
