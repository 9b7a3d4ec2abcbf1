//! Adopting a compared target: "Use for this step" replaces or inserts provider, model and
//! persona and keeps the rest of the step; "Add to fallback" appends to a flow or block list,
//! fills an empty one, or starts one.

mod fixture;

use fixture::{all_keys, analyse};
use stepwise::analysis::Analysis;
use stepwise::analysis::actions::Edit;
use stepwise::analysis::compare::{add_fallback_edit, candidates, use_target_edits};

const FLOW: &str = "version: 1
name: Brief
provider: anthropic
model: claude-sonnet-4-5
personas:
  analyst:
    name: Analyst
    system: Be brief.
steps:
  - id: flow
    fallback: [openai, google/gemini-2.5-flash]   # tried in order
    prompt: A
  - id: block
    model: claude-haiku-4-5   # fast
    fallback:
      - openai
    prompt: B
  - id: empty
    fallback: []
    prompt: C
  - id: none
    prompt: D
";

/// Applies edits to `text`, last first (inserts at one place in the order given).
fn apply(text: &str, edits: &[Edit]) -> String {
    let mut edits: Vec<(usize, &Edit)> = edits.iter().enumerate().collect();
    edits.sort_by_key(|(i, e)| std::cmp::Reverse((e.span.start, *i)));
    let mut out = text.to_string();
    for (_, e) in edits {
        out.replace_range(e.span.start..e.span.end, &e.new_text);
    }
    out
}

fn fallback_added(analysis: &Analysis, step: &str, provider: &str, model: &str) -> Option<String> {
    let step = analysis.workflow.step(step).unwrap();
    add_fallback_edit(analysis, step, provider, model).map(|e| apply(FLOW, &[e]))
}

#[test]
fn add_to_fallback_appends_to_a_flow_list_before_its_comment() {
    let analysis = analyse(FLOW, all_keys());
    let edited = fallback_added(&analysis, "flow", "anthropic", "claude-haiku-4-5").unwrap();
    assert!(
        edited.contains(
            "    fallback: [openai, google/gemini-2.5-flash, anthropic/claude-haiku-4-5]   # tried in order\n"
        ),
        "{edited}"
    );
}

#[test]
fn add_to_fallback_adds_an_item_to_a_block_list() {
    let analysis = analyse(FLOW, all_keys());
    let edited = fallback_added(&analysis, "block", "google", "gemini-2.5-pro").unwrap();
    assert!(
        edited.contains("    fallback:\n      - openai\n      - google/gemini-2.5-pro\n    prompt: B\n"),
        "{edited}"
    );
}

#[test]
fn add_to_fallback_fills_an_empty_list_or_starts_one() {
    let analysis = analyse(FLOW, all_keys());
    let edited = fallback_added(&analysis, "empty", "openai", "gpt-4o").unwrap();
    assert!(
        edited.contains("    fallback: [openai/gpt-4o]\n    prompt: C\n"),
        "{edited}"
    );
    let edited = fallback_added(&analysis, "none", "openai", "gpt-4o").unwrap();
    assert!(
        edited.contains("  - id: none\n    fallback: [openai/gpt-4o]\n    prompt: D\n"),
        "{edited}"
    );
}

#[test]
fn a_target_already_in_the_fallback_list_is_not_added_again() {
    let analysis = analyse(FLOW, all_keys());
    assert_eq!(fallback_added(&analysis, "flow", "google", "gemini-2.5-flash"), None);
    assert_eq!(
        fallback_added(&analysis, "flow", "openai", "gpt-4o"),
        None,
        "`openai` alone is its default model"
    );
    assert!(fallback_added(&analysis, "flow", "openai", "gpt-4o-mini").is_some());
}

#[test]
fn use_for_this_step_replaces_the_model_and_inserts_what_is_missing() {
    let analysis = analyse(FLOW, all_keys());
    let step = analysis.workflow.step("block").unwrap();
    let edited = apply(
        FLOW,
        &use_target_edits(&analysis, step, "openai", "gpt-4o", Some("analyst")),
    );
    assert!(
        edited.contains(
            "  - id: block\n    provider: openai\n    persona: analyst\n    model: gpt-4o   # fast\n    fallback:\n      - openai\n    prompt: B\n"
        ),
        "{edited}"
    );
}

#[test]
fn candidates_are_the_available_models_with_the_steps_own_first() {
    let analysis = analyse(FLOW, all_keys());
    let found = candidates(&analysis, "block").unwrap();
    assert_eq!(
        found.current,
        Some(("anthropic".to_string(), "claude-haiku-4-5".to_string()))
    );
    assert!(found.targets[0].current && found.targets[0].model == "claude-haiku-4-5");
    assert!(
        found
            .targets
            .iter()
            .any(|t| t.provider == "openai" && t.model == "gpt-4o")
    );
    assert_eq!(found.personas, ["analyst"]);
    assert!(candidates(&analysis, "nope").is_none());
}
