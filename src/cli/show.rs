//! `stepwise show FILE [--run ID] [--step ID] [--format json]`: one run's steps and attempts,
//! or with `--step` that step's output alone on stdout, to pipe.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::analysis::run_history_text::{attempt_line, call_line, run_heading, step_heading};
use crate::model::run_history::{RunEntry, find_run};
use crate::model::runs::{RunRecord, StepRecord};
use crate::model::secrets::redact;

/// How `show` prints.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// Lines for people (with `--step`: the output itself).
    Human,
    /// The run (or step) record as JSON.
    Json,
}

/// Arguments of `stepwise show`.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// The workflow file.
    file: PathBuf,
    /// The run: its ID or a unique start of it (default: the latest).
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// Only this step: its output (or, with `--format json`, its record).
    #[arg(long, value_name = "ID")]
    step: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: ShowFormat,
}

/// Runs the command.
pub fn run(args: ShowArgs) -> ExitCode {
    if !args.file.is_file() {
        eprintln!("error: {} is not a workflow file", args.file.display());
        return ExitCode::FAILURE;
    }
    let runs = super::runs::history_of(&args.file, usize::MAX);
    let record = match find_run(&runs, args.run.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = match &args.step {
        Some(id) => {
            let Some(step) = record.step(id) else {
                let ids: Vec<&str> = record.steps.iter().map(|s| s.id.as_str()).collect();
                eprintln!(
                    "error: run {} has no step `{id}` (steps: {})",
                    record.id,
                    ids.join(", ")
                );
                return ExitCode::FAILURE;
            };
            match (args.format, step.output()) {
                (ShowFormat::Json, _) => json(step),
                (ShowFormat::Human, Some(output)) => format!("{output}\n"),
                (ShowFormat::Human, None) => {
                    eprintln!(
                        "error: step `{id}` has no output in run {} ({})",
                        record.id,
                        step.status.as_str()
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
        None => match args.format {
            ShowFormat::Json => json(&RunEntry::of(record, false)),
            ShowFormat::Human => redact(&human(record)),
        },
    };
    // A closed pipe (`| head`) ends the output quietly.
    std::io::stdout().lock().write_all(text.as_bytes()).ok();
    ExitCode::SUCCESS
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).map_or_else(|e| format!("{{\"error\": \"{e}\"}}\n"), |s| s + "\n")
}

/// The run's heading, then each step with its attempts and their failed requests.
fn human(record: &RunRecord) -> String {
    let mut out = run_heading(&RunEntry::of(record, false));
    out.push('\n');
    for step in &record.steps {
        out.push_str(&step_lines(step));
    }
    out
}

fn step_lines(step: &StepRecord) -> String {
    let mut out = format!("{}\n", step_heading(step));
    for (n, attempt) in step.attempts.iter().enumerate() {
        out.push_str(&format!("  {}\n", attempt_line(n + 1, attempt)));
        for line in attempt.calls.iter().filter_map(call_line) {
            out.push_str(&format!("      {line}\n"));
        }
    }
    out
}
