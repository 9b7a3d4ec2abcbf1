//! Completion (SPEC §5): keys, provider, model and persona IDs, step and input names, all
//! found from the cursor's context, so it works while the document does not parse.

use super::Analysis;
use super::context::{CursorContext, Slot, TemplateScope, cursor_context, effective_at, step_id};
use crate::model::catalog::ProviderInfo;
use crate::model::schema::{self, Level};
use crate::model::workflow::PersonaOrigin;
use crate::syntax::text::Span;

/// What a completion item stands for; the server maps it to the editor's icon kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    /// A mapping key.
    Key,
    /// A provider ID.
    Provider,
    /// A model ID.
    Model,
    /// A persona ID (or `null`).
    Persona,
    /// A step ID.
    Step,
    /// An input name.
    Input,
    /// A template variable (`inputs`, `steps`, `item`, `index`).
    Variable,
}

/// One completion, with the range it replaces.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionItem {
    /// What the list shows.
    pub label: String,
    /// What it is.
    pub kind: CompletionKind,
    /// A one-line detail (status, name, source).
    pub detail: String,
    /// Longer documentation in Markdown.
    pub documentation: String,
    /// The text inserted in place of `replace`.
    pub insert: String,
    /// The partly typed word the completion replaces.
    pub replace: Span,
    /// Sort key, so that the order shown is the order given.
    pub sort: String,
}

/// Completions at byte `offset`.
pub fn completions(analysis: &Analysis, offset: usize) -> Vec<CompletionItem> {
    let Some(ctx) = cursor_context(analysis.text(), offset) else {
        return Vec::new();
    };
    let mut items = match &ctx.slot {
        Slot::Key { siblings } => keys(&ctx, siblings),
        Slot::Value { key, in_list } => values(analysis, &ctx, key, *in_list, offset),
        Slot::Template(scope) => template(analysis, &ctx, *scope, offset),
    };
    for (i, item) in items.iter_mut().enumerate() {
        item.replace = ctx.word;
        item.sort = format!("{i:04}");
    }
    items
}

fn item(
    label: impl Into<String>,
    kind: CompletionKind,
    detail: impl Into<String>,
    documentation: impl Into<String>,
) -> CompletionItem {
    let label = label.into();
    CompletionItem {
        insert: label.clone(),
        label,
        kind,
        detail: detail.into(),
        documentation: documentation.into(),
        replace: Span::default(),
        sort: String::new(),
    }
}

fn keys(ctx: &CursorContext, siblings: &[String]) -> Vec<CompletionItem> {
    let Some(level) = ctx.level() else {
        return Vec::new();
    };
    let what = match level {
        Level::Workflow => "workflow key",
        Level::Step => "step key",
        Level::Params => "generation parameter",
        Level::Input => "input key",
        Level::Persona => "persona key",
        Level::Config => "stepwise.toml key",
        Level::Provider => "provider key",
    };
    let mut required: Vec<CompletionItem> = Vec::new();
    let mut optional: Vec<CompletionItem> = Vec::new();
    for key in schema::keys(level) {
        if siblings.contains(&key.name) {
            continue;
        }
        let detail = if key.required {
            format!("{what} (required)")
        } else {
            what.to_string()
        };
        let mut it = item(&key.name, CompletionKind::Key, detail, key.description.clone());
        it.insert = format!("{}: ", key.name);
        if key.required {
            required.push(it);
        } else {
            optional.push(it);
        }
    }
    required.extend(optional);
    required
}

fn values(analysis: &Analysis, ctx: &CursorContext, key: &str, in_list: bool, offset: usize) -> Vec<CompletionItem> {
    let level = ctx.level();
    match (level, key) {
        (Some(Level::Workflow | Level::Step), "provider") => providers(analysis),
        (Some(Level::Workflow | Level::Step), "model") => models(analysis, ctx, offset),
        (Some(level @ (Level::Workflow | Level::Step)), "persona") => personas(analysis, level == Level::Step),
        (Some(Level::Step), "needs") if in_list || ctx.word.is_empty() => {
            as_list(step_ids(analysis, ctx, offset), in_list)
        }
        (Some(Level::Step), "fallback") if in_list || ctx.word.is_empty() => as_list(fallbacks(analysis), in_list),
        _ => Vec::new(),
    }
}

/// After `needs: ` or `fallback: ` with no list yet, each item starts a one-item flow list.
fn as_list(mut items: Vec<CompletionItem>, in_list: bool) -> Vec<CompletionItem> {
    if !in_list {
        for item in &mut items {
            item.insert = format!("[{}]", item.insert);
        }
    }
    items
}

/// Available and healthy providers first, then degraded, then those without a key.
fn provider_rank(p: &ProviderInfo) -> u8 {
    match (p.is_available(), p.degraded.is_some()) {
        (true, false) => 0,
        (true, true) => 1,
        (false, _) => 2,
    }
}

fn providers(analysis: &Analysis) -> Vec<CompletionItem> {
    let mut list: Vec<&ProviderInfo> = analysis.workspace.catalog.providers().iter().collect();
    list.sort_by_key(|p| provider_rank(p));
    list.into_iter()
        .map(|p| {
            let mut doc = format!(
                "**{}** · {}\n\nDefault model: `{}`",
                p.id,
                p.status_label(),
                p.default_model
            );
            if !p.api_key_env.is_empty() {
                doc.push_str(&format!("\n\nKey variable: `{}`", p.api_key_env.join("` or `")));
            }
            item(&p.id, CompletionKind::Provider, p.status_label(), doc)
        })
        .collect()
}

fn models(analysis: &Analysis, ctx: &CursorContext, offset: usize) -> Vec<CompletionItem> {
    let catalog = &analysis.workspace.catalog;
    let provider_id = if ctx.level() == Some(Level::Step) {
        effective_at(analysis, ctx, offset).provider.map(|p| p.value)
    } else {
        analysis
            .workflow
            .provider
            .as_ref()
            .map(|p| p.value.clone())
            .or_else(|| analysis.workspace.config.config.default_provider.clone())
    };
    let Some(provider) = provider_id.and_then(|id| catalog.provider(&id)) else {
        return Vec::new();
    };
    provider
        .models
        .iter()
        .map(|m| {
            let default = if m.id == provider.default_model {
                " (default)"
            } else {
                ""
            };
            item(
                &m.id,
                CompletionKind::Model,
                format!("{} model{default}", provider.id),
                m.description.clone(),
            )
        })
        .collect()
}

fn personas(analysis: &Analysis, allow_null: bool) -> Vec<CompletionItem> {
    let wf = &analysis.workflow;
    let mut items: Vec<CompletionItem> = Vec::new();
    let inline = wf.personas.iter();
    let library = analysis
        .workspace
        .library
        .personas
        .values()
        .map(|lp| &lp.persona)
        .filter(|p| wf.inline_persona(&p.id.value).is_none());
    for p in inline.chain(library) {
        let name = p.name.as_ref().map_or("", |n| n.value.as_str());
        let where_ = match &p.origin {
            PersonaOrigin::Inline => "inline persona".to_string(),
            PersonaOrigin::File(path) => format!(
                "library persona ({})",
                path.file_name().unwrap_or_default().to_string_lossy()
            ),
        };
        let mut doc = format!("**{name}** · {where_}");
        if let Some(d) = &p.description {
            doc.push_str(&format!("\n\n{}", d.value));
        }
        let detail = if name.is_empty() { where_ } else { name.to_string() };
        items.push(item(&p.id.value, CompletionKind::Persona, detail, doc));
    }
    if allow_null {
        items.push(item(
            "null",
            CompletionKind::Persona,
            "no persona",
            "Run this step without a persona, whatever the workflow's default.",
        ));
    }
    items
}

/// The ID of the step the cursor is in, read from the model or, failing that, the text.
fn current_step_id(analysis: &Analysis, ctx: &CursorContext, offset: usize) -> Option<String> {
    let wf = &analysis.workflow;
    wf.step_at(offset)
        .and_then(|i| wf.steps[i].id.as_ref())
        .map(|id| id.value.clone())
        .or_else(|| step_id(analysis.text(), ctx.step_start?))
}

fn step_ids(analysis: &Analysis, ctx: &CursorContext, offset: usize) -> Vec<CompletionItem> {
    let own = current_step_id(analysis, ctx, offset);
    analysis
        .workflow
        .steps
        .iter()
        .filter_map(|s| s.id.as_ref().map(|id| (s, id)))
        .filter(|(_, id)| Some(&id.value) != own.as_ref())
        .map(|(s, id)| {
            let doc = s
                .prompt
                .as_ref()
                .and_then(|p| p.source.lines().find(|l| !l.trim().is_empty()))
                .map(|l| format!("Prompt: {}", l.trim()))
                .unwrap_or_default();
            item(&id.value, CompletionKind::Step, "step", doc)
        })
        .collect()
}

fn fallbacks(analysis: &Analysis) -> Vec<CompletionItem> {
    let mut out = Vec::new();
    for p in analysis.workspace.catalog.providers() {
        if !p.is_available() {
            continue;
        }
        for m in &p.models {
            let label = format!("{}/{}", p.id, m.id);
            out.push(item(
                label,
                CompletionKind::Provider,
                p.status_label(),
                m.description.clone(),
            ));
        }
    }
    out
}

fn template(analysis: &Analysis, ctx: &CursorContext, scope: TemplateScope, offset: usize) -> Vec<CompletionItem> {
    let wf = &analysis.workflow;
    match scope {
        TemplateScope::Root => {
            let mut items = vec![
                item(
                    "inputs",
                    CompletionKind::Variable,
                    "workflow inputs",
                    "`inputs.NAME`: a named input of the workflow.",
                ),
                item(
                    "steps",
                    CompletionKind::Variable,
                    "earlier steps",
                    "`steps.ID.output` (or `.outputs` for a fan-out step): another step's result; a dependency.",
                ),
            ];
            let fans_out = wf.step_at(offset).is_some_and(|i| wf.steps[i].for_each.is_some());
            if fans_out {
                items.push(item(
                    "item",
                    CompletionKind::Variable,
                    "fan-out item",
                    "The current item of this step's `for_each`.",
                ));
                items.push(item(
                    "index",
                    CompletionKind::Variable,
                    "fan-out index",
                    "The zero-based index of the current item.",
                ));
            }
            items
        }
        TemplateScope::Inputs => wf
            .inputs
            .iter()
            .map(|i| {
                let detail = match &i.default {
                    Some(d) => format!("input (default: {})", d.value),
                    None => "input (required)".to_string(),
                };
                let doc = i.description.as_ref().map(|d| d.value.clone()).unwrap_or_default();
                item(&i.name.value, CompletionKind::Input, detail, doc)
            })
            .collect(),
        TemplateScope::Steps => step_ids(analysis, ctx, offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixture::fixture;

    /// One line per item: label, detail, and the text it replaces.
    fn complete(text: &str) -> String {
        let f = fixture(text);
        let items = completions(&f.analysis, f.offset);
        items
            .iter()
            .map(|i| {
                format!(
                    "{} | {} | replaces {:?}",
                    i.label,
                    i.detail,
                    &f.analysis.text()[i.replace.start..i.replace.end]
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    const HEAD: &str = "version: 1\nname: Brief\nprovider: anthropic\nmodel: claude-sonnet-4-5\ninputs:\n  product:\n    description: The product\n    default: Skates\n  audience: {}\npersonas:\n  analyst:\n    name: Analyst\n    description: Numbers first\n    system: Be brief.\n";

    #[test]
    fn step_keys_not_yet_present_required_first() {
        insta::assert_snapshot!(complete(&format!("{HEAD}steps:\n  - id: a\n    pro$0\n    model: x\n")));
    }

    #[test]
    fn workflow_keys_at_the_top_level() {
        insta::assert_snapshot!(complete("version: 1\nna$0\n"));
    }

    #[test]
    fn providers_available_first_unavailable_marked() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}steps:\n  - id: a\n    provider: o$0\n    prompt: Hi\n"
        )));
    }

    #[test]
    fn models_of_the_steps_overriding_provider() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}steps:\n  - id: a\n    provider: openai\n    model: $0\n    prompt: Hi\n"
        )));
    }

    #[test]
    fn models_of_the_workflow_provider_when_the_step_inherits() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}steps:\n  - id: a\n    model: cl$0\n    prompt: Hi\n"
        )));
    }

    #[test]
    fn models_while_an_unclosed_bracket_breaks_another_step() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}steps:\n  - id: a\n    needs: [b\n    prompt: Hi\n  - id: b\n    provider: openai\n    model: gpt-4o-m$0\n    prompt: Hi\n"
        )));
    }

    #[test]
    fn models_on_a_steps_first_line_while_another_step_is_broken() {
        let out = complete(&format!(
            "{HEAD}steps:\n  - id: a\n    needs: [b\n    prompt: Hi\n  - model: gpt-4.1$0\n    provider: openai\n    id: b\n"
        ));
        assert!(out.starts_with("gpt-5 | openai model"), "{out}");
    }

    #[test]
    fn personas_with_null_in_a_new_last_step_with_nothing_after() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}steps:\n  - id: a\n    prompt: \"unclosed\n  - id: b\n    persona: $0"
        )));
    }

    #[test]
    fn inline_personas_declared_after_a_broken_header_value() {
        let out = complete(
            "version: 1\nname: Brief\nprovider: anthropic\ninputs:\n  product:\n    description: [unclosed\npersonas:\n  analyst:\n    name: Analyst\n    system: Be brief.\nsteps:\n  - id: a\n    prompt: Hi\n  - id: b\n    persona: $0",
        );
        assert!(out.lines().any(|l| l.starts_with("analyst |")), "{out}");
    }

    #[test]
    fn library_personas_next_to_inline_ones() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}persona: $0\nsteps:\n  - id: a\n    prompt: Hi\n//- stepwise.toml\npersona_dirs = [\"personas\"]\n//- personas/marketer.yaml\nname: Marketer\ndescription: Bold copy\nsystem: Sell it.\n"
        )));
    }

    #[test]
    fn input_names_after_inputs_dot() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}steps:\n  - id: a\n    prompt: |\n      Tell me about {{{{ inputs.pr$0 }}}}\n"
        )));
    }

    #[test]
    fn other_step_ids_after_steps_dot() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}steps:\n  - id: a\n    prompt: Hi\n  - id: b\n    prompt: Use {{{{ steps.$0\n  - id: c\n    prompt: Bye\n"
        )));
    }

    #[test]
    fn step_ids_in_an_unclosed_needs_list() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}steps:\n  - id: a\n    prompt: Hi\n  - id: b\n    needs: [a, $0\n    prompt: Bye\n"
        )));
    }

    #[test]
    fn step_ids_in_a_block_needs_list() {
        insta::assert_snapshot!(complete(&format!(
            "{HEAD}steps:\n  - id: first\n    prompt: Hi\n  - id: b\n    needs:\n      - f$0\n    prompt: Bye\n"
        )));
    }

    #[test]
    fn needs_without_a_list_yet_inserts_one() {
        let f = fixture(&format!(
            "{HEAD}steps:\n  - id: a\n    prompt: Hi\n  - id: b\n    needs: $0\n    prompt: Bye\n"
        ));
        let items = completions(&f.analysis, f.offset);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].insert, "[a]");
    }

    #[test]
    fn provider_model_pairs_of_available_providers_in_fallback() {
        let out = complete(&format!(
            "{HEAD}steps:\n  - id: a\n    fallback: [openai/gpt-5$0]\n    prompt: Hi\n"
        ));
        assert!(!out.contains("google/"), "{out}");
        insta::assert_snapshot!(out);
    }

    #[test]
    fn nothing_inside_a_plain_prompt() {
        assert_eq!(
            complete(&format!("{HEAD}steps:\n  - id: a\n    prompt: |\n      Hello wor$0\n")),
            ""
        );
    }
}
