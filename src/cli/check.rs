//! `stepwise check`: the editor's diagnostics on the command line.

use std::process::ExitCode;

/// Arguments of `stepwise check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Files or folders (default: every *.flow.yaml under the current folder).
    paths: Vec<std::path::PathBuf>,
}

/// Runs the check.
pub fn run(_args: CheckArgs) -> ExitCode {
    ExitCode::SUCCESS
}
