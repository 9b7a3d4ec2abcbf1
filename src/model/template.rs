//! Prompt templates and `for_each` expressions: MiniJinja syntax checked, and references to
//! `inputs.*`, `steps.*`, `item` and `index` found with their document spans — exact inside
//! plain, quoted and literal scalars, the whole scalar where folding or escapes hide the mapping.

use std::cell::Cell;

use minijinja::machinery::{self, Token};
use minijinja::syntax::SyntaxConfig;

use crate::syntax::text::{OffsetBy, Span};
use crate::syntax::yaml::{Node, Style};

/// What a template reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `inputs.NAME`.
    Input,
    /// `steps.ID` (with `.output` or `.outputs`).
    Step,
    /// `item`, the current fan-out item.
    Item,
    /// `index`, the current fan-out index.
    Index,
}

/// One reference found in a template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRef {
    /// What it points at.
    pub kind: RefKind,
    /// The input name or step ID (empty for `item`/`index`).
    pub name: String,
    /// The field after the name (`output`, `outputs`), if any.
    pub field: Option<String>,
    /// Document span of the name (or of `item`/`index`); the whole scalar if `exact` is false.
    pub name_span: Span,
    /// Document span of the whole reference, e.g. `steps.a.output`.
    pub span: Span,
    /// Whether the spans are exact.
    pub exact: bool,
    /// Written as `steps.a-b`, which Jinja reads as a subtraction: must be `steps["a-b"]`.
    pub dashed: bool,
}

/// What a piece of template syntax is, for highlighting inside prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    /// `{{`, `}}`, `{%`, `%}` (with their `-` whitespace control).
    Delimiter,
    /// A Jinja keyword: `for`, `in`, `if`, `endfor`, `and`, `true`, …
    Keyword,
    /// `inputs` or `steps`, the roots of references.
    Namespace,
    /// The name in `inputs.NAME`.
    Input,
    /// The ID in `steps.ID`.
    Step,
    /// An attribute after a dot, e.g. `output`.
    Field,
    /// `item`, `index` and any other variable.
    Variable,
    /// A filter or test name, e.g. `lines` in `x | lines`.
    Filter,
    /// A string literal.
    String,
    /// A number literal.
    Number,
    /// An operator: `|`, `+`, `==`, `~`, …
    Operator,
}

/// One highlighted piece of a template, placed in the document (only where placed exactly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateToken {
    /// What it is.
    pub class: TokenClass,
    /// Where, in the document.
    pub span: Span,
}

/// Jinja's keywords, as MiniJinja's parser reads them.
const KEYWORDS: &[&str] = &[
    "for",
    "in",
    "endfor",
    "if",
    "elif",
    "else",
    "endif",
    "set",
    "endset",
    "and",
    "or",
    "not",
    "is",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "filter",
    "endfilter",
    "macro",
    "endmacro",
    "call",
    "endcall",
    "with",
    "endwith",
    "block",
    "endblock",
    "extends",
    "include",
    "import",
    "from",
    "as",
    "recursive",
    "autoescape",
    "endautoescape",
    "raw",
    "endraw",
    "do",
    "continue",
    "break",
];

/// The class of a token on its own (before references refine it), or `None` for template text
/// and punctuation.
fn token_class(tokens: &[(Token<'_>, usize, usize)], i: usize) -> Option<TokenClass> {
    let previous = i.checked_sub(1).map(|p| &tokens[p].0);
    Some(match &tokens[i].0 {
        Token::VariableStart | Token::VariableEnd | Token::BlockStart | Token::BlockEnd => TokenClass::Delimiter,
        Token::Ident(ident) => match previous {
            Some(Token::Pipe) => TokenClass::Filter,
            Some(Token::Ident("is")) => TokenClass::Filter,
            Some(Token::Dot) => TokenClass::Field,
            _ if KEYWORDS.contains(ident) => TokenClass::Keyword,
            _ => TokenClass::Variable,
        },
        Token::Str(_) | Token::String(_) => TokenClass::String,
        Token::Int(_) | Token::Int128(_) | Token::Float(_) => TokenClass::Number,
        Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::FloorDiv
        | Token::Pow
        | Token::Mod
        | Token::Tilde
        | Token::Assign
        | Token::Pipe
        | Token::Eq
        | Token::Ne
        | Token::Gt
        | Token::Gte
        | Token::Lt
        | Token::Lte => TokenClass::Operator,
        _ => return None,
    })
}

/// What a name called in a template is looked up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// `value | NAME`.
    Filter,
    /// `value is NAME`.
    Test,
    /// `NAME(...)`.
    Function,
}

impl CallKind {
    /// The word for it in a message.
    pub fn noun(self) -> &'static str {
        match self {
            CallKind::Filter => "filter",
            CallKind::Test => "test",
            CallKind::Function => "function",
        }
    }
}

/// A filter, test or function a template calls, with the span of its name.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateCall {
    /// How the name is looked up.
    pub kind: CallKind,
    /// The name as written.
    pub name: String,
    /// Document span of the name; the whole scalar if `exact` is false.
    pub span: Span,
    /// Whether the span is exact.
    pub exact: bool,
}

/// A template syntax error, placed in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    /// MiniJinja's message.
    pub message: String,
    /// Where in the document.
    pub span: Span,
}

/// A prompt or `for_each` expression with what analysis needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The template text (the scalar's value).
    pub source: String,
    /// The scalar's span in the document.
    pub span: Span,
    /// References, in order.
    pub refs: Vec<TemplateRef>,
    /// Filters, tests and functions called, in order.
    pub calls: Vec<TemplateCall>,
    /// The syntax error, if any.
    pub error: Option<TemplateError>,
    /// Its syntax for highlighting, in order (up to a syntax error), relative to `span.start`
    /// so that moving the template moves none of them (see [`Template::tokens`]).
    local_tokens: Vec<TemplateToken>,
}

/// Whether a template is a whole template or a bare expression (`for_each`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// A prompt: text with `{{ }}` and `{% %}` blocks.
    Prompt,
    /// An expression, as in `for_each`.
    Expression,
}

/// The most tokens one `{{ }}` or `{% %}` block (or a `for_each` expression) may hold: far
/// more than any prompt needs, and few enough that MiniJinja's syntax tree, one level deeper
/// per operator or filter of a chain, stays well inside a thread's stack.
const MAX_BLOCK_TOKENS: usize = 1_000;

/// Where the first block longer than [`MAX_BLOCK_TOKENS`] reaches its limit, if any.
fn overlong_block(tokens: &[(Token<'_>, usize, usize)]) -> Option<usize> {
    let mut run = 0;
    for (tok, start, _) in tokens {
        match tok {
            Token::TemplateData(_)
            | Token::VariableStart
            | Token::VariableEnd
            | Token::BlockStart
            | Token::BlockEnd => run = 0,
            _ => run += 1,
        }
        if run > MAX_BLOCK_TOKENS {
            return Some(*start);
        }
    }
    None
}

/// Whether `tokens`, the whole of a template of `kind`, are text and `{{ name.name… }}`
/// blocks only (a bare `name.name…` for an expression), which MiniJinja's parser accepts
/// whatever the names: such a template, most prompts, needs no parse of its own.
fn plainly_valid(tokens: &[(Token<'_>, usize, usize)], kind: TemplateKind) -> bool {
    #[derive(PartialEq)]
    enum At {
        Text,
        Name,
        AfterName,
    }
    let (start, end) = match kind {
        TemplateKind::Prompt => (At::Text, At::Text),
        TemplateKind::Expression => (At::Name, At::AfterName),
    };
    let mut at = start;
    for (token, ..) in tokens {
        at = match (at, token) {
            (At::Text, Token::TemplateData(_)) => At::Text,
            (At::Text, Token::VariableStart) | (At::AfterName, Token::Dot) => At::Name,
            (At::Name, Token::Ident(_)) => At::AfterName,
            (At::AfterName, Token::VariableEnd) => At::Text,
            _ => return false,
        };
    }
    at == end
}

/// MiniJinja's parse of `value` as a template of `kind`.
fn parsed(value: &str, kind: TemplateKind) -> Result<(), minijinja::Error> {
    match kind {
        TemplateKind::Prompt => machinery::parse(value, "prompt", SyntaxConfig::default()).map(|_| ()),
        TemplateKind::Expression => machinery::parse_expr(value).map(|_| ()),
    }
}

/// How many bytes one template may scan to place references in a folded or escaped scalar.
const OCCURRENCE_BUDGET: usize = 1 << 24;

/// Maps byte offsets in a scalar's value to byte offsets in the document.
enum SourceMap {
    /// Value offset + start (single-line plain or quoted without escapes).
    Direct(usize),
    /// Literal block: offset of each value line's first byte in the value and in the document.
    Lines(Vec<(usize, usize)>),
    /// Find the k-th occurrence of the same text in the scalar's source.
    Occurrence,
}

impl SourceMap {
    fn build(text: &str, node: &Node) -> SourceMap {
        let Some(scalar) = node.as_scalar() else {
            return SourceMap::Occurrence;
        };
        let src = &text[node.span.start..node.span.end];
        match scalar.style {
            Style::Plain if !src.contains('\n') && src == scalar.value => SourceMap::Direct(node.span.start),
            Style::SingleQuoted | Style::DoubleQuoted
                if !src.contains('\n') && src.len() >= 2 && src[1..src.len() - 1] == scalar.value =>
            {
                SourceMap::Direct(node.span.start + 1)
            }
            Style::Literal => literal_lines(text, node.span, &scalar.value).unwrap_or(SourceMap::Occurrence),
            _ => SourceMap::Occurrence,
        }
    }

    /// Maps value range `start..end` (whose text is `needle`, the `k`-th occurrence in
    /// `value`) into the document, or `None` when that cannot be done exactly. Searching
    /// occurrences costs the scalar's length, taken from `budget`; once it is spent the
    /// mapping gives up, so a scalar with thousands of references stays linear.
    fn map(
        &self,
        text: &str,
        scalar_span: Span,
        value: &str,
        start: usize,
        end: usize,
        budget: &Cell<usize>,
    ) -> Option<Span> {
        // MiniJinja's error ranges may end inside a char or past the value: map nothing then.
        if start > end || !value.is_char_boundary(start) || !value.is_char_boundary(end) {
            return None;
        }
        match self {
            SourceMap::Direct(base) => Some(Span::new(base + start, base + end)),
            SourceMap::Lines(starts) => {
                let line = starts
                    .partition_point(|&(in_value, _)| in_value <= start)
                    .checked_sub(1)?;
                let (line_start_in_value, doc_line) = starts[line];
                let s = doc_line + (start - line_start_in_value);
                let span = Span::new(s, s + (end - start));
                if text.get(span.start..span.end) == value.get(start..end) {
                    Some(span)
                } else {
                    SourceMap::Occurrence.map(text, scalar_span, value, start, end, budget)
                }
            }
            SourceMap::Occurrence => {
                let needle = &value[start..end];
                let cost = start + 2 * value.len() + scalar_span.len();
                if needle.is_empty() || budget.get() < cost {
                    return None;
                }
                budget.set(budget.get() - cost);
                let k = value[..start].matches(needle).count();
                let src = &text[scalar_span.start..scalar_span.end];
                if src.matches(needle).count() != value.matches(needle).count() {
                    return None;
                }
                let (offset, _) = src.match_indices(needle).nth(k)?;
                let s = scalar_span.start + offset;
                Some(Span::new(s, s + needle.len()))
            }
        }
    }
}

/// For a `|` block scalar (whose span starts at its first content character): where each
/// line of its value starts in the document.
fn literal_lines(text: &str, span: Span, value: &str) -> Option<SourceMap> {
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let indent = span.start - line_start;
    let mut starts = Vec::new();
    let mut offset = line_start;
    let mut in_value = 0;
    for (line, value_line) in text[line_start..].split('\n').zip(value.split('\n')) {
        starts.push((in_value, offset + indent.min(line.len())));
        offset += line.len() + 1;
        in_value += value_line.len() + 1;
    }
    Some(SourceMap::Lines(starts))
}

impl OffsetBy for Template {
    fn offset_by(&mut self, base: isize) {
        self.span.offset_by(base);
        for r in &mut self.refs {
            r.name_span.offset_by(base);
            r.span.offset_by(base);
        }
        for c in &mut self.calls {
            c.span.offset_by(base);
        }
        if let Some(err) = &mut self.error {
            err.span.offset_by(base);
        }
    }
}

impl Template {
    /// Analyses the scalar `node` of document `text` as a template of `kind`.
    pub fn from_node(text: &str, node: &Node, kind: TemplateKind) -> Template {
        let value = node.as_scalar().map(|s| s.value.clone()).unwrap_or_default();
        let map = SourceMap::build(text, node);
        let mut template = Template {
            source: value.clone(),
            span: node.span,
            refs: Vec::new(),
            calls: Vec::new(),
            error: None,
            local_tokens: Vec::new(),
        };
        let budget = Cell::new(OCCURRENCE_BUDGET);
        let place = |start: usize, end: usize| map.map(text, node.span, &value, start, end, &budget);
        let mut lexed = true;
        let tokens: Vec<(Token<'_>, usize, usize)> =
            machinery::tokenize(&value, kind == TemplateKind::Expression, SyntaxConfig::default())
                .map_while(|token| token.map_err(|_| lexed = false).ok())
                .map(|(tok, span)| (tok, span.start_offset as usize, span.end_offset as usize))
                .collect();
        if let Some(at) = overlong_block(&tokens) {
            template.error = Some(TemplateError {
                message: format!("an expression of more than {MAX_BLOCK_TOKENS} tokens"),
                span: place(at, at + 1).unwrap_or(node.span),
            });
        } else if let Err(err) = if lexed && plainly_valid(&tokens, kind) {
            Ok(())
        } else {
            parsed(&value, kind)
        } {
            let span = err
                .range()
                .and_then(|r| place(r.start.min(value.len()), r.end.min(value.len())))
                .filter(|s| !s.is_empty() || value.is_empty())
                .unwrap_or(node.span);
            template.error = Some(TemplateError {
                message: err.detail().unwrap_or("invalid template").to_string(),
                span,
            });
        }
        let mut classes: Vec<Option<TokenClass>> = (0..tokens.len()).map(|i| token_class(&tokens, i)).collect();
        // Value ranges of reference names, highlighted whole (a dashed ID spans several tokens).
        let mut names: Vec<(usize, usize, TokenClass)> = Vec::new();
        template.calls = calls(&tokens)
            .map(|(kind, name, start, end)| {
                let (span, exact) = match place(start, end.min(value.len())) {
                    Some(span) => (span, true),
                    None => (node.span, false),
                };
                TemplateCall {
                    kind,
                    name: name.to_string(),
                    span,
                    exact,
                }
            })
            .collect();
        for (i, (tok, start, end)) in tokens.iter().enumerate() {
            let Token::Ident(ident) = tok else { continue };
            if i > 0 && matches!(tokens[i - 1].0, Token::Dot) {
                continue;
            }
            let kind = match *ident {
                "inputs" => RefKind::Input,
                "steps" => RefKind::Step,
                "item" => RefKind::Item,
                "index" => RefKind::Index,
                _ => continue,
            };
            let (mut name, mut name_range, mut last_end) = match kind {
                RefKind::Item | RefKind::Index => (String::new(), (*start, *end), *end),
                _ => match (tokens.get(i + 1), tokens.get(i + 2)) {
                    (Some((Token::Dot, ..)), Some((Token::Ident(n), s, e))) => ((*n).to_string(), (*s, *e), *e),
                    (Some((Token::BracketOpen, ..)), Some((Token::Str(n), s, e))) => {
                        ((*n).to_string(), (*s + 1, e.saturating_sub(1).max(*s + 1)), *e + 1)
                    }
                    _ => continue,
                },
            };
            let mut next = i + 3;
            let mut dashed = false;
            if matches!(tokens.get(i + 1), Some((Token::Dot, ..))) {
                // `steps.draft-2.output` lexes as `steps.draft - 2 . output`: glue touching
                // `-` parts back on, so the reference can be reported with its fix.
                while let (Some((Token::Minus, ms, me)), Some((part, ps, pe))) =
                    (tokens.get(next), tokens.get(next + 1))
                {
                    let text = match part {
                        Token::Ident(p) => (*p).to_string(),
                        Token::Int(n) => n.to_string(),
                        _ => break,
                    };
                    if *ms != name_range.1 || *ps != *me {
                        break;
                    }
                    name.push('-');
                    name.push_str(&text);
                    name_range.1 = *pe;
                    last_end = *pe;
                    dashed = true;
                    next += 2;
                }
            }
            let mut field = None;
            if kind == RefKind::Step
                && let (Some((Token::Dot, ..)), Some((Token::Ident(f), _, e))) =
                    (tokens.get(next), tokens.get(next + 1))
            {
                field = Some((*f).to_string());
                last_end = *e;
            }
            if let Some(class) = match kind {
                RefKind::Input => Some(TokenClass::Input),
                RefKind::Step => Some(TokenClass::Step),
                RefKind::Item | RefKind::Index => None,
            } {
                classes[i] = Some(TokenClass::Namespace);
                names.push((name_range.0, name_range.1, class));
            }
            let last_end = last_end.min(value.len());
            let exact = place(name_range.0, name_range.1).zip(place(*start, last_end));
            let (name_span, span, exact) = match exact {
                Some((n, s)) => (n, s, true),
                None => (node.span, node.span, false),
            };
            template.refs.push(TemplateRef {
                kind,
                name,
                field,
                name_span,
                span,
                exact,
                dashed,
            });
        }
        // The names come in token order and do not overlap, so their ends ascend too: the one
        // name a token can overlap is the first that ends after the token starts.
        let inside_name = |s: usize, e: usize| {
            let first_after = names.partition_point(|&(_, ne, _)| ne <= s);
            names.get(first_after).is_some_and(|&(ns, ..)| ns < e)
        };
        let mut pieces: Vec<(usize, usize, TokenClass)> = tokens
            .iter()
            .zip(classes)
            .filter_map(|((_, s, e), class)| Some((*s, *e, class?)))
            .filter(|&(s, e, _)| !inside_name(s, e))
            .chain(names.iter().copied())
            .collect();
        pieces.sort_by_key(|&(s, ..)| s);
        let start = template.span.start as isize;
        template.local_tokens = pieces
            .into_iter()
            .filter_map(|(s, e, class)| {
                let mut span = place(s, e.min(value.len()))?;
                span.offset_by(-start);
                Some(TemplateToken { class, span })
            })
            .collect();
        template
    }

    /// Its syntax for highlighting, in order (up to a syntax error), placed in the document.
    pub fn tokens(&self) -> impl Iterator<Item = TemplateToken> + '_ {
        let start = self.span.start as isize;
        self.local_tokens.iter().map(move |t| {
            let mut span = t.span;
            span.offset_by(start);
            TemplateToken { class: t.class, span }
        })
    }

    /// The calls whose name the renderer does not know.
    pub fn unknown_calls(&self) -> impl Iterator<Item = &TemplateCall> {
        self.calls
            .iter()
            .filter(|c| !super::template_env::knows(c.kind, &c.name))
    }

    /// IDs of the steps this template references.
    pub fn step_refs(&self) -> impl Iterator<Item = &TemplateRef> {
        self.refs.iter().filter(|r| r.kind == RefKind::Step)
    }
}

/// The filters (`| NAME`), tests (`is [not] NAME`) and functions (`NAME(` not after a dot)
/// among the tokens, with their value offsets. A function the template binds itself (`macro`,
/// `set`, `for`, `import … as`) is not a call of the environment's.
fn calls<'a>(tokens: &'a [(Token<'a>, usize, usize)]) -> impl Iterator<Item = (CallKind, &'a str, usize, usize)> + 'a {
    let binds = |t: &Token<'_>| matches!(t, Token::Ident("macro" | "set" | "for" | "as" | "import"));
    let bound: Vec<&str> = tokens
        .windows(2)
        .filter_map(|w| match (&w[0].0, &w[1].0) {
            (b, Token::Ident(name)) if binds(b) => Some(*name),
            _ => None,
        })
        .collect();
    tokens.iter().enumerate().filter_map(move |(i, (tok, start, end))| {
        let Token::Ident(name) = tok else { return None };
        let before = |back: usize| i.checked_sub(back).map(|j| &tokens[j].0);
        let kind = match (before(1), before(2)) {
            (Some(Token::Pipe), _) => CallKind::Filter,
            (Some(Token::Ident("is")), _) if *name != "not" => CallKind::Test,
            (Some(Token::Ident("not")), Some(Token::Ident("is"))) => CallKind::Test,
            (Some(Token::Dot), _) => return None,
            (Some(b), _) if binds(b) => return None,
            _ if matches!(tokens.get(i + 1), Some((Token::ParenOpen, ..))) && !bound.contains(name) => {
                CallKind::Function
            }
            _ => return None,
        };
        Some((kind, *name, *start, *end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::yaml;

    fn template_of(text: &str, kind: TemplateKind) -> Template {
        let root = yaml::parse(text).root.unwrap();
        let node = &root.as_map().unwrap()[0].value;
        Template::from_node(text, node, kind)
    }

    fn slice(text: &str, span: Span) -> &str {
        &text[span.start..span.end]
    }

    /// Pieces of templates, valid and broken, that meet in every order.
    const PIECES: &[&str] = &[
        "{{", "}}", "{%", "%}", "{#", "#}", " ", "a", "steps", ".", "output", "1", "-", "|", "if", "for", "true", "(",
        "\"", "é", "\n",
    ];

    proptest::proptest! {
        #[test]
        fn a_template_taken_as_plainly_valid_is_one_minijinja_parses(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..10),
            expression in proptest::bool::ANY,
        ) {
            let value = pieces.concat();
            let kind = if expression { TemplateKind::Expression } else { TemplateKind::Prompt };
            let mut lexed = true;
            let tokens: Vec<(Token<'_>, usize, usize)> = machinery::tokenize(&value, expression, SyntaxConfig::default())
                .map_while(|token| token.map_err(|_| lexed = false).ok())
                .map(|(tok, span)| (tok, span.start_offset as usize, span.end_offset as usize))
                .collect();
            if lexed && plainly_valid(&tokens, kind) {
                proptest::prop_assert!(parsed(&value, kind).is_ok(), "{:?}", value);
            }
        }
    }

    #[test]
    fn names_in_variable_blocks_are_plainly_valid_and_anything_else_is_parsed() {
        let plain = |value: &str, kind| {
            let tokens: Vec<_> = machinery::tokenize(value, kind == TemplateKind::Expression, SyntaxConfig::default())
                .map(|t| t.unwrap())
                .map(|(tok, span)| (tok, span.start_offset as usize, span.end_offset as usize))
                .collect();
            plainly_valid(&tokens, kind)
        };
        assert!(plain(
            "Go on from {{ steps.a.output }}.\n{{ inputs.topic }}",
            TemplateKind::Prompt
        ));
        assert!(plain("steps.a.output", TemplateKind::Expression));
        assert!(!plain("{{ steps.a.output | lines }}", TemplateKind::Prompt));
        assert!(!plain("{{ steps.a. }}", TemplateKind::Prompt));
        assert!(!plain("{{ }}", TemplateKind::Prompt));
        assert!(!plain("{{ a", TemplateKind::Prompt));
        assert!(!plain("{% if a %}b{% endif %}", TemplateKind::Prompt));
        assert!(!plain("", TemplateKind::Expression));
    }

    #[test]
    fn refs_in_literal_blocks_are_exact() {
        let text = "prompt: |\n  Say 😀 {{ inputs.product }}\n\n  and {{ steps.sum.output }}\n";
        let t = template_of(text, TemplateKind::Prompt);
        assert_eq!(t.refs.len(), 2);
        assert!(t.refs.iter().all(|r| r.exact));
        assert_eq!(slice(text, t.refs[0].name_span), "product");
        assert_eq!(slice(text, t.refs[1].span), "steps.sum.output");
        assert_eq!(t.refs[1].field.as_deref(), Some("output"));
    }

    #[test]
    fn refs_in_plain_scalars_are_exact() {
        let text = "prompt: Ideas for {{ item }} from {{ steps.a.outputs }}\n";
        let t = template_of(text, TemplateKind::Prompt);
        assert_eq!(slice(text, t.refs[0].span), "item");
        assert_eq!(slice(text, t.refs[1].name_span), "a");
    }

    #[test]
    fn escapes_fall_back_to_the_whole_scalar() {
        let text = "prompt: \"\\u0041 {{ steps.a.output }} {{ steps.a.output }}\\n\"\n";
        let t = template_of(text, TemplateKind::Prompt);
        assert_eq!(t.refs.len(), 2);
        assert_eq!(slice(text, t.refs[1].name_span), "a");
    }

    #[test]
    fn syntax_errors_point_into_the_block() {
        let text = "prompt: |\n  fine\n  {{ steps.a.output \n";
        let t = template_of(text, TemplateKind::Prompt);
        let err = t.error.unwrap();
        assert!(err.span.start > text.find("fine").unwrap(), "{err:?}");
    }

    #[test]
    fn dashed_step_ids_are_glued_back_together() {
        let text = "prompt: \"{{ steps.draft-2.output }}\"\n";
        let t = template_of(text, TemplateKind::Prompt);
        assert_eq!(t.refs[0].name, "draft-2");
        assert!(t.refs[0].dashed);
        assert_eq!(slice(text, t.refs[0].span), "steps.draft-2.output");
    }

    fn classes(text: &str, t: &Template) -> Vec<(String, TokenClass)> {
        t.tokens()
            .map(|tok| (slice(text, tok.span).to_string(), tok.class))
            .collect()
    }

    #[test]
    fn template_syntax_is_classified_for_highlighting() {
        use TokenClass::*;
        let text = "prompt: \"{% for x in steps.a.outputs %}{{ x | upper }} {{ inputs.topic ~ 'a' }}{% endfor %}\"\n";
        let t = template_of(text, TemplateKind::Prompt);
        let want = [
            ("{%", Delimiter),
            ("for", Keyword),
            ("x", Variable),
            ("in", Keyword),
            ("steps", Namespace),
            ("a", Step),
            ("outputs", Field),
            ("%}", Delimiter),
            ("{{", Delimiter),
            ("x", Variable),
            ("|", Operator),
            ("upper", Filter),
            ("}}", Delimiter),
            ("{{", Delimiter),
            ("inputs", Namespace),
            ("topic", Input),
            ("~", Operator),
            ("'a'", String),
            ("}}", Delimiter),
            ("{%", Delimiter),
            ("endfor", Keyword),
            ("%}", Delimiter),
        ];
        let want: Vec<(std::string::String, TokenClass)> = want.iter().map(|(s, c)| (s.to_string(), *c)).collect();
        assert_eq!(classes(text, &t), want);
    }

    #[test]
    fn a_dashed_or_bracketed_step_id_is_one_token() {
        let text = "prompt: \"{{ steps.draft-2.output }} {{ steps['x-y'].output }}\"\n";
        let t = template_of(text, TemplateKind::Prompt);
        let steps: Vec<String> = classes(text, &t)
            .into_iter()
            .filter(|(_, c)| *c == TokenClass::Step)
            .map(|(s, _)| s)
            .collect();
        assert_eq!(steps, ["draft-2", "x-y"]);
    }

    #[test]
    fn tokens_in_literal_blocks_land_on_their_lines() {
        let text = "prompt: |\n  Hi\n  {{ item }} and {{ index }}\n";
        let t = template_of(text, TemplateKind::Prompt);
        let got = classes(text, &t);
        assert_eq!(got[1], ("item".to_string(), TokenClass::Variable));
        assert_eq!(got[4], ("index".to_string(), TokenClass::Variable));
    }

    #[test]
    fn an_overlong_filter_chain_is_an_error_not_a_stack_overflow() {
        let text = format!("for_each: x{}\n", "|f".repeat(100_000));
        let t = template_of(&text, TemplateKind::Expression);
        let err = t.error.expect("too long");
        assert_eq!(err.message, "an expression of more than 1000 tokens");
        assert_eq!(err.span.start, "for_each: ".len() + 1000);
    }

    #[test]
    fn expressions_are_checked_as_expressions() {
        let text = "for_each: steps.summarize.output | lines\n";
        let t = template_of(text, TemplateKind::Expression);
        assert!(t.error.is_none());
        assert_eq!(slice(text, t.refs[0].name_span), "summarize");
    }

    #[test]
    fn filters_tests_and_functions_are_found_with_exact_spans() {
        let text =
            "p: \"{{ steps.a.output | uper }}{% if x is not defind %}{{ rnage(3) }}{{ x.items() }}{% endif %}\"\n";
        let t = template_of(text, TemplateKind::Prompt);
        let calls: Vec<(CallKind, &str, &str)> = t
            .calls
            .iter()
            .map(|c| (c.kind, c.name.as_str(), slice(text, c.span)))
            .collect();
        assert_eq!(
            calls,
            vec![
                (CallKind::Filter, "uper", "uper"),
                (CallKind::Test, "defind", "defind"),
                (CallKind::Function, "rnage", "rnage"),
            ]
        );
        let unknown: Vec<&str> = t.unknown_calls().map(|c| c.name.as_str()).collect();
        assert_eq!(unknown, vec!["uper", "defind", "rnage"]);
    }

    #[test]
    fn macros_and_known_names_are_not_unknown_calls() {
        let text =
            "p: \"{% macro m(x) %}{{ x | upper }}{% endmacro %}{{ m(1) }}{{ range(2) | join }}{{ y is defined }}\"\n";
        let t = template_of(text, TemplateKind::Prompt);
        assert_eq!(t.unknown_calls().count(), 0, "{:?}", t.calls);
    }
}
