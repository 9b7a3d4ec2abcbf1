//! Properties that must hold for any edit sequence: the rope and a plain String agree, and
//! analysis of whatever text results never panics.

mod fixture;

use std::sync::Arc;

use proptest::prelude::*;
use stepwise::analysis::Analysis;
use stepwise::syntax::text::{DocumentText, LineIndex, PositionEncoding, TextEdit};

const BASE: &str = "version: 1\nname: Ünïcode brief 日本\nprovider: anthropic\npersona: analyst\npersonas:\n  analyst:\n    name: A\n    system: Be brief 😀.\nsteps:\n  - id: summarize\n    prompt: |\n      Summarize {{ inputs.product }} 🚀 in five bullets.\n  - id: ideas\n    provider: openai\n    needs: [summarize]\n    for_each: steps.summarize.output | lines\n    prompt: \"Ideas for {{ item }}\"\n";

/// Snippets people type: YAML structure, template braces, non-ASCII, half-typed keys.
fn snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\n".to_string()),
        Just("  - id: x\n    persona: ".to_string()),
        Just("{{ steps.".to_string()),
        Just("}}".to_string()),
        Just("[".to_string()),
        Just("\"".to_string()),
        Just(": ".to_string()),
        Just("😀".to_string()),
        Just("日本語".to_string()),
        Just("\r\n".to_string()),
        "[a-z_:\\- ]{0,8}",
    ]
}

/// An edit as (start char fraction, length in chars, inserted text, encoding).
fn edit() -> impl Strategy<Value = (f64, usize, String, bool)> {
    (0.0..=1.0f64, 0usize..12, snippet(), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rope_edits_match_string_edits_and_incremental_analysis_matches_fresh(edits in prop::collection::vec(edit(), 1..24)) {
        let mut expected = BASE.to_string();
        let mut doc = DocumentText::new(BASE);
        let ws = Arc::new(fixture::all_keys());
        let mut previous = Analysis::new(Arc::from(BASE), ws.clone());
        for (at, len, insert, utf8) in edits {
            let encoding = if utf8 { PositionEncoding::Utf8 } else { PositionEncoding::Utf16 };
            let chars: Vec<(usize, char)> = expected.char_indices().collect();
            let start_char = ((chars.len() as f64) * at) as usize;
            let end_char = (start_char + len).min(chars.len());
            let byte = |c: usize| chars.get(c).map_or(expected.len(), |&(b, _)| b);
            let (start, end) = (byte(start_char), byte(end_char));
            // Never split a CRLF: editors do not produce positions between \r and \n.
            prop_assume!(!(start > 0 && expected.as_bytes()[start - 1] == b'\r' && expected.as_bytes().get(start) == Some(&b'\n')));
            prop_assume!(!(end > 0 && expected.as_bytes()[end - 1] == b'\r' && expected.as_bytes().get(end) == Some(&b'\n')));
            let index = LineIndex::new(Arc::from(expected.as_str()));
            let range = (index.position(start, encoding), index.position(end, encoding));
            doc.apply(&TextEdit { range: Some(range), text: insert.clone() }, encoding);
            expected.replace_range(start..end, &insert);
            let text = doc.to_arc_str();
            prop_assert_eq!(&*text, expected.as_str());
            let fresh = Analysis::new(text.clone(), ws.clone());
            let incremental = Analysis::update(text, ws.clone(), Some(&previous));
            prop_assert_eq!(&incremental.workflow, &fresh.workflow);
            prop_assert_eq!(incremental.diagnostics(), fresh.diagnostics());
            previous = incremental;
        }
    }

    #[test]
    fn positions_round_trip_through_offsets(at in 0.0..=1.0f64, utf8 in any::<bool>()) {
        let encoding = if utf8 { PositionEncoding::Utf8 } else { PositionEncoding::Utf16 };
        let index = LineIndex::new(Arc::from(BASE));
        let offsets: Vec<usize> = BASE.char_indices().map(|(i, _)| i).collect();
        let offset = offsets[((offsets.len() - 1) as f64 * at) as usize];
        let pos = index.position(offset, encoding);
        prop_assert_eq!(index.offset(pos, encoding), offset);
    }
}

#[test]
fn out_of_range_edits_clamp_instead_of_panicking() {
    use stepwise::syntax::text::LineCol;
    let mut doc = DocumentText::new("a: 1\n");
    let far = LineCol { line: 40, col: 99 };
    doc.apply(
        &TextEdit {
            range: Some((LineCol { line: 0, col: 99 }, far)),
            text: "!".into(),
        },
        PositionEncoding::Utf16,
    );
    assert_eq!(&*doc.to_arc_str(), "a: 1!");
}

#[test]
fn generated_large_workflows_are_valid() {
    let text = stepwise::analysis::generate::large_workflow(12);
    let analysis = fixture::analyse(&text, fixture::all_keys());
    assert_eq!(fixture::render(&analysis), "");
}
