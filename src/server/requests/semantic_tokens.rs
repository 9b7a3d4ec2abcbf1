//! `textDocument/semanticTokens/full` and `/range`: highlighting inside prompts, as the LSP's
//! relative (delta) encoding over the legend below.

use tower_lsp_server::ls_types::{
    Range, SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens, SemanticTokensLegend,
};

use crate::analysis::semantic_tokens::{SemanticToken as Token, semantic_tokens};
use crate::model::template::TokenClass;
use crate::server::convert;
use crate::server::session::Snapshot;
use crate::syntax::text::{LineIndex, PositionEncoding};

/// Token types, indexed by [`type_index`].
const TYPES: [SemanticTokenType; 11] = [
    SemanticTokenType::MACRO,
    SemanticTokenType::KEYWORD,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::TYPE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::OPERATOR,
];

/// The modifier of a reference to a step or input that does not exist, or of a filter the
/// renderer does not have (bit 0).
pub const UNKNOWN: &str = "unknown";

/// The legend the server announces in its capabilities.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: vec![SemanticTokenModifier::new(UNKNOWN)],
    }
}

/// Where a class's LSP type stands in [`TYPES`].
fn type_index(class: TokenClass) -> u32 {
    match class {
        TokenClass::Delimiter => 0,
        TokenClass::Keyword => 1,
        TokenClass::Namespace => 2,
        TokenClass::Input => 3,
        TokenClass::Step => 4,
        TokenClass::Field => 5,
        TokenClass::Variable => 6,
        TokenClass::Filter => 7,
        TokenClass::String => 8,
        TokenClass::Number => 9,
        TokenClass::Operator => 10,
    }
}

/// Every token of the document.
pub fn full(s: &Snapshot) -> SemanticTokens {
    let analysis = s.analysis();
    encode(&analysis.line_index, s.encoding, &semantic_tokens(&analysis, None))
}

/// The tokens that overlap `range`.
pub fn range(s: &Snapshot, range: Range) -> SemanticTokens {
    let analysis = s.analysis();
    let span = convert::span(&analysis.line_index, range, s.encoding);
    encode(
        &analysis.line_index,
        s.encoding,
        &semantic_tokens(&analysis, Some(span)),
    )
}

/// The relative encoding: each token's line and start relative to the previous token's. A
/// token over a line break (a multi-line string literal) is left out: clients need not
/// support those.
fn encode(index: &LineIndex, encoding: PositionEncoding, tokens: &[Token]) -> SemanticTokens {
    let mut data = Vec::with_capacity(tokens.len());
    let (mut line, mut col) = (0, 0);
    for t in tokens {
        let start = convert::position(index, t.span.start, encoding);
        let end = convert::position(index, t.span.end, encoding);
        if start.line != end.line || end.character <= start.character {
            continue;
        }
        let delta_line = start.line - line;
        let delta_start = if delta_line == 0 {
            start.character - col
        } else {
            start.character
        };
        data.push(SemanticToken {
            delta_line,
            delta_start,
            length: end.character - start.character,
            token_type: type_index(t.class),
            token_modifiers_bitset: u32::from(t.unknown),
        });
        (line, col) = (start.line, start.character);
    }
    SemanticTokens { result_id: None, data }
}
