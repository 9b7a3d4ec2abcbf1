//! Hostile documents (`analysis::generate::hostile_documents`): nesting deeper than any stack,
//! a cycle through every step, thousands of unknown references. Each is analysed without
//! overflowing the stack and in bounded work; these tests assert the shape of the results
//! (their time and memory are measured by `cargo bench --bench analysis`).

mod fixture;
mod support;

use serde_json::json;
use stepwise::analysis::generate::hostile_documents;
use stepwise::model::diagnostic::{Code, Diagnostic};
use support::lsp::{TestServer, uri};

fn document(name_start: &str) -> String {
    hostile_documents()
        .into_iter()
        .find(|(name, _)| name.starts_with(name_start))
        .map(|(_, text)| text)
        .expect("a hostile document of that name")
}

fn diagnostics(text: &str) -> Vec<Diagnostic> {
    fixture::analyse(text, fixture::all_keys()).diagnostics()
}

fn with_code(all: &[Diagnostic], code: Code) -> Vec<&Diagnostic> {
    all.iter().filter(|d| d.code == code).collect()
}

#[test]
fn nesting_deeper_than_the_limit_is_a_syntax_error_where_it_is_exceeded() {
    for name in ["nesting 21,500", "nesting 86,000", "nesting 1 MB"] {
        let text = document(name);
        let all = diagnostics(&text);
        let syntax = with_code(&all, Code::YamlSyntax);
        assert_eq!(syntax.len(), 1, "{name}: {all:#?}");
        assert!(syntax[0].message.contains("nested more than 128 levels deep"), "{name}");
        // The item `- - - …` starts at byte 9; its 128th nested list opens 2 bytes per level on.
        assert_eq!(syntax[0].span.start, "steps:\n  - ".len() + 2 * 127, "{name}");
    }
}

#[test]
fn the_language_server_survives_nesting_deeper_than_the_limit() {
    let (mut server, _) = TestServer::initialized(&[], TestServer::default_capabilities());
    for (n, name) in ["nesting 21,500", "nesting 86,000", "nesting 1 MB"].iter().enumerate() {
        let doc = uri(std::path::Path::new(&format!("/tmp/deep{n}.flow.yaml")));
        server.open(&doc, &document(name));
        let published = server.diagnostics(&doc, 1);
        assert!(
            published
                .iter()
                .any(|d| d["code"] == "yaml-syntax"
                    && d["message"].as_str().unwrap_or("").contains("nested more than 128")),
            "{name}: {published:?}"
        );
    }
    let symbols = server.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri(std::path::Path::new("/tmp/deep0.flow.yaml")) } }),
    );
    assert!(symbols.is_ok(), "{symbols:?}");
    assert!(server.shutdown().success());
}

#[test]
fn a_cycle_through_every_step_is_reported_once_per_closing_reference_with_a_capped_path() {
    let all = diagnostics(&document("cycles"));
    let cycles = with_code(&all, Code::DependencyCycle);
    // `s0` needs itself; the search starts at the last step, `s19999` (which needs `s0`):
    // `s19998`'s reference to it closes the long loop, and each other step's reference to `s0`
    // closes a shorter one.
    assert_eq!(cycles.len(), 20_000);
    assert!(cycles.iter().all(|d| d.message.len() < 200), "{:?}", cycles[0]);
    assert!(
        cycles.iter().any(|d| d.message
            == "dependency cycle: s19999 → s0 → s1 → s2 → … 19992 more … → s19995 → s19996 → s19997 → s19998 → s19999"),
        "{:?}",
        cycles.first()
    );
    assert!(cycles.iter().any(|d| d.message == "dependency cycle: s0 → s1 → s0"));
}

#[test]
fn did_you_mean_among_20000_step_ids_still_finds_each_misspelt_step() {
    let all = diagnostics(&document("did you mean"));
    let unknown = with_code(&all, Code::UnknownReference);
    assert_eq!(unknown.len(), 20_000);
    for d in unknown {
        let typo = d.message.split('`').nth(1).expect("names the step");
        let meant = typo.replacen("stpe_", "step_", 1);
        assert_eq!(d.suggestions.first(), Some(&meant), "{}", d.message);
    }
}

#[test]
fn fifty_thousand_references_in_one_literal_block_each_get_their_exact_place() {
    let text = document("50,000 template references");
    let all = diagnostics(&text);
    let unknown = with_code(&all, Code::UnknownReference);
    assert_eq!(unknown.len(), 50_000);
    for (i, d) in unknown.iter().enumerate() {
        assert_eq!(&text[d.span.start..d.span.end], format!("b{i}"));
    }
    // One step is known, so the message lists it rather than every name.
    assert!(
        unknown[0].message.ends_with("steps in this workflow: a"),
        "{}",
        unknown[0].message
    );
}

#[test]
fn ten_thousand_inline_personas_resolve_for_ten_thousand_steps() {
    let all = diagnostics(&document("10,000 inline personas"));
    assert!(with_code(&all, Code::UnknownPersona).is_empty());
    assert_eq!(with_code(&all, Code::UnknownReference).len(), 10_000);
}

#[test]
fn a_valid_five_megabyte_workflow_has_no_diagnostics() {
    let text = document("a valid 5 MB");
    assert!(text.len() > 5_000_000, "{}", text.len());
    assert_eq!(diagnostics(&text), Vec::new());
}
