//! The server's mutable state (open documents, loaded workspaces, negotiated settings) and
//! the immutable snapshots that requests work on, as in ruff_server: a request clones a
//! snapshot under a short lock and then computes without holding it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use tower_lsp_server::ls_types::Uri;

use crate::analysis::Analysis;
use tokio_util::sync::CancellationToken;

use crate::model::catalog::ProcessEnv;
use crate::model::config::CONFIG_FILE;
use crate::model::health::unix_now;
use crate::model::persona::is_persona_file;
use crate::model::reach::Reachability;
use crate::model::runs::RunView;
use crate::model::workspace::Workspace;
use crate::syntax::text::{DocumentText, LineIndex, PositionEncoding, TextDelta, TextEdit};

/// One version of one document, with its analysis computed at most once, on first use.
#[derive(Debug)]
pub struct Snapshot {
    /// The document's URI.
    pub uri: Uri,
    /// The version the client gave this text.
    pub version: i32,
    /// The workspace the document belongs to.
    pub workspace: Arc<Workspace>,
    /// How the client counts columns.
    pub encoding: PositionEncoding,
    /// The last run results of this workflow.
    pub runs: Arc<RunView>,
    text: Arc<str>,
    analysis: OnceLock<Arc<Analysis>>,
    /// The previous version's analysis, whose unchanged steps this one reuses.
    previous: Mutex<Option<Arc<Analysis>>>,
    /// Where this text may differ from the text of `previous`.
    delta: TextDelta,
}

impl Snapshot {
    fn new(
        uri: Uri,
        version: i32,
        text: Arc<str>,
        workspace: Arc<Workspace>,
        encoding: PositionEncoding,
        runs: Arc<RunView>,
    ) -> Snapshot {
        Snapshot {
            uri,
            version,
            workspace,
            encoding,
            runs,
            text,
            analysis: OnceLock::new(),
            previous: Mutex::new(None),
            delta: TextDelta::Unknown,
        }
    }

    /// The analysis this version may reuse steps from (its own, or its predecessor's), and
    /// where this text may differ from that analysis's.
    fn reusable(&self) -> (Option<Arc<Analysis>>, TextDelta) {
        match self.analysis.get() {
            Some(own) => (Some(own.clone()), TextDelta::Same),
            None => {
                let previous = self.previous.lock().unwrap_or_else(|e| e.into_inner()).clone();
                (previous, self.delta)
            }
        }
    }

    /// The next version of this document, whose text differs from this one's by `edit`,
    /// reusing this version's analysis of unchanged steps (step chunks do not depend on the
    /// workspace, so they carry over a workspace reload too).
    fn next(&self, version: i32, text: Arc<str>, workspace: Arc<Workspace>, edit: TextDelta) -> Snapshot {
        let mut next = Snapshot::new(
            self.uri.clone(),
            version,
            text,
            workspace,
            self.encoding,
            self.runs.clone(),
        );
        let (previous, delta) = self.reusable();
        next.previous = Mutex::new(previous);
        next.delta = delta.then(edit);
        next
    }

    /// This version with new run results; its analysis, if computed, is kept.
    fn with_runs(&self, runs: Arc<RunView>) -> Snapshot {
        let mut same = self.next(self.version, self.text.clone(), self.workspace.clone(), TextDelta::Same);
        same.runs = runs;
        if let Some(a) = self.analysis.get() {
            let _ = same.analysis.set(a.clone());
        }
        same
    }

    /// The analysis of this version; computed by the first caller, shared with the rest.
    pub fn analysis(&self) -> Arc<Analysis> {
        self.analysis
            .get_or_init(|| {
                let previous = self.previous.lock().unwrap_or_else(|e| e.into_inner()).take();
                let (text, workspace) = (self.text.clone(), self.workspace.clone());
                Arc::new(match previous.map(Arc::try_unwrap) {
                    None => Analysis::new(text, workspace),
                    Some(Ok(owned)) => Analysis::edited_owned(text, workspace, owned, self.delta),
                    Some(Err(shared)) => {
                        let next = Analysis::edited(text, workspace, &shared, self.delta);
                        free_later(shared);
                        next
                    }
                })
            })
            .clone()
    }
}

/// Frees `value` on a thread of its own: freeing a large analysis costs about as much as
/// building it, and no request should wait for that.
fn free_later<T: Send + 'static>(value: T) {
    static FREEING: OnceLock<Mutex<mpsc::Sender<Box<dyn Send>>>> = OnceLock::new();
    let sender = FREEING.get_or_init(|| {
        let (sender, freed) = mpsc::channel::<Box<dyn Send>>();
        let spawned = std::thread::Builder::new()
            .name("stepwise-free".into())
            .spawn(move || freed.into_iter().for_each(drop));
        if let Err(err) = spawned {
            tracing::warn!("no thread to free old analyses on ({err}); they are freed in place");
        }
        Mutex::new(sender)
    });
    // With no thread the value comes back in the error and is freed here.
    let _ = sender.lock().unwrap_or_else(|e| e.into_inner()).send(Box::new(value));
}

/// What became of the snapshot a change replaced.
#[derive(Debug)]
pub enum Replaced {
    /// No request held it: it is gone, leaving the new version the previous analysis's only
    /// holder, so that analysis is taken over instead of copied.
    Released,
    /// A request still holds it: the caller drops it off the message loop.
    Held(Arc<Snapshot>),
}

/// What an open document that is not a workflow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A workspace's `stepwise.toml`.
    Config,
    /// A file of the persona library (in one of the workspace's `persona_dirs`).
    Persona,
}

/// One version of an open `stepwise.toml` or persona file.
#[derive(Debug)]
pub struct FileSnapshot {
    /// The file's URI.
    pub uri: Uri,
    /// What it is.
    pub kind: FileKind,
    /// The version the client gave this text.
    pub version: i32,
    /// The text as the editor has it (saved or not).
    pub text: Arc<str>,
    /// Line starts of `text`.
    pub index: LineIndex,
    /// The workspace the file belongs to (for a `stepwise.toml`, loaded from this text).
    pub workspace: Arc<Workspace>,
    /// How the client counts columns.
    pub encoding: PositionEncoding,
}

/// An open `stepwise.toml` or persona file: its live text and latest snapshot.
#[derive(Debug)]
struct OpenFile {
    text: DocumentText,
    snapshot: Arc<FileSnapshot>,
}

/// An open document: its live text and the snapshot of its latest version.
#[derive(Debug)]
struct Document {
    text: DocumentText,
    snapshot: Arc<Snapshot>,
}

/// Everything the server knows between messages.
#[derive(Debug, Default)]
pub struct Session {
    encoding: PositionEncoding,
    documents: HashMap<Uri, Document>,
    /// Open `stepwise.toml` and persona files.
    files: HashMap<Uri, OpenFile>,
    /// Workspaces by the folder of the documents that use them.
    workspaces: HashMap<PathBuf, Arc<Workspace>>,
    /// Last run results by document, kept while the document is closed.
    runs: HashMap<Uri, Arc<RunView>>,
    /// Runs in progress by document, to cancel them, with their progress token.
    active: HashMap<Uri, (CancellationToken, Option<String>)>,
    /// What the probes of keyless providers answered, applied to every loaded workspace.
    reach: Reachability,
    /// Base URLs being probed now.
    probing: HashSet<String>,
    /// The editor trusts the workspace (VS Code's Workspace Trust), for as long as it runs.
    editor_trust: bool,
}

/// The folder a document's workspace is looked up from (the process's folder for non-files).
fn document_dir(uri: &Uri) -> PathBuf {
    uri.to_file_path()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Session {
    /// Sets the negotiated position encoding.
    pub fn set_encoding(&mut self, encoding: PositionEncoding) {
        self.encoding = encoding;
    }

    /// The negotiated position encoding.
    pub fn encoding(&self) -> PositionEncoding {
        self.encoding
    }

    /// Records that the editor trusts the workspace (until the server exits).
    pub fn set_editor_trust(&mut self, trusted: bool) {
        self.editor_trust = trusted;
    }

    /// Whether the editor trusts the workspace.
    pub fn editor_trust(&self) -> bool {
        self.editor_trust
    }

    /// The workspace for documents in `dir`, loaded once per folder.
    fn workspace_for(&mut self, dir: PathBuf) -> Arc<Workspace> {
        let trusted = self.editor_trust;
        let open = self.open_configs();
        self.workspaces
            .entry(dir)
            .or_insert_with_key(|dir| {
                let mut workspace = Workspace::load_open(dir, &ProcessEnv, trusted, &|p| open.get(p).cloned());
                workspace.catalog.apply_reachability(&self.reach);
                Arc::new(workspace)
            })
            .clone()
    }

    /// The unsaved text of every open `stepwise.toml`, by path: workspaces are loaded from it.
    pub fn open_configs(&self) -> HashMap<PathBuf, String> {
        self.files
            .values()
            .filter(|f| f.snapshot.kind == FileKind::Config)
            .filter_map(|f| Some((f.snapshot.uri.to_file_path()?.into_owned(), f.snapshot.text.to_string())))
            .collect()
    }

    /// What `uri` is when it is not a workflow: its workspace's `stepwise.toml`, or a YAML
    /// file in one of the workspace's persona folders.
    fn file_kind(&mut self, uri: &Uri) -> Option<FileKind> {
        let path = uri.to_file_path()?.into_owned();
        let name = path.file_name()?.to_str()?;
        if name == CONFIG_FILE {
            return Some(FileKind::Config);
        }
        if !is_persona_file(&path) || name.ends_with(".flow.yaml") || name.ends_with(".flow.yml") {
            return None;
        }
        let workspace = self.workspace_for(document_dir(uri));
        let dir = path.parent()?;
        workspace
            .config
            .persona_dirs()
            .iter()
            .any(|d| d == dir)
            .then_some(FileKind::Persona)
    }

    fn file_snapshot(&mut self, uri: &Uri, kind: FileKind, version: i32, text: Arc<str>) -> Arc<FileSnapshot> {
        let workspace = self.workspace_for(document_dir(uri));
        Arc::new(FileSnapshot {
            uri: uri.clone(),
            kind,
            version,
            index: LineIndex::new(text.clone()),
            text,
            workspace,
            encoding: self.encoding,
        })
    }

    /// Opens a `stepwise.toml` or persona file; false if `uri` is neither.
    fn open_file(&mut self, uri: &Uri, version: i32, text: &str) -> bool {
        let Some(kind) = self.file_kind(uri) else {
            return false;
        };
        let live = DocumentText::new(text);
        let snapshot = self.file_snapshot(uri, kind, version, live.to_arc_str());
        self.files.insert(uri.clone(), OpenFile { text: live, snapshot });
        true
    }

    /// Applies edits to an open `stepwise.toml` or persona file; false if `uri` is not one.
    pub fn change_file(&mut self, uri: &Uri, version: i32, edits: &[TextEdit]) -> bool {
        let encoding = self.encoding;
        let Some(file) = self.files.get_mut(uri) else {
            return false;
        };
        file.text.apply_all(edits, encoding);
        let (kind, text) = (file.snapshot.kind, file.text.to_arc_str());
        let snapshot = self.file_snapshot(uri, kind, version, text);
        if let Some(file) = self.files.get_mut(uri) {
            file.snapshot = snapshot;
        }
        true
    }

    /// The latest snapshot of an open `stepwise.toml` or persona file.
    pub fn file(&self, uri: &Uri) -> Option<Arc<FileSnapshot>> {
        self.files.get(uri).map(|f| f.snapshot.clone())
    }

    /// The workspaces of every open document and file, once each.
    pub fn open_workspaces(&self) -> Vec<Arc<Workspace>> {
        let mut all: Vec<Arc<Workspace>> = Vec::new();
        let used = self.documents.values().map(|d| &d.snapshot.workspace);
        for ws in used.chain(self.files.values().map(|f| &f.snapshot.workspace)) {
            if !all.iter().any(|w| Arc::ptr_eq(w, ws)) {
                all.push(ws.clone());
            }
        }
        all
    }

    /// Opens (or reopens) a document; returns the snapshot it replaces, if any.
    pub fn open(&mut self, uri: Uri, version: i32, text: &str) -> Option<Arc<Snapshot>> {
        if self.open_file(&uri, version, text) {
            return self.documents.remove(&uri).map(|d| d.snapshot);
        }
        let workspace = self.workspace_for(document_dir(&uri));
        let live = DocumentText::new(text);
        let runs = self.runs.get(&uri).cloned().unwrap_or_default();
        let snapshot = Arc::new(Snapshot::new(
            uri.clone(),
            version,
            live.to_arc_str(),
            workspace,
            self.encoding,
            runs,
        ));
        self.documents
            .insert(uri, Document { text: live, snapshot })
            .map(|old| old.snapshot)
    }

    /// Applies the client's edits, in order, and makes the new version current; `None` when
    /// the document is not open.
    pub fn change(&mut self, uri: &Uri, version: i32, edits: &[TextEdit]) -> Option<Replaced> {
        let encoding = self.encoding;
        let doc = self.documents.get_mut(uri)?;
        let edit = doc.text.apply_all(edits, encoding);
        let next = doc
            .snapshot
            .next(version, doc.text.to_arc_str(), doc.snapshot.workspace.clone(), edit);
        let old = std::mem::replace(&mut doc.snapshot, Arc::new(next));
        Some(match Arc::try_unwrap(old) {
            Ok(_) => Replaced::Released,
            Err(held) => Replaced::Held(held),
        })
    }

    /// Replaces the run results of a document and re-snapshots it with them.
    pub fn set_runs(&mut self, uri: &Uri, runs: RunView) {
        let runs = Arc::new(runs);
        self.runs.insert(uri.clone(), runs.clone());
        if let Some(doc) = self.documents.get_mut(uri) {
            doc.snapshot = Arc::new(doc.snapshot.with_runs(runs));
        }
    }

    /// The run results of a document, if any were loaded.
    pub fn runs(&self, uri: &Uri) -> Option<Arc<RunView>> {
        self.runs.get(uri).cloned()
    }

    /// Marks a run of `uri` as started; `false` if one is already in progress.
    pub fn start_run(&mut self, uri: &Uri, cancel: CancellationToken, progress: Option<String>) -> bool {
        if self.active.contains_key(uri) {
            return false;
        }
        self.active.insert(uri.clone(), (cancel, progress));
        true
    }

    /// Whether a run of `uri` is in progress.
    pub fn run_in_progress(&self, uri: &Uri) -> bool {
        self.active.contains_key(uri)
    }

    /// Cancels the run reporting progress under `token` (the client's cancel button).
    pub fn cancel_progress(&self, token: &str) {
        for (cancel, progress) in self.active.values() {
            if progress.as_deref() == Some(token) {
                cancel.cancel();
            }
        }
    }

    /// Marks the run of `uri` as ended.
    pub fn end_run(&mut self, uri: &Uri) {
        self.active.remove(uri);
    }

    /// Cancels the run of `uri`; `false` if none is in progress.
    pub fn cancel_run(&self, uri: &Uri) -> bool {
        self.active.get(uri).map(|(cancel, _)| cancel.cancel()).is_some()
    }

    /// Cancels every run in progress (on shutdown).
    pub fn cancel_all(&self) {
        self.active.values().for_each(|(cancel, _)| cancel.cancel());
    }

    /// Closes a document; returns its last snapshot, to be dropped off the message loop.
    pub fn close(&mut self, uri: &Uri) -> Option<Arc<Snapshot>> {
        self.files.remove(uri);
        self.documents.remove(uri).map(|d| d.snapshot)
    }

    /// The latest snapshot of an open document.
    pub fn snapshot(&self, uri: &Uri) -> Option<Arc<Snapshot>> {
        self.documents.get(uri).map(|d| d.snapshot.clone())
    }

    /// Snapshots of every open document.
    pub fn snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.documents.values().map(|d| d.snapshot.clone()).collect()
    }

    /// The folders whose workspaces are loaded, for reloading them off the lock.
    pub fn workspace_dirs(&self) -> Vec<PathBuf> {
        self.documents
            .keys()
            .chain(self.files.keys())
            .map(document_dir)
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect()
    }

    /// Replaces the loaded workspaces and re-snapshots every open document against them.
    pub fn replace_workspaces(&mut self, workspaces: HashMap<PathBuf, Arc<Workspace>>) {
        self.workspaces = workspaces;
        let uris: Vec<Uri> = self.documents.keys().cloned().collect();
        for uri in uris {
            let workspace = self.workspace_for(document_dir(&uri));
            if let Some(doc) = self.documents.get_mut(&uri) {
                let old = &doc.snapshot;
                doc.snapshot = Arc::new(old.next(old.version, old.text.clone(), workspace, TextDelta::Same));
            }
        }
        let files: Vec<Uri> = self.files.keys().cloned().collect();
        for uri in files {
            if let Some(old) = self.file(&uri) {
                let snapshot = self.file_snapshot(&uri, old.kind, old.version, old.text.clone());
                if let Some(file) = self.files.get_mut(&uri) {
                    file.snapshot = snapshot;
                }
            }
        }
    }

    /// The probe answers so far.
    pub fn reachability(&self) -> &Reachability {
        &self.reach
    }

    /// Of `urls`, those without a fresh answer and not being probed; marks them as probing.
    pub fn start_probes(&mut self, urls: Vec<String>) -> Vec<String> {
        let now = unix_now();
        let due: Vec<String> = urls
            .into_iter()
            .filter(|u| !self.reach.is_fresh(u, now) && !self.probing.contains(u))
            .collect();
        self.probing.extend(due.iter().cloned());
        due
    }

    /// Records finished probes; true when an answer changed (workspaces need reloading).
    pub fn finish_probes(&mut self, urls: &[String], answers: &Reachability) -> bool {
        let mut changed = false;
        for url in urls {
            self.probing.remove(url);
            if let Some(r) = answers.get(url) {
                changed |= self.reach.answer(url) != Some(r.answered);
                self.reach.record(url, r.answered, r.checked_at);
            }
        }
        changed
    }
}
