//! What `stepwise run` prints on the terminal: the problems that stop a run before it sends
//! anything (as `check` shows diagnostics), a line per failed request (attempt n/N, class,
//! what happens next) and per fallback, the summary table (no error text in its columns),
//! the errors under it wrapped to the terminal's width, the record's path, and after a
//! failure the command that re-runs the failed step on a provider that can answer.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::check::Checked;
use super::format_human::write_file;
use crate::analysis::run_text::{TABLE_HEADER, class_words, failure_brief, kept, provider_model, table_row};
use crate::model::catalog::Catalog;
use crate::model::diagnostic::Diagnostic;
use crate::model::runs::{Call, ProviderModel, RunRecord, StepStatus};
use crate::model::secrets::redact;

/// The problems found before a run, rendered like `check`'s diagnostics.
pub fn problems(file: &Path, text: &Arc<str>, problems: &[Diagnostic], styled: bool) -> String {
    let checked = Checked::new(file.to_path_buf(), text.clone(), problems.to_vec(), true);
    let mut out = Vec::new();
    write_file(&checked, styled, &mut out).ok();
    String::from_utf8_lossy(&out).into_owned()
}

/// `findings` or `findings item 3`.
fn who(step: &str, item: Option<usize>) -> String {
    match item {
        Some(i) => format!("{step} item {i}"),
        None => step.to_string(),
    }
}

/// `! findings: attempt 2/4 · openai server error 503 · retrying in 1.0s`; the provider's
/// message waits for the errors under the table.
pub fn call_failed(step: &str, call: &Call, attempt: u32, of: u32) -> String {
    let class = call.error.as_ref().map(class_words).unwrap_or_default();
    let next = match (call.retry_after_ms, &call.error) {
        (Some(ms), _) => format!("retrying in {:.1}s", ms as f64 / 1000.0),
        (None, Some(f)) if f.class.is_outage() => format!("giving up on {}", call.provider),
        (None, _) => "not retried".to_string(),
    };
    let discarded = match call.discarded_chars {
        0 => String::new(),
        n => format!(" · {n} streamed characters discarded"),
    };
    format!(
        "! {}: attempt {attempt}/{of} · {} {class} · {next}{discarded}",
        who(step, call.item),
        call.provider
    )
}

/// `→ findings: falling back to anthropic/claude-haiku-4-5`.
pub fn falling_back(step: &str, item: Option<usize>, to: &ProviderModel) -> String {
    format!("→ {}: falling back to {}", who(step, item), provider_model(to))
}

/// The summary table, one row per step, columns as wide as their widest cell.
pub fn table(record: &RunRecord) -> String {
    let header: Vec<String> = TABLE_HEADER.iter().map(|h| h.to_string()).collect();
    let rows: Vec<Vec<String>> = record
        .steps
        .iter()
        .map(|s| table_row(s).iter().map(|c| redact(c)).collect())
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The errors of the steps whose last attempt failed, each wrapped to `width` columns with
/// its continuation lines indented; empty when none failed.
pub fn errors(record: &RunRecord, width: usize) -> String {
    let mut out = String::new();
    for step in &record.steps {
        let Some(error) = step
            .last()
            .filter(|a| a.status == StepStatus::Failed)
            .and_then(|a| a.error.as_ref())
        else {
            continue;
        };
        if out.is_empty() {
            out.push_str("errors:\n");
        }
        let brief = failure_brief(error);
        let text = redact(&format!(
            "✗ {}{}: {brief}: {}",
            step.id,
            kept(step),
            error.failure.message
        ));
        out.push_str(&wrap(&text, width, "    "));
    }
    out
}

/// `text` wrapped at spaces to `width` columns (a longer word gets a line of its own), each
/// line after the first starting with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = indent.to_string();
        } else if len > 0 && line != indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `record: .stepwise/runs/…/<id>.json`, relative to the current folder when inside it.
pub fn record_line(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let shown: PathBuf = cwd
        .and_then(|c| path.strip_prefix(&c).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let shown: PathBuf = shown.components().filter(|c| *c != Component::CurDir).collect();
    format!("record: {}", shown.display())
}

/// For each step whose last attempt failed: `re-run: stepwise run FILE --step ID --provider
/// X`, with X an available provider other than the one that failed (none when there is no
/// such provider).
pub fn rerun_lines(record: &RunRecord, file: &Path, catalog: &Catalog) -> String {
    let mut out = String::new();
    for step in &record.steps {
        let Some(error) = step.failure() else { continue };
        let mut command = format!(
            "stepwise run {} --step {}",
            shell_word(&file.display().to_string()),
            step.id
        );
        if let Some(other) = catalog.healthy().find(|p| p.id != error.provider) {
            command.push_str(&format!(" --provider {}", other.id));
        }
        out.push_str(&format!("re-run: {command}\n"));
    }
    out
}

/// `word` as one shell word: as is when it is plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '+' | ','));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_wrap_at_spaces_with_an_indent() {
        let text = "✗ findings: openai connection failed after 4 requests: error sending request for url (http://127.0.0.1:9/v1/chat/completions)";
        let wrapped = wrap(text, 40, "    ");
        assert!(
            wrapped
                .lines()
                .all(|l| l.chars().count() <= 40 || !l.trim().contains(' ')),
            "{wrapped}"
        );
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("    ")), "{wrapped}");
        assert_eq!(
            wrapped.split_whitespace().collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_file_name_with_spaces_is_quoted_for_the_shell() {
        assert_eq!(shell_word("review.flow.yaml"), "review.flow.yaml");
        assert_eq!(shell_word("my flows/it's.flow.yaml"), r"'my flows/it'\''s.flow.yaml'");
    }
}
