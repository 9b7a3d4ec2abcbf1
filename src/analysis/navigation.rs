//! Navigation (SPEC §5): what name is under the cursor, where it is defined, where it is used,
//! how to rename it, and the document's outline.

use std::path::PathBuf;

use super::Analysis;
use crate::model::template::{RefKind, Template};
use crate::model::workflow::{PersonaOrigin, Workflow, is_valid_step_id};
use crate::model::workspace::PersonaRef;
use crate::syntax::text::Span;

/// A name the document can refer to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A step, by ID.
    Step(String),
    /// A persona, by ID.
    Persona(String),
    /// An input, by name.
    Input(String),
    /// A provider, by ID.
    Provider(String),
    /// A model; `step` is the index of the step naming it (`None`: the workflow's `model`).
    Model {
        /// The model ID.
        model: String,
        /// The step whose `model` or `fallback` names it.
        step: Option<usize>,
        /// The provider written next to it in a `fallback` entry.
        provider: Option<String>,
    },
}

/// One place where a target is named.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// What is named.
    pub target: Target,
    /// The name's span.
    pub span: Span,
    /// Whether this is the definition (a step's `id`, a persona or input key).
    pub definition: bool,
    /// Whether the span is exactly the name (template references in folded or escaped
    /// scalars are not, and cannot be renamed).
    pub exact: bool,
}

fn occ(target: Target, span: Span, definition: bool) -> Occurrence {
    Occurrence {
        target,
        span,
        definition,
        exact: true,
    }
}

fn template_occurrences(template: &Template, out: &mut Vec<Occurrence>) {
    for r in &template.refs {
        let target = match r.kind {
            RefKind::Step => Target::Step(r.name.clone()),
            RefKind::Input => Target::Input(r.name.clone()),
            RefKind::Item | RefKind::Index => continue,
        };
        out.push(Occurrence {
            target,
            span: r.name_span,
            definition: false,
            exact: r.exact,
        });
    }
}

/// Every named place of the workflow, in document order per kind.
pub fn occurrences(wf: &Workflow) -> Vec<Occurrence> {
    let mut out = Vec::new();
    if let Some(p) = &wf.provider {
        out.push(occ(Target::Provider(p.value.clone()), p.span, false));
    }
    if let Some(m) = &wf.model {
        let target = Target::Model {
            model: m.value.clone(),
            step: None,
            provider: None,
        };
        out.push(occ(target, m.span, false));
    }
    if let Some(p) = &wf.persona {
        out.push(occ(Target::Persona(p.value.clone()), p.span, false));
    }
    for input in &wf.inputs {
        out.push(occ(Target::Input(input.name.value.clone()), input.name.span, true));
    }
    for persona in &wf.personas {
        out.push(occ(Target::Persona(persona.id.value.clone()), persona.id.span, true));
    }
    for (i, step) in wf.steps.iter().enumerate() {
        if let Some(id) = &step.id {
            out.push(occ(Target::Step(id.value.clone()), id.span, true));
        }
        if let Some(p) = &step.provider {
            out.push(occ(Target::Provider(p.value.clone()), p.span, false));
        }
        if let Some(m) = &step.model {
            let target = Target::Model {
                model: m.value.clone(),
                step: Some(i),
                provider: None,
            };
            out.push(occ(target, m.span, false));
        }
        if let Some(p) = &step.persona
            && let Some(id) = &p.value
        {
            out.push(occ(Target::Persona(id.clone()), p.span, false));
        }
        for need in &step.needs {
            out.push(occ(Target::Step(need.value.clone()), need.span, false));
        }
        for f in &step.fallback {
            out.push(occ(Target::Provider(f.provider.value.clone()), f.provider.span, false));
            if let Some(m) = &f.model {
                let target = Target::Model {
                    model: m.value.clone(),
                    step: Some(i),
                    provider: Some(f.provider.value.clone()),
                };
                out.push(occ(target, m.span, false));
            }
        }
        for template in step.templates() {
            template_occurrences(template, &mut out);
        }
    }
    out
}

/// The named thing under the cursor (the innermost, for template references in a prompt).
pub fn occurrence_at(analysis: &Analysis, offset: usize) -> Option<Occurrence> {
    occurrences(&analysis.workflow)
        .into_iter()
        .filter(|o| o.span.touches(offset))
        .min_by_key(|o| o.span.len())
}

/// Where a definition lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Definition {
    /// In this document.
    Here(Span),
    /// In another file (a library persona), at its start.
    File(PathBuf),
}

/// Go to definition: a persona value to its inline definition or library file, a step or
/// input reference to the step or input.
pub fn definition(analysis: &Analysis, offset: usize) -> Option<Definition> {
    let at = occurrence_at(analysis, offset)?;
    let wf = &analysis.workflow;
    match &at.target {
        Target::Persona(id) => match analysis.workspace.persona(wf, id)? {
            PersonaRef::Inline(p) => Some(Definition::Here(p.id.span)),
            PersonaRef::Library(lp) => Some(Definition::File(lp.path.clone())),
        },
        Target::Step(id) => Some(Definition::Here(wf.step(id)?.id.as_ref()?.span)),
        Target::Input(name) => Some(Definition::Here(wf.input(name)?.name.span)),
        Target::Provider(_) | Target::Model { .. } => None,
    }
}

/// Every span in this document naming `target`, definitions included.
pub fn references_to(analysis: &Analysis, target: &Target) -> Vec<Span> {
    occurrences(&analysis.workflow)
        .into_iter()
        .filter(|o| o.target == *target)
        .map(|o| o.span)
        .collect()
}

/// The renamable name under the cursor: its target and exact span.
pub fn prepare_rename(analysis: &Analysis, offset: usize) -> Result<(Target, Span), String> {
    let at = occurrence_at(analysis, offset)
        .ok_or_else(|| "only step, persona and input names can be renamed".to_string())?;
    match &at.target {
        Target::Provider(_) | Target::Model { .. } => {
            return Err(
                "providers and models are not defined in this document, so they cannot be renamed here".to_string(),
            );
        }
        Target::Persona(id) => {
            if let Some(PersonaRef::Library(lp)) = analysis.workspace.persona(&analysis.workflow, id) {
                return Err(format!(
                    "persona `{id}` is defined in {}; rename that file (and the workflows that use it) instead",
                    lp.path.display()
                ));
            }
            if analysis.workflow.inline_persona(id).is_none() {
                return Err(format!("persona `{id}` is not defined anywhere"));
            }
        }
        Target::Step(id) if analysis.workflow.step(id).is_none() => {
            return Err(format!("step `{id}` is not defined in this workflow"));
        }
        Target::Input(name) if analysis.workflow.input(name).is_none() => {
            return Err(format!("input `{name}` is not defined in this workflow"));
        }
        Target::Step(_) | Target::Input(_) => {}
    }
    if !at.exact {
        return Err(
            "this reference sits in a folded or escaped string; rename from the definition after making it a `|` block"
                .to_string(),
        );
    }
    Ok((at.target, at.span))
}

/// The edits renaming the name under the cursor to `new_name`, or why it cannot be done.
pub fn rename(analysis: &Analysis, offset: usize, new_name: &str) -> Result<Vec<(Span, String)>, String> {
    let (target, _) = prepare_rename(analysis, offset)?;
    let valid = match &target {
        Target::Step(_) => is_valid_step_id(new_name),
        _ => {
            !new_name.is_empty()
                && new_name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
    };
    if !valid {
        return Err(format!(
            "`{new_name}` is not a valid name here: use a lowercase letter first, then a-z, 0-9, `_` or `-`"
        ));
    }
    let clash = match &target {
        Target::Step(_) => analysis.workflow.step(new_name).is_some(),
        Target::Persona(_) => analysis.workspace.persona(&analysis.workflow, new_name).is_some(),
        Target::Input(_) => analysis.workflow.input(new_name).is_some(),
        _ => false,
    };
    if clash {
        return Err(format!("`{new_name}` already exists"));
    }
    let all: Vec<Occurrence> = occurrences(&analysis.workflow)
        .into_iter()
        .filter(|o| o.target == target)
        .collect();
    if all.iter().any(|o| !o.exact) {
        return Err("a reference sits in a folded or escaped string, where it cannot be edited exactly; make that prompt a `|` block first".to_string());
    }
    Ok(all.into_iter().map(|o| (o.span, new_name.to_string())).collect())
}

/// What an outline entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    /// The workflow itself.
    Workflow,
    /// A step.
    Step,
    /// An inline persona.
    Persona,
    /// An input.
    Input,
}

/// An outline entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    /// Its name.
    pub name: String,
    /// A short detail (a step's provider/model, an input's default).
    pub detail: Option<String>,
    /// What it is.
    pub kind: SymbolKind,
    /// Everything it covers.
    pub span: Span,
    /// Its name's span.
    pub selection: Span,
    /// Nested entries.
    pub children: Vec<Symbol>,
}

/// The outline: the workflow, with its inputs, personas and steps inside.
pub fn document_symbols(analysis: &Analysis) -> Vec<Symbol> {
    let wf = &analysis.workflow;
    if wf.span.is_empty() && wf.steps.is_empty() {
        return Vec::new();
    }
    let mut children = Vec::new();
    for input in &wf.inputs {
        children.push(Symbol {
            name: input.name.value.clone(),
            detail: Some(match &input.default {
                Some(d) => format!("input, default {}", d.value),
                None => "input (required)".to_string(),
            }),
            kind: SymbolKind::Input,
            span: input.name.span,
            selection: input.name.span,
            children: Vec::new(),
        });
    }
    for persona in wf.personas.iter().filter(|p| p.origin == PersonaOrigin::Inline) {
        children.push(Symbol {
            name: persona.id.value.clone(),
            detail: persona.name.as_ref().map(|n| n.value.clone()),
            kind: SymbolKind::Persona,
            span: persona.span,
            selection: persona.id.span,
            children: Vec::new(),
        });
    }
    for step in &wf.steps {
        let Some(id) = &step.id else { continue };
        children.push(Symbol {
            name: id.value.clone(),
            detail: Some("step".to_string()),
            kind: SymbolKind::Step,
            span: step.span,
            selection: id.span,
            children: Vec::new(),
        });
    }
    let name = wf
        .name
        .as_ref()
        .map_or_else(|| "workflow".to_string(), |n| n.value.clone());
    let selection = wf.name.as_ref().map_or(Span::empty(wf.span.start), |n| n.span);
    vec![Symbol {
        name,
        detail: Some("workflow".to_string()),
        kind: SymbolKind::Workflow,
        span: wf.span,
        selection,
        children,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixture::{fixture, mark};

    const DOC: &str = "version: 1\nname: Brief\npersona: analyst\ninputs:\n  product: {}\npersonas:\n  analyst:\n    name: Analyst\n    system: Be brief.\nsteps:\n  - id: sum\n    prompt: |\n      Sum {{ inputs.product }}\n  - id: ideas\n    persona: analyst\n    needs: [sum]\n    prompt: |\n      Ideas from {{ steps.sum.output }}\n";

    /// `DOC` with the cursor where `^` stands in `needle`.
    fn at(needle: &str) -> String {
        let offset = DOC.find(&needle.replace('^', "")).unwrap() + needle.find('^').unwrap();
        format!("{}$0{}", &DOC[..offset], &DOC[offset..])
    }

    #[test]
    fn definition_of_a_step_reference_in_a_template() {
        let f = fixture(&at("steps.s^um.output"));
        let Some(Definition::Here(span)) = definition(&f.analysis, f.offset) else {
            panic!("no definition");
        };
        insta::assert_snapshot!(mark(f.analysis.text(), &[span]));
    }

    #[test]
    fn definition_of_a_persona_value_is_its_inline_key() {
        let f = fixture(&at("persona: an^alyst\n    needs"));
        let def = definition(&f.analysis, f.offset);
        let expected = DOC.find("  analyst:").unwrap() + 2;
        assert_eq!(def, Some(Definition::Here(Span::new(expected, expected + 7))));
    }

    #[test]
    fn definition_of_a_library_persona_is_its_file() {
        let f = fixture(
            "version: 1\nname: B\npersona: mark$0eter\nsteps:\n  - id: a\n    prompt: Hi\n//- stepwise.toml\npersona_dirs = [\"personas\"]\n//- personas/marketer.yaml\nname: Marketer\nsystem: Sell it.\n",
        );
        let def = definition(&f.analysis, f.offset);
        assert_eq!(def, Some(Definition::File(f.dir.path().join("personas/marketer.yaml"))));
    }

    #[test]
    fn references_of_a_step_include_needs_and_templates() {
        let f = fixture(&at("id: s^um"));
        let at = occurrence_at(&f.analysis, f.offset).unwrap();
        insta::assert_snapshot!(mark(f.analysis.text(), &references_to(&f.analysis, &at.target)));
    }

    #[test]
    fn references_of_a_persona_include_its_definition_and_uses() {
        let f = fixture(&at("  ana^lyst:"));
        let at = occurrence_at(&f.analysis, f.offset).unwrap();
        insta::assert_snapshot!(mark(f.analysis.text(), &references_to(&f.analysis, &at.target)));
    }

    #[test]
    fn rename_of_an_input_edits_definition_and_templates() {
        let f = fixture(&at("inputs.pro^duct"));
        let edits = rename(&f.analysis, f.offset, "item_name").unwrap();
        let spans: Vec<Span> = edits.iter().map(|(s, _)| *s).collect();
        insta::assert_snapshot!(mark(f.analysis.text(), &spans));
    }

    #[test]
    fn rename_refuses_invalid_and_taken_names() {
        let f = fixture(&at("id: i^deas"));
        assert!(rename(&f.analysis, f.offset, "Bad Name").is_err());
        assert_eq!(
            rename(&f.analysis, f.offset, "sum"),
            Err("`sum` already exists".to_string())
        );
    }

    #[test]
    fn prepare_rename_refuses_providers() {
        let f = fixture("version: 1\nname: B\nprovider: open$0ai\nsteps:\n  - id: a\n    prompt: Hi\n");
        assert!(prepare_rename(&f.analysis, f.offset).is_err());
    }

    #[test]
    fn document_symbols_outline_inputs_personas_and_steps() {
        let f = fixture(DOC);
        let symbols = document_symbols(&f.analysis);
        let outline: Vec<String> = symbols[0]
            .children
            .iter()
            .map(|s| format!("{:?} {} ({})", s.kind, s.name, s.detail.clone().unwrap_or_default()))
            .collect();
        insta::assert_snapshot!(format!("{}\n{}", symbols[0].name, outline.join("\n")));
    }
}
