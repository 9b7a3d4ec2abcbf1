//! The typed workflow (SPEC §2), every value with its span, lowered by hand from the YAML tree
//! so that one pass reports every structural problem at once, not just the first.

use rustc_hash::FxHashMap;
use std::path::PathBuf;

use super::diagnostic::{Code, Diagnostic, did_you_mean, nearest};
use super::schema::{self, Level};
use super::steps::Steps;
use super::template::{Template, TemplateKind};
use crate::syntax::text::{OffsetBy, Span};
use crate::syntax::yaml::{Entry, Node, NodeKind, ScalarValue};

/// A value with the span of its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> OffsetBy for Spanned<T> {
    fn offset_by(&mut self, base: isize) {
        self.span.offset_by(base);
    }
}

/// Generation parameters; every field optional so the levels can be merged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    /// Sampling temperature.
    pub temperature: Option<Spanned<f64>>,
    /// Maximum tokens to generate.
    pub max_tokens: Option<Spanned<u32>>,
    /// Nucleus sampling mass.
    pub top_p: Option<Spanned<f64>>,
    /// Stop sequences.
    pub stop: Option<Spanned<Vec<String>>>,
}

impl OffsetBy for Params {
    fn offset_by(&mut self, base: isize) {
        self.temperature.offset_by(base);
        self.max_tokens.offset_by(base);
        self.top_p.offset_by(base);
        self.stop.offset_by(base);
    }
}

/// A named input.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Its name, as used in `{{ inputs.NAME }}`.
    pub name: Spanned<String>,
    /// What it is for.
    pub description: Option<Spanned<String>>,
    /// Value when none is given; without one the input is required.
    pub default: Option<Spanned<String>>,
}

/// Where a persona is defined.
#[derive(Debug, Clone, PartialEq)]
pub enum PersonaOrigin {
    /// Under `personas:` in the workflow document.
    Inline,
    /// A library file.
    File(PathBuf),
}

/// A persona: a system prompt with a name and optional generation defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Persona {
    /// Its ID (the key, or the library file's stem); the span is the key's (empty for files).
    pub id: Spanned<String>,
    /// Display name.
    pub name: Option<Spanned<String>>,
    /// What it is like.
    pub description: Option<Spanned<String>>,
    /// The system prompt.
    pub system: Option<Spanned<String>>,
    /// Generation defaults.
    pub params: Params,
    /// Where it is defined.
    pub origin: PersonaOrigin,
    /// The whole definition.
    pub span: Span,
}

/// A `fallback` entry: a provider and, optionally, a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    /// The provider ID.
    pub provider: Spanned<String>,
    /// The model, when written as `provider/model`.
    pub model: Option<Spanned<String>>,
    /// The whole entry.
    pub span: Span,
}

impl OffsetBy for Fallback {
    fn offset_by(&mut self, base: isize) {
        self.provider.offset_by(base);
        self.model.offset_by(base);
        self.span.offset_by(base);
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// The whole step mapping.
    pub span: Span,
    /// Its ID.
    pub id: Option<Spanned<String>>,
    /// Its prompt template.
    pub prompt: Option<Template>,
    /// Provider override.
    pub provider: Option<Spanned<String>>,
    /// Model override.
    pub model: Option<Spanned<String>>,
    /// Persona override; `Some(None)` is an explicit `persona: null`.
    pub persona: Option<Spanned<Option<String>>>,
    /// Parameter overrides, when it has any (boxed, as most steps have none).
    pub params: Option<Box<Params>>,
    /// Explicit dependencies.
    pub needs: Vec<Spanned<String>>,
    /// Fallback targets, in order.
    pub fallback: Vec<Fallback>,
    /// Fan-out expression (boxed: few steps fan out, and a step is read whole each time the
    /// list of steps is walked).
    pub for_each: Option<Box<Template>>,
    /// Fan-out parallelism.
    pub concurrency: Option<Spanned<u32>>,
    /// Every key of the step with its span relative to `span.start` (so that moving the step
    /// moves none of them), for edits that must keep the rest intact; see [`Step::key_span`].
    pub keys_in_step: Vec<Spanned<String>>,
}

impl OffsetBy for Step {
    fn offset_by(&mut self, base: isize) {
        self.span.offset_by(base);
        self.id.offset_by(base);
        self.prompt.offset_by(base);
        self.provider.offset_by(base);
        self.model.offset_by(base);
        self.persona.offset_by(base);
        self.params.offset_by(base);
        self.needs.offset_by(base);
        self.fallback.offset_by(base);
        self.for_each.offset_by(base);
        self.concurrency.offset_by(base);
    }
}

impl Step {
    /// The step's ID, or "" while it has none.
    pub fn id_str(&self) -> &str {
        self.id.as_ref().map_or("", |i| i.value.as_str())
    }

    /// The span of `key` in this step, if present.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        let mut span = self.keys_in_step.iter().find(|k| k.value == key)?.span;
        span.offset_by(self.span.start as isize);
        Some(span)
    }

    /// Its templates: the prompt, then the `for_each` expression.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.prompt.iter().chain(self.for_each.as_deref())
    }

    /// Step IDs this step depends on: `needs`, template references and `for_each`, in order,
    /// possibly repeated, each with the span that names it.
    pub fn dependency_refs(&self) -> impl Iterator<Item = (&str, Span)> {
        let templates = self.templates();
        self.needs
            .iter()
            .map(|n| (n.value.as_str(), n.span))
            .chain(templates.flat_map(|t| t.step_refs().map(|r| (r.name.as_str(), r.name_span))))
    }

    /// Step IDs this step depends on, deduplicated, each with its first mention.
    pub fn dependencies(&self) -> Vec<Spanned<String>> {
        let mut deps: Vec<Spanned<String>> = Vec::new();
        for (name, span) in self.dependency_refs() {
            if !deps.iter().any(|d| d.value == name) {
                deps.push(Spanned {
                    value: name.to_string(),
                    span,
                });
            }
        }
        deps
    }
}

/// The largest `budget_usd` accepted (a guard against a misplaced digit).
pub const MAX_BUDGET_USD: f64 = 1_000_000.0;

/// A workflow document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Workflow {
    /// The root mapping.
    pub span: Span,
    /// `version`.
    pub version: Option<Spanned<i64>>,
    /// `name`.
    pub name: Option<Spanned<String>>,
    /// `description`.
    pub description: Option<Spanned<String>>,
    /// Default provider.
    pub provider: Option<Spanned<String>>,
    /// Default model.
    pub model: Option<Spanned<String>>,
    /// Default persona.
    pub persona: Option<Spanned<String>>,
    /// Default parameters.
    pub params: Params,
    /// The most a run may spend, in USD (`budget_usd`).
    pub budget_usd: Option<Spanned<f64>>,
    /// Inputs, in order.
    pub inputs: Vec<Input>,
    /// Inline personas, in order.
    pub personas: Vec<Persona>,
    /// Steps, in order.
    pub steps: Steps,
    /// Every top-level key with its span.
    pub keys: Vec<Spanned<String>>,
}

impl Workflow {
    /// The step with this ID (the first, if duplicated).
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id_str() == id)
    }

    /// The inline persona with this ID.
    pub fn inline_persona(&self, id: &str) -> Option<&Persona> {
        self.personas.iter().find(|p| p.id.value == id)
    }

    /// The input with this name.
    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.name.value == name)
    }

    /// The index of the step whose span contains `offset`.
    pub fn step_at(&self, offset: usize) -> Option<usize> {
        self.steps.iter().position(|s| s.span.touches(offset))
    }
}

/// Lowers YAML into the typed model, collecting structural diagnostics.
pub struct Lowering<'a> {
    text: &'a str,
    /// Diagnostics found so far.
    pub diagnostics: Vec<Diagnostic>,
    /// Steps lowered elsewhere, used in place of the `steps` value.
    steps: Option<Steps>,
}

/// Lowers a workflow document's root node.
pub fn lower_workflow(text: &str, root: Option<&Node>) -> (Workflow, Vec<Diagnostic>) {
    lower_workflow_with_steps(text, root, None)
}

/// Lowers a workflow whose steps were lowered separately (one chunk each); `root`'s `steps`
/// value then only marks where they are.
pub fn lower_workflow_with_steps(text: &str, root: Option<&Node>, steps: Option<Steps>) -> (Workflow, Vec<Diagnostic>) {
    let mut l = Lowering {
        text,
        diagnostics: Vec::new(),
        steps,
    };
    let workflow = l.workflow(root);
    (workflow, l.diagnostics)
}

/// Lowers one item of `steps` (`None` when it is not a mapping).
pub fn lower_step(text: &str, node: &Node) -> (Option<Step>, Vec<Diagnostic>) {
    let mut l = Lowering {
        text,
        diagnostics: Vec::new(),
        steps: None,
    };
    let step = l.step(node);
    (step, l.diagnostics)
}

/// Lowers one persona mapping (a library file's root or an inline entry).
pub fn lower_persona(
    text: &str,
    id: Spanned<String>,
    node: &Node,
    origin: PersonaOrigin,
) -> (Persona, Vec<Diagnostic>) {
    let mut l = Lowering {
        text,
        diagnostics: Vec::new(),
        steps: None,
    };
    let persona = l.persona(id, node, origin);
    (persona, l.diagnostics)
}

impl Lowering<'_> {
    fn error(&mut self, code: Code, span: Span, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(code, span, message));
    }

    fn wrong_type(&mut self, node: &Node, key: &str, expected: &str) {
        let message = format!("`{key}` must be {expected}, found {}", node.type_name());
        self.error(Code::WrongType, node.span, message);
    }

    /// Checks the keys of a mapping against `level`: unknown keys, duplicate keys, required
    /// keys. Returns the entries with their key text.
    fn entries<'n>(&mut self, node: &'n Node, level: Level, what: &str, anchor: Span) -> Vec<(&'n str, &'n Entry)> {
        let Some(entries) = node.as_map() else {
            return Vec::new();
        };
        let mut out: Vec<(&str, &Entry)> = Vec::new();
        let allowed = schema::keys(level);
        for entry in entries {
            let Some(key) = entry.key.key_text() else {
                self.error(Code::WrongType, entry.key.span, "keys must be plain strings");
                continue;
            };
            if let Some((_, first)) = out.iter().find(|(k, _)| *k == key) {
                let d = Diagnostic::new(
                    Code::DuplicateKey,
                    entry.key.span,
                    format!(
                        "`{key}` is given twice in this {}; the later one would be ignored",
                        what.strip_prefix("the ").unwrap_or(what)
                    ),
                )
                .with_related(first.key.span, "first given here");
                self.diagnostics.push(d);
                continue;
            }
            if !allowed.iter().any(|k| k.name == key) {
                let suggestions = nearest(key, allowed.iter().map(|k| k.name.as_str()));
                let expected = allowed
                    .iter()
                    .map(|k| format!("`{}`", k.name))
                    .collect::<Vec<_>>()
                    .join(", ");
                let message = format!(
                    "unknown key `{key}` in {what}{}",
                    if suggestions.is_empty() {
                        format!("; expected one of {expected}")
                    } else {
                        did_you_mean(&suggestions)
                    }
                );
                self.diagnostics
                    .push(Diagnostic::new(Code::UnknownKey, entry.key.span, message).with_suggestions(suggestions));
                continue;
            }
            out.push((key, entry));
        }
        if !node.truncated {
            for required in allowed.iter().filter(|k| k.required) {
                if !out.iter().any(|(k, _)| *k == required.name) {
                    self.error(
                        Code::MissingField,
                        anchor,
                        format!("{what} is missing required key `{}`", required.name),
                    );
                }
            }
        }
        out
    }

    fn string(&mut self, node: &Node, key: &str) -> Option<Spanned<String>> {
        match node.as_scalar().map(|s| s.typed()) {
            Some(ScalarValue::Str(s)) => Some(Spanned {
                value: s.to_string(),
                span: node.span,
            }),
            Some(ScalarValue::Null) => None,
            // Numbers and booleans used as IDs or text are kept as written, like YAML 1.1 tools.
            Some(ScalarValue::Int(_) | ScalarValue::Float(_) | ScalarValue::Bool(_)) if key == "model" => {
                Some(Spanned {
                    value: node.as_scalar()?.value.clone(),
                    span: node.span,
                })
            }
            _ => {
                self.wrong_type(node, key, "a string");
                None
            }
        }
    }

    fn uint(&mut self, node: &Node, key: &str, min: i64) -> Option<Spanned<u32>> {
        match node.as_scalar().map(|s| s.typed()) {
            Some(ScalarValue::Int(i)) if i >= min && i <= u32::MAX as i64 => Some(Spanned {
                value: i as u32,
                span: node.span,
            }),
            Some(ScalarValue::Int(i)) => {
                self.error(
                    Code::InvalidValue,
                    node.span,
                    format!("`{key}` must be at least {min}, found {i}"),
                );
                None
            }
            Some(ScalarValue::Null) => None,
            _ => {
                self.wrong_type(node, key, "a whole number");
                None
            }
        }
    }

    fn float(&mut self, node: &Node, key: &str, max: f64) -> Option<Spanned<f64>> {
        let value = match node.as_scalar().map(|s| s.typed()) {
            Some(ScalarValue::Int(i)) => i as f64,
            Some(ScalarValue::Float(f)) => f,
            Some(ScalarValue::Null) => return None,
            _ => {
                self.wrong_type(node, key, "a number");
                return None;
            }
        };
        if !(0.0..=max).contains(&value) {
            self.error(
                Code::InvalidValue,
                node.span,
                format!("`{key}` must be between 0 and {max}, found {value}"),
            );
            return None;
        }
        Some(Spanned { value, span: node.span })
    }

    fn string_list(&mut self, node: &Node, key: &str) -> Vec<Spanned<String>> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|item| self.string(item, key)).collect(),
            _ if node.is_null() => Vec::new(),
            _ => {
                self.wrong_type(node, key, "a list of strings");
                Vec::new()
            }
        }
    }

    fn key_spans(entries: &[(&str, &Entry)]) -> Vec<Spanned<String>> {
        entries
            .iter()
            .map(|(k, e)| Spanned {
                value: (*k).to_string(),
                span: e.key.span,
            })
            .collect()
    }

    fn workflow(&mut self, root: Option<&Node>) -> Workflow {
        let mut wf = Workflow::default();
        let Some(root) = root else {
            self.error(
                Code::MissingField,
                Span::empty(0),
                "empty document: a workflow needs `version`, `name` and `steps`",
            );
            return wf;
        };
        wf.span = root.span;
        if root.as_map().is_none() {
            self.error(
                Code::WrongType,
                root.span,
                format!("a workflow must be a mapping, found {}", root.type_name()),
            );
            return wf;
        }
        let anchor = root
            .as_map()
            .and_then(|m| m.first())
            .map_or(Span::empty(root.span.start), |e| e.key.span);
        let entries = self.entries(root, Level::Workflow, "the workflow", anchor);
        wf.keys = Self::key_spans(&entries);
        for (key, entry) in entries {
            let v = &entry.value;
            match key {
                "version" => match v.as_scalar().map(|s| s.typed()) {
                    Some(ScalarValue::Int(1)) => wf.version = Some(Spanned { value: 1, span: v.span }),
                    Some(ScalarValue::Int(n)) => self.error(
                        Code::InvalidValue,
                        v.span,
                        format!("unsupported version {n}; only version 1 exists"),
                    ),
                    _ => self.wrong_type(v, key, "the number 1"),
                },
                "name" => wf.name = self.string(v, key),
                "description" => wf.description = self.string(v, key),
                "provider" => wf.provider = self.string(v, key),
                "model" => wf.model = self.string(v, key),
                "persona" => wf.persona = self.string(v, key),
                "params" => wf.params = self.params(v),
                "budget_usd" => wf.budget_usd = self.float(v, key, MAX_BUDGET_USD),
                "inputs" => wf.inputs = self.inputs(v),
                "personas" => wf.personas = self.inline_personas(v),
                "steps" => wf.steps = self.steps(v),
                _ => {}
            }
        }
        wf
    }

    fn params(&mut self, node: &Node) -> Params {
        let mut params = Params::default();
        if node.is_null() {
            return params;
        }
        if node.as_map().is_none() {
            self.wrong_type(node, "params", "a mapping");
            return params;
        }
        for (key, entry) in self.entries(node, Level::Params, "params", node.span) {
            let v = &entry.value;
            match key {
                "temperature" => params.temperature = self.float(v, key, 2.0),
                "top_p" => params.top_p = self.float(v, key, 1.0),
                "max_tokens" => params.max_tokens = self.uint(v, key, 1),
                "stop" => {
                    let list = self.string_list(v, key);
                    params.stop = Some(Spanned {
                        value: list.into_iter().map(|s| s.value).collect(),
                        span: v.span,
                    });
                }
                _ => {}
            }
        }
        params
    }

    fn inputs(&mut self, node: &Node) -> Vec<Input> {
        let Some(entries) = node.as_map() else {
            if !node.is_null() {
                self.wrong_type(node, "inputs", "a mapping of input names");
            }
            return Vec::new();
        };
        let mut inputs: Vec<Input> = Vec::new();
        let mut seen: FxHashMap<&str, usize> = FxHashMap::default();
        for entry in entries {
            let Some(name) = entry.key.key_text() else {
                continue;
            };
            if let Some(first) = seen.get(name).map(|&i| &inputs[i]) {
                let d = Diagnostic::new(
                    Code::DuplicateKey,
                    entry.key.span,
                    format!("input `{name}` is defined twice"),
                )
                .with_related(first.name.span, "first defined here");
                self.diagnostics.push(d);
                continue;
            }
            let mut input = Input {
                name: Spanned {
                    value: name.to_string(),
                    span: entry.key.span,
                },
                description: None,
                default: None,
            };
            let v = &entry.value;
            if v.as_map().is_some() {
                for (key, e) in self.entries(v, Level::Input, &format!("input `{name}`"), entry.key.span) {
                    match key {
                        "description" => input.description = self.string(&e.value, key),
                        "default" => input.default = self.scalar_text(&e.value, key),
                        _ => {}
                    }
                }
            } else if !v.is_null() {
                self.wrong_type(v, name, "a mapping with `description` and `default`");
            }
            seen.insert(name, inputs.len());
            inputs.push(input);
        }
        inputs
    }

    /// A scalar of any type as text (input defaults may be numbers).
    fn scalar_text(&mut self, node: &Node, key: &str) -> Option<Spanned<String>> {
        match node.as_scalar() {
            Some(s) if !node.is_null() => Some(Spanned {
                value: s.value.clone(),
                span: node.span,
            }),
            Some(_) => None,
            None => {
                self.wrong_type(node, key, "a string");
                None
            }
        }
    }

    fn inline_personas(&mut self, node: &Node) -> Vec<Persona> {
        let Some(entries) = node.as_map() else {
            if !node.is_null() {
                self.wrong_type(node, "personas", "a mapping of persona IDs");
            }
            return Vec::new();
        };
        let mut personas: Vec<Persona> = Vec::new();
        let mut seen: FxHashMap<&str, usize> = FxHashMap::default();
        for entry in entries {
            let Some(id) = entry.key.key_text() else {
                continue;
            };
            if let Some(first) = seen.get(id).map(|&i| &personas[i]) {
                let d = Diagnostic::new(
                    Code::DuplicateKey,
                    entry.key.span,
                    format!("persona `{id}` is defined twice"),
                )
                .with_related(first.id.span, "first defined here");
                self.diagnostics.push(d);
                continue;
            }
            seen.insert(id, personas.len());
            let id = Spanned {
                value: id.to_string(),
                span: entry.key.span,
            };
            personas.push(self.persona(id, &entry.value, PersonaOrigin::Inline));
        }
        personas
    }

    fn persona(&mut self, id: Spanned<String>, node: &Node, origin: PersonaOrigin) -> Persona {
        let mut persona = Persona {
            span: if origin == PersonaOrigin::Inline {
                Span::new(id.span.start, node.span.end.max(id.span.end))
            } else {
                node.span
            },
            id,
            name: None,
            description: None,
            system: None,
            params: Params::default(),
            origin,
        };
        if node.as_map().is_none() {
            self.wrong_type(node, &persona.id.value, "a persona mapping with `name` and `system`");
            return persona;
        }
        let what = format!("persona `{}`", persona.id.value);
        let anchor = if persona.id.span.is_empty() {
            Span::empty(node.span.start)
        } else {
            persona.id.span
        };
        for (key, entry) in self.entries(node, Level::Persona, &what, anchor) {
            let v = &entry.value;
            match key {
                "name" => persona.name = self.string(v, key),
                "description" => persona.description = self.string(v, key),
                "system" => persona.system = self.string(v, key),
                "params" => persona.params = self.params(v),
                _ => {}
            }
        }
        persona
    }

    fn steps(&mut self, node: &Node) -> Steps {
        if let Some(steps) = self.steps.take() {
            return steps;
        }
        let Some(items) = node.as_seq() else {
            if node.is_null() {
                if !node.truncated {
                    self.error(
                        Code::MissingField,
                        node.span,
                        "`steps` is empty: add at least one step with `id` and `prompt`",
                    );
                }
            } else {
                self.wrong_type(node, "steps", "a list of steps");
            }
            return Steps::default();
        };
        Steps::new(items.iter().filter_map(|item| self.step(item)).collect())
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
        if node.as_map().is_none() {
            if !(node.is_null() && node.truncated) {
                self.error(
                    Code::WrongType,
                    node.span,
                    format!(
                        "a step must be a mapping with `id` and `prompt`, found {}",
                        node.type_name()
                    ),
                );
            }
            return None;
        }
        let mut step = Step {
            span: node.span,
            id: None,
            prompt: None,
            provider: None,
            model: None,
            persona: None,
            params: None,
            needs: Vec::new(),
            fallback: Vec::new(),
            for_each: None,
            concurrency: None,
            keys_in_step: Vec::new(),
        };
        let id_text = node
            .as_map()
            .and_then(|m| m.iter().find(|e| e.key.key_text() == Some("id")))
            .and_then(|e| e.value.as_scalar())
            .map(|s| s.value.clone());
        let what = match &id_text {
            Some(id) => format!("step `{id}`"),
            None => "this step".to_string(),
        };
        let anchor = node.as_map().and_then(|m| m.first()).map_or(node.span, |e| e.key.span);
        let entries = self.entries(node, Level::Step, &what, anchor);
        step.keys_in_step = Self::key_spans(&entries);
        step.keys_in_step.offset_by(-(node.span.start as isize));
        for (key, entry) in entries {
            let v = &entry.value;
            match key {
                "id" => {
                    step.id = self.string(v, key);
                    if let Some(id) = &step.id
                        && !is_valid_step_id(&id.value)
                    {
                        let message = format!(
                            "step ID `{}` must start with a lowercase letter and use only a-z, 0-9, `_` and `-`",
                            id.value
                        );
                        self.error(Code::InvalidValue, id.span, message);
                    }
                }
                "prompt" => {
                    if matches!(v.as_scalar().map(|s| s.typed()), Some(ScalarValue::Str(_))) {
                        step.prompt = Some(Template::from_node(self.text, v, TemplateKind::Prompt));
                    } else if v.is_null() {
                        if !v.truncated {
                            self.error(Code::MissingField, v.span, format!("{what} has an empty `prompt`"));
                        }
                    } else {
                        self.wrong_type(v, key, "a string (a MiniJinja template)");
                    }
                }
                "provider" => step.provider = self.string(v, key),
                "model" => step.model = self.string(v, key),
                "persona" => {
                    step.persona = if v.is_null() {
                        Some(Spanned {
                            value: None,
                            span: v.span,
                        })
                    } else {
                        self.string(v, key).map(|s| Spanned {
                            value: Some(s.value),
                            span: s.span,
                        })
                    }
                }
                "params" => step.params = Some(Box::new(self.params(v))),
                "needs" => step.needs = self.string_list(v, key),
                "fallback" => {
                    step.fallback = self
                        .string_list(v, key)
                        .into_iter()
                        .map(|s| parse_fallback(&s.value, s.span, self.text))
                        .collect();
                }
                "for_each" => {
                    if matches!(v.as_scalar().map(|s| s.typed()), Some(ScalarValue::Str(_))) {
                        step.for_each = Some(Box::new(Template::from_node(self.text, v, TemplateKind::Expression)));
                    } else {
                        self.wrong_type(v, key, "an expression giving a list");
                    }
                }
                "concurrency" => step.concurrency = self.uint(v, key, 1),
                _ => {}
            }
        }
        Some(step)
    }
}

/// Whether `id` matches `^[a-z][a-z0-9_-]*$`.
pub fn is_valid_step_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Splits `provider/model` (the model may itself contain `/`, as in OpenRouter IDs).
fn parse_fallback(value: &str, span: Span, text: &str) -> Fallback {
    let exact = text.get(span.start..span.end) == Some(value);
    let sub = |from: usize, to: usize| {
        if exact {
            Span::new(span.start + from, span.start + to)
        } else {
            span
        }
    };
    match value.split_once('/') {
        Some((provider, model)) => Fallback {
            provider: Spanned {
                value: provider.to_string(),
                span: sub(0, provider.len()),
            },
            model: Some(Spanned {
                value: model.to_string(),
                span: sub(provider.len() + 1, value.len()),
            }),
            span,
        },
        None => Fallback {
            provider: Spanned {
                value: value.to_string(),
                span,
            },
            model: None,
            span,
        },
    }
}

/// Step IDs mapped to their first index, for lookups in hot paths.
pub fn step_index(workflow: &Workflow) -> FxHashMap<&str, usize> {
    let mut map = FxHashMap::default();
    for (i, step) in workflow.steps.iter().enumerate() {
        if let Some(id) = &step.id {
            map.entry(id.value.as_str()).or_insert(i);
        }
    }
    map
}
