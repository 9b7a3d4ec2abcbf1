//! Hover (SPEC §5): persona, provider, model and step, explained in Markdown. Never shows a
//! key's value, only the name of the variable that holds it.

use super::Analysis;
use super::cost_text::estimate_text;
use super::estimate::step_estimate;
use super::navigation::{Target, occurrence_at};
use crate::model::resolve::{EffectiveParams, Overrides, resolve_step};
use crate::model::runs::RunView;
use crate::model::workflow::PersonaOrigin;
use crate::model::workspace::PersonaRef;
use crate::syntax::text::Span;

/// A hover's Markdown and the span it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct HoverInfo {
    /// The content, in Markdown.
    pub markdown: String,
    /// The hovered name.
    pub span: Span,
}

/// The hover at byte `offset`, if the cursor is on a name stepwise knows.
pub fn hover(analysis: &Analysis, runs: &RunView, offset: usize) -> Option<HoverInfo> {
    let at = occurrence_at(analysis, offset)?;
    let markdown = match &at.target {
        Target::Persona(id) => persona(analysis, id),
        Target::Provider(id) => provider(analysis, id),
        Target::Model { model, step, provider } => model_hover(analysis, model, *step, provider.as_deref()),
        Target::Step(id) => step(analysis, runs, id),
        Target::Input(name) => input(analysis, name),
    }?;
    Some(HoverInfo {
        markdown,
        span: at.span,
    })
}

fn persona(analysis: &Analysis, id: &str) -> Option<String> {
    let found = analysis.workspace.persona(&analysis.workflow, id);
    let Some(found) = found else {
        return Some(format!(
            "**persona `{id}`**\n\nNot defined inline or in the persona library."
        ));
    };
    let p = found.persona();
    let mut out = format!(
        "**{}** · persona `{id}`",
        p.name.as_ref().map_or(id, |n| n.value.as_str())
    );
    if let Some(d) = &p.description {
        out.push_str(&format!("\n\n{}", d.value));
    }
    if let Some(system) = &p.system {
        out.push_str(&format!(
            "\n\nSystem prompt:\n```text\n{}\n```",
            system.value.trim_end()
        ));
    }
    let where_ = match (found, &p.origin) {
        (PersonaRef::Library(lp), _) => format!("Defined in `{}`", lp.path.display()),
        (_, PersonaOrigin::File(path)) => format!("Defined in `{}`", path.display()),
        (PersonaRef::Inline(_), PersonaOrigin::Inline) => {
            let shadows = analysis.workspace.library.get(id).is_some();
            if shadows {
                "Defined inline under `personas:` (shadows the library persona of the same ID)".to_string()
            } else {
                "Defined inline under `personas:`".to_string()
            }
        }
    };
    out.push_str(&format!("\n\n{where_}"));
    Some(out)
}

fn provider(analysis: &Analysis, id: &str) -> Option<String> {
    let Some(p) = analysis.workspace.catalog.provider(id) else {
        return Some(format!(
            "**provider `{id}`**\n\nNot a built-in provider and not declared in stepwise.toml."
        ));
    };
    let mut out = format!("**provider `{}`** · {}", p.id, p.status_label());
    if p.api_key_env.is_empty() {
        out.push_str("\n\nNo API key needed.");
    } else {
        out.push_str(&format!(
            "\n\nKey from the environment: `{}`",
            p.api_key_env.join("` or `")
        ));
    }
    out.push_str(&format!(
        "\n\nEndpoint: `{}`\n\nDefault model: `{}` · {} known models{}",
        p.base_url,
        p.default_model,
        p.models.len(),
        if p.from_config {
            " · declared in stepwise.toml"
        } else {
            ""
        }
    ));
    Some(out)
}

fn model_hover(
    analysis: &Analysis,
    model: &str,
    step: Option<usize>,
    written_provider: Option<&str>,
) -> Option<String> {
    let wf = &analysis.workflow;
    let ws = &analysis.workspace;
    let provider_id = match (written_provider, step) {
        (Some(p), _) => Some(p.to_string()),
        (None, Some(i)) => resolve_step(wf, wf.steps.get(i)?, ws, &Overrides::default())
            .provider
            .map(|p| p.value),
        (None, None) => wf
            .provider
            .as_ref()
            .map(|p| p.value.clone())
            .or_else(|| ws.config.config.default_provider.clone()),
    };
    let Some(provider) = provider_id.as_deref().and_then(|id| ws.catalog.provider(id)) else {
        return Some(format!("**model `{model}`**\n\nIts provider is unknown."));
    };
    let mut out = format!("**{}/{model}**", provider.id);
    match provider.models.iter().find(|m| m.id == model) {
        Some(m) => out.push_str(&format!("\n\n{}", m.description)),
        None => out.push_str(&format!(
            "\n\nNot in {}'s catalog (catalogs lag: it may still exist).",
            provider.id
        )),
    }
    if provider.default_model == model {
        out.push_str(&format!("\n\nThe default model of `{}`.", provider.id));
    }
    Some(out)
}

fn step(analysis: &Analysis, runs: &RunView, id: &str) -> Option<String> {
    let wf = &analysis.workflow;
    let Some(step) = wf.step(id) else {
        return Some(format!("**step `{id}`**\n\nNo step has this ID."));
    };
    let e = resolve_step(wf, step, &analysis.workspace, &Overrides::default());
    let mut out = format!("**step `{id}`**\n\n{}", super::hints::label(&e));
    out.push_str(&params_section(&e.params));
    let deps: Vec<String> = step
        .dependencies()
        .into_iter()
        .map(|d| format!("`{}`", d.value))
        .collect();
    if !deps.is_empty() {
        out.push_str(&format!("\n\nDepends on {}", deps.join(", ")));
    }
    if let Some(f) = &step.for_each {
        out.push_str(&format!("\n\nFans out over `{}`", f.source.trim()));
    }
    if !step.fallback.is_empty() {
        let targets: Vec<String> = step
            .fallback
            .iter()
            .map(|f| match &f.model {
                Some(m) => format!("`{}/{}`", f.provider.value, m.value),
                None => format!("`{}`", f.provider.value),
            })
            .collect();
        out.push_str(&format!("\n\nFalls back to {}", targets.join(", ")));
    }
    match runs.step(id) {
        Some(run) => out.push_str(&super::run_text::hover(run)),
        None => {
            if let Some(found) = step_estimate(analysis, step) {
                let text = estimate_text(&found.who, &found.estimate, &found.priced, found.per_item);
                out.push_str(&format!("\n\n{text}"));
            }
        }
    }
    Some(out)
}

/// The merged params, each with its source and the values it replaced.
fn params_section(params: &EffectiveParams) -> String {
    let rows = params.rows();
    if rows.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let replaced: Vec<String> = params
                .shadowed
                .iter()
                .filter(|s| s.name == row.name)
                .map(|s| format!("{} from {}", s.value, s.source))
                .collect();
            let replaced = if replaced.is_empty() {
                String::new()
            } else {
                format!("; replaces {}", replaced.join(", "))
            };
            format!("- `{}`: {} ({}{replaced})", row.name, row.value, row.source)
        })
        .collect();
    format!("\n\nParams:\n{}", lines.join("\n"))
}

fn input(analysis: &Analysis, name: &str) -> Option<String> {
    let Some(input) = analysis.workflow.input(name) else {
        return Some(format!("**input `{name}`**\n\nNo input has this name."));
    };
    let mut out = format!("**input `{name}`**");
    if let Some(d) = &input.description {
        out.push_str(&format!("\n\n{}", d.value));
    }
    match &input.default {
        Some(d) => out.push_str(&format!("\n\nDefault: `{}`", d.value)),
        None => out.push_str("\n\nRequired at run time (no default)."),
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixture::fixture;

    fn hover_text(text: &str) -> String {
        let f = fixture(text);
        let info = hover(&f.analysis, &RunView::default(), f.offset).expect("a hover");
        let text = f.analysis.text();
        format!(
            "on {:?}\n\n{}",
            &text[info.span.start..info.span.end],
            info.markdown.replace(&f.dir.path().display().to_string(), "$DIR")
        )
    }

    const HEAD: &str = "version: 1\nname: Brief\nprovider: anthropic\ninputs:\n  product:\n    description: What we sell\npersonas:\n  analyst:\n    name: Analyst\n    description: Numbers first\n    system: |\n      You are an analyst.\n      Be brief.\n";

    #[test]
    fn inline_persona_shows_name_description_prompt_and_place() {
        insta::assert_snapshot!(hover_text(&format!(
            "{HEAD}steps:\n  - id: a\n    persona: anal$0yst\n    prompt: Hi\n"
        )));
    }

    #[test]
    fn library_persona_names_its_file() {
        insta::assert_snapshot!(hover_text(
            "version: 1\nname: B\npersona: mark$0eter\nsteps:\n  - id: a\n    prompt: Hi\n//- stepwise.toml\npersona_dirs = [\"personas\"]\n//- personas/marketer.yaml\nname: Marketer\nsystem: Sell it.\n"
        ));
    }

    #[test]
    fn provider_shows_availability_and_key_variable() {
        insta::assert_snapshot!(hover_text(&format!(
            "{HEAD}steps:\n  - id: a\n    provider: goo$0gle\n    prompt: Hi\n"
        )));
    }

    #[test]
    fn model_shows_its_catalog_description() {
        insta::assert_snapshot!(hover_text(&format!(
            "{HEAD}steps:\n  - id: a\n    provider: openai\n    model: gpt-4o$0\n    prompt: Hi\n"
        )));
    }

    #[test]
    fn step_reference_shows_effective_settings_and_dependencies() {
        insta::assert_snapshot!(hover_text(&format!(
            "{HEAD}steps:\n  - id: a\n    prompt: Hi {{{{ inputs.product }}}}\n  - id: b\n    fallback: [openai/gpt-4o]\n    prompt: Use {{{{ steps.a$0.output }}}}\n"
        )));
    }

    #[test]
    fn input_reference_shows_description() {
        insta::assert_snapshot!(hover_text(&format!(
            "{HEAD}steps:\n  - id: a\n    prompt: Hi {{{{ inputs.prod$0uct }}}}\n"
        )));
    }

    #[test]
    fn step_shows_merged_params_with_their_sources_and_what_they_replace() {
        insta::assert_snapshot!(hover_text(
            "version: 1\nname: B\nprovider: anthropic\npersona: careful\nparams:\n  temperature: 0.2\npersonas:\n  careful:\n    name: Careful\n    system: Be careful.\n    params:\n      temperature: 0.1\n      top_p: 0.9\nsteps:\n  - id: a$0\n    params: { max_tokens: 300 }\n    prompt: Hi\n"
        ));
    }
}
