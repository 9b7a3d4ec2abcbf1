//! Making YAML syntax errors say what is wrong, and keeping them from dragging false errors along:
//! a tab in the indentation is named at the tab (the parser only says "mapping values are not
//! allowed"), and a step that does not parse reports its syntax error, not what the parser made of
//! the rest of it (`step ID 'tests provider'` after one space too many).

use crate::model::diagnostic::{Code, Diagnostic};
use crate::model::workflow::Workflow;
use crate::syntax::text::Span;

/// Where and what to report for a parser error at `span` in `region` (its step, or the text
/// before the first step): the first tab in the indentation of the region's lines — the parser
/// notices it a line early or late — else the parser's own words.
pub fn describe(text: &str, region: Span, span: Span, message: &str) -> (Span, String) {
    let end = region.end.min(text.len());
    let mut offset = text[..region.start.min(end)].rfind('\n').map_or(0, |i| i + 1);
    while offset < end {
        let line = &text[offset..end];
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if let Some(tab) = line[..indent].find('\t') {
            let at = offset + tab;
            return (
                Span::new(at, at + 1),
                "a tab in the indentation: YAML indents with spaces only (replace the tab with spaces)".to_string(),
            );
        }
        offset += line.find('\n').map_or(line.len(), |i| i + 1);
    }
    (span, format!("YAML syntax error: {message}"))
}

/// The region of the step an offset falls in: from the step's start to the next step's start (a
/// half-parsed step's own span can stop short of its text), `None` before the first step.
pub fn step_region(workflow: &Workflow, offset: usize) -> Option<Span> {
    let i = workflow.steps.iter().rposition(|s| s.span.start <= offset)?;
    let end = workflow.steps.get(i + 1).map_or(usize::MAX, |next| next.span.start);
    Some(Span::new(workflow.steps[i].span.start, end))
}

/// In a step with a YAML syntax error, drops what lowering made of the broken part: every
/// diagnostic whose span reaches the line of the syntax error (a plain scalar swallows the next
/// line, so `id: tests` became `tests provider`), and every missing key. What stands wholly
/// before that line, the syntax error itself and pasted secrets stay.
pub fn quiet_broken_steps(text: &str, workflow: &Workflow, diagnostics: &mut Vec<Diagnostic>) {
    let broken: Vec<(Span, usize)> = diagnostics
        .iter()
        .filter(|d| d.code == Code::YamlSyntax)
        .filter_map(|d| {
            let region = step_region(workflow, d.span.start)?;
            let at = d.span.start.min(text.len());
            Some((region, text[..at].rfind('\n').map_or(0, |i| i + 1)))
        })
        .collect();
    if broken.is_empty() {
        return;
    }
    diagnostics.retain(|d| {
        matches!(d.code, Code::YamlSyntax | Code::SecretInDocument)
            || !broken.iter().any(|(region, line_start)| {
                region.start <= d.span.start
                    && d.span.start < region.end
                    && (d.code == Code::MissingField || d.span.end > *line_start)
            })
    });
}
