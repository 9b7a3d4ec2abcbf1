//! `check --format json`: one JSON object with every diagnostic and a summary, for tools.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::diagnostic::{Diagnostic, Severity};

use super::check::{Checked, Report};
use crate::json_stream::{Streamed, write_pretty};

/// The document; its fields in the order `serde_json` sorts an object's keys.
#[derive(Serialize)]
struct Document<D> {
    diagnostics: D,
    summary: Value,
    unreadable: Vec<Value>,
}

/// The JSON document, pretty-printed to `out`.
pub fn write(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let diagnostics = report
        .checked
        .iter()
        .flat_map(|file| file.diagnostics.iter().map(move |d| diagnostic_json(file, d)));
    let unreadable: Vec<Value> = report
        .unreadable
        .iter()
        .map(|u| json!({ "path": u.display_path(), "reason": u.reason }))
        .collect();
    let document = Document {
        diagnostics: Streamed::new(diagnostics),
        summary: json!({
            "files": report.checked.len(),
            "errors": report.count(Severity::Error),
            "warnings": report.count(Severity::Warning),
            "unreadable": report.unreadable.len(),
        }),
        unreadable,
    };
    write_pretty(out, &document)
}

fn diagnostic_json(file: &Checked, d: &Diagnostic) -> Value {
    let point = |offset: usize| point_json(file, offset);
    json!({
        "path": file.display_path(),
        "code": d.code.as_str(),
        "severity": d.severity.as_str(),
        "message": d.message,
        "start": point(d.span.start),
        "end": point(d.span.end),
        "byte_range": [d.span.start, d.span.end],
        "suggestions": d.suggestions,
        "related": d.related.iter().map(|r| json!({
            "message": r.message,
            "start": point(r.span.start),
            "end": point(r.span.end),
        })).collect::<Vec<_>>(),
    })
}

fn point_json(file: &Checked, offset: usize) -> Value {
    let p = file.point(offset);
    json!({ "line": p.line, "column": p.column, "utf16_column": p.utf16_column })
}
