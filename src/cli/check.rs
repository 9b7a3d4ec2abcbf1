//! `stepwise check`: the editor's diagnostics on the command line, in the format the reader
//! wants (rustc-style snippets, JSON, or a CI system's own), with exit code 1 when any error is
//! found or a file cannot be read.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::analysis::Analysis;
use crate::model::catalog::ProcessEnv;
use crate::model::diagnostic::{Diagnostic, Severity};
use crate::model::workspace::Workspace;
use crate::syntax::text::{LineIndex, PositionEncoding, Span};

use super::{format_github, format_gitlab, format_human, format_json, format_sarif};

/// Output formats of `check`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Source snippets with the problem underlined, like rustc.
    Human,
    /// One JSON object with every diagnostic, for tools.
    Json,
    /// GitHub Actions workflow commands (`::error file=…::…`): annotations on the diff.
    Github,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// GitLab Code Quality JSON, for merge request widgets.
    Gitlab,
}

/// Arguments of `stepwise check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Files or folders (default: every *.flow.yaml under the current folder).
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Files checked at once (default: one per core).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
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
pub struct Checked {
    /// The file as given or found.
    pub path: PathBuf,
    /// Its text.
    pub text: Arc<str>,
    /// What the editor would show.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether output may quote the file: only workflows and personas are ever printed.
    pub quoted: bool,
    index: LineIndex,
}

/// A 1-based place in a file: lines, and columns counted in Unicode characters; the end column
/// is the one just after the last character (as SARIF and GitHub annotations count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

/// A 1-based line and its column in characters and in UTF-16 code units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub line: usize,
    pub column: usize,
    pub utf16_column: usize,
}

impl Checked {
    /// A checked file; `quoted` when output may quote its text.
    pub fn new(path: PathBuf, text: Arc<str>, diagnostics: Vec<Diagnostic>, quoted: bool) -> Checked {
        let index = LineIndex::new(text.clone());
        Checked {
            path,
            text,
            diagnostics,
            quoted,
            index,
        }
    }

    /// The path as the reader wants to see it: relative to the current folder when inside it.
    pub fn display_path(&self) -> String {
        display_path(&self.path)
    }

    /// Where `offset` is.
    pub fn point(&self, offset: usize) -> Point {
        let offset = offset.min(self.text.len());
        let pos = self.index.position(offset, PositionEncoding::Utf16);
        let line_start = self.index.line_start(pos.line as usize);
        let column = self.text[line_start..offset].chars().count() + 1;
        Point {
            line: pos.line as usize + 1,
            column,
            utf16_column: pos.col as usize + 1,
        }
    }

    /// Where `span` is.
    pub fn region(&self, span: Span) -> Region {
        let (start, end) = (self.point(span.start), self.point(span.end));
        Region {
            start_line: start.line,
            start_column: start.column,
            end_line: end.line,
            end_column: end.column,
        }
    }
}

/// A file that could not be read (missing permission, not UTF-8, …): it counts as a failure.
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// Why, as the operating system or the decoder said.
    pub reason: String,
}

impl Unreadable {
    /// The path as the reader wants to see it.
    pub fn display_path(&self) -> String {
        display_path(&self.path)
    }

    /// The one-line message every format reports.
    pub fn message(&self) -> String {
        format!("cannot read {}: {}", self.display_path(), self.reason)
    }
}

/// Everything one `check` found.
pub struct Report {
    /// Workflow files asked for (read or not).
    pub workflows: usize,
    /// Files with their diagnostics: the workflows read, then broken persona library files.
    pub checked: Vec<Checked>,
    /// Workflow files that could not be read.
    pub unreadable: Vec<Unreadable>,
}

impl Report {
    /// How many diagnostics of `severity` there are.
    pub fn count(&self, severity: Severity) -> usize {
        self.checked
            .iter()
            .flat_map(|c| &c.diagnostics)
            .filter(|d| d.severity == severity)
            .count()
    }

    /// Whether the check failed: any error, or any file not read.
    pub fn failed(&self) -> bool {
        self.count(Severity::Error) > 0 || !self.unreadable.is_empty()
    }
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
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let report = check_files(&files, jobs);
    for u in &report.unreadable {
        eprintln!("error: {}", u.message());
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        Format::Human => format_human::write(&report, &mut out),
        Format::Json => format_json::write(&report, &mut out),
        Format::Github => format_github::write(&report, &mut out),
        Format::Sarif => format_sarif::write(&report, &mut out),
        Format::Gitlab => format_gitlab::write(&report, &mut out),
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = written.and_then(|()| writeln!(out).and_then(|()| out.flush()));
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Analyses each file against its workspace (loaded once per root) on `jobs` threads, then
/// each workspace's persona library files; the report keeps the order of `files` whatever
/// thread finished first.
fn check_files(files: &[PathBuf], jobs: usize) -> Report {
    let mut workspaces: HashMap<PathBuf, Arc<Workspace>> = HashMap::new();
    let mut by_folder: HashMap<PathBuf, Arc<Workspace>> = HashMap::new();
    let assigned: Vec<Arc<Workspace>> = files
        .iter()
        .map(|path| {
            let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            by_folder
                .entry(dir)
                .or_insert_with_key(|dir| {
                    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
                    let config = Workspace::config_for(&dir, &ProcessEnv);
                    workspaces
                        .entry(config.root.clone())
                        .or_insert_with(|| Arc::new(Workspace::from_config(config, &ProcessEnv)))
                        .clone()
                })
                .clone()
        })
        .collect();
    let mut checked = Vec::new();
    let mut unreadable = Vec::new();
    let work: Vec<_> = files.iter().zip(&assigned).collect();
    // One file at a time, so that one large file does not hold back a fixed share.
    for result in crate::parallel::map_in_order(&work, jobs, 1, |(file, ws)| check_file(file, ws)) {
        match result {
            Ok(c) => checked.push(c),
            Err(u) => unreadable.push(u),
        }
    }
    let mut roots: Vec<&Arc<Workspace>> = workspaces.values().collect();
    roots.sort_by(|a, b| a.config.root.cmp(&b.config.root));
    for ws in roots {
        if let (Some(path), Some(text)) = (&ws.config.path, &ws.config.text) {
            let diagnostics = ws.config_file_diagnostics();
            if !diagnostics.is_empty() {
                checked.push(Checked::new(path.clone(), Arc::from(text.as_str()), diagnostics, false));
            }
        }
        for lp in ws.library.personas.values().filter(|lp| !lp.diagnostics.is_empty()) {
            checked.push(Checked::new(
                lp.path.clone(),
                Arc::from(lp.text.as_str()),
                lp.diagnostics.clone(),
                true,
            ));
        }
    }
    Report {
        workflows: files.len(),
        checked,
        unreadable,
    }
}

/// Reads and analyses one workflow file.
fn check_file(path: &Path, workspace: &Arc<Workspace>) -> Result<Checked, Unreadable> {
    let text: Arc<str> = std::fs::read_to_string(path)
        .map_err(|e| Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .into();
    let diagnostics = Analysis::new(text.clone(), workspace.clone()).diagnostics();
    Ok(Checked::new(path.to_path_buf(), text, diagnostics, true))
}

fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    cwd.and_then(|c| path.strip_prefix(&c).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}
