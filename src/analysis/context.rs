//! The tolerant layer: what the cursor is on, read from the text's indentation rather than
//! from the YAML tree, so that completion works while the document does not parse (a
//! half-typed key, an unclosed `[` or `"` elsewhere, a new step with `persona: ` and nothing
//! after it). Also rebuilds the cursor's step from a repaired copy of the text, so that
//! resolution sees its provider even when the whole document is broken.

use super::Analysis;
use crate::model::resolve::{Effective, Overrides, resolve_step};
use crate::model::schema::Level;
use crate::model::workflow::{Step, Workflow, lower_workflow};
use crate::syntax::text::Span;
use crate::syntax::yaml;

/// One step of the path from the document root to the cursor's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence item, by zero-based index.
    Item(usize),
}

/// Which part of a `{{ }}` expression the cursor is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateScope {
    /// A bare name: `inputs`, `steps`, `item`, `index`.
    Root,
    /// After `inputs.`.
    Inputs,
    /// After `steps.`.
    Steps,
}

/// What may be written at the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// A key of the container mapping; `siblings` are the keys it already has.
    Key {
        /// Keys already present in the mapping (above and below the cursor).
        siblings: Vec<String>,
    },
    /// The value of `key` in the container mapping.
    Value {
        /// The key whose value is being written.
        key: String,
        /// Whether the cursor is on one item of a list (`[a, b]` or `- a`).
        in_list: bool,
    },
    /// Inside `{{ }}` of a template (or a `for_each` expression).
    Template(TemplateScope),
}

/// Where the cursor is, as far as the text's shape tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorContext {
    /// Keys and items from the root to the mapping that holds the cursor.
    pub path: Vec<Segment>,
    /// What may be written there.
    pub slot: Slot,
    /// The partly typed word before the cursor (replaced by a completion).
    pub word: Span,
    /// The byte offset where the cursor's step item starts, when it is in a step.
    pub step_start: Option<usize>,
}

impl CursorContext {
    /// The level of the container mapping, when it is one the schema knows.
    pub fn level(&self) -> Option<Level> {
        let keys: Vec<Option<&str>> = self
            .path
            .iter()
            .map(|s| match s {
                Segment::Key(k) => Some(k.as_str()),
                Segment::Item(_) => None,
            })
            .collect();
        match keys.as_slice() {
            [] => Some(Level::Workflow),
            [Some("steps"), None] => Some(Level::Step),
            [Some("inputs"), Some(_)] => Some(Level::Input),
            [Some("personas"), Some(_)] => Some(Level::Persona),
            [.., Some("params")] => Some(Level::Params),
            _ => None,
        }
    }

    /// The zero-based index of the step the cursor is in, counting every item of `steps`.
    pub fn step_index(&self) -> Option<usize> {
        match self.path.as_slice() {
            [Segment::Key(k), Segment::Item(i), ..] if k == "steps" => Some(*i),
            _ => None,
        }
    }
}

/// One line's shape: indentation, list dashes, and a `key:` if it starts with one.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    /// Byte offset of the line's start.
    start: usize,
    /// Column of the first non-space character.
    indent: usize,
    /// Column of the last `- ` marker, if the line starts with any.
    dash: Option<usize>,
    /// Column where the content after indentation and dashes starts.
    content: usize,
    /// The key, if the content starts with `key:`.
    key: Option<&'a str>,
    /// The text after `key:` (trimmed), or the whole content.
    rest: &'a str,
}

impl<'a> Line<'a> {
    fn parse(text: &'a str, start: usize) -> Line<'a> {
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[start..end].trim_end_matches('\r');
        let bytes = line.as_bytes();
        let mut pos = bytes.iter().take_while(|&&b| b == b' ').count();
        let indent = pos;
        let mut dash = None;
        while pos < bytes.len() && bytes[pos] == b'-' && (pos + 1 == bytes.len() || bytes[pos + 1] == b' ') {
            dash = Some(pos);
            pos += 1;
            pos += bytes[pos..].iter().take_while(|&&b| b == b' ').count();
        }
        let content = &line[pos..];
        let (key, rest) = match split_key(content) {
            Some((k, r)) => (Some(k), r.trim()),
            None => (None, content.trim_end()),
        };
        Line {
            start,
            indent,
            dash,
            content: pos,
            key,
            rest,
        }
    }

    /// Blank or comment-only lines carry no structure.
    fn is_blank(&self) -> bool {
        self.key.is_none() && self.dash.is_none() && (self.rest.is_empty() || self.rest.starts_with('#'))
    }

    /// Whether the line's value opens a nested block (nothing after the colon, or a block
    /// scalar indicator).
    fn opens_block(&self) -> bool {
        self.key.is_some()
            && (self.rest.is_empty()
                || self.rest.starts_with('#')
                || self.rest.starts_with('|')
                || self.rest.starts_with('>'))
    }
}

/// Splits `key: rest` (or `key:` at the end); quoted keys are unquoted.
fn split_key(content: &str) -> Option<(&str, &str)> {
    if let Some(quote) = content.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = content[1..].find(quote)? + 1;
        let after = &content[close + 1..];
        let rest = after.strip_prefix(':')?;
        return (rest.is_empty() || rest.starts_with(' ')).then(|| (&content[1..close], rest));
    }
    let bytes = content.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b':' if i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t' => {
                return (i > 0).then(|| (content[..i].trim_end(), &content[i + 1..]));
            }
            b'#' if i > 0 && bytes[i - 1] == b' ' => return None,
            b'[' | b'{' | b'"' | b'\'' if i == 0 => return None,
            _ => {}
        }
    }
    None
}

/// The start offsets of the lines before `line_start`, nearest first.
fn lines_above(text: &str, line_start: usize) -> impl Iterator<Item = usize> + '_ {
    let mut end = line_start;
    std::iter::from_fn(move || {
        if end == 0 {
            return None;
        }
        let start = text[..end - 1].rfind('\n').map_or(0, |i| i + 1);
        end = start;
        Some(start)
    })
}

/// The start offsets of the lines after the one starting at `line_start`.
fn lines_below(text: &str, line_start: usize) -> impl Iterator<Item = usize> + '_ {
    let mut next = text[line_start..].find('\n').map(|i| line_start + i + 1);
    std::iter::from_fn(move || {
        let start = next.filter(|&s| s < text.len())?;
        next = text[start..].find('\n').map(|i| start + i + 1);
        Some(start)
    })
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')
}

/// The span of the word ending at `offset` (made of `is_word_byte` bytes, after any `stop`).
fn word_before(text: &str, offset: usize, stop_at_dot: bool) -> Span {
    let bytes = text.as_bytes();
    let mut start = offset;
    while start > 0 && is_word_byte(bytes[start - 1]) && !(stop_at_dot && bytes[start - 1] == b'.') {
        start -= 1;
    }
    Span::new(start, offset)
}

/// Finds what the cursor at `offset` is on, from the text alone.
pub fn cursor_context(text: &str, offset: usize) -> Option<CursorContext> {
    let offset = crate::syntax::text::floor_char_boundary(text, offset.min(text.len()));
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = Line::parse(text, line_start);
    let column = offset - line_start;
    let prefix = &text[line_start..offset];

    if let Some(scope) = template_scope(prefix) {
        let (path, step_start) = container_path(text, line_start, line, column, true)?;
        return Some(CursorContext {
            path,
            slot: Slot::Template(scope),
            word: word_before(text, offset, true),
            step_start,
        });
    }

    let typed = &prefix[line.content.min(prefix.len())..];
    if column < line.content && !prefix.trim().is_empty() {
        return None;
    }
    if let Some((key, value)) = split_key(typed) {
        let key = key.to_string();
        let in_flow_list = value.contains('[') && !value.contains(']');
        if value.trim_start().starts_with(['|', '>']) {
            return None;
        }
        let (path, step_start) = container_path(text, line_start, line, line.content, false)?;
        return Some(CursorContext {
            path,
            slot: Slot::Value {
                key,
                in_list: in_flow_list,
            },
            word: word_before(text, offset, false),
            step_start,
        });
    }
    if typed.contains(['[', '{', '"', '\'', ' ', ':']) {
        return None;
    }
    // The mapping's column is where the typed word starts (or the cursor, in blank space).
    let column = column.min(line.content);
    let (mut path, step_start) = container_path(text, line_start, line, column, false)?;
    let word = word_before(text, offset, false);
    // A `- item` under `needs:` or `fallback:` is a list value, not a new mapping.
    if let [.., Segment::Key(k), Segment::Item(_)] = path.as_slice()
        && line.dash.is_some()
        && matches!(k.as_str(), "needs" | "fallback")
    {
        let key = k.clone();
        path.truncate(path.len() - 2);
        return Some(CursorContext {
            path,
            slot: Slot::Value { key, in_list: true },
            word,
            step_start,
        });
    }
    let siblings = sibling_keys(text, line_start, line, column);
    Some(CursorContext {
        path,
        slot: Slot::Key { siblings },
        word,
        step_start,
    })
}

/// Whether `prefix` (the line up to the cursor) ends inside `{{ … }}`, and in which part.
fn template_scope(prefix: &str) -> Option<TemplateScope> {
    let open = prefix.rfind("{{")?;
    if prefix[open..].contains("}}") {
        return None;
    }
    let inside = &prefix[open + 2..];
    let bytes = inside.as_bytes();
    let mut start = bytes.len();
    while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
        start -= 1;
    }
    let before = inside[..start].trim_end();
    if let Some(head) = before.strip_suffix('.') {
        let head = head.trim_end();
        let ident_start = head
            .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
            .len();
        return match &head[ident_start..] {
            "inputs" => Some(TemplateScope::Inputs),
            "steps" => Some(TemplateScope::Steps),
            _ => None,
        };
    }
    Some(TemplateScope::Root)
}

/// Walks up from the cursor's line to the root and returns the path of the mapping that
/// holds column `column` of the cursor's line, and where its step item starts.
fn container_path(
    text: &str,
    line_start: usize,
    line: Line<'_>,
    column: usize,
    in_scalar: bool,
) -> Option<(Vec<Segment>, Option<usize>)> {
    #[derive(Clone, Copy)]
    enum State {
        Mapping(usize),
        Sequence { dash: usize, items: usize },
    }
    let mut reversed: Vec<Segment> = Vec::new();
    let mut item_starts: Vec<usize> = Vec::new();
    let mut state = State::Mapping(column);
    if in_scalar && line.key.is_some() && line.content <= column {
        // A one-line value (`prompt: Hi {{ …`): the line's own key holds the cursor.
        reversed.push(Segment::Key(line.key.unwrap_or_default().to_string()));
        state = State::Mapping(line.content);
        if let Some(dash) = line.dash {
            item_starts.push(line.start);
            state = State::Sequence { dash, items: 0 };
        }
    } else if !in_scalar && let Some(dash) = line.dash.filter(|_| line.content == column) {
        item_starts.push(line.start);
        state = State::Sequence { dash, items: 0 };
    }
    for start in lines_above(text, line_start) {
        let l = Line::parse(text, start);
        if l.is_blank() {
            continue;
        }
        match state {
            State::Mapping(col) => {
                if l.content >= col && !(l.content == col && l.dash.is_some()) {
                    continue;
                }
                if l.content == col {
                    item_starts.push(l.start);
                    state = State::Sequence {
                        dash: l.dash.unwrap_or(0),
                        items: 0,
                    };
                    continue;
                }
                if l.indent >= col {
                    continue;
                }
                if !l.opens_block() {
                    return None;
                }
                reversed.push(Segment::Key(l.key?.to_string()));
                state = State::Mapping(l.content);
                if let Some(dash) = l.dash {
                    item_starts.push(l.start);
                    state = State::Sequence { dash, items: 0 };
                }
            }
            State::Sequence { dash, items } => {
                if l.indent == dash && l.dash.is_some() {
                    state = State::Sequence { dash, items: items + 1 };
                    continue;
                }
                if l.indent > dash {
                    continue;
                }
                if !l.opens_block() {
                    return None;
                }
                reversed.push(Segment::Item(items));
                reversed.push(Segment::Key(l.key?.to_string()));
                state = State::Mapping(l.content);
                if let Some(dash) = l.dash {
                    item_starts.push(l.start);
                    state = State::Sequence { dash, items: 0 };
                }
            }
        }
    }
    match state {
        State::Mapping(0) => {}
        State::Mapping(_) | State::Sequence { .. } => return None,
    }
    reversed.reverse();
    let step_start = match reversed.as_slice() {
        [Segment::Key(k), Segment::Item(_), ..] if k == "steps" => {
            // Item starts were pushed innermost first; the step is the outermost item.
            item_starts.last().copied()
        }
        _ => None,
    };
    Some((reversed, step_start))
}

/// Keys of the mapping at `column` that holds the cursor's line, above and below it.
fn sibling_keys(text: &str, line_start: usize, line: Line<'_>, column: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let starts_item = line.dash.is_some() && line.content == column;
    if !starts_item {
        for start in lines_above(text, line_start) {
            let l = Line::parse(text, start);
            if l.is_blank() || l.content > column {
                continue;
            }
            if l.content < column {
                break;
            }
            keys.extend(l.key.map(str::to_string));
            if l.dash.is_some() {
                break;
            }
        }
    }
    for start in lines_below(text, line_start) {
        let l = Line::parse(text, start);
        if l.is_blank() || l.content > column {
            continue;
        }
        if l.content < column || l.dash.is_some() {
            break;
        }
        keys.extend(l.key.map(str::to_string));
    }
    keys
}

/// The text of the step item starting at `item_start`: its lines up to the next line at the
/// item's indentation or less.
fn step_item(text: &str, item_start: usize) -> (&str, usize) {
    let first = Line::parse(text, item_start);
    let dash = first.dash.unwrap_or(first.indent);
    let mut end = text.len();
    for start in lines_below(text, item_start) {
        let l = Line::parse(text, start);
        if l.is_blank() {
            continue;
        }
        if l.indent <= dash {
            end = start;
            break;
        }
    }
    (&text[item_start..end], dash)
}

/// The ID of the step item starting at `item_start`, read from its lines.
pub fn step_id(text: &str, item_start: usize) -> Option<String> {
    let (item, _) = step_item(text, item_start);
    let first = Line::parse(text, item_start);
    let mut at = item_start;
    for raw in item.split_inclusive('\n') {
        let l = Line::parse(text, at);
        if l.content == first.content && l.key == Some("id") && !l.rest.is_empty() {
            return Some(l.rest.trim_matches(['"', '\'']).to_string());
        }
        at += raw.len();
    }
    None
}

/// The effective settings of the cursor's step, from the analysis when the step parsed, else
/// from a repaired copy: the workflow's top-level scalar keys plus the step's own lines,
/// without the cursor's line, parsed on their own.
pub fn effective_at(analysis: &Analysis, ctx: &CursorContext, offset: usize) -> Effective {
    let wf = &analysis.workflow;
    let ws = &analysis.workspace;
    if analysis.yaml.error.is_none()
        && let Some(step) = wf.step_at(offset).map(|i| &wf.steps[i])
    {
        return resolve_step(wf, step, ws, &Overrides::default());
    }
    let text = analysis.text();
    let cursor_line = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let mut doc = String::new();
    for start in std::iter::once(0).chain(lines_below(text, 0)) {
        let l = Line::parse(text, start);
        if l.indent == 0
            && l.dash.is_none()
            && matches!(l.key, Some("provider" | "model" | "persona"))
            && start != cursor_line
        {
            let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            doc.push_str(&text[start..end]);
            doc.push('\n');
        }
    }
    doc.push_str("steps:\n");
    if let Some(item_start) = ctx.step_start {
        let (item, dash) = step_item(text, item_start);
        let mut at = item_start;
        for raw in item.split_inclusive('\n') {
            let keep = at != cursor_line || at == item_start;
            if keep {
                let body = if at == cursor_line {
                    // The item's first line holds the cursor: keep only its dash.
                    "-\n"
                } else {
                    &raw[dash.min(raw.len() - raw.trim_start_matches(' ').len())..]
                };
                doc.push_str("  ");
                doc.push_str(body);
                if !body.ends_with('\n') {
                    doc.push('\n');
                }
            }
            at += raw.len();
        }
    }
    let parsed = yaml::parse(&doc);
    let (repaired, _) = lower_workflow(&doc, parsed.root.as_ref());
    let fallback_step = Step {
        span: Span::default(),
        id: None,
        prompt: None,
        provider: None,
        model: None,
        persona: None,
        params: Default::default(),
        needs: Vec::new(),
        fallback: Vec::new(),
        for_each: None,
        concurrency: None,
        keys_in_step: Vec::new(),
    };
    let step = repaired.steps.first().cloned().unwrap_or(fallback_step);
    let workflow = Workflow {
        personas: wf.personas.clone(),
        ..repaired
    };
    resolve_step(&workflow, &step, ws, &Overrides::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dot_after_a_multibyte_word_in_a_template_is_no_known_scope() {
        assert_eq!(template_scope("prompt: \"{{ é."), None);
        assert_eq!(template_scope("prompt: \"{{ é steps."), Some(TemplateScope::Steps));
    }
}
