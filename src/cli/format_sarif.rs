//! `check --format sarif`: a SARIF 2.1.0 log, which GitHub code scanning and other viewers read.
//! One rule per diagnostic code (its description and help), one result per diagnostic with its
//! region; columns count Unicode characters (`columnKind`).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::diagnostic::{Code, Diagnostic, Severity};

use super::check::{Checked, Report};
use crate::json_stream::{Streamed, write_pretty};

/// Where the schema of the log is published.
const SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The log; fields in the order `serde_json` sorts an object's keys.
#[derive(Serialize)]
struct Log<R> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: [Run<R>; 1],
    version: &'static str,
}

#[derive(Serialize)]
struct Run<R> {
    #[serde(rename = "columnKind")]
    column_kind: &'static str,
    invocations: Value,
    results: R,
    tool: Value,
}

/// The SARIF log, pretty-printed to `out`.
pub fn write(report: &Report, out: &mut impl Write) -> io::Result<()> {
    // Every code is a rule, whether this run found it or not (and a code missing from the list
    // still gets its rule).
    let mut codes = Code::ALL.to_vec();
    for d in report.checked.iter().flat_map(|c| &c.diagnostics) {
        if !codes.contains(&d.code) {
            codes.push(d.code);
        }
    }
    let rules: Vec<Value> = codes.iter().map(|&code| rule(code)).collect();
    let codes = &codes;
    let results = report
        .checked
        .iter()
        .flat_map(|file| file.diagnostics.iter().map(move |d| result(codes, file, d)));
    let notifications: Vec<Value> = report
        .unreadable
        .iter()
        .map(|u| {
            json!({
                "level": "error",
                "message": { "text": u.message() },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri(&u.display_path()) } } }],
            })
        })
        .collect();
    let log = Log {
        schema: SCHEMA,
        runs: [Run {
            column_kind: "unicodeCodePoints",
            invocations: json!([{
                "executionSuccessful": report.unreadable.is_empty(),
                "toolExecutionNotifications": notifications,
            }]),
            results: Streamed::new(results),
            tool: json!({
                "driver": {
                    "name": "stepwise",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            }),
        }],
        version: "2.1.0",
    };
    write_pretty(out, &log)
}

fn result(codes: &[Code], file: &Checked, d: &Diagnostic) -> Value {
    let rule_index = codes.iter().position(|&c| c == d.code).unwrap_or_default();
    let related: Vec<Value> = d
        .related
        .iter()
        .enumerate()
        .map(|(id, r)| {
            let mut location = location(file, r.span);
            location["id"] = json!(id);
            location["message"] = json!({ "text": r.message });
            location
        })
        .collect();
    let mut result = json!({
        "ruleId": d.code.as_str(),
        "ruleIndex": rule_index,
        "level": level(d.severity),
        "message": { "text": d.message },
        "locations": [location(file, d.span)],
    });
    if !related.is_empty() {
        result["relatedLocations"] = json!(related);
    }
    result
}

fn rule(code: Code) -> Value {
    json!({
        "id": code.as_str(),
        "shortDescription": { "text": code.description() },
        "fullDescription": { "text": code.description() },
        "help": { "text": code.help() },
        "defaultConfiguration": { "level": level(code.severity()) },
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn location(file: &Checked, span: crate::syntax::text::Span) -> Value {
    let r = file.region(span);
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri(&file.display_path()) },
            "region": {
                "startLine": r.start_line,
                "startColumn": r.start_column,
                "endLine": r.end_line,
                "endColumn": r.end_column,
            },
        }
    })
}

/// A path as a URI reference: relative paths stay relative (viewers resolve them against the
/// repository), absolute ones become `file://` URIs; anything outside the URI's unreserved
/// characters and `/` is percent-encoded.
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_relative_and_are_percent_encoded() {
        assert_eq!(uri("flows/my flow.flow.yaml"), "flows/my%20flow.flow.yaml");
        assert_eq!(uri("/tmp/é.flow.yaml"), "file:///tmp/%C3%A9.flow.yaml");
    }
}
