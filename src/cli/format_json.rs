//! `check --format json`: one JSON object with every diagnostic and a summary, for tools.

use serde_json::{Value, json};

use crate::model::diagnostic::Severity;

use super::check::{Checked, Report};

/// The JSON document, pretty-printed.
pub fn render(report: &Report) -> String {
    let mut diagnostics = Vec::new();
    for file in &report.checked {
        let point = |offset: usize| point_json(file, offset);
        for d in &file.diagnostics {
            diagnostics.push(json!({
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
            }));
        }
    }
    let unreadable: Vec<Value> = report
        .unreadable
        .iter()
        .map(|u| json!({ "path": u.display_path(), "reason": u.reason }))
        .collect();
    serde_json::to_string_pretty(&json!({
        "diagnostics": diagnostics,
        "unreadable": unreadable,
        "summary": {
            "files": report.checked.len(),
            "errors": report.count(Severity::Error),
            "warnings": report.count(Severity::Warning),
            "unreadable": report.unreadable.len(),
        },
    }))
    .expect("JSON serializes")
}

fn point_json(file: &Checked, offset: usize) -> Value {
    let p = file.point(offset);
    json!({ "line": p.line, "column": p.column, "utf16_column": p.utf16_column })
}
