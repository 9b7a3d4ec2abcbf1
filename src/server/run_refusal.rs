//! The error of a run command that the engine refused before sending anything: the message
//! names every problem with its line, `data.problems` carries them as LSP diagnostics and
//! `data.missingInputs` the inputs to ask for (as the inputs-only refusal does).

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Error, ErrorCode};
use tower_lsp_server::ls_types::Uri;

use super::convert;
use crate::engine::preflight::PreflightError;
use crate::syntax::text::{LineIndex, PositionEncoding};

/// The command error for `refused`, placed in the document of `uri` as the editor has it.
pub fn preflight_error(
    index: &LineIndex,
    uri: &Uri,
    encoding: PositionEncoding,
    refused: &PreflightError,
    missing_inputs: Option<Value>,
) -> Error {
    let errors: Vec<_> = refused.errors().collect();
    let noun = if errors.len() == 1 { "problem" } else { "problems" };
    let mut message = format!("not running: {} {noun} found before sending anything", errors.len());
    for d in &errors {
        let line = index.line_of(d.span.start) + 1;
        message.push_str(&format!("\n- line {line}: {}", d.message));
    }
    let problems: Vec<Value> = refused
        .problems
        .iter()
        .map(|d| serde_json::to_value(convert::diagnostic(index, uri, d, encoding)).unwrap_or(Value::Null))
        .collect();
    let mut data = json!({ "problems": problems });
    if let Some(missing) = missing_inputs {
        data["missingInputs"] = missing;
    }
    Error {
        code: ErrorCode::InvalidParams,
        message: message.into(),
        data: Some(data),
    }
}
