//! The words of run results: one place turns run data into the inlay hint (`✓ 2.1s`), the
//! code lens (`✓ 2.1s · openai/gpt-4o · 812 tok`), the hover, the `step-failed` message and
//! the CLI's lines and table. Where a later attempt failed after the output was made, both
//! show: `✓ 2.1s · openai/gpt-4o — last attempt ✗ ollama connection`.

use super::Analysis;
use super::cost_text::cost_breakdown;
use crate::model::prices::{usd, usd_short};
use crate::model::resolve::{Overrides, resolve_step, step_fingerprint};
use crate::model::runs::{
    ErrorClass, Failure, ProviderModel, RunRecord, StepAttempt, StepError, StepRecord, StepStatus,
};
use crate::model::workflow::Step;

/// `✓`, `✗`, `⊘` or `·`.
pub fn mark(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Completed => "✓",
        StepStatus::Failed => "✗",
        StepStatus::Cancelled => "⊘",
        _ => "·",
    }
}

/// `provider/model`.
pub fn provider_model(pm: &ProviderModel) -> String {
    format!("{}/{}", pm.provider, pm.model)
}

/// The `provider/model` an attempt asks first.
pub fn asked(attempt: &StepAttempt) -> String {
    let model = attempt.model.as_ref().and_then(|m| m.value.as_deref()).unwrap_or("?");
    format!("{}/{model}", attempt.provider_id().unwrap_or("?"))
}

/// Seconds with one decimal: `2.1s`.
fn seconds(ms: Option<u64>) -> String {
    format!("{:.1}s", ms.unwrap_or(0) as f64 / 1000.0)
}

/// `overloaded (529)` or `connection`.
pub fn reason(failure: &Failure) -> String {
    match failure.status {
        Some(s) => format!("{} ({s})", failure.class),
        None => failure.class.to_string(),
    }
}

/// E.g. `anthropic overloaded (529) after 3 attempts: Overloaded`.
pub fn error_summary(error: &StepError) -> String {
    let attempts = match error.attempts {
        0 => String::new(),
        1 => " after 1 attempt".to_string(),
        n => format!(" after {n} attempts"),
    };
    format!(
        "{} {}{attempts}: {}",
        error.provider,
        reason(&error.failure),
        error.failure.message
    )
}

/// The end of an attempt in a few words: `✗ ollama connection`, `⊘ cancelled`.
fn attempt_brief(attempt: &StepAttempt) -> String {
    match (&attempt.status, &attempt.error) {
        (StepStatus::Failed, Some(e)) => format!("✗ {} {}", e.provider, reason(&e.failure)),
        (status, _) => format!("{} {}", mark(*status), status.as_str()),
    }
}

/// ` — last attempt ✗ ollama connection` when a later attempt did not replace the output.
fn later_suffix(step: &StepRecord) -> String {
    step.later_attempt()
        .map(|a| format!(" — last attempt {}", attempt_brief(a)))
        .unwrap_or_default()
}

/// The inlay hint's status: `✓ 2.1s`, `✗ 529 overloaded`, `stale`, with a later failed
/// attempt after the output's.
pub fn hint(step: &StepRecord) -> String {
    let status = match step.status {
        StepStatus::Completed => format!("✓ {}", seconds(step.result().and_then(|a| a.duration_ms))),
        StepStatus::Failed => match step.failure() {
            Some(e) => match e.failure.status {
                Some(s) => format!("✗ {s} {}", e.failure.class),
                None => format!("✗ {}", e.failure.class),
            },
            None => "✗ failed".to_string(),
        },
        other => other.as_str().to_string(),
    };
    format!("{status}{}", later_suffix(step))
}

/// The code lens: `✓ 2.1s · openai/gpt-4o · 812 tok`, `✗ overloaded (529) · anthropic`,
/// `stale`; empty for a step never run.
pub fn lens(step: &StepRecord) -> String {
    let status = match (step.status, step.result()) {
        (StepStatus::Pending, None) if step.attempts.is_empty() => return String::new(),
        (StepStatus::Completed, Some(result)) => {
            let mut out = format!("✓ {}", seconds(result.duration_ms));
            if let Some(pm) = &result.answered_by {
                out.push_str(&format!(" · {}", provider_model(pm)));
            }
            if result.tokens() > 0 {
                out.push_str(&format!(" · {} tok", result.tokens()));
            }
            if let Some(cost) = result.cost_usd {
                out.push_str(&format!(" · {}", usd_short(cost)));
            }
            out
        }
        (StepStatus::Failed, _) => match step.failure() {
            Some(e) => format!("✗ {} · {}", reason(&e.failure), e.provider),
            None => "✗ failed".to_string(),
        },
        (other, _) => other.as_str().to_string(),
    };
    format!("{status}{}", later_suffix(step))
}

/// A failure's class in words, with its status: `server error 503`, `connection failed`.
pub fn class_words(failure: &Failure) -> String {
    let words = match failure.class {
        ErrorClass::Auth => "auth error",
        ErrorClass::BadRequest => "bad request",
        ErrorClass::NotFound => "not found",
        ErrorClass::RateLimit => "rate limited",
        ErrorClass::Overloaded => "overloaded",
        ErrorClass::Server => "server error",
        ErrorClass::Timeout => "timed out",
        ErrorClass::Connection => "connection failed",
        ErrorClass::StreamBroken => "stream broken",
        ErrorClass::Prompt => "prompt error",
        ErrorClass::Budget => "over budget",
    };
    match failure.status {
        Some(status) => format!("{words} {status}"),
        None => words.to_string(),
    }
}

/// The line when a step ends: `✓ a  anthropic/m  0.4s  12 tokens`, or `✗ a  openai server
/// error 503 after 4 attempts` (its message comes under the table).
pub fn finished(record: &StepRecord) -> String {
    let Some(last) = record.last() else {
        return format!("· {}", record.id);
    };
    match &last.error {
        Some(e) => format!(
            "{} {}  {}{}",
            mark(last.status),
            record.id,
            failure_brief(e),
            kept(record)
        ),
        None if last.status == StepStatus::Completed => format!(
            "✓ {}  {}  {:.1}s  {} tokens{}",
            record.id,
            last.answered_by.as_ref().map(provider_model).unwrap_or_default(),
            last.duration_ms.unwrap_or(0) as f64 / 1000.0,
            last.tokens(),
            last.cost_usd.map(|c| format!("  {}", usd(c))).unwrap_or_default()
        ),
        None => format!("{} {}  {}", mark(last.status), record.id, last.status.as_str()),
    }
}

/// `openai server error 503 after 4 requests`.
pub fn failure_brief(error: &StepError) -> String {
    let requests = match error.attempts {
        0 | 1 => String::new(),
        n => format!(" after {n} requests"),
    };
    format!("{} {}{requests}", error.provider, class_words(&error.failure))
}

/// ` (kept the earlier output)` when the failed attempt left an earlier output in place.
pub fn kept(record: &StepRecord) -> &'static str {
    if record.later_attempt().is_some() {
        " (kept the earlier output)"
    } else {
        ""
    }
}

/// The `step-failed` diagnostic's message.
pub fn failed_message(step: &StepRecord) -> String {
    let error = step
        .failure()
        .map_or_else(|| "the step failed".to_string(), error_summary);
    format!("last run failed: {error}")
}

/// Whether `step` was edited (prompt, settings, persona, params) since the run that produced
/// its recorded output.
pub fn edited_since_run(analysis: &Analysis, step: &Step, record: &StepRecord) -> bool {
    let Some(recorded) = record.result().and_then(|a| a.fingerprint.as_ref()) else {
        return false;
    };
    if !matches!(record.status, StepStatus::Completed | StepStatus::Stale) {
        return false;
    }
    let ws = &analysis.workspace;
    let effective = resolve_step(&analysis.workflow, step, ws, &Overrides::default());
    *recorded != step_fingerprint(&analysis.workflow, step, ws, &effective)
}

/// The hint and lens of a step's record, `stale` when it was edited since.
pub fn labels(analysis: &Analysis, step: &Step, record: &StepRecord) -> (String, String) {
    if edited_since_run(analysis, step, record) {
        ("stale (edited)".to_string(), "stale · edited since its run".to_string())
    } else {
        (hint(record), lens(record))
    }
}

/// The hover's section on the last run: status, who answered, the error, the output's first
/// lines.
pub fn hover(record: &StepRecord) -> String {
    let lens = lens(record);
    let mut out = format!(
        "\n\n---\n\nLast run: {}",
        if lens.is_empty() { hint(record) } else { lens }
    );
    if let Some(later) = record.later_attempt() {
        let who = later.provider_id().unwrap_or("?");
        let once = if later.one_time { " (this run only)" } else { "" };
        out.push_str(&format!("\n\nLast attempt, with {who}{once}: {}", attempt_brief(later)));
    }
    if let Some(error) = record.last().and_then(|a| a.error.as_ref()) {
        out.push_str(&format!("\n\nError: {}", error_summary(error)));
    }
    if let Some(cost) = record.shown().and_then(cost_breakdown) {
        out.push_str(&format!("\n\n{cost}"));
    }
    if let Some(output) = record.output() {
        let lines: Vec<&str> = output.lines().take(8).collect();
        let more = if output.lines().count() > lines.len() {
            "\n…"
        } else {
            ""
        };
        out.push_str(&format!("\n\nOutput:\n```text\n{}{more}\n```", lines.join("\n")));
    }
    out
}

/// The CLI summary table's header.
pub const TABLE_HEADER: [&str; 6] = ["STEP", "STATUS", "ANSWERED BY", "TIME", "TOKENS", "COST"];

/// One row of the CLI summary table: step, status, who answered, time, tokens, cost (errors
/// are printed under the table, never in a column).
pub fn table_row(record: &StepRecord) -> [String; 6] {
    let shown = record.shown();
    let mut who = shown
        .and_then(|a| a.answered_by.as_ref())
        .map(provider_model)
        .unwrap_or_default();
    if let Some(later) = record.later_attempt() {
        who.push_str(&format!(" — last attempt {}", attempt_brief(later)));
    }
    [
        record.id.clone(),
        format!("{} {}", mark(record.status), record.status.as_str()),
        who,
        shown
            .and_then(|a| a.duration_ms)
            .map(|d| seconds(Some(d)))
            .unwrap_or_default(),
        shown.map_or(0, StepAttempt::tokens).to_string(),
        shown.and_then(|a| a.cost_usd).map(usd).unwrap_or_default(),
    ]
}

/// The line under the CLI summary table: what every attempt of the run cost (failed ones
/// too; not outputs reused from earlier runs), e.g. `total cost: $0.0123`, with `+ tokens at
/// unknown prices` when some had no price.
pub fn total_line(record: &RunRecord) -> Option<String> {
    let attempts: Vec<&StepAttempt> = record
        .steps
        .iter()
        .flat_map(|s| &s.attempts)
        .filter(|a| a.started_at >= record.started_at)
        .collect();
    let total: f64 = attempts.iter().filter_map(|a| a.cost_usd).sum();
    let unpriced = attempts.iter().any(|a| a.calls.iter().any(|c| c.unpriced.is_some()));
    let priced = attempts.iter().any(|a| a.cost_usd.is_some());
    match (priced, unpriced) {
        (false, false) => None,
        (_, false) => Some(format!("total cost: {}", usd(total))),
        (_, true) => Some(format!("total cost: {} + tokens at unknown prices", usd(total))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::runs::{ErrorClass, Usage};

    #[test]
    fn a_completed_step_ends_its_line_with_tokens_and_cost() {
        let attempt = StepAttempt {
            cost_usd: Some(0.004),
            ..completed()
        };
        let record = StepRecord {
            status: StepStatus::Completed,
            attempts: vec![attempt],
            ..StepRecord::pending("a")
        };
        assert_eq!(finished(&record), "✓ a  openai/gpt-4o  2.1s  812 tokens  $0.0040");
    }

    fn attempt(status: StepStatus) -> StepAttempt {
        StepAttempt {
            duration_ms: Some(2140),
            ..StepAttempt::new(status)
        }
    }

    fn completed() -> StepAttempt {
        StepAttempt {
            answered_by: Some(ProviderModel {
                provider: "openai".to_string(),
                model: "gpt-4o".to_string(),
            }),
            usage: Usage {
                input_tokens: 800,
                output_tokens: 12,
            },
            output: Some("hi".to_string()),
            ..attempt(StepStatus::Completed)
        }
    }

    fn failed(provider: &str, class: ErrorClass, status: Option<u16>, message: &str) -> StepAttempt {
        StepAttempt {
            error: Some(StepError {
                failure: Failure {
                    class,
                    status,
                    message: message.to_string(),
                },
                provider: provider.to_string(),
                attempts: 3,
            }),
            ..attempt(StepStatus::Failed)
        }
    }

    fn step(status: StepStatus, attempts: Vec<StepAttempt>) -> StepRecord {
        StepRecord {
            status,
            attempts,
            ..StepRecord::pending("a")
        }
    }

    #[test]
    fn a_completed_step_shows_time_who_answered_and_tokens() {
        let s = step(StepStatus::Completed, vec![completed()]);
        assert_eq!(hint(&s), "✓ 2.1s");
        assert_eq!(lens(&s), "✓ 2.1s · openai/gpt-4o · 812 tok");
    }

    #[test]
    fn a_completed_step_with_a_cost_shows_it_after_the_tokens() {
        let with_cost = StepAttempt {
            cost_usd: Some(0.004),
            ..completed()
        };
        let s = step(StepStatus::Completed, vec![with_cost]);
        assert_eq!(lens(&s), "✓ 2.1s · openai/gpt-4o · 812 tok · $0.004");
        assert_eq!(table_row(&s)[5], "$0.0040");
    }

    #[test]
    fn a_failed_step_shows_the_class_status_and_provider() {
        let s = step(
            StepStatus::Failed,
            vec![failed("anthropic", ErrorClass::Overloaded, Some(529), "Overloaded")],
        );
        assert_eq!(hint(&s), "✗ 529 overloaded");
        assert_eq!(lens(&s), "✗ overloaded (529) · anthropic");
        assert_eq!(
            failed_message(&s),
            "last run failed: anthropic overloaded (529) after 3 attempts: Overloaded"
        );
    }

    #[test]
    fn a_failed_rerun_after_a_success_shows_both() {
        let s = step(
            StepStatus::Completed,
            vec![
                completed(),
                failed("ollama", ErrorClass::Connection, None, "connection refused"),
            ],
        );
        assert_eq!(hint(&s), "✓ 2.1s — last attempt ✗ ollama connection");
        assert_eq!(
            lens(&s),
            "✓ 2.1s · openai/gpt-4o · 812 tok — last attempt ✗ ollama connection"
        );
        assert_eq!(table_row(&s)[2], "openai/gpt-4o — last attempt ✗ ollama connection");
        assert!(hover(&s).contains("Error: ollama connection after 3 attempts: connection refused"));
        assert!(hover(&s).contains("Output:\n```text\nhi"));
    }

    #[test]
    fn a_step_never_run_has_no_lens() {
        assert_eq!(lens(&StepRecord::pending("a")), "");
        assert_eq!(hint(&StepRecord::pending("a")), "pending");
    }
}
