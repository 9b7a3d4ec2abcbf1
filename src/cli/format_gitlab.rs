//! `check --format gitlab`: a GitLab Code Quality report (a JSON array of Code Climate issues),
//! which merge requests show as new and fixed problems. Fingerprints do not depend on line
//! numbers, so a problem keeps its fingerprint when lines above it move.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::model::diagnostic::{Code, Severity};

use super::check::Report;
use crate::json_stream::{Streamed, write_pretty};

/// The report, pretty-printed to `out`.
pub fn write(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let seen: RefCell<HashMap<String, usize>> = RefCell::default();
    let fingerprint = |parts: &[&str]| {
        // The same problem twice in one file (same code, message and text) gets its occurrence
        // number, so the two stay distinct and each stays stable.
        let key = parts.join("\0");
        let mut seen = seen.borrow_mut();
        let n = seen.entry(key.clone()).or_default();
        *n += 1;
        let digest = Sha256::digest(format!("{key}\0{n}"));
        digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let fingerprint = &fingerprint;
    let problems = report.checked.iter().flat_map(|file| {
        let path = file.display_path();
        file.diagnostics.iter().map(move |d| {
            let r = file.region(d.span);
            // A pasted key stays out of the report, even hashed.
            let marked = match d.code {
                Code::SecretInDocument => "",
                _ => file.text.get(d.span.start..d.span.end).unwrap_or_default(),
            };
            json!({
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
            })
        })
    });
    let unreadable = report.unreadable.iter().map(|u| {
        let path = u.display_path();
        json!({
            "type": "issue",
            "check_name": "cannot-read",
            "description": u.message(),
            "categories": ["Bug Risk"],
            "severity": "blocker",
            "fingerprint": fingerprint(&[&path, "cannot-read"]),
            "location": { "path": path, "lines": { "begin": 1, "end": 1 } },
        })
    });
    write_pretty(out, &Streamed::new(problems.chain(unreadable)))
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "major",
        Severity::Warning => "minor",
        Severity::Info => "info",
    }
}
