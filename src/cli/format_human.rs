//! `check --format human`: rustc-style source snippets with the problem underlined, then a
//! summary line.

use std::io::{self, IsTerminal, Write};

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet, renderer::DecorStyle};

use crate::model::diagnostic::Severity;
use crate::model::secrets::mask;

use super::check::{Checked, Report};

/// The snippets and the summary, written to `out` one diagnostic at a time.
pub fn write(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let styled = std::io::stdout().is_terminal();
    for file in &report.checked {
        write_file(file, styled, out)?;
    }
    write!(out, "{}", summary(report))
}

/// The snippets of one file's diagnostics, each followed by a blank line, written to `out`
/// one at a time (also how `run` shows what stops it before sending anything); `styled` for a
/// terminal.
pub fn write_file(file: &Checked, styled: bool, out: &mut impl Write) -> io::Result<()> {
    let renderer = if styled { Renderer::styled() } else { Renderer::plain() }.decor_style(DecorStyle::Unicode);
    let path = file.display_path();
    // Snippets may end up in CI logs: never print a pasted key back.
    let source = mask(&file.text);
    for d in &file.diagnostics {
        let level = match d.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
            Severity::Info => Level::INFO,
        };
        // Only the lines the annotations touch go to the renderer: handing it the whole file
        // for every diagnostic made a file with thousands of problems take quadratic time.
        let spans = std::iter::once(d.span).chain(d.related.iter().map(|r| r.span));
        let (lo, hi) = spans.fold((d.span.start, d.span.end), |(lo, hi), s| {
            (lo.min(s.start), hi.max(s.end))
        });
        let lo = source[..lo.min(source.len())].rfind('\n').map_or(0, |i| i + 1);
        let hi = hi.min(source.len());
        let hi = source[hi..].find('\n').map_or(source.len(), |i| hi + i);
        let mut snippet = Snippet::source(&source[lo..hi])
            .line_start(file.point(lo).line)
            .path(path.as_str())
            .annotation(AnnotationKind::Primary.span(d.span.start - lo..d.span.end - lo));
        for r in &d.related {
            snippet = snippet.annotation(
                AnnotationKind::Context
                    .span(r.span.start - lo..r.span.end - lo)
                    .label(r.message.as_str()),
            );
        }
        let title = level.primary_title(d.message.as_str()).id(d.code.as_str());
        let mut groups = vec![if file.quoted {
            title.element(snippet)
        } else {
            let at = file.point(d.span.start);
            title.element(Origin::path(path.as_str()).line(at.line).char_column(at.column))
        }];
        if d.suggestions.len() > 1 {
            let alternatives = d
                .suggestions
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ");
            groups.push(Group::with_title(
                Level::HELP.secondary_title(format!("close matches: {alternatives}")),
            ));
        }
        write!(out, "{}\n\n", renderer.render(&groups))?;
    }
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn summary(report: &Report) -> String {
    let mut line = format!(
        "checked {}: {}, {}",
        plural(report.workflows, "workflow"),
        plural(report.count(Severity::Error), "error"),
        plural(report.count(Severity::Warning), "warning"),
    );
    if !report.unreadable.is_empty() {
        let n = report.unreadable.len();
        line.push_str(&format!("; {} could not be read", plural(n, "file")));
    }
    line
}
