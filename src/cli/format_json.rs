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
    let paths: Vec<String> = report.checked.iter().map(Checked::display_path).collect();
    let diagnostics = report
        .checked
        .iter()
        .zip(&paths)
        .flat_map(|(file, path)| file.diagnostics.iter().map(move |d| diagnostic_json(file, path, d)));
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

/// One diagnostic, borrowed from the report (no JSON value tree per diagnostic); its fields
/// in the order `serde_json` sorts an object's keys, as the output always had them.
#[derive(Serialize)]
struct DiagnosticJson<'a> {
    byte_range: [usize; 2],
    code: &'static str,
    end: PointJson,
    message: &'a str,
    path: &'a str,
    related: Vec<RelatedJson<'a>>,
    severity: &'static str,
    start: PointJson,
    suggestions: &'a [String],
}

/// A related place of a diagnostic.
#[derive(Serialize)]
struct RelatedJson<'a> {
    end: PointJson,
    message: &'a str,
    start: PointJson,
}

/// A 1-based place.
#[derive(Serialize)]
struct PointJson {
    column: usize,
    line: usize,
    utf16_column: usize,
}

fn diagnostic_json<'a>(file: &Checked, path: &'a str, d: &'a Diagnostic) -> DiagnosticJson<'a> {
    let point = |offset: usize| point_json(file, offset);
    DiagnosticJson {
        byte_range: [d.span.start, d.span.end],
        code: d.code.as_str(),
        end: point(d.span.end),
        message: &d.message,
        path,
        related: d
            .related
            .iter()
            .map(|r| RelatedJson {
                end: point(r.span.end),
                message: &r.message,
                start: point(r.span.start),
            })
            .collect(),
        severity: d.severity.as_str(),
        start: point(d.span.start),
        suggestions: &d.suggestions,
    }
}

fn point_json(file: &Checked, offset: usize) -> PointJson {
    let p = file.point(offset);
    PointJson {
        line: p.line,
        column: p.column,
        utf16_column: p.utf16_column,
    }
}
