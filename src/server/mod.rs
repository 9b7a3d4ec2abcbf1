//! The language server (`stepwise lsp`): LSP over stdio (framed by `transport`) on
//! tower-lsp-server's service.
//!
//! Three rules shape it. Document updates are applied synchronously, in arrival order, before
//! any later message is dispatched (`dispatch`), so no request can overtake the `didChange`
//! before it even though tower-lsp-server runs handlers concurrently. Requests compute on a
//! snapshot on the blocking pool, so a huge document never stalls the protocol loop. Work
//! that reports back later (diagnostics now, runs in a later version) goes through one
//! event channel (`events`).

mod commands;
mod compare;
mod convert;
mod dispatch;
mod encoded_reply;
mod events;
mod files;
mod live_output;
mod preview;
mod probes;
mod publish;
mod requests;
mod run_progress;
mod run_refusal;
mod runs;
mod runs_watch;
mod session;
mod transport;
mod trust;

use std::sync::{Arc, Mutex, MutexGuard};

use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use events::Event;
use session::{Session, Snapshot};

use crate::syntax::text::PositionEncoding;

/// Environment variable with the log filter (e.g. `debug`, `stepwise=trace`).
pub const LOG_ENV: &str = "STEPWISE_LOG";

/// Environment variable that enables the `stepwise/crashTest` request, for panic-safety tests.
pub const CRASH_TEST_ENV: &str = "STEPWISE_ALLOW_CRASH_TEST";

/// Sets the log filter at run time (from `initializationOptions.logLevel`).
type SetLogLevel = Box<dyn Fn(&str) + Send + Sync>;

/// State shared by the protocol handlers, the dispatcher and the event loop.
pub(crate) struct Shared {
    session: Mutex<Session>,
    client: Client,
    events: tokio::sync::mpsc::UnboundedSender<Event>,
    capabilities: Mutex<ClientCapabilities>,
    /// The engine that runs steps, made on first use (it builds an HTTP client).
    engine: std::sync::OnceLock<crate::engine::Engine>,
    /// Woken whenever a run ends, for work waiting to start a run of the same document.
    run_ended: tokio::sync::Notify,
    /// Numbers each change of run results (see `runs::show`).
    runs_changed: std::sync::atomic::AtomicU64,
    /// The latest change of run results the event loop has shown (diagnostics published, hints
    /// and lenses asked to refresh): a failover prompt waits for its step's failure to be shown.
    runs_shown: tokio::sync::watch::Sender<u64>,
    /// What was last published on each `stepwise.toml` (messages), to publish only changes.
    config_diagnostics: Mutex<std::collections::HashMap<std::path::PathBuf, Vec<String>>>,
    /// What the editor's runs have streamed so far.
    live_output: live_output::LiveOutputs,
    /// The records folders of open workflows, watched for other processes' runs.
    runs_watch: runs_watch::RunsWatch,
    /// Messages encoded here rather than by `client` (see [`publish`]).
    wire: futures::channel::mpsc::Sender<(Vec<u8>, futures::channel::oneshot::Sender<()>)>,
}

impl Shared {
    /// The session, even if a panicking handler poisoned its lock (its data stays consistent:
    /// every mutation is a single assignment).
    fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn engine(&self) -> &crate::engine::Engine {
        self.engine.get_or_init(crate::engine::Engine::default)
    }

    fn send(&self, event: Event) {
        // The receiver lives as long as the runtime; a send can only fail during shutdown.
        let _ = self.events.send(event);
    }

    /// Writes a message encoded whole (a publication, a reply its handler encoded) to the
    /// client and returns once it is on the wire, so that what is sent after it follows it;
    /// `what` names it in the log when the connection has closed.
    async fn write_encoded(&self, message: Vec<u8>, what: &str) {
        use futures::SinkExt;
        let (written, on_wire) = futures::channel::oneshot::channel();
        if self.wire.clone().send((message, written)).await.is_err() || on_wire.await.is_err() {
            tracing::warn!("the connection closed before {what} could be sent");
        }
    }
}

/// The `LanguageServer` implementation; document sync lives in `dispatch`.
pub struct Backend {
    shared: Arc<Shared>,
    set_log_level: SetLogLevel,
}

/// Runs `f` on a snapshot of `uri` on the blocking pool; a panic becomes an error reply.
async fn on_snapshot<T, F>(shared: &Shared, uri: &Uri, f: F) -> Result<Option<T>>
where
    T: Send + 'static,
    F: FnOnce(&Snapshot) -> Option<T> + Send + 'static,
{
    let Some(snapshot) = shared.session().snapshot(uri) else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || f(&snapshot)).await.map_err(|err| {
        tracing::error!("request on {} failed: {err}", uri.as_str());
        internal_error("the request panicked; see the server log")
    })
}

fn internal_error(message: &'static str) -> Error {
    Error {
        code: ErrorCode::InternalError,
        message: message.into(),
        data: None,
    }
}

/// The encoding to use: UTF-8 when the client offers it, else the mandatory UTF-16.
fn negotiate_encoding(caps: &ClientCapabilities) -> PositionEncoding {
    let offered = caps.general.as_ref().and_then(|g| g.position_encodings.as_ref());
    match offered {
        Some(list) if list.contains(&PositionEncodingKind::UTF8) => PositionEncoding::Utf8,
        _ => PositionEncoding::Utf16,
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        if std::env::var_os(LOG_ENV).is_none()
            && let Some(level) = params
                .initialization_options
                .as_ref()
                .and_then(|o| o.get("logLevel"))
                .and_then(|l| l.as_str())
        {
            (self.set_log_level)(level);
        }
        let encoding = negotiate_encoding(&params.capabilities);
        self.shared.session().set_encoding(encoding);
        if trust::trusted_by_editor(params.initialization_options.as_ref()) {
            self.shared.session().set_editor_trust(true);
        }
        *self.shared.capabilities.lock().unwrap_or_else(|e| e.into_inner()) = params.capabilities;
        tracing::info!("initialized with {encoding:?} positions");
        Ok(InitializeResult {
            capabilities: capabilities(encoding),
            server_info: Some(ServerInfo {
                name: "stepwise".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let dynamic = self
            .shared
            .capabilities
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false);
        if !dynamic {
            return;
        }
        let watchers = ["**/stepwise.toml", "**/*.yaml", "**/*.yml"]
            .into_iter()
            .map(|glob| FileSystemWatcher {
                glob_pattern: GlobPattern::String(glob.to_string()),
                kind: None,
            })
            .chain(trust::store_watcher())
            .collect();
        let registration = Registration {
            id: "stepwise-watched-files".to_string(),
            method: "workspace/didChangeWatchedFiles".to_string(),
            register_options: serde_json::to_value(DidChangeWatchedFilesRegistrationOptions { watchers }).ok(),
        };
        if let Err(err) = self.shared.client.register_capability(vec![registration]).await {
            tracing::warn!("could not watch stepwise.toml and persona files: {err}");
        }
    }

    async fn shutdown(&self) -> Result<()> {
        self.shared.session().cancel_all();
        Ok(())
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri.clone();
        on_snapshot(&self.shared, &uri, move |s| requests::code_action::handle(s, params)).await
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        let uri = params.text_document.uri.clone();
        encoded_reply::on_snapshot(&self.shared, &uri, move |s| requests::code_lens::handle(s, params)).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        runs::execute(self.shared.clone(), params).await
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let relevant = params.changes.iter().any(|c| {
            c.uri.to_file_path().is_some_and(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                name == crate::model::config::CONFIG_FILE
                    || trust::is_store(&p)
                    || (crate::model::persona::is_persona_file(&p)
                        && !name.ends_with(".flow.yaml")
                        && !name.ends_with(".flow.yml"))
            })
        });
        if relevant {
            self.shared.send(Event::WorkspaceChanged);
        }
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        if let Some(reply) = files::completion(&self.shared, &params).await {
            return reply;
        }
        let uri = params.text_document_position.text_document.uri.clone();
        encoded_reply::on_snapshot(&self.shared, &uri, move |s| requests::completion::handle(s, params)).await
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        if let Some(reply) = files::hover(&self.shared, &params).await {
            return reply;
        }
        let uri = params.text_document_position_params.text_document.uri.clone();
        on_snapshot(&self.shared, &uri, move |s| requests::hover::handle(s, params)).await
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> Result<Option<Vec<InlayHint>>> {
        let uri = params.text_document.uri.clone();
        encoded_reply::on_snapshot_written(&self.shared, &uri, move |s, id| {
            requests::inlay_hint::encode(id, s, params.range)
        })
        .await
    }

    async fn inlay_hint_resolve(&self, hint: InlayHint) -> Result<InlayHint> {
        let Some(uri) = requests::inlay_hint::uri_of(&hint) else {
            return Ok(hint);
        };
        let fallback = hint.clone();
        let resolved = on_snapshot(&self.shared, &uri, move |s| {
            Some(requests::inlay_hint::resolve(s, hint))
        })
        .await?;
        Ok(resolved.unwrap_or(fallback))
    }

    async fn semantic_tokens_full(&self, params: SemanticTokensParams) -> Result<Option<SemanticTokensResult>> {
        let uri = params.text_document.uri.clone();
        encoded_reply::on_snapshot(&self.shared, &uri, |s| Some(requests::semantic_tokens::full(s).into())).await
    }

    async fn semantic_tokens_range(
        &self,
        params: SemanticTokensRangeParams,
    ) -> Result<Option<SemanticTokensRangeResult>> {
        let uri = params.text_document.uri.clone();
        on_snapshot(&self.shared, &uri, move |s| {
            Some(requests::semantic_tokens::range(s, params.range).into())
        })
        .await
    }

    async fn goto_definition(&self, params: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
        let uri = params.text_document_position_params.text_document.uri.clone();
        on_snapshot(&self.shared, &uri, move |s| requests::definition::handle(s, params)).await
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let uri = params.text_document_position.text_document.uri.clone();
        let others = self.shared.session().snapshots();
        on_snapshot(&self.shared, &uri, move |s| {
            requests::references::handle(s, &others, params)
        })
        .await
    }

    async fn prepare_rename(&self, params: TextDocumentPositionParams) -> Result<Option<PrepareRenameResponse>> {
        let uri = params.text_document.uri.clone();
        let reply = on_snapshot(&self.shared, &uri, move |s| Some(requests::rename::prepare(s, params))).await?;
        Ok(reply.transpose()?.flatten())
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let uri = params.text_document_position.text_document.uri.clone();
        let reply = on_snapshot(&self.shared, &uri, move |s| Some(requests::rename::handle(s, params))).await?;
        Ok(reply.transpose()?.flatten())
    }

    async fn document_symbol(&self, params: DocumentSymbolParams) -> Result<Option<DocumentSymbolResponse>> {
        let uri = params.text_document.uri.clone();
        encoded_reply::on_snapshot(&self.shared, &uri, requests::document_symbol::handle).await
    }
}

impl Backend {
    /// `window/workDoneProgress/cancel`: the user pressed cancel on a run's progress.
    async fn progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        let token = match params.token {
            NumberOrString::Number(n) => n.to_string(),
            NumberOrString::String(s) => s,
        };
        self.shared.session().cancel_progress(&token);
    }

    /// `stepwise/workspaceTrusted`: the user granted trust in the editor; it counts until
    /// the server exits.
    async fn workspace_trusted(&self, _: serde_json::Value) {
        self.shared.session().set_editor_trust(true);
        self.shared.send(Event::WorkspaceChanged);
    }

    /// `stepwise/runs`: the workflow's runs, newest first, for the run view.
    async fn runs(&self, params: requests::runs::RunsParams) -> Result<serde_json::Value> {
        requests::runs::handle(&self.shared, params).await
    }

    /// `stepwise/crashTest`: panics inside a handler when the server was started with
    /// [`CRASH_TEST_ENV`] set, so tests can check that a panic costs one reply, not the server.
    async fn crash_test(&self) -> Result<()> {
        if std::env::var_os(CRASH_TEST_ENV).is_some() {
            panic!("crash test requested");
        }
        Err(Error::method_not_found())
    }
}

fn capabilities(encoding: PositionEncoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(match encoding {
            PositionEncoding::Utf8 => PositionEncodingKind::UTF8,
            PositionEncoding::Utf16 => PositionEncodingKind::UTF16,
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::INCREMENTAL),
            ..Default::default()
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".to_string(), " ".to_string(), "/".to_string(), "[".to_string()]),
            ..Default::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![
                CodeActionKind::QUICKFIX,
                CodeActionKind::REFACTOR_REWRITE,
                CodeActionKind::new("source.run"),
            ]),
            ..Default::default()
        })),
        code_lens_provider: Some(CodeLensOptions {
            resolve_provider: Some(false),
        }),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: commands::ServerCommand::IDS.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }),
        inlay_hint_provider: Some(OneOf::Right(InlayHintServerCapabilities::Options(InlayHintOptions {
            resolve_provider: Some(true),
            work_done_progress_options: Default::default(),
        }))),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: requests::semantic_tokens::legend(),
                range: Some(true),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                work_done_progress_options: Default::default(),
            },
        )),
        ..Default::default()
    }
}

/// Whether an event is tower-lsp-server's trace of a whole message: those carry documents'
/// text (and any key pasted into them), so they are never logged; `dispatch` logs each
/// document's version and size instead.
fn is_message_trace(meta: &tracing::Metadata<'_>) -> bool {
    meta.target().starts_with("tower_lsp_server") && *meta.level() == tracing::Level::TRACE
}

/// Logs to stderr only (stdout is the protocol); the filter comes from [`LOG_ENV`] and may be
/// changed once by the client's initialization options.
fn init_logging() -> SetLogLevel {
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| !is_message_trace(meta)));
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(filter).with(fmt).try_init();
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("panic: {info}");
    }));
    Box::new(move |level: &str| match EnvFilter::try_new(level) {
        Ok(filter) => {
            let _ = handle.reload(filter);
        }
        Err(err) => tracing::warn!("ignoring log level {level:?}: {err}"),
    })
}

/// Serves LSP on stdin/stdout until the client exits; owns the tokio runtime.
pub fn run() -> anyhow::Result<()> {
    let set_log_level = init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let served = runtime.block_on(async move {
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let (wire, encoded) = futures::channel::mpsc::channel(1);
        let (service, socket) = LspService::build(|client| Backend {
            shared: Arc::new(Shared {
                session: Mutex::new(Session::default()),
                client,
                events: events_tx,
                capabilities: Mutex::new(ClientCapabilities::default()),
                engine: std::sync::OnceLock::new(),
                run_ended: tokio::sync::Notify::new(),
                runs_changed: std::sync::atomic::AtomicU64::new(0),
                runs_shown: tokio::sync::watch::Sender::new(0),
                config_diagnostics: Mutex::default(),
                live_output: Default::default(),
                runs_watch: Default::default(),
                wire,
            }),
            set_log_level,
        })
        .custom_method("stepwise/crashTest", Backend::crash_test)
        .custom_method(requests::runs::METHOD, Backend::runs)
        .custom_method("window/workDoneProgress/cancel", Backend::progress_cancel)
        .custom_method(trust::TRUSTED_NOTIFICATION, Backend::workspace_trusted)
        .finish();
        let shared = service.inner().shared.clone();
        tokio::spawn(events::run(shared.clone(), events_rx));
        runs_watch::RunsWatch::start(shared.clone());
        let service = dispatch::Ordered::new(service, shared);
        transport::serve(tokio::io::stdin(), tokio::io::stdout(), socket, encoded, service).await
    });
    if let Err(err) = &served {
        tracing::error!("stopping: {err}");
    }
    // Blocking tasks still computing for a client that left must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(served?)
}
