//! `check --format github`: GitHub Actions workflow commands, one per diagnostic, which the
//! runner turns into annotations on the pull request's diff.

use std::io::{self, Write};

use crate::model::diagnostic::Severity;

use super::check::Report;

/// One `::error …::message` (or `::warning`, `::notice`) line per diagnostic, one `::error` per
/// unreadable file, written to `out`.
pub fn write(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let mut first = true;
    let mut line = |out: &mut dyn Write, text: String| {
        let sep = if std::mem::take(&mut first) { "" } else { "\n" };
        write!(out, "{sep}{text}")
    };
    for file in &report.checked {
        let path = property(&file.display_path());
        for d in &file.diagnostics {
            let command = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let r = file.region(d.span);
            line(
                out,
                format!(
                    "::{command} file={path},line={},col={},endLine={},endColumn={},title={}::{}",
                    r.start_line,
                    r.start_column,
                    r.end_line,
                    r.end_column,
                    property(d.code.as_str()),
                    data(&d.message),
                ),
            )?;
        }
    }
    for u in &report.unreadable {
        line(
            out,
            format!(
                "::error file={},title=cannot-read::{}",
                property(&u.display_path()),
                data(&u.message()),
            ),
        )?;
    }
    Ok(())
}

/// Escapes a command's message as the runner reads it back.
fn data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a command property's value (`,` and `:` end it).
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_percent_signs_and_newlines_through_the_runner() {
        assert_eq!(data("50% done\nnext"), "50%25 done%0Anext");
    }

    #[test]
    fn property_values_cannot_end_early_at_a_comma_or_colon() {
        assert_eq!(property("a,b:c.flow.yaml"), "a%2Cb%3Ac.flow.yaml");
    }
}
