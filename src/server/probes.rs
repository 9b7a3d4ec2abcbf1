//! Background probes of keyless providers for the editor: started when a document is analysed,
//! at most one per host at a time and once per freshness window, never on the request path.
//! A changed answer reloads the workspaces, so completion, hints and diagnostics follow it.

use std::sync::Arc;

use tower_lsp_server::ls_types::Uri;

use super::{Event, Shared};
use crate::engine::probe::probe_into;
use crate::model::reach::Reachability;

/// Probes the keyless providers of `uri`'s workspace whose answers are stale.
pub(crate) fn ensure_fresh(shared: &Arc<Shared>, uri: &Uri) {
    let due = {
        let mut session = shared.session();
        let Some(snapshot) = session.snapshot(uri) else {
            return;
        };
        let urls = snapshot.workspace.catalog.probe_urls();
        session.start_probes(urls)
    };
    if due.is_empty() {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut answers = Reachability::default();
        probe_into(shared.engine().client(), &due, &mut answers).await;
        tracing::debug!("probed {} keyless provider host(s)", due.len());
        if shared.session().finish_probes(&due, &answers) {
            shared.send(Event::WorkspaceChanged);
        }
    });
}
