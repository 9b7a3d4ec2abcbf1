//! `stepwise run`: runs a workflow (or one step, or the rest of the last run) with a live
//! progress display, or prints the exact requests with `--dry-run`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::run_output;
use crate::analysis::Analysis;
use crate::analysis::actions::runnable;
use crate::analysis::run_text::{asked, finished, total_line};
use crate::cli::estimate::estimate_lines;
use crate::engine::preview::{PreviewError, preview};
use crate::engine::{Engine, EngineError, RunEvent, RunRequest, RunTarget};
use crate::model::catalog::ProcessEnv;
use crate::model::diagnostic::Diagnostic;
use crate::model::resolve::Overrides;
use crate::model::runs::{ErrorClass, RunRecord, StepStatus};
use crate::model::secrets::redact;
use crate::model::workflow::MAX_BUDGET_USD;
use crate::model::workflow::Workflow;
use crate::model::workspace::Workspace;
use crate::syntax::text::LineIndex;

/// Arguments of `stepwise run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The workflow file.
    file: PathBuf,
    /// Run only this step (after any upstream step without a recorded output).
    #[arg(long, value_name = "ID")]
    step: Option<String>,
    /// Use this provider for every step, this run only.
    #[arg(long, value_name = "P")]
    provider: Option<String>,
    /// Use this model for every step, this run only.
    #[arg(long, value_name = "M")]
    model: Option<String>,
    /// Use this persona for every step, this run only.
    #[arg(long, value_name = "ID")]
    persona: Option<String>,
    /// An input value (repeatable).
    #[arg(long = "input", value_name = "K=V", value_parser = parse_input)]
    inputs: Vec<(String, String)>,
    /// Run what the last run left pending, failed, stale or cancelled.
    #[arg(long, conflicts_with = "step")]
    resume: bool,
    /// Print the requests that would be sent, without sending any.
    #[arg(long)]
    dry_run: bool,
    /// The most this run may spend, in USD (wins over the workflow's `budget_usd`): a request
    /// whose estimated cost would exceed it is not sent, and the run exits with status 3.
    #[arg(long, value_name = "USD", value_parser = parse_budget)]
    budget: Option<f64>,
    /// Trust this workspace's stepwise.toml for this run only (as STEPWISE_TRUST_WORKSPACE=1).
    #[arg(long)]
    trust_workspace: bool,
}

/// Runs the command.
pub fn run(args: RunArgs) -> ExitCode {
    let text: Arc<str> = match std::fs::read_to_string(&args.file) {
        Ok(t) => t.into(),
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let (workspace, workflow) = match load_runnable(&args.file, &text, args.trust_workspace, "running") {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let target = match (&args.step, args.resume) {
        (Some(step), _) => RunTarget::Step(step.clone()),
        (None, true) => RunTarget::Resume,
        (None, false) => RunTarget::Workflow,
    };
    let request = RunRequest {
        path: args.file.clone(),
        workflow,
        workspace,
        env: Arc::new(ProcessEnv),
        target,
        overrides: Overrides {
            provider: args.provider.clone(),
            model: args.model.clone(),
            persona: args.persona.clone().map(Some),
        },
        inputs: args.inputs.into_iter().collect(),
        budget_usd: args.budget,
    };
    let engine = Engine::default();
    let workspace = request.workspace.clone();
    if args.dry_run {
        if let Some(why) = engine.refusal(&request) {
            eprintln!("note: a run would refuse: {why}");
        }
        if let Some(step) = &args.step {
            return print_preview(&request, step, &args.file, &text);
        }
        return match engine.dry_run(&request) {
            Ok(planned) => {
                let mut out = std::io::stdout().lock();
                for p in &planned {
                    let item = p.item.map(|i| format!(" item {i}")).unwrap_or_default();
                    let text = redact(&p.request.display());
                    // A closed pipe (`| head`) ends the listing quietly.
                    if writeln!(out, "# step {}{item}\n{text}", p.step).is_err() {
                        return ExitCode::SUCCESS;
                    }
                }
                let budget = args.budget.or(request.workflow.budget_usd.as_ref().map(|b| b.value));
                if !planned.is_empty() {
                    write!(out, "{}", estimate_lines(&planned, budget)).ok();
                }
                ExitCode::SUCCESS
            }
            Err(e) => report_error(e, &args.file, &text),
        };
    }
    if let Some(why) = engine.refusal(&request) {
        return report_error(EngineError::Untrusted(why), &args.file, &text);
    }
    match engine.preflight(&request) {
        Ok(warnings) if !warnings.is_empty() => {
            eprint!(
                "{}",
                run_output::problems(&args.file, &text, &warnings, std::io::stderr().is_terminal())
            );
        }
        Ok(_) => {}
        Err(e) => return report_error(e, &args.file, &text),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let single = args.step.clone();
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
        let result = engine.run(request, tx, cancel).await;
        display.await.ok();
        result
    });
    match result {
        Ok(record) => {
            print_outputs(&record, single.as_deref());
            print_summary(&record, &args.file, &workspace);
            let succeeded = match single.as_deref() {
                Some(id) => record
                    .step(id)
                    .and_then(|s| s.last())
                    .is_some_and(|a| a.status == StepStatus::Completed),
                None => record.succeeded(),
            };
            if succeeded {
                ExitCode::SUCCESS
            } else if stopped_by_budget(&record) {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => report_error(e, &args.file, &text),
    }
}

/// The workspace of `file` and its workflow, or the printed errors that forbid `doing` it
/// (`running`, `comparing`).
pub(super) fn load_runnable(
    file: &Path,
    text: &Arc<str>,
    trust_workspace: bool,
    doing: &str,
) -> Result<(Arc<Workspace>, Arc<Workflow>), ExitCode> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let workspace = Arc::new(Workspace::load_trusting(dir, &ProcessEnv, trust_workspace));
    match runnable(&Analysis::new(text.clone(), workspace.clone())) {
        Ok(workflow) => Ok((workspace, Arc::new(workflow))),
        Err(diagnostics) => {
            print_diagnostics(file, text, &diagnostics);
            eprintln!("error: not {doing}: the workflow has errors");
            Err(ExitCode::FAILURE)
        }
    }
}

/// `run --step ID --dry-run`: the step's request preview, as the editors show it.
fn print_preview(request: &RunRequest, step: &str, file: &Path, text: &Arc<str>) -> ExitCode {
    match preview(request, step) {
        Ok(preview) => {
            // A closed pipe (`| head`) ends the listing quietly.
            let _ = write!(std::io::stdout().lock(), "{}", redact(&preview.text()));
            ExitCode::SUCCESS
        }
        Err(PreviewError::Engine(e)) => report_error(e, file, text),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report_error(error: EngineError, file: &Path, text: &Arc<str>) -> ExitCode {
    match error {
        EngineError::Untrusted(why) => {
            eprintln!("error: not running: {why}");
            return ExitCode::from(2);
        }
        EngineError::Preflight(refused) => {
            let styled = std::io::stderr().is_terminal();
            eprint!("{}", run_output::problems(file, text, &refused.problems, styled));
            let errors = refused.errors().count();
            let noun = if errors == 1 { "problem" } else { "problems" };
            eprintln!("error: not running: {errors} {noun} found before sending anything (nothing was sent)");
        }
        other => eprintln!("error: {other}"),
    }
    ExitCode::FAILURE
}

/// Prints diagnostics as `file:line:col: severity[code]: message`.
pub fn print_diagnostics(file: &Path, text: &Arc<str>, diagnostics: &[Diagnostic]) {
    let index = LineIndex::new(text.clone());
    for d in diagnostics {
        let line = index.line_of(d.span.start);
        let col = text[index.line_start(line)..d.span.start].chars().count() + 1;
        eprintln!(
            "{}:{}:{col}: {}[{}]: {}",
            file.display(),
            line + 1,
            d.severity.as_str(),
            d.code.as_str(),
            d.message
        );
    }
}

/// Draws one line per running step until the event channel closes.
async fn show_progress(mut events: mpsc::UnboundedReceiver<RunEvent>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let spinner = ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressStyle::with_template("{spinner} {prefix:.bold} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut bars: HashMap<String, (ProgressBar, String, String)> = HashMap::new();
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::RunStarted { run_id, steps, .. } => {
                say(&multi, format!("run {run_id}: {} step(s)", steps.len()));
            }
            RunEvent::StepStarted { step, attempt, items } => {
                let pb = match items {
                    Some(total) => multi.add(ProgressBar::new(total as u64).with_style(bar.clone())),
                    None => multi.add(ProgressBar::new_spinner().with_style(spinner.clone())),
                };
                pb.set_prefix(step.clone());
                let label = asked(&attempt);
                pb.set_message(label.clone());
                pb.enable_steady_tick(Duration::from_millis(120));
                bars.insert(step, (pb, label, String::new()));
            }
            RunEvent::ItemsProgress { step, done, .. } => {
                if let Some((pb, ..)) = bars.get(&step) {
                    pb.set_position(done as u64);
                }
            }
            RunEvent::Text { item: Some(_), .. } => {}
            RunEvent::Text { step, text, item: None } => {
                if let Some((pb, label, streamed)) = bars.get_mut(&step) {
                    streamed.push_str(&text);
                    let flat = streamed.replace(['\n', '\r', '\t'], " ");
                    let tail: String = {
                        let chars: Vec<char> = flat.chars().collect();
                        chars[chars.len().saturating_sub(80)..].iter().collect()
                    };
                    pb.set_message(format!("{label} · {}", redact(&tail)));
                }
            }
            RunEvent::CallFailed {
                step,
                call,
                attempt,
                of,
            } => {
                say(&multi, redact(&run_output::call_failed(&step, &call, attempt, of)));
                if let Some((_, _, streamed)) = bars.get_mut(&step) {
                    streamed.clear();
                }
            }
            RunEvent::FallingBack { step, item, to } => {
                say(&multi, run_output::falling_back(&step, item, &to));
                if let Some((_, _, streamed)) = bars.get_mut(&step) {
                    streamed.clear();
                }
            }
            RunEvent::StepFinished { step, .. } => {
                if let Some((pb, ..)) = bars.remove(&step.id) {
                    pb.finish_and_clear();
                    multi.remove(&pb);
                }
                say(&multi, redact(&finished(&step)));
            }
        }
    }
}

/// Prints a line above the progress bars, or plainly when they are hidden (not a terminal).
fn say(multi: &MultiProgress, line: String) {
    if multi.is_hidden() {
        eprintln!("{line}");
    } else {
        multi.println(line).ok();
    }
}

/// Prints the output of the step that was asked for, or of the workflow's final steps.
fn print_outputs(record: &RunRecord, single: Option<&str>) {
    let shown: Vec<&str> = match single {
        Some(id) => vec![id],
        None => record.steps.last().map(|s| s.id.as_str()).into_iter().collect(),
    };
    for id in shown {
        let ran = record
            .step(id)
            .filter(|s| s.last().is_some_and(|a| a.status == StepStatus::Completed));
        if let Some(output) = ran.and_then(|s| s.output()) {
            println!("{output}");
        }
    }
}

/// Whether a request was refused for the budget in this run.
fn stopped_by_budget(record: &RunRecord) -> bool {
    record.steps.iter().any(|s| {
        s.last()
            .and_then(|a| a.error.as_ref())
            .is_some_and(|e| e.failure.class == ErrorClass::Budget)
    })
}

/// `--budget`: a non-negative number of USD.
pub(super) fn parse_budget(text: &str) -> Result<f64, String> {
    match text.trim_start_matches('$').parse::<f64>() {
        Ok(v) if (0.0..=MAX_BUDGET_USD).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected an amount of USD between 0 and {MAX_BUDGET_USD}, e.g. 0.50"
        )),
    }
}

/// `K=V` of `--input`.
pub fn parse_input(pair: &str) -> Result<(String, String), String> {
    match pair.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{pair}`")),
    }
}

/// The table at the end, the run's total cost, the errors under it, the record's path and,
/// after a failure, the command that re-runs each failed step.
fn print_summary(record: &RunRecord, file: &Path, workspace: &Workspace) {
    let width = terminal_width();
    eprintln!();
    eprint!("{}", run_output::table(record));
    if let Some(total) = total_line(record) {
        eprintln!("{total}");
    }
    let errors = run_output::errors(record, width);
    if !errors.is_empty() {
        eprintln!();
        eprint!("{errors}");
    }
    eprintln!();
    eprintln!(
        "{}",
        run_output::record_line(&record.path(&workspace.config.runs_dir()))
    );
    eprint!("{}", run_output::rerun_lines(record, file, &workspace.catalog));
}

/// The width errors wrap to: the terminal's, else `COLUMNS`, else 100.
fn terminal_width() -> usize {
    let term = console::Term::stderr()
        .size_checked()
        .map(|(_, columns)| usize::from(columns));
    let columns = || std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    term.or_else(columns).unwrap_or(100).max(20)
}
