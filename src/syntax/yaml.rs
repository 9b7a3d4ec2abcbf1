//! YAML with a byte span on every node, keys included. Built from saphyr's event stream so that
//! a syntax error still leaves the tree of everything before it (containers cut short by the
//! error are marked `truncated`, so later stages do not report fields as missing that the user
//! simply has not typed yet).

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::text::{OffsetBy, Span};

/// How a scalar was written; decides whether positions inside its value map 1:1 to the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unquoted.
    Plain,
    /// `'…'`.
    SingleQuoted,
    /// `"…"`, where escapes may shift positions.
    DoubleQuoted,
    /// `|` block.
    Literal,
    /// `>` block.
    Folded,
}

/// A scalar's value and how it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The value after YAML's unescaping and folding.
    pub value: String,
    /// The style it was written in.
    pub style: Style,
}

/// What a scalar means under YAML 1.2's core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue<'a> {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Anything else, or any quoted or block scalar.
    Str(&'a str),
}

impl Scalar {
    /// Interprets the scalar by the core schema (quoted and block scalars are always strings).
    pub fn typed(&self) -> ScalarValue<'_> {
        if self.style != Style::Plain {
            return ScalarValue::Str(&self.value);
        }
        match self.value.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => ScalarValue::Null,
            "true" | "True" | "TRUE" => ScalarValue::Bool(true),
            "false" | "False" | "FALSE" => ScalarValue::Bool(false),
            v => {
                if let Ok(i) = v.parse::<i64>() {
                    ScalarValue::Int(i)
                } else if let Some(f) = parse_yaml_float(v) {
                    ScalarValue::Float(f)
                } else {
                    ScalarValue::Str(v)
                }
            }
        }
    }
}

fn parse_yaml_float(v: &str) -> Option<f64> {
    match v {
        ".inf" | ".Inf" | ".INF" | "+.inf" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ if v.bytes().any(|b| b.is_ascii_digit())
            && v.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            v.parse().ok()
        }
        _ => None,
    }
}

/// One key/value pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key node (usually a scalar).
    pub key: Node,
    /// The value node; an empty plain scalar when the value is missing.
    pub value: Node,
}

/// The shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar.
    Scalar(Scalar),
    /// A mapping, in source order (duplicates kept, so they can be reported).
    Map(Vec<Entry>),
    /// A sequence.
    Seq(Vec<Node>),
    /// An alias (`*name`); stepwise does not expand them.
    Alias,
}

/// A YAML node with its source span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Where it is, in bytes.
    pub span: Span,
    /// True when a syntax error cut this container short.
    pub truncated: bool,
}

impl Node {
    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The key's text when this node is used as a mapping key.
    pub fn key_text(&self) -> Option<&str> {
        self.as_scalar().map(|s| s.value.as_str())
    }

    /// Whether this is a null scalar (`~`, `null` or nothing).
    pub fn is_null(&self) -> bool {
        matches!(self.as_scalar().map(Scalar::typed), Some(ScalarValue::Null))
    }

    /// A short name of the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) => match s.typed() {
                ScalarValue::Null => "null",
                ScalarValue::Bool(_) => "a boolean",
                ScalarValue::Int(_) => "an integer",
                ScalarValue::Float(_) => "a number",
                ScalarValue::Str(_) => "a string",
            },
            NodeKind::Map(_) => "a mapping",
            NodeKind::Seq(_) => "a list",
            NodeKind::Alias => "an alias",
        }
    }
}

impl OffsetBy for Entry {
    fn offset_by(&mut self, base: isize) {
        self.key.offset_by(base);
        self.value.offset_by(base);
    }
}

impl OffsetBy for Node {
    fn offset_by(&mut self, base: isize) {
        self.span.offset_by(base);
        match &mut self.kind {
            NodeKind::Map(entries) => entries.offset_by(base),
            NodeKind::Seq(items) => items.offset_by(base),
            NodeKind::Scalar(_) | NodeKind::Alias => {}
        }
    }
}

/// A YAML syntax error at its exact place.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// The parser's message, without its position suffix.
    pub message: String,
    /// Where the error is (an empty span at the offending byte).
    pub span: Span,
}

impl OffsetBy for SyntaxError {
    fn offset_by(&mut self, base: isize) {
        self.span.offset_by(base);
    }
}

/// The result of parsing: the (possibly partial) tree and the first syntax error, if any.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedYaml {
    /// The first document's root, as far as it could be read.
    pub root: Option<Node>,
    /// The syntax error that stopped the parse.
    pub error: Option<SyntaxError>,
    /// Spans of documents after the first, which stepwise ignores.
    pub extra_documents: Vec<Span>,
}

/// Converts saphyr's char indices to byte offsets in one forward pass (cheap for ASCII text).
struct CharToByte<'a> {
    text: &'a str,
    ascii: bool,
    char_pos: usize,
    byte_pos: usize,
}

impl CharToByte<'_> {
    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        if char_index < self.char_pos {
            self.char_pos = 0;
            self.byte_pos = 0;
        }
        let mut chars = self.text[self.byte_pos..].chars();
        while self.char_pos < char_index {
            match chars.next() {
                Some(c) => {
                    self.char_pos += 1;
                    self.byte_pos += c.len_utf8();
                }
                None => break,
            }
        }
        self.byte_pos
    }
}

enum Frame {
    Map {
        start: usize,
        entries: Vec<Entry>,
        pending_key: Option<Node>,
    },
    Seq {
        start: usize,
        items: Vec<Node>,
    },
}

/// How deep mappings and sequences may nest. Far beyond any workflow, and shallow enough that
/// everything that walks a tree recursively (drop, clone, comparison) stays well inside a
/// thread's stack.
pub const MAX_NESTING: usize = 128;

/// Parses `text` (the first document only), keeping everything read before a syntax error
/// or before collections nest deeper than [`MAX_NESTING`].
pub fn parse(text: &str) -> ParsedYaml {
    let mut conv = CharToByte {
        text,
        ascii: text.is_ascii(),
        char_pos: 0,
        byte_pos: 0,
    };
    let mut out = ParsedYaml::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut documents = 0usize;
    let mut in_extra = false;
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(ev) => ev,
            Err(err) => {
                let at = conv.byte(err.marker().index());
                out.error = Some(SyntaxError {
                    message: err.info().to_string(),
                    span: Span::empty(at),
                });
                if !in_extra {
                    close_all(&mut stack, at, &mut out.root);
                }
                return out;
            }
        };
        let start = conv.byte(span.start.index());
        let end = conv.byte(span.end.index()).max(start);
        if in_extra {
            if let Event::DocumentEnd | Event::StreamEnd = event
                && let Some(last) = out.extra_documents.last_mut()
            {
                last.end = end;
            }
            if matches!(event, Event::DocumentStart(_)) {
                out.extra_documents.push(Span::new(start, end));
            }
            continue;
        }
        let node = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    in_extra = true;
                    out.extra_documents.push(Span::new(start, end));
                }
                continue;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => continue,
            Event::MappingStart(..) | Event::SequenceStart(..) if stack.len() >= MAX_NESTING => {
                out.error = Some(SyntaxError {
                    message: format!("collections nested more than {MAX_NESTING} levels deep"),
                    span: Span::empty(start),
                });
                close_all(&mut stack, start, &mut out.root);
                return out;
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map {
                    start,
                    entries: Vec::new(),
                    pending_key: None,
                });
                continue;
            }
            Event::SequenceStart(..) => {
                stack.push(Frame::Seq {
                    start,
                    items: Vec::new(),
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(frame) => finish(frame, end, false),
                None => continue,
            },
            Event::Scalar(value, style, ..) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                Node {
                    kind: NodeKind::Scalar(Scalar {
                        value: value.into_owned(),
                        style,
                    }),
                    span: trim_scalar_span(text, Span::new(start, end), style),
                    truncated: false,
                }
            }
            Event::Alias(_) => Node {
                kind: NodeKind::Alias,
                span: Span::new(start, end),
                truncated: false,
            },
        };
        let node = at_its_key_if_missing(text, &stack, node);
        push_node(&mut stack, node, &mut out.root);
    }
    out
}

/// The empty value of a `?` key with no `:` and no value, placed right after its key: saphyr
/// places it at the next token, which is the next item in the document but the end of the
/// text in a step parsed alone. Told apart from the empty value after a `:` by the line break
/// and the missing colon between the key and where saphyr put it.
fn at_its_key_if_missing(text: &str, stack: &[Frame], mut node: Node) -> Node {
    let empty = node.span.is_empty()
        && node
            .as_scalar()
            .is_some_and(|s| s.value.is_empty() && s.style == Style::Plain);
    let Some(Frame::Map {
        pending_key: Some(key), ..
    }) = stack.last()
    else {
        return node;
    };
    if empty
        && let Some(between) = text.get(key.span.end..node.span.start)
        && between.contains(['\n', '\r'])
        && !between.contains(':')
    {
        node.span = Span::empty(key.span.end);
    }
    node
}

/// saphyr's block-scalar spans run to the start of the next token; trim trailing blank lines
/// so that diagnostics and hints sit on the scalar's own text. An empty block scalar starts
/// at the next token too (wherever that is: the end of a chunk or the next item), so it is
/// placed right after its header instead.
fn trim_scalar_span(text: &str, span: Span, style: Style) -> Span {
    const BLANK: [char; 4] = [' ', '\t', '\n', '\r'];
    let slice = &text[span.start..span.end];
    let trimmed = slice.trim_end_matches(BLANK);
    if trimmed.is_empty() && matches!(style, Style::Literal | Style::Folded) {
        return Span::empty(text[..span.start].trim_end_matches(BLANK).len());
    }
    Span::new(span.start, span.start + trimmed.len())
}

fn finish(frame: Frame, end: usize, truncated: bool) -> Node {
    match frame {
        Frame::Map {
            start,
            mut entries,
            pending_key,
        } => {
            if let Some(key) = pending_key {
                let mut value = empty_scalar(key.span.end);
                value.truncated = truncated;
                entries.push(Entry { key, value });
            }
            let end = entries.last().map_or(end, |e| e.value.span.end.max(e.key.span.end));
            Node {
                kind: NodeKind::Map(entries),
                span: Span::new(start.min(end), end),
                truncated,
            }
        }
        Frame::Seq { start, items } => {
            let end = if truncated {
                items.last().map_or(end, |i| i.span.end)
            } else {
                end
            };
            Node {
                kind: NodeKind::Seq(items),
                span: Span::new(start.min(end), end.max(start)),
                truncated,
            }
        }
    }
}

fn empty_scalar(at: usize) -> Node {
    Node {
        kind: NodeKind::Scalar(Scalar {
            value: String::new(),
            style: Style::Plain,
        }),
        span: Span::empty(at),
        truncated: false,
    }
}

fn push_node(stack: &mut [Frame], node: Node, root: &mut Option<Node>) {
    match stack.last_mut() {
        None => {
            if root.is_none() {
                *root = Some(node);
            }
        }
        Some(Frame::Seq { items, .. }) => items.push(node),
        Some(Frame::Map {
            entries, pending_key, ..
        }) => match pending_key.take() {
            None => *pending_key = Some(node),
            Some(key) => entries.push(Entry { key, value: node }),
        },
    }
}

fn close_all(stack: &mut Vec<Frame>, at: usize, root: &mut Option<Node>) {
    while let Some(frame) = stack.pop() {
        let node = finish(frame, at, true);
        push_node(stack, node, root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_value_of_an_explicit_key_sits_right_after_the_key() {
        let text = "- id: a\n  ? |\n    Go on\n- id: b\n";
        let root = parse(text).root.unwrap();
        let step = root.as_seq().unwrap()[0].as_map().unwrap();
        assert_eq!(
            step[1].value.span,
            Span::empty(text.find("Go on").unwrap() + "Go on".len())
        );
    }

    #[test]
    fn keys_and_values_have_byte_spans() {
        let text = "name: 日本\nsteps:\n  - id: a\n";
        let parsed = parse(text);
        assert!(parsed.error.is_none());
        let root = parsed.root.unwrap();
        let map = root.as_map().unwrap();
        assert_eq!(&text[map[0].key.span.start..map[0].key.span.end], "name");
        assert_eq!(&text[map[0].value.span.start..map[0].value.span.end], "日本");
        let steps = map[1].value.as_seq().unwrap();
        let step = steps[0].as_map().unwrap();
        assert_eq!(&text[step[0].value.span.start..step[0].value.span.end], "a");
    }

    #[test]
    fn an_error_keeps_the_tree_before_it() {
        let text = "name: x\nsteps:\n  - id: a\n    prompt: [unclosed\n";
        let parsed = parse(text);
        assert!(parsed.error.is_some());
        let root = parsed.root.unwrap();
        assert!(root.truncated);
        let map = root.as_map().unwrap();
        assert_eq!(map[0].key.key_text(), Some("name"));
        assert_eq!(map[1].key.key_text(), Some("steps"));
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error_where_it_is_exceeded() {
        let text = format!("steps:\n  - {}x\n", "- ".repeat(86_000));
        let parsed = parse(&text);
        let err = parsed.error.expect("too deep");
        assert!(err.message.contains("nested more than 128 levels"), "{}", err.message);
        // The root mapping and `steps` are two levels; the 129th collection starts here.
        assert_eq!(err.span.start, "steps:\n  - ".len() + 2 * (MAX_NESTING - 2));
        let mut depth = 0;
        let mut node = parsed.root.as_ref();
        while let Some(n) = node {
            depth += 1;
            node = match &n.kind {
                NodeKind::Map(entries) => entries.last().map(|e| &e.value),
                NodeKind::Seq(items) => items.last(),
                _ => None,
            };
        }
        assert!(depth <= MAX_NESTING + 1, "{depth}");
    }

    #[test]
    fn literal_block_span_covers_its_text() {
        let text = "prompt: |\n  hello {{ x }}\n\nnext: 1\n";
        let root = parse(text).root.unwrap();
        let value = &root.as_map().unwrap()[0].value;
        let slice = &text[value.span.start..value.span.end];
        assert!(slice.contains("hello {{ x }}"), "{slice:?}");
        assert!(!slice.ends_with('\n'));
    }
}
