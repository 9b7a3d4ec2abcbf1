//! The command line: one binary, one subcommand per job.

mod check;
mod compare;
mod estimate;
mod format_github;
mod format_gitlab;
mod format_human;
mod format_json;
mod format_sarif;
mod models;
mod run;
mod run_output;
mod runs;
mod show;
mod table;
mod trust;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::model::schema;

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
    /// Print the JSON Schema of a workflow document (or of a persona file, or of `stepwise.toml`).
    Schema {
        /// Which document's schema.
        #[arg(value_enum, default_value = "workflow")]
        kind: SchemaKind,
    },
    /// Run a workflow, one step of it, or the rest of the last run.
    Run(run::RunArgs),
    /// Send one step to several provider/model/persona targets and print them side by side.
    Compare(compare::CompareArgs),
    /// List a workflow's runs, newest first.
    Runs(runs::RunsArgs),
    /// Show a run's steps and attempts, or one step's output.
    Show(show::ShowArgs),
    /// List providers, their availability and models.
    Models(models::ModelsArgs),
    /// Trust a workspace's stepwise.toml (printing what that allows), or list trusted ones.
    Trust(trust::TrustArgs),
    /// Remove a workspace's trust.
    Untrust(trust::UntrustArgs),
    /// Serve the Language Server Protocol on stdin/stdout.
    Lsp,
}

/// Documents with a JSON Schema.
#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemaKind {
    /// A `*.flow.yaml` workflow.
    Workflow,
    /// A persona library file.
    Persona,
    /// The workspace configuration, `stepwise.toml`.
    Config,
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Schema { kind } => {
            let json = match kind {
                SchemaKind::Workflow => schema::workflow_schema_json(),
                SchemaKind::Persona => schema::persona_schema_json(),
                SchemaKind::Config => schema::config_schema_json(),
            };
            print!("{json}");
            ExitCode::SUCCESS
        }
        Command::Run(args) => run::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Show(args) => show::run(args),
        Command::Models(args) => models::run(args),
        Command::Trust(args) => trust::trust(args),
        Command::Untrust(args) => trust::untrust(args),
        Command::Lsp => match crate::server::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("stepwise lsp: {err}");
                ExitCode::FAILURE
            }
        },
    }
}
