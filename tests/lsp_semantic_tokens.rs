//! Highlighting inside prompts through the real `stepwise lsp` over stdio: the legend in the
//! capabilities, `semanticTokens/full` and `/range` in the LSP's relative encoding.

mod support;

use serde_json::{Value, json};
use support::lsp::{TestServer, uri};

const FLOW: &str = "version: 1
name: Brief
provider: ollama
inputs:
  product: {}
steps:
  - id: summarize
    prompt: \"Summarize {{ inputs.product | upper }}\"
  - id: ideas
    prompt: |
      Ideas from {{ steps.summarize.output }}
      and {{ steps.sumary.output }} for 😀 {{ inputs.product }}
";

/// A decoded token: its text, LSP type and modifiers, from the relative encoding.
fn decode(text: &str, legend: &Value, data: &Value) -> Vec<String> {
    let types = legend["tokenTypes"].as_array().unwrap();
    let modifiers = legend["tokenModifiers"].as_array().unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    let data: Vec<u64> = data.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let (mut line, mut col) = (0usize, 0usize);
    data.chunks(5)
        .map(|t| {
            if t[0] > 0 {
                col = 0;
            }
            line += t[0] as usize;
            col += t[1] as usize;
            // UTF-16 columns, as negotiated by default.
            let units: Vec<u16> = lines[line].encode_utf16().collect();
            let token = String::from_utf16(&units[col..col + t[2] as usize]).unwrap();
            let mods: Vec<&str> = (0..modifiers.len())
                .filter(|b| t[4] & (1 << b) != 0)
                .map(|b| modifiers[b].as_str().unwrap())
                .collect();
            let ty = types[t[3] as usize].as_str().unwrap();
            if mods.is_empty() {
                format!("{token}:{ty}")
            } else {
                format!("{token}:{ty}.{}", mods.join("."))
            }
        })
        .collect()
}

fn opened() -> (tempfile::TempDir, TestServer, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("brief.flow.yaml");
    std::fs::write(&path, FLOW).unwrap();
    let u = uri(&path);
    let (mut s, init) = TestServer::initialized(&[], TestServer::default_capabilities());
    s.open(&u, FLOW);
    let legend = init["capabilities"]["semanticTokensProvider"]["legend"].clone();
    (dir, s, u, legend)
}

#[test]
fn the_server_announces_full_and_range_semantic_tokens_with_an_unknown_modifier() {
    let (_dir, _s, _u, legend) = opened();
    assert!(
        legend["tokenTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "parameter")
    );
    assert_eq!(legend["tokenModifiers"], json!(["unknown"]));
}

#[test]
fn full_semantic_tokens_colour_template_spans_and_mark_unknown_references() {
    let (_dir, mut s, u, legend) = opened();
    let reply = s
        .request(
            "textDocument/semanticTokens/full",
            json!({ "textDocument": { "uri": u } }),
        )
        .unwrap();
    assert_eq!(
        decode(FLOW, &legend, &reply["data"]),
        [
            "{{:macro",
            "inputs:namespace",
            "product:parameter",
            "|:operator",
            "upper:function",
            "}}:macro",
            "{{:macro",
            "steps:namespace",
            "summarize:type",
            "output:property",
            "}}:macro",
            "{{:macro",
            "steps:namespace",
            "sumary:type.unknown",
            "output:property",
            "}}:macro",
            "{{:macro",
            "inputs:namespace",
            "product:parameter",
            "}}:macro",
        ]
    );
}

#[test]
fn range_semantic_tokens_cover_only_the_requested_lines() {
    let (_dir, mut s, u, legend) = opened();
    let range = json!({ "start": { "line": 11, "character": 0 }, "end": { "line": 12, "character": 0 } });
    let reply = s
        .request(
            "textDocument/semanticTokens/range",
            json!({ "textDocument": { "uri": u }, "range": range }),
        )
        .unwrap();
    let tokens = decode(FLOW, &legend, &reply["data"]);
    assert_eq!(tokens.first().map(String::as_str), Some("{{:macro"));
    assert!(tokens.contains(&"sumary:type.unknown".to_string()), "{tokens:?}");
    assert!(!tokens.contains(&"upper:function".to_string()), "{tokens:?}");
    assert!(!tokens.contains(&"summarize:type".to_string()), "{tokens:?}");
}
