//! The words of run history: the rows of `stepwise runs` and the lines of `stepwise show`,
//! built from `analysis::run_text`'s pieces so a step reads the same everywhere.

use super::run_text::{mark, provider_model, reason};
use crate::model::prices::usd;
use crate::model::run_history::{RunCost, RunEntry, RunStatus};
use crate::model::runs::{Call, RecordedSetting, StepAttempt, StepRecord, StepStatus};

/// `stepwise runs`' header.
pub const RUNS_HEADER: [&str; 7] = ["RUN", "WHEN (UTC)", "STATUS", "STEPS", "TOKENS", "COST", "TIME"];

/// A run's cost: `$0.0123`, `$0.0123 + ?` when some tokens had no known price, `?` when none had.
pub fn cost_cell(cost: RunCost) -> String {
    match (cost.usd, cost.unpriced) {
        (Some(usd_total), false) => usd(usd_total),
        (Some(usd_total), true) => format!("{} + ?", usd(usd_total)),
        (None, true) => "?".to_string(),
        (None, false) => String::new(),
    }
}

/// One row of `stepwise runs`: short ID, start, status, step counts, tokens, cost, duration.
pub fn runs_row(entry: &RunEntry<'_>) -> [String; 7] {
    let counts = entry.counts;
    let mut steps = format!("{} done", counts.done);
    if counts.failed > 0 {
        steps.push_str(&format!(", {} failed", counts.failed));
    }
    if counts.stale > 0 {
        steps.push_str(&format!(", {} stale", counts.stale));
    }
    if counts.other > 0 {
        steps.push_str(&format!(", {} not run", counts.other));
    }
    let tokens: u64 = crate::model::run_history::own_attempts(entry.record)
        .map(|(_, a)| a.tokens())
        .sum();
    [
        short_id(&entry.record.id.to_string()),
        utc_time(entry.record.started_at),
        format!("{} {}", run_mark(entry.status), entry.status.as_str()),
        steps,
        tokens.to_string(),
        cost_cell(entry.cost),
        entry.duration_ms.map(seconds).unwrap_or_default(),
    ]
}

/// The mark of a run's status.
pub fn run_mark(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "⟳",
        RunStatus::Completed => "✓",
        RunStatus::Failed => "✗",
        RunStatus::Cancelled => "⊘",
        RunStatus::Unfinished => "!",
    }
}

/// A step's mark in the run view: `✓ ✗ ⊘`, `⟳` while running, `stale`'s `~`, `·` not run.
pub fn step_mark(step: &StepRecord) -> &'static str {
    match step.status {
        StepStatus::Running => "⟳",
        StepStatus::Stale => "~",
        other => mark(other),
    }
}

/// The first 13 characters of a run ID: a uuid v7's millisecond timestamp, so runs of one
/// workflow differ there (the first 8 alone are the same for a minute).
pub fn short_id(id: &str) -> String {
    id.chars().take(13).collect()
}

/// `1.2s`.
pub fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// Unix milliseconds as `2026-12-01 11:37:47` (UTC).
pub fn utc_time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `stepwise show`'s heading of a run.
pub fn run_heading(entry: &RunEntry<'_>) -> String {
    let record = entry.record;
    let mut line = format!(
        "run {}  {} {}  started {} UTC",
        record.id,
        run_mark(entry.status),
        entry.status.as_str(),
        utc_time(record.started_at)
    );
    if let Some(ms) = entry.duration_ms {
        line.push_str(&format!("  took {}", seconds(ms)));
    }
    let cost = cost_cell(entry.cost);
    if !cost.is_empty() {
        line.push_str(&format!("  cost {cost}"));
    }
    for (name, value) in &record.inputs {
        line.push_str(&format!("\n  input {name} = {value}"));
    }
    line
}

/// `stepwise show`'s line of a step: mark, ID, status, and where its output came from.
pub fn step_heading(step: &StepRecord) -> String {
    let mut line = format!("{} {}  {}", step_mark(step), step.id, step.status.as_str());
    if let Some(from) = step.reused_from {
        line.push_str(&format!("  (output of run {})", short_id(&from.to_string())));
    }
    line
}

fn setting(label: &str, s: &Option<RecordedSetting>) -> Option<String> {
    let s = s.as_ref()?;
    let value = s.value.as_deref()?;
    Some(format!("{label} {value} ({})", s.source.as_str()))
}

/// `stepwise show`'s line of attempt `n` (from 1): status, who it asked with sources, who
/// answered, time, tokens, the error.
pub fn attempt_line(n: usize, attempt: &StepAttempt) -> String {
    let mut parts = vec![format!("#{n} {} {}", mark(attempt.status), attempt.status.as_str())];
    parts.extend(setting("provider", &attempt.provider));
    parts.extend(setting("model", &attempt.model));
    parts.extend(setting("persona", &attempt.persona));
    if attempt.one_time {
        parts.push("one-time override".to_string());
    }
    if let Some(by) = &attempt.answered_by {
        parts.push(format!("answered by {}", provider_model(by)));
    }
    if let Some(ms) = attempt.duration_ms {
        parts.push(seconds(ms));
    }
    parts.push(format!(
        "{} tok ({} in, {} out)",
        attempt.tokens(),
        attempt.usage.input_tokens,
        attempt.usage.output_tokens
    ));
    if let Some(cost) = attempt.cost_usd {
        parts.push(usd(cost));
    }
    if let Some(items) = &attempt.outputs {
        parts.push(format!("{} items", items.len()));
    }
    let mut line = parts.join(" · ");
    if let Some(e) = &attempt.error {
        line.push_str(&format!("\n    error: {}", super::run_text::error_summary(e)));
    }
    line
}

/// `stepwise show`'s line of a failed request: provider/model, item, reason and message,
/// discarded characters, the wait before the retry.
pub fn call_line(call: &Call) -> Option<String> {
    let failure = call.error.as_ref()?;
    let mut line = format!("! {}/{}", call.provider, call.model);
    if let Some(item) = call.item {
        line.push_str(&format!(" item {}", item + 1));
    }
    line.push_str(&format!(" {}: {}", reason(failure), failure.message));
    if call.discarded_chars > 0 {
        line.push_str(&format!(" · {} streamed characters discarded", call.discarded_chars));
    }
    if let Some(wait) = call.retry_after_ms {
        line.push_str(&format!(" · retried after {wait} ms"));
    }
    Some(line)
}

/// An output document: a step's text, or its fan-out items, each under `── item N ──`
/// (numbered from 1).
pub fn output_document<'a>(parts: impl IntoIterator<Item = (Option<usize>, &'a str)>) -> String {
    let mut out = String::new();
    for (item, text) in parts {
        match item {
            None => out.push_str(text),
            Some(i) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("── item {} ──\n{text}\n", i + 1));
            }
        }
    }
    out
}

/// The output document of an attempt: its items numbered, or its output.
pub fn attempt_document(attempt: &StepAttempt) -> Option<String> {
    match &attempt.outputs {
        Some(items) => Some(output_document(
            items.iter().enumerate().map(|(i, t)| (Some(i), t.as_str())),
        )),
        None => attempt.output.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_items_are_separated_and_numbered_from_one() {
        assert_eq!(
            output_document([(Some(0), "a"), (Some(1), "b")]),
            "── item 1 ──\na\n\n── item 2 ──\nb\n"
        );
        assert_eq!(output_document([(None, "plain")]), "plain");
    }

    #[test]
    fn utc_time_renders_the_civil_date() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc_time(1_796_124_267_000), "2026-12-01 11:24:27");
    }
}
