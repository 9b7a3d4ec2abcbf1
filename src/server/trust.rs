//! Workspace trust in the editor: the "Trust this workspace…" code action and the command
//! behind it (`window/showMessageRequest` naming every host and key variable, then recording
//! trust as `stepwise trust` does), trust granted by the editor itself (VS Code's Workspace
//! Trust: `initializationOptions.workspaceTrusted` and a notification when the user grants
//! it later, valid while the editor runs), and `untrusted-workspace` warnings published on
//! `stepwise.toml` itself.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Command, ExecuteCommandParams, FileSystemWatcher, GlobPattern,
    MessageActionItem, MessageType, OneOf, RelativePattern, Uri,
};

use super::session::Snapshot;
use super::{Event, Shared, convert};
use crate::model::catalog::ProcessEnv;
use crate::model::diagnostic::{Code, Diagnostic};
use crate::model::trust::{self, Grant, TRUST_FILE, WorkspaceTrust, config_home};
use crate::syntax::text::{LineIndex, Span};

/// Asks the user to trust the workspace of `{uri}`, and records it on yes.
pub const TRUST_COMMAND: &str = super::commands::ServerCommand::TRUST_WORKSPACE;

/// Tells whether the workspace of `{uri}` is trusted, and what it needs trust for.
pub const STATUS_COMMAND: &str = super::commands::ServerCommand::TRUST_STATUS;

/// The client's notification that the user granted trust in the editor.
pub const TRUSTED_NOTIFICATION: &str = "stepwise/workspaceTrusted";

/// The title of the code action on `untrusted-workspace` warnings.
pub const ACTION_TITLE: &str = "Trust this workspace…";

const YES: &str = "Trust";

fn invalid(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::InvalidParams,
        message: message.into().into(),
        data: None,
    }
}

/// Whether `initializationOptions` say the editor trusts the workspace.
pub fn trusted_by_editor(options: Option<&Value>) -> bool {
    options
        .and_then(|o| o.get("workspaceTrusted"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// A watcher of the trust store, so trust granted with `stepwise trust` in a terminal (or
/// revoked) takes effect in the open editor.
pub fn store_watcher() -> Option<FileSystemWatcher> {
    let base = Uri::from_file_path(config_home(&ProcessEnv)?)?;
    Some(FileSystemWatcher {
        glob_pattern: GlobPattern::Relative(RelativePattern {
            base_uri: OneOf::Right(base),
            pattern: TRUST_FILE.to_string(),
        }),
        kind: None,
    })
}

/// Whether `path` is the trust store.
pub fn is_store(path: &std::path::Path) -> bool {
    config_home(&ProcessEnv).is_some_and(|home| path == home.join(TRUST_FILE))
}

/// "Trust this workspace…" for the `untrusted-workspace` diagnostics overlapping `span`.
pub fn code_action(s: &Snapshot, span: Span, diagnostics: &[Diagnostic]) -> Option<CodeActionOrCommand> {
    let fixes: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.code == Code::UntrustedWorkspace && d.span.start <= span.end && span.start <= d.span.end)
        .map(|d| convert::diagnostic(&s.analysis().line_index, &s.uri, d, s.encoding))
        .collect();
    if fixes.is_empty() {
        return None;
    }
    Some(CodeActionOrCommand::CodeAction(CodeAction {
        title: ACTION_TITLE.to_string(),
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(fixes),
        command: Some(Command {
            title: ACTION_TITLE.to_string(),
            command: TRUST_COMMAND.to_string(),
            arguments: Some(vec![json!({ "uri": s.uri.as_str() })]),
        }),
        ..Default::default()
    }))
}

fn status(trust: &WorkspaceTrust) -> Value {
    json!({
        "root": trust.root,
        "trusted": trust.is_trusted(),
        "grantedBy": trust.granted.map(|g| match g {
            Grant::Store => "stepwise trust",
            Grant::Process => "this session",
        }),
        "lapsed": trust.lapsed,
        "needs": trust.needs.iter().map(|n| n.describe()).collect::<Vec<_>>(),
    })
}

/// Handles [`TRUST_COMMAND`] and [`STATUS_COMMAND`].
pub(crate) async fn execute(shared: Arc<Shared>, params: ExecuteCommandParams) -> Result<Option<Value>> {
    let uri: Uri = params
        .arguments
        .first()
        .and_then(|a| a.get("uri"))
        .and_then(Value::as_str)
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| invalid(format!("{} takes {{uri}}", params.command)))?;
    let snapshot = shared
        .session()
        .snapshot(&uri)
        .ok_or_else(|| invalid(format!("{} is not open", uri.as_str())))?;
    let trust = snapshot.workspace.trust.clone();
    if params.command == STATUS_COMMAND || trust.is_trusted() {
        return Ok(Some(status(&trust)));
    }
    let mut message = format!("Trust the workspace {}?", trust.root.display());
    if trust.needs.is_empty() {
        message.push_str(" Its stepwise.toml asks nothing that needs trust.");
    } else {
        message.push_str(" Its stepwise.toml would then be allowed to:");
        for need in &trust.needs {
            message.push_str(&format!("\n• {}", need.describe()));
        }
    }
    let actions = [YES, "Cancel"]
        .map(|title| MessageActionItem {
            title: title.to_string(),
            properties: Default::default(),
        })
        .to_vec();
    let choice = shared
        .client
        .show_message_request(MessageType::WARNING, message, Some(actions))
        .await;
    if !matches!(&choice, Ok(Some(item)) if item.title == YES) {
        return Ok(Some(status(&trust)));
    }
    let recorded = tokio::task::spawn_blocking({
        let trust = trust.clone();
        move || trust::record(&ProcessEnv, &trust)
    })
    .await;
    match recorded {
        Ok(Ok(path)) => {
            tracing::info!("trusted {} (recorded in {})", trust.root.display(), path.display());
            shared.send(Event::WorkspaceChanged);
            let mut reply = status(&trust);
            reply["trusted"] = json!(true);
            reply["grantedBy"] = json!("stepwise trust");
            Ok(Some(reply))
        }
        Ok(Err(e)) => {
            let text = format!("stepwise: cannot record trust: {e}");
            shared.client.show_message(MessageType::ERROR, text.clone()).await;
            Err(invalid(text))
        }
        Err(e) => Err(invalid(format!("recording trust failed: {e}"))),
    }
}

/// Forgets what was last published on `path` (its diagnostics were just cleared), so the next
/// publication sends them again.
pub(crate) fn forget_published(shared: &Shared, path: &std::path::Path) {
    shared
        .config_diagnostics
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(path);
}

/// The diagnostics of each open document's `stepwise.toml` (its own problems and
/// `untrusted-workspace` warnings), published when they differ from what was last published
/// there.
pub(crate) async fn publish_config_diagnostics(shared: &Shared) {
    let mut current: HashMap<PathBuf, (Arc<str>, Vec<Diagnostic>)> = HashMap::new();
    for workspace in shared.session().open_workspaces() {
        let config = &workspace.config;
        if let (Some(path), Some(text)) = (&config.path, &config.text) {
            current
                .entry(path.clone())
                .or_insert_with(|| (Arc::from(text.as_str()), workspace.config_file_diagnostics()));
        }
    }
    let encoding = shared.session().encoding();
    let mut sends = Vec::new();
    {
        let mut published = shared.config_diagnostics.lock().unwrap_or_else(|e| e.into_inner());
        for (path, (text, diagnostics)) in &current {
            // Places count too: an edit above a problem in an open stepwise.toml moves it.
            let messages: Vec<String> = diagnostics
                .iter()
                .map(|d| format!("{}-{} {}", d.span.start, d.span.end, d.message))
                .collect();
            if published.get(path) == Some(&messages) {
                continue;
            }
            published.insert(path.clone(), messages);
            let Some(uri) = Uri::from_file_path(path) else {
                continue;
            };
            let index = LineIndex::new(text.clone());
            let converted: Vec<tower_lsp_server::ls_types::Diagnostic> = diagnostics
                .iter()
                .map(|d| convert::diagnostic(&index, &uri, d, encoding))
                .collect();
            sends.push((uri, converted));
        }
    }
    for (uri, diagnostics) in sends {
        // The same wire as the workflows' publications, so a clearing on close never overtakes it.
        super::publish::send(shared, super::publish::encode(&uri, None, diagnostics.into_iter())).await;
    }
}
