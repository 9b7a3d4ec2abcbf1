//! Highlighting inside prompts and `for_each` expressions: every piece of template syntax the
//! lowering placed exactly, with references that name no step or input (or `item` outside a
//! fan-out) and filters the renderer does not have marked unknown, by the same rules as the
//! `unknown-reference` and `unknown-filter` diagnostics.

use crate::model::diagnostic::Code;
use crate::model::template::TokenClass;
use crate::syntax::text::Span;

use super::Analysis;

/// One highlighted piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemanticToken {
    /// Where, in the document.
    pub span: Span,
    /// What it is.
    pub class: TokenClass,
    /// Part of a reference to something that does not exist, or a filter the renderer lacks.
    pub unknown: bool,
}

/// The tokens of every template that overlaps `range` (the whole document when `None`), in
/// document order.
pub fn semantic_tokens(analysis: &Analysis, range: Option<Span>) -> Vec<SemanticToken> {
    let overlaps = |span: Span| range.is_none_or(|r| span.start < r.end && r.start < span.end);
    let templates = analysis
        .workflow
        .steps
        .iter()
        .flat_map(|s| s.templates())
        .filter(|t| overlaps(t.span));
    let mut tokens: Vec<SemanticToken> = templates
        .flat_map(|t| t.tokens())
        .filter(|t| overlaps(t.span))
        .map(|t| SemanticToken {
            span: t.span,
            class: t.class,
            unknown: false,
        })
        .collect();
    tokens.sort_by_key(|t| t.span.start);
    if tokens.iter().any(|t| is_reference(t.class)) {
        let unknown: Vec<Span> = analysis
            .diagnostics()
            .into_iter()
            .filter(|d| matches!(d.code, Code::UnknownReference | Code::UnknownFilter))
            .map(|d| d.span)
            .collect();
        for t in tokens.iter_mut().filter(|t| is_reference(t.class)) {
            t.unknown = unknown.iter().any(|u| u.start <= t.span.start && t.span.end <= u.end);
        }
    }
    tokens
}

fn is_reference(class: TokenClass) -> bool {
    matches!(
        class,
        TokenClass::Namespace
            | TokenClass::Input
            | TokenClass::Step
            | TokenClass::Field
            | TokenClass::Variable
            | TokenClass::Filter
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixture::fixture;

    fn rendered(doc: &str, range: Option<Span>) -> Vec<String> {
        let f = fixture(doc);
        semantic_tokens(&f.analysis, range)
            .into_iter()
            .map(|t| {
                let text = &doc[t.span.start..t.span.end];
                format!("{text} {:?}{}", t.class, if t.unknown { " unknown" } else { "" })
            })
            .collect()
    }

    const DOC: &str = "version: 1\nname: t\nprovider: ollama\ninputs:\n  topic: {}\nsteps:\n  - id: a\n    prompt: \"{{ inputs.topic }} {{ inputs.topik }}\"\n  - id: b\n    for_each: steps.a.output | lines\n    prompt: \"{{ item }} {{ steps.nope.output }}\"\n";

    #[test]
    fn references_to_missing_steps_and_inputs_are_marked_unknown() {
        assert_eq!(
            rendered(DOC, None),
            [
                "{{ Delimiter",
                "inputs Namespace",
                "topic Input",
                "}} Delimiter",
                "{{ Delimiter",
                "inputs Namespace",
                "topik Input unknown",
                "}} Delimiter",
                "steps Namespace",
                "a Step",
                "output Field",
                "| Operator",
                "lines Filter",
                "{{ Delimiter",
                "item Variable",
                "}} Delimiter",
                "{{ Delimiter",
                "steps Namespace",
                "nope Step unknown",
                "output Field",
                "}} Delimiter",
            ]
        );
    }

    #[test]
    fn item_outside_a_fan_out_is_unknown() {
        let doc = "version: 1\nname: t\nprovider: ollama\nsteps:\n  - id: a\n    prompt: \"{{ item }}\"\n";
        assert_eq!(
            rendered(doc, None),
            ["{{ Delimiter", "item Variable unknown", "}} Delimiter"]
        );
    }

    #[test]
    fn a_filter_the_renderer_lacks_is_unknown() {
        let doc = "version: 1\nname: t\nprovider: ollama\nsteps:\n  - id: a\n    prompt: \"{{ 'x' | uper }}{{ 'y' | upper }}\"\n";
        let got = rendered(doc, None);
        assert!(got.contains(&"uper Filter unknown".to_string()), "{got:?}");
        assert!(got.contains(&"upper Filter".to_string()), "{got:?}");
    }

    #[test]
    fn a_range_gives_only_the_tokens_inside_it() {
        let start = DOC.find("- id: b").unwrap();
        let got = rendered(DOC, Some(Span::new(start, DOC.len())));
        assert_eq!(got.first().map(String::as_str), Some("steps Namespace"));
        assert_eq!(got.len(), 13);
    }
}
