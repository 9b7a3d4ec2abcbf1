//! Records written while the server is up by another process — `stepwise run` in a terminal —
//! reach the editor: an OS file watcher (the `notify` crate: inotify, FSEvents, kqueue,
//! ReadDirectoryChangesW) on each open workflow's records folder, or, until that folder
//! exists, on its nearest existing ancestor. The server watches rather than asking the
//! client (`workspace/didChangeWatchedFiles`) because not every client can: Neovim offers no
//! dynamic registration of watched files on Linux, and `runs_dir` may lie where an editor's
//! watcher excludes it. Bursts (a journal line per step event) are debounced; the document's
//! run results are reloaded and, when they changed, the editor is told
//! (`Event::RunsChanged`: diagnostics, hints, lenses and `stepwise/runsChanged`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tower_lsp_server::ls_types::Uri;

use super::{Event, Shared};

/// How long a burst of file events may last before the records are read.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// The watched folders and the documents they stand for.
#[derive(Default)]
pub struct RunsWatch {
    state: Mutex<WatchState>,
}

#[derive(Default)]
struct WatchState {
    watcher: Option<RecommendedWatcher>,
    /// Each open workflow's records folder.
    targets: HashMap<Uri, PathBuf>,
    /// Folders watched now.
    watched: HashSet<PathBuf>,
}

/// The folder to watch for `target`: itself once it exists, else its nearest existing ancestor.
fn watch_point(target: &Path) -> Option<PathBuf> {
    target.ancestors().find(|p| p.is_dir()).map(Path::to_path_buf)
}

impl WatchState {
    /// Watches exactly the folders the targets need now.
    fn rewatch(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let wanted: HashSet<PathBuf> = self.targets.values().filter_map(|t| watch_point(t)).collect();
        for gone in self.watched.difference(&wanted) {
            watcher.unwatch(gone).ok();
        }
        let mut watched = HashSet::new();
        for dir in wanted {
            if self.watched.contains(&dir) || watcher.watch(&dir, RecursiveMode::NonRecursive).is_ok() {
                watched.insert(dir);
            } else {
                tracing::warn!("cannot watch {} for run records", dir.display());
            }
        }
        self.watched = watched;
    }

    /// The documents whose records an event on `paths` may concern.
    fn concerned(&self, paths: &[PathBuf]) -> Vec<Uri> {
        self.targets
            .iter()
            .filter(|(_, target)| {
                paths
                    .iter()
                    .any(|p| p.starts_with(target) || p.parent().is_some_and(|dir| target.starts_with(dir)))
            })
            .map(|(uri, _)| uri.clone())
            .collect()
    }
}

impl RunsWatch {
    fn state(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the OS watcher and the task that handles its events.
    pub(crate) fn start(shared: Arc<Shared>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            // Reading a record (as this server does) is an access event: never a change.
            if matches!(
                event.kind,
                EventKind::Access(_) | EventKind::Modify(notify::event::ModifyKind::Metadata(_))
            ) {
                return;
            }
            for path in event.paths {
                let _ = tx.send(path);
            }
        });
        match watcher {
            Ok(w) => shared.runs_watch.state().watcher = Some(w),
            Err(err) => {
                tracing::warn!("run records of other processes will not show: no file watcher ({err})");
                return;
            }
        }
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                tokio::time::sleep(DEBOUNCE).await;
                let mut paths = vec![first];
                while let Ok(next) = rx.try_recv() {
                    paths.push(next);
                }
                let uris = {
                    let mut state = shared.runs_watch.state();
                    state.rewatch();
                    state.concerned(&paths)
                };
                for uri in uris {
                    reload(&shared, uri).await;
                }
            }
        });
    }

    /// Whether the records folder of `uri` is watched.
    pub(crate) fn is_tracked(&self, uri: &Uri) -> bool {
        self.state().targets.contains_key(uri)
    }

    /// Watches the records folder of the open workflow `uri`.
    pub(crate) fn track(&self, uri: &Uri, records_dir: PathBuf) {
        let mut state = self.state();
        state.targets.insert(uri.clone(), records_dir);
        state.rewatch();
    }

    /// Stops watching for the closed workflow `uri`.
    pub(crate) fn untrack(&self, uri: &Uri) {
        let mut state = self.state();
        if state.targets.remove(uri).is_some() {
            state.rewatch();
        }
    }
}

/// Reloads the run results of `uri` from disk and shows them if they changed. A run of
/// the editor's own reports itself through its events, so its files are not read meanwhile.
async fn reload(shared: &Shared, uri: Uri) {
    if shared.session().run_in_progress(&uri) {
        return;
    }
    let Some(snapshot) = shared.session().snapshot(&uri) else {
        return;
    };
    let Some(file) = uri.to_file_path().map(|p| p.into_owned()) else {
        return;
    };
    let runs_dir = snapshot.workspace.config.runs_dir();
    let Ok(view) = tokio::task::spawn_blocking(move || super::runs::load_view(&runs_dir, &file)).await else {
        return;
    };
    let changed = shared.session().runs(&uri).is_none_or(|old| *old != view);
    if changed && !shared.session().run_in_progress(&uri) {
        shared.session().set_runs(&uri, view);
        shared.send(Event::RunsChanged(uri));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_folder_not_made_yet_is_watched_through_its_nearest_existing_parent() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(".stepwise/runs/w-0123456789ab");
        assert_eq!(watch_point(&target).as_deref(), Some(dir.path()));
        std::fs::create_dir_all(&target).unwrap();
        assert_eq!(watch_point(&target), Some(target));
    }

    #[test]
    fn an_event_concerns_the_workflows_whose_records_folder_it_is_in_or_leads_to() {
        let uri: Uri = "file:///p/w.flow.yaml".parse().unwrap();
        let other: Uri = "file:///p/o.flow.yaml".parse().unwrap();
        let mut state = WatchState::default();
        state
            .targets
            .insert(uri.clone(), PathBuf::from("/p/.stepwise/runs/w-1"));
        state.targets.insert(other, PathBuf::from("/p/.stepwise/runs/o-2"));
        assert_eq!(
            state.concerned(&[PathBuf::from("/p/.stepwise/runs/w-1/r.journal")]),
            vec![uri]
        );
        assert_eq!(state.concerned(&[PathBuf::from("/p/.stepwise")]).len(), 2);
        assert!(state.concerned(&[PathBuf::from("/q/x.json")]).is_empty());
    }
}
