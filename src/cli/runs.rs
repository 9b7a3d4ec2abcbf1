//! `stepwise runs FILE`: the workflow's runs, newest first — when, status, steps done /
//! failed / stale, tokens, cost, duration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::analysis::run_history_text::{RUNS_HEADER, runs_row};
use crate::engine::record::history;
use crate::model::catalog::ProcessEnv;
use crate::model::run_history::RunEntry;
use crate::model::runs::RunRecord;
use crate::model::secrets::redact;
use crate::model::workspace::Workspace;

/// Arguments of `stepwise runs`.
#[derive(clap::Args)]
pub struct RunsArgs {
    /// The workflow file.
    file: PathBuf,
    /// Show at most this many runs.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

/// The runs of `file` recorded under its workspace's `runs_dir`, newest first.
pub fn history_of(file: &Path, limit: usize) -> Vec<RunRecord> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let workspace = Workspace::load(dir, &ProcessEnv);
    history(&workspace.config.runs_dir(), file, limit)
}

/// Runs the command.
pub fn run(args: RunsArgs) -> ExitCode {
    if !args.file.is_file() {
        eprintln!("error: {} is not a workflow file", args.file.display());
        return ExitCode::FAILURE;
    }
    let runs = history_of(&args.file, args.limit);
    if runs.is_empty() {
        eprintln!("no runs of {} yet", args.file.display());
        return ExitCode::SUCCESS;
    }
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|r| runs_row(&RunEntry::of(r, false)).map(|c| redact(&c)))
        .collect();
    for line in super::table::table_lines(RUNS_HEADER, &rows) {
        println!("{line}");
    }
    ExitCode::SUCCESS
}
