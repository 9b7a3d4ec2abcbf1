//! Test fixtures in the style of rust-analyzer: a document with a `$0` cursor, optionally
//! followed by other files of its workspace, each introduced by a `//- path` line.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Analysis;
use crate::model::workspace::Workspace;

/// An analysed fixture: the analysis, the cursor offset, and the folder holding its files.
pub struct Fixture {
    /// The workflow's analysis.
    pub analysis: Analysis,
    /// Where `$0` was (0 when absent).
    pub offset: usize,
    /// Keeps the workspace folder alive.
    pub dir: tempfile::TempDir,
}

/// Keys for `anthropic` and `openai` only, so availability is deterministic.
fn env() -> BTreeMap<String, String> {
    [("ANTHROPIC_API_KEY", "k"), ("OPENAI_API_KEY", "k")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses a fixture: the workflow first, then `//- path` sections written to a temp folder.
pub fn fixture(text: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut sections = text.split("//- ");
    let workflow = sections.next().unwrap();
    for section in sections {
        let (path, body) = section.split_once('\n').unwrap();
        let path = dir.path().join(path.trim());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let offset = workflow.find("$0").unwrap_or(0);
    let workflow = workflow.replacen("$0", "", 1);
    let workspace = Workspace::load(dir.path(), &env());
    Fixture {
        analysis: Analysis::new(Arc::from(workflow), Arc::new(workspace)),
        offset,
        dir,
    }
}

/// The text with `⟦…⟧` around `span`, to show where a result points.
pub fn mark(text: &str, spans: &[crate::syntax::text::Span]) -> String {
    let mut out = String::new();
    let mut at = 0;
    let mut sorted = spans.to_vec();
    sorted.sort();
    for span in sorted {
        out.push_str(&text[at..span.start]);
        out.push('⟦');
        out.push_str(&text[span.start..span.end]);
        out.push('⟧');
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}
