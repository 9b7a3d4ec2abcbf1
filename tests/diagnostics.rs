//! Diagnostics, one behaviour per test: fixtures whose `# ^^^ code` lines mark what must be
//! reported, plus a snapshot of the messages.

mod fixture;

use fixture::{all_keys, check, workspace};
use insta::assert_snapshot;

#[test]
fn a_valid_workflow_has_no_diagnostics() {
    let out = check(
        r#"
version: 1
name: Brief
provider: anthropic
model: claude-sonnet-4-5
persona: analyst
inputs:
  product:
    default: skates
personas:
  analyst:
    name: Analyst
    system: Be brief.
steps:
  - id: summarize
    prompt: Summarize {{ inputs.product }}
  - id: ideas
    provider: openai
    persona: null
    for_each: steps.summarize.output | lines
    prompt: "Ideas for {{ item }} ({{ index }})"
"#,
        all_keys(),
    );
    assert_eq!(out, "");
}

#[test]
fn yaml_syntax_error_is_reported_at_its_place_with_later_errors_too() {
    assert_snapshot!(check(
        r#"
version: 1
name: Broken
provider: anthropic
steps:
  - id: a
    provder: openai
#   ^^^^^^^ unknown-key
    prompt: "unclosed
#           ^ yaml-syntax
  - id: b
#   ^^ missing-field
"#,
        all_keys(),
    ));
}

#[test]
fn unknown_keys_suggest_the_nearest_key() {
    assert_snapshot!(check(
        r#"
version: 1
name: Keys
provider: anthropic
steps:
  - id: a
    promt: hi
#   ^^^^^ unknown-key
    prompt: hi
    params:
      temprature: 0.2
#     ^^^^^^^^^^ unknown-key
"#,
        all_keys(),
    ));
}

#[test]
fn wrong_types_name_what_was_expected() {
    assert_snapshot!(check(
        r#"
version: 1
name: Types
provider: anthropic
steps:
  - id: a
    prompt: hi
    needs: a-string
#          ^^^^^^^^ wrong-type
    concurrency: many
#                ^^^^ wrong-type
    params:
      max_tokens: [1]
#                 ^^^ wrong-type
"#,
        all_keys(),
    ));
}

#[test]
fn missing_required_keys_are_reported_on_their_mapping() {
    assert_snapshot!(check(
        r#"
version: 1
name: Missing
provider: anthropic
steps:
  - id: a
#   ^^ missing-field
  - prompt: no id
#   ^^^^^^ missing-field
"#,
        all_keys(),
    ));
}

#[test]
fn missing_name_and_version_are_reported() {
    let (text, _) = fixture::parse_annotations("provider: anthropic\nsteps:\n  - id: a\n    prompt: hi\n");
    let out = fixture::render(&fixture::analyse(&text, all_keys()));
    assert_snapshot!(out);
}

#[test]
fn invalid_step_ids_and_versions_are_reported() {
    assert_snapshot!(check(
        r#"
version: 1
name: Values
provider: anthropic
steps:
  - id: Bad_ID
#       ^^^^^^ invalid-value
    prompt: hi
"#,
        all_keys(),
    ));
}

#[test]
fn unknown_provider_suggests_a_known_one() {
    assert_snapshot!(check(
        r#"
version: 1
name: P
provider: antropic
#         ^^^^^^^^ unknown-provider
steps:
  - id: a
    prompt: hi
"#,
        all_keys(),
    ));
}

#[test]
fn unknown_model_is_a_warning_checked_against_the_effective_provider() {
    assert_snapshot!(check(
        r#"
version: 1
name: M
provider: anthropic
model: claude-sonnet-4-5
steps:
  - id: a
    provider: openai
    model: gpt-4-turbo-preview-x
#          ^^^^^^^^^^^^^^^^^^^^^ unknown-model
    prompt: hi
  - id: b
    model: gpt-4o
#          ^^^^^^ unknown-model
    prompt: hi
"#,
        all_keys(),
    ));
}

#[test]
fn unknown_persona_suggests_inline_and_library_ids() {
    let ws = workspace(
        &["ANTHROPIC_API_KEY"],
        "",
        &[("creative-marketer", "name: Creative\nsystem: Be bold.\n")],
    );
    assert_snapshot!(check(
        r#"
version: 1
name: Personas
provider: anthropic
steps:
  - id: a
    persona: creative-marketr
#            ^^^^^^^^^^^^^^^^ unknown-persona
    prompt: hi
  - id: b
    persona: creative-marketer
    prompt: hi
"#,
        ws,
    ));
}

#[test]
fn a_broken_library_persona_is_reported_where_it_is_used() {
    let ws = workspace(&["ANTHROPIC_API_KEY"], "", &[("editor", "name: Editor\n")]);
    assert_snapshot!(check(
        r#"
version: 1
name: Personas
provider: anthropic
persona: editor
#        ^^^^^^ invalid-config
steps:
  - id: a
    prompt: hi
"#,
        ws,
    ));
}

#[test]
fn duplicate_step_ids_point_at_the_first() {
    assert_snapshot!(check(
        r#"
version: 1
name: Dup
provider: anthropic
steps:
  - id: a
    prompt: hi
  - id: a
#       ^ duplicate-step-id
    prompt: again
"#,
        all_keys(),
    ));
}

#[test]
fn unknown_references_in_templates_and_needs_are_exact() {
    assert_snapshot!(check(
        r#"
version: 1
name: Refs
provider: anthropic
inputs:
  product: {}
steps:
  - id: summarize
    prompt: "About {{ inputs.prodct }} 😀 and {{ steps.sumarize.output }}"
#                            ^^^^^^ unknown-reference
#                                                     ^^^^^^^^ unknown-reference
  - id: b
    needs: [summarize, nope]
#                      ^^^^ unknown-reference
    prompt: |
      Use {{ item }} here
#            ^^^^ unknown-reference
"#,
        all_keys(),
    ));
}

#[test]
fn dependency_cycles_name_the_loop() {
    assert_snapshot!(check(
        r#"
version: 1
name: Cycle
provider: anthropic
steps:
  - id: a
    prompt: "{{ steps.c.output }}"
#                     ^ dependency-cycle
  - id: b
    needs: [a]
    prompt: hi
  - id: c
    needs: [b]
    prompt: hi
"#,
        all_keys(),
    ));
}

#[test]
fn a_cycle_is_reported_once_on_the_reference_to_a_later_step_that_closes_it() {
    assert_snapshot!(check(
        r#"
version: 1
name: Review
provider: anthropic
steps:
  - id: draft
    needs: [comment]
#           ^^^^^^^ dependency-cycle
    prompt: hi
  - id: review
    prompt: "{{ steps.draft.output }}"
  - id: comment
    prompt: "{{ steps.review.output }}"
  - id: summary
    needs: [comment, draft]
    prompt: hi
  - id: left
    needs: [right]
#           ^^^^^ dependency-cycle
    prompt: hi
  - id: right
    needs: [left]
    prompt: hi
"#,
        all_keys(),
    ));
}

#[test]
fn a_step_with_no_provider_anywhere_is_an_error() {
    assert_snapshot!(check(
        r#"
version: 1
name: None
steps:
  - id: a
#       ^ no-provider
    prompt: hi
"#,
        all_keys(),
    ));
}

#[test]
fn unavailable_provider_is_a_warning_once_per_document() {
    let ws = workspace(&["OPENAI_API_KEY"], "", &[]);
    assert_snapshot!(check(
        r#"
version: 1
name: Keys
provider: anthropic
#         ^^^^^^^^^ provider-unavailable
steps:
  - id: a
    prompt: hi
  - id: b
    provider: anthropic
    prompt: hi
"#,
        ws,
    ));
}

#[test]
fn each_unavailable_provider_is_a_warning_at_its_first_mention_in_the_document() {
    let ws = workspace(&["OPENAI_API_KEY"], "", &[]);
    assert_snapshot!(check(
        r#"
version: 1
name: Keys
provider: openai
steps:
  - id: a
    prompt: hi
  - id: b
    fallback: [google, anthropic]
#              ^^^^^^ provider-unavailable
#                      ^^^^^^^^^ provider-unavailable
    provider: google
    prompt: hi
  - id: c
    provider: anthropic
    fallback: [google]
    prompt: hi
"#,
        ws,
    ));
}

#[test]
fn pasted_api_keys_are_flagged_without_echoing_them() {
    let out = check(
        r#"
version: 1
name: Secret
provider: anthropic
steps:
  - id: a
    prompt: "use key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv0123456789"
#                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ secret-in-document
"#,
        all_keys(),
    );
    let message = out.split("`: ").nth(1).unwrap();
    assert!(!message.contains("AbCdEf"), "{out}");
    assert_snapshot!(out);
}

#[test]
fn template_syntax_errors_point_into_the_prompt() {
    assert_snapshot!(check(
        r#"
version: 1
name: T
provider: anthropic
steps:
  - id: a
    prompt: |
      Hello
      {% if x %} unterminated
#               ^^^^^^^^^^^^^ template-syntax
"#,
        all_keys(),
    ));
}

#[test]
fn config_default_provider_applies_when_the_workflow_names_none() {
    let ws = workspace(&["GEMINI_API_KEY"], "default_provider = \"google\"\n", &[]);
    let out = check(
        r#"
version: 1
name: Config
steps:
  - id: a
    model: gemini-2.5-pro
    prompt: hi
"#,
        ws,
    );
    assert_eq!(out, "");
}

#[test]
fn many_mistakes_are_reported_in_one_pass() {
    assert_snapshot!(check(
        r#"
version: 1
name: Many
provider: anthropic
persona: ghost
#        ^^^^^ unknown-persona
steps:
  - id: a
    provider: opnai
#             ^^^^^ unknown-provider
    prompt: "{{ steps.zz.output }}"
#                     ^^ unknown-reference
  - id: a
#       ^ duplicate-step-id
    prompt: hi
    colour: red
#   ^^^^^^ unknown-key
"#,
        all_keys(),
    ));
}

#[test]
fn dashed_step_ids_in_templates_get_the_bracket_fix() {
    assert_snapshot!(check(
        r#"
version: 1
name: Dashes
provider: anthropic
steps:
  - id: first-draft
    prompt: hi
  - id: edit
    prompt: 'Edit {{ steps.first-draft.output }} and {{ steps["first-draft"].output }}'
#                    ^^^^^^^^^^^^^^^^^^^^^^^^ unknown-reference
"#,
        all_keys(),
    ));
}

#[test]
fn an_alias_of_an_anchor_set_in_another_step_is_not_a_syntax_error() {
    let out = check(
        r#"
version: 1
name: Brief
provider: anthropic
steps:
  - id: a
    params: &warm { temperature: 0.9 }
    prompt: Hi
  - id: b
    params: *warm
#           ^^^^^ wrong-type
    prompt: Hi
"#,
        all_keys(),
    );
    assert!(!out.contains("unknown anchor"), "{out}");
}

#[test]
fn unknown_filters_tests_and_functions_suggest_the_nearest_name() {
    assert_snapshot!(check(
        r#"
version: 1
name: T
provider: anthropic
steps:
  - id: a
    prompt: Hello
  - id: b
    for_each: steps.a.output | line
#                              ^^^^ unknown-filter
    prompt: |
      {{ item | uper }} {% if item is not defind %}{{ rnage(2) }}{% endif %}
#               ^^^^ unknown-filter
#                                         ^^^^^^ unknown-filter
#                                                     ^^^^^ unknown-filter
"#,
        all_keys(),
    ));
}

#[test]
fn a_tab_in_the_indentation_is_named_at_the_tab_and_nothing_else_is_reported_on_that_step() {
    assert_snapshot!(check(
        "
version: 1
name: T
provider: anthropic
steps:
  - id: b
    prompt: Hi
  - id: a
  \tpersona: x
# ^ yaml-syntax
    prompt: Hi
",
        all_keys(),
    ));
}

#[test]
fn a_step_that_does_not_parse_reports_the_yaml_error_not_what_follows_from_it() {
    assert_snapshot!(check(
        r#"
version: 1
name: T
provider: anthropic
steps:
  - id: tests
     provider: openai
#            ^ yaml-syntax
    prompt: Hi
  - id: b
    prompt: Hi
"#,
        all_keys(),
    ));
}

#[test]
fn a_key_given_twice_at_the_top_reads_as_english() {
    let text = "version: 1\nname: T\nprovider: anthropic\nprovider: openai\nsteps:\n  - id: s\n    prompt: Hi\n";
    let messages: Vec<String> = fixture::analyse(text, all_keys())
        .diagnostics()
        .into_iter()
        .filter(|d| d.code.as_str() == "duplicate-key")
        .map(|d| d.message)
        .collect();
    assert_eq!(
        messages,
        ["`provider` is given twice in this workflow; the later one would be ignored"]
    );
}
