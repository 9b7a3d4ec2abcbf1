//! The server's mutable state (open documents, loaded workspaces, negotiated settings) and
//! the immutable snapshots that requests work on, as in ruff_server: a request clones a
//! snapshot under a short lock and then computes without holding it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tower_lsp_server::ls_types::Uri;

use crate::analysis::Analysis;
use crate::model::catalog::ProcessEnv;
use crate::model::workspace::Workspace;
use crate::syntax::text::{DocumentText, PositionEncoding, TextEdit};

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
    text: Arc<str>,
    analysis: OnceLock<Arc<Analysis>>,
}

impl Snapshot {
    fn new(uri: Uri, version: i32, text: Arc<str>, workspace: Arc<Workspace>, encoding: PositionEncoding) -> Snapshot {
        Snapshot {
            uri,
            version,
            workspace,
            encoding,
            text,
            analysis: OnceLock::new(),
        }
    }

    /// The analysis of this version; computed by the first caller, shared with the rest.
    pub fn analysis(&self) -> Arc<Analysis> {
        self.analysis
            .get_or_init(|| Arc::new(Analysis::new(self.text.clone(), self.workspace.clone())))
            .clone()
    }
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
    /// Workspaces by the folder of the documents that use them.
    workspaces: HashMap<PathBuf, Arc<Workspace>>,
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

    /// The workspace for documents in `dir`, loaded once per folder.
    fn workspace_for(&mut self, dir: PathBuf) -> Arc<Workspace> {
        self.workspaces
            .entry(dir)
            .or_insert_with_key(|dir| Arc::new(Workspace::load(dir, &ProcessEnv)))
            .clone()
    }

    /// Opens (or reopens) a document.
    pub fn open(&mut self, uri: Uri, version: i32, text: &str) -> Arc<Snapshot> {
        let workspace = self.workspace_for(document_dir(&uri));
        let live = DocumentText::new(text);
        let snapshot = Arc::new(Snapshot::new(
            uri.clone(),
            version,
            live.to_arc_str(),
            workspace,
            self.encoding,
        ));
        self.documents.insert(
            uri,
            Document {
                text: live,
                snapshot: snapshot.clone(),
            },
        );
        snapshot
    }

    /// Applies the client's edits, in order, and makes the new version current.
    pub fn change(&mut self, uri: &Uri, version: i32, edits: &[TextEdit]) -> Option<Arc<Snapshot>> {
        let encoding = self.encoding;
        let doc = self.documents.get_mut(uri)?;
        for edit in edits {
            doc.text.apply(edit, encoding);
        }
        doc.snapshot = Arc::new(Snapshot::new(
            uri.clone(),
            version,
            doc.text.to_arc_str(),
            doc.snapshot.workspace.clone(),
            encoding,
        ));
        Some(doc.snapshot.clone())
    }

    /// Closes a document.
    pub fn close(&mut self, uri: &Uri) {
        self.documents.remove(uri);
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
            let encoding = self.encoding;
            if let Some(doc) = self.documents.get_mut(&uri) {
                let old = &doc.snapshot;
                doc.snapshot = Arc::new(Snapshot::new(
                    uri.clone(),
                    old.version,
                    old.text.clone(),
                    workspace,
                    encoding,
                ));
            }
        }
    }
}
