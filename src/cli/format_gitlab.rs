//! `check --format gitlab`: a GitLab Code Quality report (a JSON array of Code Climate issues),
//! which merge requests show as new and fixed problems. Fingerprints do not depend on line
//! numbers, so a problem keeps its fingerprint when lines above it move.

use std::collections::HashMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::model::diagnostic::{Code, Severity};

use super::check::Report;

/// The report, pretty-printed.
pub fn render(report: &Report) -> String {
    let mut issues = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut fingerprint = |parts: &[&str]| {
        // The same problem twice in one file (same code, message and text) gets its occurrence
        // number, so the two stay distinct and each stays stable.
        let key = parts.join("\0");
        let n = seen.entry(key.clone()).or_default();
        *n += 1;
        let digest = Sha256::digest(format!("{key}\0{n}"));
        digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    for file in &report.checked {
        let path = file.display_path();
        for d in &file.diagnostics {
            let r = file.region(d.span);
            // A pasted key stays out of the report, even hashed.
            let marked = match d.code {
                Code::SecretInDocument => "",
                _ => file.text.get(d.span.start..d.span.end).unwrap_or_default(),
            };
            issues.push(json!({
                "type": "issue",
                "check_name": d.code.as_str(),
                "description": d.message,
                "categories": ["Bug Risk"],
                "severity": severity(d.severity),
                "fingerprint": fingerprint(&[&path, d.code.as_str(), &d.message, marked]),
                "location": {
                    "path": path,
                    "lines": { "begin": r.start_line, "end": r.end_line },
                },
            }));
        }
    }
    for u in &report.unreadable {
        let path = u.display_path();
        issues.push(json!({
            "type": "issue",
            "check_name": "cannot-read",
            "description": u.message(),
            "categories": ["Bug Risk"],
            "severity": "blocker",
            "fingerprint": fingerprint(&[&path, "cannot-read"]),
            "location": { "path": path, "lines": { "begin": 1, "end": 1 } },
        }));
    }
    serde_json::to_string_pretty(&Value::Array(issues)).expect("JSON serializes")
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "major",
        Severity::Warning => "minor",
        Severity::Info => "info",
    }
}
