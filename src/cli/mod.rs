//! The command line: one binary, one subcommand per job.

mod check;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Language server, command-line tool and engine for YAML AI workflows (`*.flow.yaml`).
#[derive(Parser)]
#[command(name = "stepwise", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check workflows and print the editor's diagnostics (exit 1 on errors).
    Check(check::CheckArgs),
    /// Print the JSON Schema of a workflow document.
    Schema,
    /// Serve the Language Server Protocol on stdin/stdout.
    Lsp,
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Schema => {
            print!("{}", crate::model::schema::workflow_schema_json());
            ExitCode::SUCCESS
        }
        Command::Lsp => match crate::server::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("stepwise lsp: {err}");
                ExitCode::FAILURE
            }
        },
    }
}
