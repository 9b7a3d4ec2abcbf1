//! `stepwise compare`: sends one step to several provider/model/persona targets from the same
//! upstream outputs and prints them side by side (or as JSON); the comparison is recorded
//! under `runs_dir` and the step's own output is left as it was.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::run::parse_input;
use crate::analysis::run_text::{finished, reason};
use crate::engine::compare::{CompareError, CompareEvent, CompareRequest};
use crate::engine::{Engine, EngineError, RunEvent, RunRequest, RunTarget};
use crate::model::catalog::ProcessEnv;
use crate::model::comparison::{Comparison, SampleStatus, TargetResult, parse_targets};
use crate::model::prices::usd;
use crate::model::resolve::Overrides;
use crate::model::runs::ErrorClass;
use crate::model::secrets::redact;

/// Arguments of `stepwise compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// The workflow file.
    file: PathBuf,
    /// The step to compare.
    #[arg(long, value_name = "ID")]
    step: String,
    /// Targets, comma separated: `provider[/model][@persona]`.
    #[arg(long = "with", value_name = "TARGET[,TARGET…]", required = true)]
    with: Vec<String>,
    /// Send the step to each target this many times (latency min/median/max, every output).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// An input value (repeatable).
    #[arg(long = "input", value_name = "K=V", value_parser = parse_input)]
    inputs: Vec<(String, String)>,
    /// The most this comparison may spend, with its upstream runs, in USD (wins over the
    /// workflow's `budget_usd`): a target whose request's estimated cost would exceed it is not
    /// sent, and the command exits with status 3.
    #[arg(long, value_name = "USD", value_parser = super::run::parse_budget)]
    budget: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: CompareFormat,
    /// Trust this workspace's stepwise.toml for this comparison only.
    #[arg(long)]
    trust_workspace: bool,
}

/// How the comparison is printed.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CompareFormat {
    /// Columns side by side.
    Human,
    /// The comparison record, with its path.
    Json,
}

/// Output lines shown per target (per sample with `--repeat`) before the excerpt ends.
const EXCERPT_LINES: usize = 12;

/// Runs the command.
pub fn run(args: CompareArgs) -> ExitCode {
    let targets = match parse_targets(&args.with.join(",")) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let text: Arc<str> = match std::fs::read_to_string(&args.file) {
        Ok(t) => t.into(),
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let (workspace, workflow) = match super::run::load_runnable(&args.file, &text, args.trust_workspace, "comparing") {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let runs_dir = workspace.config.runs_dir();
    let request = CompareRequest {
        run: RunRequest {
            path: args.file.clone(),
            workflow,
            workspace,
            env: Arc::new(ProcessEnv),
            target: RunTarget::Step(args.step.clone()),
            overrides: Overrides::default(),
            inputs: args.inputs.into_iter().collect(),
            budget_usd: args.budget,
        },
        step: args.step.clone(),
        targets,
        repeat: args.repeat,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let display = tokio::spawn(show_progress(rx));
        let ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("cancelling…");
                ctrl_c.cancel();
            }
        });
        let result = Engine::default().compare(request, tx, cancel).await;
        display.await.ok();
        result
    });
    match result {
        Ok(comparison) => {
            let record = comparison.path(&runs_dir);
            let record = std::path::absolute(&record).unwrap_or(record);
            match args.format {
                CompareFormat::Json => print_json(&comparison, &record),
                CompareFormat::Human => print!("{}", side_by_side(&comparison, &record, terminal_width())),
            }
            let all_completed = comparison.targets.iter().all(|t| t.status() == SampleStatus::Completed);
            if not_sent_for_budget(&comparison) {
                ExitCode::from(3)
            } else if all_completed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(CompareError::Engine(EngineError::Untrusted(why))) => {
            eprintln!("error: not comparing: {why}");
            ExitCode::from(2)
        }
        Err(e @ (CompareError::Engine(_) | CompareError::Upstream { .. } | CompareError::Prompt { .. })) => {
            eprintln!("error: {}", redact(&e.to_string()));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether a target's request was refused for the budget.
fn not_sent_for_budget(comparison: &Comparison) -> bool {
    comparison
        .targets
        .iter()
        .flat_map(|t| &t.samples)
        .any(|s| s.error.as_ref().is_some_and(|e| e.class == ErrorClass::Budget))
}

/// One line per upstream step and per finished sample, on stderr.
async fn show_progress(mut events: mpsc::UnboundedReceiver<CompareEvent>) {
    let mut labels = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            CompareEvent::Upstream(RunEvent::StepFinished { step, .. }) => {
                eprintln!("upstream {}", redact(&finished(&step)));
            }
            CompareEvent::Upstream(_) => {}
            CompareEvent::Sending { targets, repeat } => {
                let times = if repeat > 1 {
                    format!(" × {repeat}")
                } else {
                    String::new()
                };
                eprintln!("sending to {}{times}", targets.join(", "));
                labels = targets;
            }
            CompareEvent::SampleFinished { target, sample } => {
                let label = labels.get(target).map_or("?", String::as_str);
                let how = match &sample.error {
                    Some(e) => format!("failed ({})", reason(e)),
                    None => sample.status.as_str().to_string(),
                };
                eprintln!("{label}: {how} in {}", seconds(sample.duration_ms));
            }
        }
    }
}

fn print_json(comparison: &Comparison, record: &Path) {
    let mut value = serde_json::to_value(comparison).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("record".to_string(), record.display().to_string().into());
    }
    println!("{}", redact(&serde_json::to_string_pretty(&value).unwrap_or_default()));
}

/// The width to lay the columns out in: `$COLUMNS`, else 120.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c >= 40)
        .unwrap_or(120)
}

/// `850ms` below a second, else `2.1s`.
fn seconds(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// The rows of one target's column, before wrapping: label, then its cells.
fn column(result: &TargetResult, repeat: u32) -> Vec<(&'static str, String)> {
    let usage = result.usage();
    let latency = match (result.latency(), repeat) {
        (None, _) => "–".to_string(),
        (Some(l), 1) => seconds(l.max_ms),
        (Some(l), _) => format!(
            "{} / {} / {}",
            seconds(l.min_ms),
            seconds(l.median_ms),
            seconds(l.max_ms)
        ),
    };
    let completed = result
        .samples
        .iter()
        .filter(|s| s.status == SampleStatus::Completed)
        .count();
    let status = match result.samples.iter().find_map(|s| s.error.as_ref()) {
        Some(e) if repeat > 1 => format!("{completed}/{repeat} completed; {}: {}", reason(e), e.message),
        Some(e) => format!("failed: {}: {}", reason(e), e.message),
        None if repeat > 1 => format!("{completed}/{repeat} completed"),
        None => result.status().as_str().to_string(),
    };
    let latency_label = if repeat > 1 { "latency min/med/max" } else { "latency" };
    vec![
        ("status", status),
        (latency_label, latency),
        (
            "tokens in/out",
            format!("{} / {}", usage.input_tokens, usage.output_tokens),
        ),
        (
            "cost",
            result.cost_usd().map_or_else(|| "– (no price)".to_string(), usd),
        ),
    ]
}

/// Wraps `text` to `width` characters, breaking at spaces where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for raw in text.lines() {
        let mut line = String::new();
        for word in raw.split(' ') {
            let mut word = word.to_string();
            while word.chars().count() > width {
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                let head: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                lines.push(head);
            }
            let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
            if needed > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
        lines.push(line);
    }
    lines
}

/// The output cell of a target: each sample's output wrapped, excerpted to
/// [`EXCERPT_LINES`] lines (the record has the full text).
fn output_lines(result: &TargetResult, width: usize, repeat: u32) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut cut = false;
    for (n, sample) in result.samples.iter().enumerate() {
        if repeat > 1 {
            lines.push(format!("── #{} ({})", n + 1, seconds(sample.duration_ms)));
        }
        let text = match (&sample.output, &sample.error) {
            (Some(out), _) => redact(out),
            (None, Some(e)) => format!("✗ {}", e.message),
            (None, None) => format!("⊘ {}", sample.status.as_str()),
        };
        let mut wrapped = wrap(&text, width);
        if wrapped.len() > EXCERPT_LINES {
            let more = wrapped.len() - EXCERPT_LINES;
            wrapped.truncate(EXCERPT_LINES);
            wrapped.push(format!("… {more} more line(s)"));
            cut = true;
        }
        lines.extend(wrapped);
    }
    (lines, cut)
}

/// The comparison as columns side by side within `width` characters, one per target.
fn side_by_side(comparison: &Comparison, record: &Path, width: usize) -> String {
    const LABEL: usize = 20;
    let n = comparison.targets.len().max(1);
    let col = ((width.saturating_sub(LABEL)) / n).saturating_sub(3).max(16);
    let mut out = format!("step `{}`\n", comparison.step);
    let pad = |cell: &str| format!("{cell:<col$}");
    let row = |label: &str, cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| pad(c)).collect();
        format!("{label:<LABEL$}{}\n", cells.join(" │ ")).trim_end().to_string() + "\n"
    };
    let heads: Vec<String> = comparison.targets.iter().map(|t| t.label()).collect();
    let mut wrapped_rows: Vec<(&str, Vec<Vec<String>>)> = vec![("", heads.iter().map(|h| wrap(h, col)).collect())];
    let columns: Vec<Vec<(&str, String)>> = comparison
        .targets
        .iter()
        .map(|t| column(t, comparison.repeat))
        .collect();
    for (i, (label, _)) in columns.first().into_iter().flatten().enumerate() {
        let cells = columns.iter().map(|c| wrap(&redact(&c[i].1), col)).collect();
        wrapped_rows.push((label, cells));
    }
    let outputs: Vec<(Vec<String>, bool)> = comparison
        .targets
        .iter()
        .map(|t| output_lines(t, col, comparison.repeat))
        .collect();
    let any_cut = outputs.iter().any(|(_, cut)| *cut);
    wrapped_rows.push(("output", outputs.into_iter().map(|(lines, _)| lines).collect()));
    let rule = format!("{}{}\n", "─".repeat(LABEL), vec!["─".repeat(col); n].join("─┼─"));
    for (r, (label, cells)) in wrapped_rows.iter().enumerate() {
        let height = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
        for line in 0..height {
            let label = if line == 0 { *label } else { "" };
            let parts: Vec<String> = cells.iter().map(|c| c.get(line).cloned().unwrap_or_default()).collect();
            out.push_str(&row(label, &parts));
        }
        if r == 0 || r + 2 == wrapped_rows.len() {
            out.push_str(&rule);
        }
    }
    let full = if any_cut { " (full outputs there)" } else { "" };
    out.push_str(&format!("\nrecord: {}{full}\n", record.display()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\n\nb", 10), ["a", "", "b"]);
    }
}
