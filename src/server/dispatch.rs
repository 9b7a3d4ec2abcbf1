//! The ordering layer in front of tower-lsp-server: it applies `didOpen`, `didChange` and
//! `didClose` synchronously in `call`, which the transport invokes once per message in
//! arrival order, so every later request sees the text the client sent before it. It also
//! turns a panic in any handler into an error reply to that request, and writes the replies
//! that handlers encoded themselves (`encoded_reply`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tower::Service;
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_lsp_server::ls_types::{
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams, TextDocumentContentChangeEvent,
};
use tower_lsp_server::{ExitedError, LspService};

use super::convert::line_col;
use super::encoded_reply::Reply;
use super::session::{Replaced, Snapshot};
use super::{Backend, Event, Shared, internal_error};
use crate::syntax::text::TextEdit;

/// `LspService` with document sync applied in order and panics caught.
pub struct Ordered {
    inner: LspService<Backend>,
    shared: Arc<Shared>,
}

impl Ordered {
    /// Wraps the service; `shared` is the backend's state.
    pub fn new(inner: LspService<Backend>, shared: Arc<Shared>) -> Ordered {
        Ordered { inner, shared }
    }

    /// Whether `method` is a document-sync notification, applied in [`Ordered::sync`].
    fn is_sync(method: &str) -> bool {
        matches!(
            method,
            "textDocument/didOpen" | "textDocument/didChange" | "textDocument/didClose"
        )
    }

    /// Applies a document-sync notification.
    fn sync(&self, method: &str, params: Option<serde_json::Value>) {
        match method {
            "textDocument/didOpen" => {
                if let Some(p) = parse::<DidOpenTextDocumentParams>(method, params) {
                    let doc = p.text_document;
                    tracing::debug!(
                        "opened {} version {} ({} bytes)",
                        doc.uri.as_str(),
                        doc.version,
                        doc.text.len()
                    );
                    let old = self.shared.session().open(doc.uri.clone(), doc.version, &doc.text);
                    drop_later(old);
                    self.shared.send(Event::Analyze(doc.uri));
                }
            }
            "textDocument/didChange" => {
                if let Some(p) = parse::<DidChangeTextDocumentParams>(method, params) {
                    let edits: Vec<TextEdit> = p.content_changes.into_iter().map(text_edit).collect();
                    let uri = p.text_document.uri;
                    let bytes: usize = edits.iter().map(|e| e.text.len()).sum();
                    tracing::debug!(
                        "changed {} to version {} ({} edits, {bytes} bytes inserted)",
                        uri.as_str(),
                        p.text_document.version,
                        edits.len()
                    );
                    if self.shared.session().change_file(&uri, p.text_document.version, &edits) {
                        self.shared.send(Event::Analyze(uri));
                        return;
                    }
                    let changed = self.shared.session().change(&uri, p.text_document.version, &edits);
                    match changed {
                        Some(replaced) => {
                            if let Replaced::Held(old) = replaced {
                                drop_later(Some(old));
                            }
                            self.shared.send(Event::Analyze(uri));
                        }
                        None => tracing::warn!("didChange for unopened {}", uri.as_str()),
                    }
                }
            }
            "textDocument/didClose" => {
                if let Some(p) = parse::<DidCloseTextDocumentParams>(method, params) {
                    let old = self.shared.session().close(&p.text_document.uri);
                    drop_later(old);
                    self.shared.send(Event::Closed(p.text_document.uri));
                }
            }
            _ => {}
        }
    }
}

/// Drops a replaced snapshot on the blocking pool: freeing a large document's tree takes
/// milliseconds that the message loop must not spend.
fn drop_later(snapshot: Option<Arc<Snapshot>>) {
    if let Some(snapshot) = snapshot {
        tokio::task::spawn_blocking(move || drop(snapshot));
    }
}

fn parse<T: DeserializeOwned>(method: &str, params: Option<serde_json::Value>) -> Option<T> {
    serde_json::from_value(params.unwrap_or(serde_json::Value::Null))
        .inspect_err(|err| tracing::warn!("bad {method} params: {err}"))
        .ok()
}

fn text_edit(change: TextDocumentContentChangeEvent) -> TextEdit {
    TextEdit {
        range: change.range.map(|r| (line_col(r.start), line_col(r.end))),
        text: change.text,
    }
}

impl Service<Request> for Ordered {
    type Response = Option<Response>;
    type Error = ExitedError;
    type Future = BoxFuture<'static, Result<Option<Response>, ExitedError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExitedError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if Self::is_sync(req.method()) {
            let (method, _, params) = req.into_parts();
            let synced = std::panic::catch_unwind(AssertUnwindSafe(|| self.sync(&method, params)));
            if synced.is_err() {
                tracing::error!("{method} panicked; the document may be out of date");
            }
            return futures::future::ready(Ok(None)).boxed();
        }
        let id = req.id().cloned();
        let method = req.method().to_string();
        let reply = id.clone().map(Reply::new);
        let fut = self.inner.call(req);
        let shared = self.shared.clone();
        async move {
            let served = match reply.clone() {
                Some(reply) => AssertUnwindSafe(reply.serve(fut)).catch_unwind().await,
                None => AssertUnwindSafe(fut).catch_unwind().await,
            };
            match served {
                Ok(Ok(Some(response))) if response.is_ok() => match reply.and_then(|r| r.take()) {
                    Some(encoded) => {
                        shared.write_encoded(encoded, "a reply").await;
                        Ok(None)
                    }
                    None => Ok(Some(response)),
                },
                Ok(result) => result,
                Err(_) => {
                    tracing::error!("handler of {method} panicked");
                    Ok(id
                        .map(|id| Response::from_error(id, internal_error("the request panicked; see the server log"))))
                }
            }
        }
        .boxed()
    }
}
