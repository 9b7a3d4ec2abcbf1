//! Splits a workflow document into one chunk per top-level key before the steps, one per item
//! of the top-level `steps` list, and one per top-level key after them, by indentation alone.
//! Each chunk parses on its own, so a keystroke re-parses one step instead of the whole file,
//! and a syntax error in one step or one header value does not hide the rest.

use super::text::Span;

/// The parts of a block-style document with a top-level `steps:` list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chunks {
    /// From the start up to the first step item, one span per top-level key (the last one
    /// ends with the `steps:` line).
    pub header: Vec<Span>,
    /// One span per step item, each from its `-` line to the next item.
    pub items: Vec<Span>,
    /// Top-level keys after the steps, one span each (none when the steps end the file).
    pub trailer: Vec<Span>,
}

/// What a line (without its `\n`) is to the step items indented by `indent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemLine {
    /// Blank, a comment, or part of the current item.
    Inside,
    /// The `-` line of a new item.
    Start,
    /// A top-level key: the items ended before it.
    AfterItems,
    /// Less indented than the items yet not a top-level key, or a document marker: only the
    /// whole document says what this is.
    Unsplittable,
}

/// Classifies a line of the steps list; see [`ItemLine`].
pub(crate) fn classify(line: &str, indent: usize) -> ItemLine {
    if is_document_marker(line) {
        ItemLine::Unsplittable
    } else if is_blank_or_comment(line) {
        ItemLine::Inside
    } else if is_item_start(line, indent) {
        ItemLine::Start
    } else if indentation(line) < indent || (indent == 0 && !line.starts_with(' ')) {
        if line.starts_with([' ', '\t']) {
            ItemLine::Unsplittable
        } else {
            ItemLine::AfterItems
        }
    } else {
        ItemLine::Inside
    }
}

/// Whether a line starts or ends a YAML document or is a directive (then the document is
/// parsed whole). A byte order mark counts: to YAML it may only begin a document, so one
/// starting a line inside the text is an error there, yet would open the stream of a part
/// parsed alone.
pub(crate) fn is_document_marker(line: &str) -> bool {
    line.starts_with("---") || line.starts_with("...") || line.starts_with('%') || line.starts_with('\u{feff}')
}

pub(crate) fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Whether `bytes` hold a `\r` not followed by `\n`: a line break to YAML and LSP that the
/// line splitting here (at `\n`) would not see, so such a text is parsed whole.
pub(crate) fn has_lone_cr(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'))
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t']).trim_end_matches('\r');
    t.is_empty() || t.starts_with('#')
}

/// Whether `line` is the `-` line of an item: the dash alone or followed by a space or a tab
/// (YAML separates an entry from its dash by either).
fn is_item_start(line: &str, indent: usize) -> bool {
    indentation(line) == indent && {
        let rest = line[indent..].trim_end_matches('\r');
        rest == "-" || rest.starts_with("- ") || rest.starts_with("-\t")
    }
}

/// Splits `text`, or `None` when the document has no block `steps:` list at column 0, uses
/// multi-document markers or directives, ends its steps with an indented line, or breaks a
/// line with a lone `\r` (then it is parsed whole).
pub fn split(text: &str) -> Option<Chunks> {
    if has_lone_cr(text.as_bytes()) {
        return None;
    }
    let lines = lines_in(text, 0..text.len())?;
    let steps_line = steps_line(&lines)?;
    let first_item = steps_line
        + 1
        + lines[steps_line + 1..]
            .iter()
            .position(|(_, l)| !is_blank_or_comment(l))?;
    let indent = indentation(lines[first_item].1);
    if !is_item_start(lines[first_item].1, indent) {
        return None;
    }
    let mut items: Vec<Span> = Vec::new();
    let mut end_of_items = text.len();
    for &(start, line) in &lines[first_item..] {
        match classify(line, indent) {
            ItemLine::Inside => {}
            ItemLine::Start => {
                if let Some(last) = items.last_mut() {
                    last.end = start;
                }
                items.push(Span::new(start, text.len()));
            }
            ItemLine::AfterItems => {
                end_of_items = start;
                break;
            }
            ItemLine::Unsplittable => return None,
        }
    }
    if let Some(last) = items.last_mut() {
        last.end = end_of_items;
    }
    let header_end = lines[first_item].0;
    Some(Chunks {
        header: top_level_keys(&lines, 0, header_end),
        items,
        trailer: top_level_keys(&lines, end_of_items, text.len()),
    })
}

/// The lines of `text[range]` (its ends at line starts, or the text's end) with their
/// offsets in `text`, without their `\n`; `None` when one is a document marker. The byte
/// order mark that opens the text opens its first part too, so it is no marker there.
pub(crate) fn lines_in(text: &str, range: std::ops::Range<usize>) -> Option<Vec<(usize, &str)>> {
    let mut lines = Vec::new();
    let mut offset = range.start;
    for line in text[range].split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        let marked = if offset == 0 {
            content.strip_prefix('\u{feff}').unwrap_or(content)
        } else {
            content
        };
        if is_document_marker(marked) {
            return None;
        }
        lines.push((offset, content));
        offset += line.len();
    }
    Some(lines)
}

/// Which of `lines` is the first `steps:` line of a block list (nothing after the colon but
/// a comment).
pub(crate) fn steps_line(lines: &[(usize, &str)]) -> Option<usize> {
    lines.iter().position(|(_, l)| {
        l.strip_prefix("steps:").is_some_and(|rest| {
            let rest = rest.trim();
            rest.is_empty() || rest.starts_with('#')
        })
    })
}

/// Splits `start..end` (whole lines) before every line that starts at column 0 with
/// something other than a comment: one span per top-level key. Comments and blank lines go
/// with the key before them (or the first key).
pub(crate) fn top_level_keys(lines: &[(usize, &str)], start: usize, end: usize) -> Vec<Span> {
    let mut parts = vec![Span::new(start, end)];
    let mut keyed = false;
    for &(offset, line) in lines.iter().filter(|(o, _)| (start..end).contains(o)) {
        if line.starts_with([' ', '\t']) || is_blank_or_comment(line) {
            continue;
        }
        if keyed && let Some(last) = parts.last_mut() {
            last.end = offset;
            parts.push(Span::new(offset, end));
        }
        keyed = true;
    }
    if start == end {
        parts.clear();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> Vec<&str> {
        let c = split(text).unwrap();
        c.header
            .into_iter()
            .chain(c.items)
            .chain(c.trailer)
            .map(|s| &text[s.start..s.end])
            .collect()
    }

    #[test]
    fn splits_items_at_their_indentation() {
        let text = "name: x\nsteps:\n  - id: a\n    prompt: |\n      - not an item\n\n  # note\n  - id: b\n    prompt: hi\ninputs: {}\n";
        assert_eq!(
            parts(text),
            vec![
                "name: x\n",
                "steps:\n",
                "  - id: a\n    prompt: |\n      - not an item\n\n  # note\n",
                "  - id: b\n    prompt: hi\n",
                "inputs: {}\n"
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_starting_a_later_line_leaves_the_document_whole() {
        assert!(split("name: x\n\u{feff}inputs: {}\nsteps:\n  - id: a\n").is_none());
        assert!(split("steps:\n  - id: a\n\u{feff}  - id: b\n").is_none());
        assert_eq!(classify("\u{feff}  - id: b", 2), ItemLine::Unsplittable);
    }

    #[test]
    fn a_byte_order_mark_opening_the_text_opens_its_first_part() {
        assert_eq!(
            parts("\u{feff}name: x\nsteps:\n  - id: a\n"),
            ["\u{feff}name: x\n", "steps:\n", "  - id: a\n"]
        );
    }

    #[test]
    fn a_tab_after_the_dash_starts_an_item_as_a_space_does() {
        let text = "steps:\n  - id: a\n    prompt: hi\n  -\tid: b\n    prompt: hi\n";
        assert_eq!(
            parts(text)[1..],
            ["  - id: a\n    prompt: hi\n", "  -\tid: b\n    prompt: hi\n"]
        );
    }

    #[test]
    fn items_at_column_zero_end_at_the_next_key() {
        let text = "steps:\n- id: a\n  prompt: hi\n- id: b\n  prompt: hi\nname: x\n";
        assert_eq!(
            parts(text)[1..],
            ["- id: a\n  prompt: hi\n", "- id: b\n  prompt: hi\n", "name: x\n"]
        );
    }

    #[test]
    fn the_header_splits_at_each_top_level_key() {
        let text = "# comment\nname: x\ninputs:\n  a:\n    description: [unclosed\n# note\npersonas:\n  p: {}\nsteps:\n  - id: a\n";
        assert_eq!(
            parts(text),
            vec![
                "# comment\nname: x\n",
                "inputs:\n  a:\n    description: [unclosed\n# note\n",
                "personas:\n  p: {}\n",
                "steps:\n",
                "  - id: a\n"
            ]
        );
    }

    #[test]
    fn flow_steps_and_multiple_documents_are_not_split() {
        assert!(split("steps: [{id: a, prompt: hi}]\n").is_none());
        assert!(split("steps:\n  - id: a\n    prompt: |\n      hi\r  - id: b\n").is_none());
        assert!(split("steps:\r\n  - id: a\r\n").is_some());
        assert!(split("steps:\n  - id: a\n---\nname: x\n").is_none());
    }
}
