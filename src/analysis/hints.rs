//! Inlay hints (SPEC §5): what each step really runs on and why, at the end of its `id` line.

use rustc_hash::FxHashMap;

use super::Analysis;
use crate::model::resolve::{Effective, Overrides, Source, resolve_step};
use crate::model::runs::RunView;
use crate::model::workflow::Step;

/// One step's hint: where it goes, what it says, and the step it explains.
#[derive(Debug, Clone, PartialEq)]
pub struct StepHint {
    /// Byte offset where the hint is shown (the end of the step's `id` line).
    pub offset: usize,
    /// The hint text, e.g. `openai/gpt-4o (step) · creative-marketer (step)`.
    pub label: String,
    /// Index of the step in the workflow, to compute the tooltip on demand.
    pub step: usize,
}

/// Hints for the steps whose `id` lies in byte range `from..to`.
pub fn step_hints(analysis: &Analysis, runs: &RunView, from: usize, to: usize) -> Vec<StepHint> {
    let wf = &analysis.workflow;
    let ws = &analysis.workspace;
    let index = &analysis.line_index;
    // Steps are in document order and do not overlap: skip to the range, stop after it, so
    // that one screen costs the same in any size of document.
    let first = wf.steps.partition_point(|s| s.span.end < from);
    let mut labels = FxHashMap::default();
    wf.steps[first..]
        .iter()
        .take_while(|s| s.span.start <= to)
        .enumerate()
        .map(|(i, step)| (first + i, step))
        .filter_map(|(i, step)| {
            let id = step.id.as_ref()?;
            if id.span.end < from || id.span.start > to {
                return None;
            }
            let mut label: String = labels
                .entry(LabelKey::of(step))
                .or_insert_with(|| label(&resolve_step(wf, step, ws, &Overrides::default())))
                .clone();
            if runs.is_running(&id.value) {
                label.push_str(" · running…");
            } else if let Some(run) = runs.step(&id.value) {
                label.push_str(" · ");
                label.push_str(&super::run_text::labels(analysis, step, run).0);
            }
            Some(StepHint {
                offset: index.line_end(index.line_of(id.span.start)),
                label,
                step: i,
            })
        })
        .collect()
}

/// What of a step its settings' label depends on: the keys [`resolve_step`] reads to find its
/// provider, model and persona (the workflow and workspace are the same for every step of one
/// request), so steps that set the same ones share one resolution and one label.
#[derive(PartialEq, Eq, Hash)]
struct LabelKey<'a> {
    provider: Option<&'a str>,
    model: Option<&'a str>,
    persona: Option<Option<&'a str>>,
}

impl<'a> LabelKey<'a> {
    fn of(step: &'a Step) -> LabelKey<'a> {
        LabelKey {
            provider: step.provider.as_ref().map(|p| p.value.as_str()),
            model: step.model.as_ref().map(|m| m.value.as_str()),
            persona: step.persona.as_ref().map(|p| p.value.as_deref()),
        }
    }
}

/// The hint text for a step's effective settings.
pub fn label(effective: &Effective) -> String {
    let provider = effective.provider.as_ref().map_or("no provider", |p| p.value.as_str());
    let model = effective.model.as_ref().map_or("?", |m| m.value.as_str());
    let sources = match (&effective.provider, &effective.model) {
        (Some(p), Some(m)) if p.source == m.source => p.source.to_string(),
        (Some(p), Some(m)) => format!("{}, model: {}", p.source, m.source),
        (Some(p), None) => p.source.to_string(),
        (None, Some(m)) => format!("model: {}", m.source),
        (None, None) => String::new(),
    };
    let mut out = if effective.provider.is_none() && effective.model.is_none() {
        "no provider".to_string()
    } else {
        format!("{provider}/{model} ({sources})")
    };
    if let Some(persona) = &effective.persona {
        let name = persona.value.as_deref().unwrap_or("no persona");
        out.push_str(&format!(" · {name} ({})", persona.source));
    }
    out
}

/// The tooltip of step `step`'s hint: each setting's source explained, in Markdown.
pub fn tooltip(analysis: &Analysis, step: usize) -> Option<String> {
    let wf = &analysis.workflow;
    let step = wf.steps.get(step)?;
    let effective = resolve_step(wf, step, &analysis.workspace, &Overrides::default());
    let mut lines = Vec::new();
    match &effective.provider {
        Some(p) => lines.push(format!("Provider `{}`: {}.", p.value, p.source.explain("provider"))),
        None => lines.push("No provider: neither the step, the workflow nor stepwise.toml names one.".to_string()),
    }
    if let Some(m) = &effective.model {
        lines.push(format!("Model `{}`: {}.", m.value, m.source.explain("model")));
    }
    match &effective.persona {
        Some(p) => match &p.value {
            Some(id) => lines.push(format!("Persona `{id}`: {}.", p.source.explain("persona"))),
            None if p.source == Source::Step => lines.push("No persona: this step sets `persona: null`.".to_string()),
            None => lines.push(format!("No persona: {}.", p.source.explain("persona"))),
        },
        None => lines.push("No persona: neither the step nor the workflow sets one.".to_string()),
    }
    Some(lines.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::analysis::fixture::{Fixture, fixture};

    /// The document with each hint inserted where the editor shows it.
    fn render(f: &Fixture) -> String {
        let text = f.analysis.text();
        let mut out = String::new();
        let mut at = 0;
        for hint in step_hints(&f.analysis, &RunView::default(), 0, text.len()) {
            out.push_str(&text[at..hint.offset]);
            out.push_str(&format!("  ⟨{}⟩", hint.label));
            at = hint.offset;
        }
        out.push_str(&text[at..]);
        out
    }

    const DOC: &str = "version: 1\nname: Brief\nprovider: anthropic\nmodel: claude-sonnet-4-5\npersona: analyst\npersonas:\n  analyst:\n    name: Analyst\n    system: Be brief.\n  marketer:\n    name: Marketer\n    system: Sell.\nsteps:\n  - id: inherits\n    prompt: Hi\n  - id: overrides\n    provider: openai\n    model: gpt-4o\n    persona: marketer\n    prompt: Hi\n  - id: no-persona\n    persona: null\n    prompt: Hi\n  - id: provider-only\n    provider: openai\n    prompt: Hi\n";

    #[test]
    fn each_step_shows_effective_settings_with_their_sources() {
        insta::assert_snapshot!(render(&fixture(DOC)));
    }

    #[test]
    fn without_any_persona_only_provider_and_model_show() {
        let f = fixture(
            "version: 1\nname: B\nsteps:\n  - id: a\n    prompt: Hi\n//- stepwise.toml\ndefault_provider = \"google\"\n",
        );
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn tooltips_explain_each_source() {
        let f = fixture(DOC);
        insta::assert_snapshot!(tooltip(&f.analysis, 3).unwrap());
    }

    const PROVIDERS: &[&str] = &["anthropic", "openai", "ollama", "nowhere"];
    const MODELS: &[&str] = &["gpt-4o", "claude-sonnet-4-5"];
    const PERSONAS: &[&str] = &["analyst", "marketer", "nobody", "null"];

    fn setting(values: &'static [&'static str]) -> impl Strategy<Value = Option<&'static str>> {
        proptest::option::of(proptest::sample::select(values))
    }

    /// `key: value` lines for the settings that are set, indented by `indent`.
    fn keys(indent: &str, settings: [(&str, Option<&str>); 3]) -> String {
        settings
            .iter()
            .filter_map(|(key, value)| value.map(|v| format!("{indent}{key}: {v}\n")))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Steps that set the same provider, model and persona share one label, and every
        /// label is still the one its own step resolves to.
        #[test]
        fn each_hint_says_what_its_own_step_resolves_to(
            workflow in (setting(PROVIDERS), setting(MODELS), setting(PERSONAS)),
            config_provider in setting(PROVIDERS),
            steps in proptest::collection::vec((setting(PROVIDERS), setting(MODELS), setting(PERSONAS)), 1..12),
        ) {
            let (provider, model, persona) = workflow;
            let mut doc = format!(
                "version: 1\nname: P\n{}personas:\n  analyst:\n    name: A\n    system: S\n  marketer:\n    name: M\n    system: S\nsteps:\n",
                keys("", [("provider", provider), ("model", model), ("persona", persona)]),
            );
            for (i, (provider, model, persona)) in steps.iter().enumerate() {
                doc.push_str(&format!("  - id: s{i}\n"));
                doc.push_str(&keys("    ", [("provider", *provider), ("model", *model), ("persona", *persona)]));
                doc.push_str("    prompt: Hi\n");
            }
            if let Some(p) = config_provider {
                doc.push_str(&format!("//- stepwise.toml\ndefault_provider = \"{p}\"\n"));
            }
            let f = fixture(&doc);
            let (wf, ws) = (&f.analysis.workflow, &f.analysis.workspace);
            let hints = step_hints(&f.analysis, &RunView::default(), 0, usize::MAX);
            prop_assert_eq!(hints.len(), steps.len());
            for hint in hints {
                let fresh = label(&resolve_step(wf, &wf.steps[hint.step], ws, &Overrides::default()));
                prop_assert_eq!(hint.label, fresh);
            }
        }
    }

    #[test]
    fn only_steps_in_the_range_get_hints() {
        let f = fixture(DOC);
        let second = DOC.find("id: overrides").unwrap();
        let hints = step_hints(&f.analysis, &RunView::default(), second, second + 5);
        assert_eq!(hints.len(), 1);
        assert_eq!(hints[0].step, 1);
    }
}
