//! `stepwise check`: the editor's diagnostics on the command line, as rustc-style snippets or
//! JSON, with exit code 1 when any error is found.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet, renderer::DecorStyle};
use serde_json::json;

use crate::analysis::Analysis;
use crate::model::catalog::ProcessEnv;
use crate::model::diagnostic::{Diagnostic, Severity};
use crate::model::secrets::mask;
use crate::model::workspace::Workspace;
use crate::syntax::text::{LineIndex, PositionEncoding};

/// Output formats of `check`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Source snippets with the problem underlined, like rustc.
    Human,
    /// One JSON object with every diagnostic, for tools.
    Json,
}

/// Arguments of `stepwise check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Files or folders (default: every *.flow.yaml under the current folder).
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

/// Whether `path` names a workflow document.
pub fn is_workflow_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".flow.yaml") || n.ends_with(".flow.yml"))
}

/// Workflow files under `root`, skipping hidden folders and build output.
fn discover(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            e.depth() == 0 || !(name.starts_with('.') || name == "target" || name == "node_modules")
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && is_workflow_file(e.path()))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// One checked file: its text and diagnostics.
struct Checked {
    path: PathBuf,
    text: Arc<str>,
    diagnostics: Vec<Diagnostic>,
}

/// Runs the check.
pub fn run(args: CheckArgs) -> ExitCode {
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for root in &roots {
        if root.is_dir() {
            files.extend(discover(root));
        } else if root.is_file() {
            files.push(root.clone());
        } else {
            eprintln!("error: {} does not exist", root.display());
            return ExitCode::from(2);
        }
    }
    if files.is_empty() {
        eprintln!("error: no *.flow.yaml files found");
        return ExitCode::from(2);
    }
    let checked = check_files(&files);
    let errors = count(&checked, Severity::Error);
    let warnings = count(&checked, Severity::Warning);
    let output = match args.format {
        Format::Json => to_json(&checked, errors, warnings),
        Format::Human => render_human(&checked, files.len(), errors, warnings),
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{output}");
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn count(checked: &[Checked], severity: Severity) -> usize {
    checked
        .iter()
        .flat_map(|c| &c.diagnostics)
        .filter(|d| d.severity == severity)
        .count()
}

/// Analyses each file against its workspace (loaded once per root), then each workspace's
/// persona library files.
fn check_files(files: &[PathBuf]) -> Vec<Checked> {
    let mut workspaces: HashMap<PathBuf, Arc<Workspace>> = HashMap::new();
    let mut out = Vec::new();
    for path in files {
        let text: Arc<str> = match std::fs::read_to_string(path) {
            Ok(t) => Arc::from(t),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                continue;
            }
        };
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let config = Workspace::config_for(&dir, &ProcessEnv);
        let workspace = workspaces
            .entry(config.root.clone())
            .or_insert_with(|| Arc::new(Workspace::from_config(config, &ProcessEnv)))
            .clone();
        let analysis = Analysis::new(text.clone(), workspace);
        out.push(Checked {
            path: path.clone(),
            text,
            diagnostics: analysis.diagnostics(),
        });
    }
    let mut roots: Vec<&Arc<Workspace>> = workspaces.values().collect();
    roots.sort_by(|a, b| a.config.root.cmp(&b.config.root));
    for ws in roots {
        if let (Some(path), Some(text)) = (&ws.config.path, &ws.config.text) {
            let diagnostics = ws.trust.config_diagnostics();
            if !diagnostics.is_empty() {
                out.push(Checked {
                    path: path.clone(),
                    text: Arc::from(text.as_str()),
                    diagnostics,
                });
            }
        }
        for lp in ws.library.personas.values().filter(|lp| !lp.diagnostics.is_empty()) {
            out.push(Checked {
                path: lp.path.clone(),
                text: Arc::from(lp.text.as_str()),
                diagnostics: lp.diagnostics.clone(),
            });
        }
    }
    out
}

fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    cwd.and_then(|c| path.strip_prefix(&c).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

fn render_human(checked: &[Checked], files: usize, errors: usize, warnings: usize) -> String {
    let mut out = String::new();
    let renderer = if std::io::stdout().is_terminal() {
        Renderer::styled()
    } else {
        Renderer::plain()
    }
    .decor_style(DecorStyle::Unicode);
    for file in checked {
        let path = display_path(&file.path);
        // Snippets may end up in CI logs: never print a pasted key back.
        let source = mask(&file.text);
        for d in &file.diagnostics {
            let level = match d.severity {
                Severity::Error => Level::ERROR,
                Severity::Warning => Level::WARNING,
                Severity::Info => Level::INFO,
            };
            let mut snippet = Snippet::source(source.as_str())
                .path(path.as_str())
                .annotation(AnnotationKind::Primary.span(d.span.start..d.span.end));
            for r in &d.related {
                snippet = snippet.annotation(
                    AnnotationKind::Context
                        .span(r.span.start..r.span.end)
                        .label(r.message.as_str()),
                );
            }
            let mut report = vec![
                level
                    .primary_title(d.message.as_str())
                    .id(d.code.as_str())
                    .element(snippet),
            ];
            if d.suggestions.len() > 1 {
                let alternatives = d
                    .suggestions
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                report.push(Group::with_title(
                    Level::HELP.secondary_title(format!("close matches: {alternatives}")),
                ));
            }
            out.push_str(&renderer.render(&report));
            out.push_str("\n\n");
        }
    }
    let summary = format!(
        "checked {files} workflow{}: {errors} error{}, {warnings} warning{}",
        if files == 1 { "" } else { "s" },
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    );
    out.push_str(&summary);
    out
}

fn to_json(checked: &[Checked], errors: usize, warnings: usize) -> String {
    let mut diagnostics = Vec::new();
    for file in checked {
        let index = LineIndex::new(file.text.clone());
        let point = |offset: usize| {
            let pos = index.position(offset, PositionEncoding::Utf16);
            let line_start = index.line_start(pos.line as usize);
            let column = file.text[line_start..offset.min(file.text.len())].chars().count() + 1;
            json!({ "line": pos.line + 1, "column": column, "utf16_column": pos.col + 1 })
        };
        for d in &file.diagnostics {
            diagnostics.push(json!({
                "path": display_path(&file.path),
                "code": d.code.as_str(),
                "severity": d.severity.as_str(),
                "message": d.message,
                "start": point(d.span.start),
                "end": point(d.span.end),
                "byte_range": [d.span.start, d.span.end],
                "suggestions": d.suggestions,
                "related": d.related.iter().map(|r| json!({
                    "message": r.message,
                    "start": point(r.span.start),
                    "end": point(r.span.end),
                })).collect::<Vec<_>>(),
            }));
        }
    }
    let files = checked.len();
    serde_json::to_string_pretty(&json!({
        "diagnostics": diagnostics,
        "summary": { "files": files, "errors": errors, "warnings": warnings },
    }))
    .expect("JSON serializes")
}
