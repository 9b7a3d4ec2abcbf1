//! Properties that must hold for any edit sequence: the rope and a plain String agree; the
//! incremental analysis equals a fresh one, and equals the whole-document parse (the
//! reference) wherever the whole document parses; and parsing, lowering and diagnosing any
//! text, however hostile, never panics. Cases per property: 256, or `STEPWISE_FUZZ_CASES`
//! for a long run.

mod fixture;

use std::sync::Arc;

use proptest::prelude::*;
use stepwise::analysis::navigation::document_symbols;
use stepwise::analysis::{Analysis, hints::step_hints};
use stepwise::model::diagnostic::Code;
use stepwise::model::runs::RunView;
use stepwise::model::workspace::Workspace;
use stepwise::syntax::text::{DocumentText, LineIndex, PositionEncoding, TextDelta, TextEdit};

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

/// 256 cases, or `STEPWISE_FUZZ_CASES` of them.
fn cases() -> ProptestConfig {
    let cases = std::env::var("STEPWISE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases(cases)
}

/// A document to edit: the base workflow with anchors and aliases across steps, flow
/// collections and a tagged scalar, so edits can make parts that do not stand alone.
const RICH: &str = "version: 1\nname: &n Rich 日本\nprovider: anthropic\npersonas:\n  analyst: { name: A, system: \"Be brief 😀\" }\ninputs:\n  product:\n    default: !!str 42\nsteps:\n  - id: summarize\n    params: &p { temperature: 0.5 }\n    prompt: |\n      Summarize {{ inputs.product }} 🚀\n  - id: ideas\n    params: *p\n    needs: [summarize]\n    prompt: \"Ideas for {{ steps.summarize.output }}\"\n  - id: last\n    prompt: >\n      folded {{ steps.ideas.output }}\n      text\n";

/// Steps that depend on each other, for edits that rename, duplicate, drop and re-link them.
const GRAPH: &str = "version: 1\nname: Graph\nprovider: anthropic\nsteps:\n  - id: a\n    prompt: hi\n  - id: b\n    needs: [a]\n    prompt: \"{{ steps.a.output }}\"\n  - id: c\n    prompt: \"{{ steps.b.output }} {{ steps.a.output }}\"\n  - id: d\n    needs: [c]\n    prompt: more\n";

/// What changes a workflow's step graph: IDs, `needs`, references and whole steps.
fn graph_snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".to_string()),
        Just("b".to_string()),
        Just("d".to_string()),
        Just("\n".to_string()),
        Just("  - id: a\n    prompt: again\n".to_string()),
        Just("  - id: e\n    needs: [d]\n    prompt: x\n".to_string()),
        Just("    needs: [d]\n".to_string()),
        Just("{{ steps.d.output }}".to_string()),
        Just("{{ steps.c.output }}".to_string()),
        Just(", c".to_string()),
        Just("id: ".to_string()),
    ]
}

/// Text a fuzzer types: YAML structure of every kind, template braces, multi-byte
/// characters, emoji and every line separator, including the ones only Unicode knows.
fn hostile_snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\r".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{2029}".to_string()),
        Just("\u{85}".to_string()),
        Just("\u{b}".to_string()),
        Just("\u{c}".to_string()),
        Just("\t".to_string()),
        Just("\n  - id: x\n    prompt: ".to_string()),
        Just("\n  - ".to_string()),
        Just("\nsteps:\n".to_string()),
        Just("\nname: ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("*p".to_string()),
        Just("!!str ".to_string()),
        Just("!local ".to_string()),
        Just("---\n".to_string()),
        Just("...\n".to_string()),
        Just("%YAML 1.2\n".to_string()),
        Just("{{ steps.".to_string()),
        Just("{{ inputs.".to_string()),
        Just("}}".to_string()),
        Just("{% if x %}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just(": ".to_string()),
        Just("? ".to_string()),
        Just("|".to_string()),
        Just(">-".to_string()),
        Just("# ".to_string()),
        Just("é".to_string()),
        Just("😀".to_string()),
        Just("👩‍👩‍👧".to_string()),
        Just("日本語".to_string()),
        Just("\u{feff}".to_string()),
        Just("sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv0123456789".to_string()),
        "[a-z_:\\- ]{0,8}",
        "\\PC{0,4}",
    ]
}

/// Replaces the chars `at·len..at·len+len` of `text` with `insert`.
fn apply(text: &mut String, (at, len, insert): &(f64, usize, String)) {
    let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let start_char = ((chars.len() as f64) * at) as usize;
    let byte = |c: usize| chars.get(c).copied().unwrap_or(text.len());
    let (start, end) = (byte(start_char), byte((start_char + len).min(chars.len())));
    text.replace_range(start..end, insert);
}

/// The edit of chars `at·n..at·n+len` of `text` (n chars) to `insert`, as an editor sends it in
/// `encoding`, and the bytes it replaces; `None` where it would split a CRLF (editors do not
/// produce positions between `\r` and `\n`).
fn protocol_edit(
    text: &str,
    (at, len, insert): (f64, usize, &str),
    encoding: PositionEncoding,
) -> Option<(TextEdit, std::ops::Range<usize>)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let start_char = ((chars.len() as f64) * at) as usize;
    let end_char = (start_char + len).min(chars.len());
    let byte = |c: usize| chars.get(c).map_or(text.len(), |&(b, _)| b);
    let (start, end) = (byte(start_char), byte(end_char));
    let splits_crlf = |at: usize| at > 0 && text.as_bytes()[at - 1] == b'\r' && text.as_bytes().get(at) == Some(&b'\n');
    if splits_crlf(start) || splits_crlf(end) {
        return None;
    }
    let index = LineIndex::new(Arc::from(text));
    let range = (index.position(start, encoding), index.position(end, encoding));
    let edit = TextEdit {
        range: Some(range),
        text: insert.to_string(),
    };
    Some((edit, start..end))
}

/// Everything the editor shows of an analysis that the whole-document parse must agree on.
fn observed(a: &Analysis) -> (Vec<stepwise::model::diagnostic::Diagnostic>, Vec<String>, String) {
    let hints = step_hints(a, &RunView::default(), 0, usize::MAX)
        .into_iter()
        .map(|h| format!("{}@{}", h.label, h.offset))
        .collect();
    (a.diagnostics(), hints, format!("{:?}", document_symbols(a)))
}

fn has_syntax_error(a: &Analysis) -> bool {
    a.diagnostics().iter().any(|d| d.code == Code::YamlSyntax)
}

/// Every analysis path over `text`, checked against the reference.
fn check_against_whole(
    text: &str,
    ws: &Arc<Workspace>,
    previous: Option<&Analysis>,
) -> Result<Analysis, TestCaseError> {
    check_edit_against_whole(text, ws, previous, TextDelta::Unknown)
}

/// [`check_against_whole`], the server's path told by `delta` where `text` may differ from
/// the previous analysis's text.
fn check_edit_against_whole(
    text: &str,
    ws: &Arc<Workspace>,
    previous: Option<&Analysis>,
    delta: TextDelta,
) -> Result<Analysis, TestCaseError> {
    let shown = format!("{text:?}");
    let text: Arc<str> = Arc::from(text);
    let incremental = Analysis::update(text.clone(), ws.clone(), previous);
    let fresh = Analysis::new(text.clone(), ws.clone());
    let whole = Analysis::whole_document(text.clone(), ws.clone());
    prop_assert_eq!(&incremental.workflow, &fresh.workflow);
    prop_assert_eq!(observed(&incremental), observed(&fresh));
    if let Some(previous) = previous {
        // The server's path: the previous analysis taken over, its parts moved, not copied.
        let taken_over = Analysis::edited_owned(text, ws.clone(), previous.clone(), delta);
        prop_assert_eq!(&taken_over.workflow, &fresh.workflow);
        prop_assert_eq!(observed(&taken_over), observed(&fresh));
    }
    if has_syntax_error(&whole) {
        prop_assert!(
            has_syntax_error(&incremental),
            "the whole document does not parse, so neither may its parts: {}",
            shown
        );
    } else {
        prop_assert_eq!(observed(&incremental), observed(&whole), "{}", shown);
    }
    Ok(incremental)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn incremental_analysis_after_random_edits_equals_the_whole_document_analysis(
        edits in prop::collection::vec((0.0..=1.0f64, 0usize..12, hostile_snippet()), 1..16)
    ) {
        let ws = Arc::new(fixture::all_keys());
        let mut text = RICH.to_string();
        let mut previous = check_against_whole(&text, &ws, None)?;
        for edit in &edits {
            apply(&mut text, edit);
            previous = check_against_whole(&text, &ws, Some(&previous))?;
        }
    }

    #[test]
    fn incremental_analysis_after_edits_of_ids_and_dependencies_equals_the_whole_document_analysis(
        edits in prop::collection::vec((0.0..=1.0f64, 0usize..12, graph_snippet()), 1..24)
    ) {
        let ws = Arc::new(fixture::all_keys());
        let mut text = GRAPH.to_string();
        let mut previous = check_against_whole(&text, &ws, None)?;
        for edit in &edits {
            apply(&mut text, edit);
            previous = check_against_whole(&text, &ws, Some(&previous))?;
        }
    }

    #[test]
    fn parse_lower_and_diagnose_never_panic_on_hostile_text(
        parts in prop::collection::vec(hostile_snippet(), 0..64)
    ) {
        let ws = Arc::new(fixture::all_keys());
        let text: String = parts.concat();
        let analysis = Analysis::new(Arc::from(text.as_str()), ws.clone());
        for d in analysis.diagnostics() {
            prop_assert!(d.span.start <= d.span.end && d.span.end <= text.len());
            prop_assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
        }
        let _ = Analysis::whole_document(Arc::from(text.as_str()), ws).diagnostics();
    }

    #[test]
    fn rope_edits_match_string_edits_and_incremental_analysis_matches_the_whole_document(edits in prop::collection::vec(edit(), 1..24)) {
        let mut expected = BASE.to_string();
        let mut doc = DocumentText::new(BASE);
        let ws = Arc::new(fixture::all_keys());
        let mut previous = Analysis::new(Arc::from(BASE), ws.clone());
        for (at, len, insert, utf8) in edits {
            let encoding = if utf8 { PositionEncoding::Utf8 } else { PositionEncoding::Utf16 };
            let edit = protocol_edit(&expected, (at, len, &insert), encoding);
            prop_assume!(edit.is_some());
            let (edit, replaced) = edit.unwrap();
            let delta = doc.apply(&edit, encoding);
            expected.replace_range(replaced, &insert);
            let text = doc.to_arc_str();
            prop_assert_eq!(&*text, expected.as_str());
            previous = check_edit_against_whole(&text, &ws, Some(&previous), delta)?;
        }
    }

    /// As the server sees typing: batches of edits in one didChange, and versions whose
    /// analysis was never asked for, so the delta from the last analysed text is the edits of
    /// several batches in turn.
    #[test]
    fn the_change_that_batches_of_edits_report_gives_the_whole_document_analysis(
        batches in prop::collection::vec(prop::collection::vec(edit(), 1..4), 1..6),
        analysed in prop::collection::vec(any::<bool>(), 6)
    ) {
        let mut expected = BASE.to_string();
        let mut doc = DocumentText::new(BASE);
        let ws = Arc::new(fixture::all_keys());
        let mut previous = Analysis::new(Arc::from(BASE), ws.clone());
        let mut delta = TextDelta::Same;
        for (batch, analyse) in batches.iter().zip(analysed) {
            let mut edits = Vec::new();
            for (at, len, insert, _) in batch {
                let edit = protocol_edit(&expected, (*at, *len, insert), PositionEncoding::Utf8);
                prop_assume!(edit.is_some());
                let (edit, replaced) = edit.unwrap();
                edits.push(edit);
                expected.replace_range(replaced, insert);
            }
            delta = delta.then(doc.apply_all(&edits, PositionEncoding::Utf8));
            let text = doc.to_arc_str();
            prop_assert_eq!(&*text, expected.as_str());
            if analyse {
                previous = check_edit_against_whole(&text, &ws, Some(&previous), delta)?;
                delta = TextDelta::Same;
            }
        }
        let text = doc.to_arc_str();
        check_edit_against_whole(&text, &ws, Some(&previous), delta)?;
    }

    /// As the server types on: each keystroke's analysis takes the previous one over and
    /// publishes its diagnostics, and nothing else reads the steps in between, so the moves of
    /// the steps after each edit add up before any reader places them.
    #[test]
    fn keystrokes_with_no_other_reader_between_them_place_every_step_as_a_fresh_analysis_does(
        edits in prop::collection::vec(edit(), 1..24)
    ) {
        let mut expected = BASE.to_string();
        let mut doc = DocumentText::new(BASE);
        let ws = Arc::new(fixture::all_keys());
        let mut previous = Analysis::new(Arc::from(BASE), ws.clone());
        for (at, len, insert, _) in edits {
            let edit = protocol_edit(&expected, (at, len, &insert), PositionEncoding::Utf8);
            prop_assume!(edit.is_some());
            let (edit, replaced) = edit.unwrap();
            let delta = doc.apply(&edit, PositionEncoding::Utf8);
            expected.replace_range(replaced, &insert);
            let text = doc.to_arc_str();
            previous = Analysis::edited_owned(text.clone(), ws.clone(), previous, delta);
            let fresh = Analysis::new(text, ws.clone());
            prop_assert_eq!(previous.diagnostics(), fresh.diagnostics(), "{:?}", expected);
        }
        let fresh = Analysis::new(Arc::from(expected.as_str()), ws.clone());
        prop_assert_eq!(&previous.workflow, &fresh.workflow);
        prop_assert_eq!(observed(&previous), observed(&fresh));
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

/// A step that may share its ID with another, depend on others, reference them in its prompt
/// or be broken: the items a document's analysis splits over threads.
fn step_item() -> impl Strategy<Value = String> {
    (
        "[a-d]",
        prop::option::of("[a-d]"),
        prop::option::of("[a-e]"),
        hostile_snippet(),
    )
        .prop_map(|(id, need, reference, noise)| {
            let mut step = format!("  - id: {id}\n");
            if let Some(need) = need {
                step.push_str(&format!("    needs: [{need}]\n"));
            }
            let reference = reference.map_or(String::new(), |r| format!("{{{{ steps.{r}.output }}}}"));
            step.push_str(&format!("    prompt: |\n      Go on from {reference} {noise}\n"));
            step
        })
}

/// A workflow of up to 48 such steps, then edited at random.
fn many_steps() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(step_item(), 0..48),
        prop::collection::vec((0.0..=1.0f64, 0usize..12, hostile_snippet()), 0..4),
    )
        .prop_map(|(steps, edits)| {
            let mut text = format!(
                "version: 1\nname: Many\nprovider: anthropic\nsteps:\n{}",
                steps.concat()
            );
            for edit in &edits {
                apply(&mut text, edit);
            }
            text
        })
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn analysis_split_over_threads_equals_analysis_on_one_and_the_whole_document(text in many_steps()) {
        let ws = Arc::new(fixture::all_keys());
        let shown = format!("{text:?}");
        let text: Arc<str> = Arc::from(text.as_str());
        let one = Analysis::on_threads(text.clone(), ws.clone(), 1);
        for threads in [2, 3, 8] {
            let split = Analysis::on_threads(text.clone(), ws.clone(), threads);
            prop_assert_eq!(&split.workflow, &one.workflow);
            prop_assert_eq!(observed(&split), observed(&one), "{} threads: {}", threads, &shown);
        }
        let whole = Analysis::whole_document(text, ws);
        if !has_syntax_error(&whole) {
            prop_assert_eq!(observed(&one), observed(&whole), "{}", shown);
        }
    }
}

#[test]
fn a_large_workflow_analysed_on_every_core_equals_its_analysis_on_one_thread() {
    let ws = Arc::new(fixture::all_keys());
    let text: Arc<str> = Arc::from(stepwise::analysis::generate::large_workflow(2_000).as_str());
    let one = Analysis::on_threads(text.clone(), ws.clone(), 1);
    let every_core = Analysis::new(text, ws);
    assert_eq!(every_core.workflow, one.workflow);
    assert_eq!(observed(&every_core), observed(&one));
}

#[test]
fn a_flow_mapping_alone_on_a_top_level_line_is_the_syntax_error_it_is_in_the_whole_document() {
    let ws = Arc::new(fixture::all_keys());
    // Found by the random edits of the step graph: `{{ … }}` alone is a mapping, but in the
    // document it is a key without its `:`.
    let text = "version: 1\n{{ steps.d.output }}\nprovider: anthropic\nsteps:\n  - id: a\n    prompt: hi\n";
    check_against_whole(text, &ws, None).unwrap();
    let analysis = Analysis::new(Arc::from(text), ws);
    assert!(has_syntax_error(&analysis));
}

#[test]
fn a_byte_order_mark_typed_at_the_start_of_a_top_level_line_is_the_syntax_error_it_is_in_the_whole_document() {
    let ws = Arc::new(fixture::all_keys());
    // Found by the random edits: parsed alone, the part after it took the mark as the start of
    // its stream and reported nothing.
    let text = "version: 1\nname: x\n\u{feff}provider: anthropic\nsteps:\n  - id: a\n    prompt: hi\n";
    check_against_whole(text, &ws, None).unwrap();
    assert!(has_syntax_error(&Analysis::new(Arc::from(text), ws)));
}

#[test]
fn a_workflow_opening_with_an_explicit_key_starts_at_its_question_mark() {
    let ws = Arc::new(fixture::all_keys());
    // Found by the thread-split test: the parts' mapping was placed at its first key, after the `?`.
    let text = "? version: 1\nname: Many\nprovider: anthropic\nsteps:\n  - id: a\n    prompt: hi\n";
    let analysis = check_against_whole(text, &ws, None).unwrap();
    assert_eq!(analysis.workflow.span.start, 0);
}

#[test]
fn a_step_ending_in_a_question_mark_key_without_a_value_ends_where_the_whole_document_ends_it() {
    let ws = Arc::new(fixture::all_keys());
    // Found by the thread-split test: the key's empty value sat at the next token, which is
    // the next item in the document but the end of the step's own chunk.
    let text = "version: 1\nname: x\nsteps:\n  - id: a\n    ?  |\n      Go on\n  - id: b\n    prompt: hi\n";
    let analysis = check_against_whole(text, &ws, None).unwrap();
    let end = analysis.workflow.steps[0].span.end;
    assert_eq!(
        &text[..end],
        "version: 1\nname: x\nsteps:\n  - id: a\n    ?  |\n      Go on"
    );
}
