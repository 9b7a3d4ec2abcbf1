//! `stepwise.toml` and persona library files open in the editor: completion and hover in them,
//! and a persona file's own diagnostics. (A `stepwise.toml`'s diagnostics are published with
//! its workspace's, by `trust::publish_config_diagnostics`, whether it is open or not; an open
//! one's unsaved text is what its workspace is loaded from.)

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{
    CompletionParams, CompletionResponse, Diagnostic, Hover, HoverContents, HoverParams, MarkupContent, MarkupKind,
    Position, Uri,
};

use super::session::{FileKind, FileSnapshot};
use super::{Shared, convert, internal_error, requests};
use crate::analysis::completion::CompletionItem;
use crate::analysis::hover::HoverInfo;
use crate::analysis::{config_file, persona_file};
use crate::model::persona::parse_persona_file;

/// Runs `f` on the open file `uri` on the blocking pool; `None` when `uri` is not one.
async fn on_file<T, F>(shared: &Shared, uri: &Uri, f: F) -> Option<Result<Option<T>>>
where
    T: Send + 'static,
    F: FnOnce(&FileSnapshot) -> Option<T> + Send + 'static,
{
    let file = shared.session().file(uri)?;
    let reply = tokio::task::spawn_blocking(move || f(&file)).await.map_err(|err| {
        tracing::error!("request on {} failed: {err}", uri.as_str());
        internal_error("the request panicked; see the server log")
    });
    Some(reply)
}

fn offset(file: &FileSnapshot, position: Position) -> usize {
    convert::offset(&file.index, position, file.encoding)
}

fn completions(file: &FileSnapshot, position: Position) -> Vec<CompletionItem> {
    let at = offset(file, position);
    match file.kind {
        FileKind::Config => config_file::completions(&file.text, at, &file.workspace),
        FileKind::Persona => persona_file::completions(&file.text, at),
    }
}

fn hover_info(file: &FileSnapshot, position: Position) -> Option<HoverInfo> {
    let at = offset(file, position);
    match file.kind {
        FileKind::Config => config_file::hover(&file.text, at, &file.workspace),
        FileKind::Persona => persona_file::hover(&file.text, at),
    }
}

/// `textDocument/completion` in an open `stepwise.toml` or persona file.
pub(crate) async fn completion(
    shared: &Shared,
    params: &CompletionParams,
) -> Option<Result<Option<CompletionResponse>>> {
    let position = params.text_document_position.position;
    on_file(shared, &params.text_document_position.text_document.uri, move |file| {
        let items = completions(file, position)
            .into_iter()
            .map(|c| requests::completion::to_lsp(&file.index, c, file.encoding))
            .collect();
        Some(CompletionResponse::Array(items))
    })
    .await
}

/// `textDocument/hover` in an open `stepwise.toml` or persona file.
pub(crate) async fn hover(shared: &Shared, params: &HoverParams) -> Option<Result<Option<Hover>>> {
    let position = params.text_document_position_params.position;
    on_file(
        shared,
        &params.text_document_position_params.text_document.uri,
        move |file| {
            let info = hover_info(file, position)?;
            Some(Hover {
                contents: HoverContents::Markup(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: info.markdown,
                }),
                range: Some(convert::range(&file.index, info.span, file.encoding)),
            })
        },
    )
    .await
}

/// The diagnostics of an open persona file, as the editor shows them.
pub(crate) fn persona_diagnostics(file: &FileSnapshot) -> Vec<Diagnostic> {
    let Some(path) = file.uri.to_file_path() else {
        return Vec::new();
    };
    let Some(persona) = parse_persona_file(&path, file.text.to_string()) else {
        return Vec::new();
    };
    persona
        .diagnostics
        .iter()
        .map(|d| convert::diagnostic(&file.index, &file.uri, d, file.encoding))
        .collect()
}
