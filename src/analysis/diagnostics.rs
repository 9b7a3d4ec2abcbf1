//! Diagnostics in stages, like taplo: YAML syntax, then structure (from lowering), then
//! meaning (providers, models, personas, references, cycles, availability, secrets).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::{Analysis, StepChunk, syntax_errors};
use crate::model::catalog::Availability;
use crate::model::diagnostic::{Code, Diagnostic, Severity, did_you_mean, nearest};
use crate::model::resolve::{Overrides, resolve_step};
use crate::model::secrets::{find_secrets, redact};
use crate::model::template::{RefKind, Template};
use crate::model::template_env;
use crate::model::workflow::{Spanned, Step, Workflow, step_index};
use crate::model::workspace::{PersonaRef, Workspace};
use crate::syntax::text::{OffsetBy, Span};

/// All diagnostics of `analysis`, given the structural ones from lowering.
pub fn diagnose(analysis: &Analysis, structural: &[Diagnostic]) -> Vec<Diagnostic> {
    let text = analysis.text();
    let mut out = Vec::new();
    for err in &analysis.yaml.errors {
        let first_step = analysis.workflow.steps.first().map_or(text.len(), |s| s.span.start);
        let region = syntax_errors::step_region(&analysis.workflow, err.span.start)
            .unwrap_or(Span::new(0, first_step.max(err.span.end)));
        let (span, message) = syntax_errors::describe(text, region, widen(text, err.span), &err.message);
        out.push(Diagnostic::new(Code::YamlSyntax, span, message));
    }
    for extra in &analysis.yaml.extra_documents {
        let mut d = Diagnostic::new(
            Code::InvalidValue,
            widen(text, Span::empty(extra.start)),
            "a workflow file holds one document; everything after this `---` is ignored",
        );
        d.severity = Severity::Warning;
        out.push(d);
    }
    out.extend(structural.iter().cloned());
    let ws = &analysis.workspace;
    if let Some(err) = &ws.config.error {
        out.push(Diagnostic::new(
            Code::InvalidConfig,
            Span::empty(0),
            format!(
                "{} is invalid, so defaults are used: {}",
                err.path.display(),
                err.message
            ),
        ));
    }
    for (dir, reason) in &ws.library.refused_dirs {
        out.push(Diagnostic::new(
            Code::InvalidConfig,
            Span::empty(0),
            format!("persona folder {} is not read: {reason}", dir.display()),
        ));
    }
    let wf = &analysis.workflow;
    let mut checker = Checker {
        wf,
        ws,
        out: &mut out,
        unavailable: Vec::new(),
    };
    checker.run(analysis);
    let mut unavailable = std::mem::take(&mut checker.unavailable);
    unavailable.sort_by_key(|(_, d)| d.span.start);
    let mut warned = HashSet::default();
    for (provider, d) in unavailable {
        // Once per document, at the first mention.
        if warned.insert(provider) {
            out.push(d);
        }
    }
    for secret in find_secrets(text) {
        out.push(Diagnostic::new(
            Code::SecretInDocument,
            Span::new(secret.start, secret.end),
            format!(
                "this looks like {} {} API key: remove it from the file and set {} in the environment instead",
                if secret.vendor.starts_with(['A', 'E', 'I', 'O', 'U']) {
                    "an"
                } else {
                    "a"
                },
                secret.vendor,
                secret.env_var
            ),
        ));
    }
    for d in &mut out {
        d.message = redact(&d.message);
        d.span = clamp(text, d.span);
    }
    out.sort_by_key(|d| (d.span.start, d.span.end));
    out
}

/// An empty span at an error becomes the character there, so editors can show a squiggle.
fn widen(text: &str, span: Span) -> Span {
    if !span.is_empty() {
        return span;
    }
    match text[span.start.min(text.len())..].chars().next() {
        Some(c) if c != '\n' => Span::new(span.start, span.start + c.len_utf8()),
        _ => span,
    }
}

fn clamp(text: &str, span: Span) -> Span {
    let end = span.end.min(text.len());
    Span::new(span.start.min(end), end)
}

/// A step's semantic diagnostics, relative to its chunk, and what they were computed against.
#[derive(Debug)]
pub(crate) struct CachedStepDiagnostics {
    workspace: Arc<Workspace>,
    context: u64,
    diagnostics: Vec<Diagnostic>,
    unavailable: Vec<(String, Diagnostic)>,
}

/// Everything outside a step that its semantic diagnostics depend on, hashed: the workflow's
/// defaults, its inline persona and input names, and the step IDs in order.
fn step_context(wf: &Workflow) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    let value = |s: &Option<Spanned<String>>| s.as_ref().map(|v| v.value.clone());
    (value(&wf.provider), value(&wf.model), value(&wf.persona)).hash(&mut h);
    wf.personas.iter().for_each(|p| p.id.value.hash(&mut h));
    wf.inputs.iter().for_each(|i| i.name.value.hash(&mut h));
    wf.steps.iter().for_each(|s| s.id_str().hash(&mut h));
    h.finish()
}

struct Checker<'a> {
    wf: &'a Workflow,
    ws: &'a Workspace,
    out: &'a mut Vec<Diagnostic>,
    /// Unavailable providers with the diagnostic at each mention; the first one is kept.
    unavailable: Vec<(String, Diagnostic)>,
}

impl Checker<'_> {
    fn run(&mut self, analysis: &Analysis) {
        let wf = self.wf;
        if let Some(p) = &wf.provider {
            self.provider(p, "the workflow's provider");
            if let Some(m) = &wf.model {
                self.model(&p.value, m);
            }
        }
        if let Some(p) = &wf.persona {
            self.persona(p);
        }
        self.duplicate_ids();
        let index = step_index(wf);
        let context = step_context(wf);
        for (i, step) in wf.steps.iter().enumerate() {
            match analysis.step_chunks.get(i).and_then(Option::as_ref) {
                Some((base, chunk)) => self.cached_step(step, &index, &analysis.workspace, context, *base, chunk),
                None => self.step(step, &index),
            }
        }
        self.cycles(&index);
    }

    /// The step's diagnostics from its chunk's cache when its context is unchanged; else
    /// computed and cached (relative to the chunk).
    fn cached_step(
        &mut self,
        step: &Step,
        index: &HashMap<&str, usize>,
        workspace: &Arc<Workspace>,
        context: u64,
        base: usize,
        chunk: &StepChunk,
    ) {
        let mut cache = chunk.semantic.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cache
            .as_ref()
            .is_some_and(|c| c.context == context && Arc::ptr_eq(&c.workspace, workspace));
        if !fresh {
            let saved_out = std::mem::take(self.out);
            let saved_unavailable = std::mem::take(&mut self.unavailable);
            self.step(step, index);
            let mut diagnostics = std::mem::replace(self.out, saved_out);
            let mut unavailable = std::mem::replace(&mut self.unavailable, saved_unavailable);
            let back = -(base as isize);
            diagnostics.iter_mut().for_each(|d| d.offset_by(back));
            unavailable.iter_mut().for_each(|(_, d)| d.offset_by(back));
            *cache = Some(CachedStepDiagnostics {
                workspace: workspace.clone(),
                context,
                diagnostics,
                unavailable,
            });
        }
        let cached = cache.as_ref().expect("filled above");
        let place = |d: &Diagnostic| {
            let mut d = d.clone();
            d.offset_by(base as isize);
            d
        };
        self.out.extend(cached.diagnostics.iter().map(place));
        self.unavailable
            .extend(cached.unavailable.iter().map(|(p, d)| (p.clone(), place(d))));
    }

    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    fn provider(&mut self, p: &Spanned<String>, what: &str) -> bool {
        let catalog = &self.ws.catalog;
        match catalog.provider(&p.value) {
            None => {
                let ids = catalog.providers().iter().map(|p| p.id.as_str());
                let suggestions = nearest(&p.value, ids);
                let known = catalog
                    .providers()
                    .iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let message = format!(
                    "unknown provider `{}`{}",
                    p.value,
                    if suggestions.is_empty() {
                        format!("; known providers: {known} (add others in stepwise.toml)")
                    } else {
                        did_you_mean(&suggestions)
                    }
                );
                self.push(Diagnostic::new(Code::UnknownProvider, p.span, message).with_suggestions(suggestions));
                false
            }
            Some(info) => {
                if let Availability::Untrusted(reason) = &info.availability {
                    let message = format!(
                        "{what} `{}` is unavailable, untrusted workspace: {reason}; trust this workspace (`stepwise trust`) to use it",
                        info.id
                    );
                    self.push(Diagnostic::new(Code::UntrustedWorkspace, p.span, message));
                } else if let Some(reason) = info.unavailable_reason() {
                    let alternatives: Vec<String> = catalog.healthy().map(|p| p.id.clone()).collect();
                    let message = format!(
                        "{what} `{}` is unavailable: {reason}{}",
                        info.id,
                        if alternatives.is_empty() {
                            String::new()
                        } else {
                            format!(" (available: {})", alternatives.join(", "))
                        }
                    );
                    let d = Diagnostic::new(Code::ProviderUnavailable, p.span, message).with_suggestions(alternatives);
                    self.unavailable.push((info.id.clone(), d));
                }
                true
            }
        }
    }

    fn model(&mut self, provider: &str, m: &Spanned<String>) {
        let Some(info) = self.ws.catalog.provider(provider) else {
            return;
        };
        if info.knows_model(&m.value) {
            return;
        }
        let suggestions = nearest(&m.value, info.models.iter().map(|m| m.id.as_str()));
        let owner = self.ws.catalog.providers().iter().find(|p| p.knows_model(&m.value));
        let message = format!(
            "model `{}` is not in the catalog of `{}`{}",
            m.value,
            provider,
            if let Some(owner) = owner {
                format!(
                    " but of `{}`: set `provider: {}` too, or pick a `{provider}` model",
                    owner.id, owner.id
                )
            } else if suggestions.is_empty() {
                " (catalogs lag: if the model is new, add it to `models` in stepwise.toml)".to_string()
            } else {
                did_you_mean(&suggestions)
            }
        );
        self.push(Diagnostic::new(Code::UnknownModel, m.span, message).with_suggestions(suggestions));
    }

    fn persona(&mut self, p: &Spanned<String>) {
        match self.ws.persona(self.wf, &p.value) {
            Some(PersonaRef::Library(lp)) => {
                if let Some(problem) = lp.diagnostics.iter().find(|d| d.severity == Severity::Error) {
                    let message = format!("persona file {} is invalid: {}", lp.path.display(), problem.message);
                    self.push(Diagnostic::new(Code::InvalidConfig, p.span, message));
                }
            }
            Some(PersonaRef::Inline(_)) => {}
            None => {
                let ids: Vec<&str> = self
                    .wf
                    .personas
                    .iter()
                    .map(|p| p.id.value.as_str())
                    .chain(self.ws.library.personas.keys().map(String::as_str))
                    .collect();
                let suggestions = nearest(&p.value, ids.iter().copied());
                let message = format!(
                    "unknown persona `{}`{}",
                    p.value,
                    if suggestions.is_empty() {
                        let dirs = self.ws.config.config.persona_dirs.join(", ");
                        format!(
                            "; define it under `personas:` or in a `{}.yaml` file in {dirs}",
                            p.value
                        )
                    } else {
                        did_you_mean(&suggestions)
                    }
                );
                self.push(Diagnostic::new(Code::UnknownPersona, p.span, message).with_suggestions(suggestions));
            }
        }
    }

    fn duplicate_ids(&mut self) {
        let mut first: HashMap<&str, Span> = HashMap::default();
        for step in &self.wf.steps {
            let Some(id) = &step.id else { continue };
            match first.get(id.value.as_str()) {
                Some(&span) => {
                    let d = Diagnostic::new(
                        Code::DuplicateStepId,
                        id.span,
                        format!("step ID `{}` is already used; step IDs must be unique", id.value),
                    )
                    .with_related(span, "first used here");
                    self.out.push(d);
                }
                None => {
                    first.insert(&id.value, id.span);
                }
            }
        }
    }

    fn step(&mut self, step: &Step, index: &HashMap<&str, usize>) {
        let wf = self.wf;
        let effective = resolve_step(wf, step, self.ws, &Overrides::default());
        let anchor = step.id.as_ref().map_or(Span::empty(step.span.start), |i| i.span);
        if let Some(p) = &step.provider {
            self.provider(p, "provider");
        }
        match &effective.provider {
            None => self.push(Diagnostic::new(
                Code::NoProvider,
                anchor,
                "no provider for this step: set `provider` on the step or the workflow, or `default_provider` in stepwise.toml",
            )),
            Some(p) if p.span.is_none() => {
                let named = Spanned {
                    value: p.value.clone(),
                    span: anchor,
                };
                self.provider(&named, "the default provider");
            }
            Some(_) => {}
        }
        if let (Some(m), Some(p)) = (&step.model, &effective.provider) {
            self.model(&p.value, m);
        }
        if let Some(Spanned { value: Some(id), span }) = &step.persona {
            self.persona(&Spanned {
                value: id.clone(),
                span: *span,
            });
        }
        for fb in &step.fallback {
            if self.provider(&fb.provider, "fallback provider")
                && let Some(m) = &fb.model
            {
                self.model(&fb.provider.value, m);
            }
        }
        let own_id = step.id_str();
        for need in &step.needs {
            if need.value == own_id {
                self.push(Diagnostic::new(
                    Code::DependencyCycle,
                    need.span,
                    format!("step `{own_id}` needs itself"),
                ));
            } else if !index.contains_key(need.value.as_str()) {
                self.unknown_step(&need.value, need.span, index);
            }
        }
        let fan_out = step.for_each.is_some();
        for (template, is_for_each) in step
            .prompt
            .iter()
            .map(|t| (t, false))
            .chain(step.for_each.iter().map(|t| (t, true)))
        {
            self.template(template, own_id, fan_out && !is_for_each, index);
        }
    }

    fn template(&mut self, template: &Template, own_id: &str, in_fan_out: bool, index: &HashMap<&str, usize>) {
        if let Some(err) = &template.error {
            self.push(Diagnostic::new(
                Code::TemplateSyntax,
                err.span,
                format!("template syntax error: {}", err.message),
            ));
        }
        for call in template.unknown_calls() {
            let suggestions = nearest(&call.name, template_env::candidates(call.kind));
            let message = format!(
                "unknown {} `{}`{}",
                call.kind.noun(),
                call.name,
                did_you_mean(&suggestions)
            );
            self.push(Diagnostic::new(Code::UnknownFilter, call.span, message).with_suggestions(suggestions));
        }
        for r in &template.refs {
            match r.kind {
                RefKind::Input => {
                    if self.wf.input(&r.name).is_none() {
                        let suggestions = nearest(&r.name, self.wf.inputs.iter().map(|i| i.name.value.as_str()));
                        let message = format!(
                            "unknown input `{}`{}",
                            r.name,
                            if suggestions.is_empty() {
                                "; declare it under `inputs:`".to_string()
                            } else {
                                did_you_mean(&suggestions)
                            }
                        );
                        self.push(
                            Diagnostic::new(Code::UnknownReference, r.name_span, message).with_suggestions(suggestions),
                        );
                    }
                }
                RefKind::Step => {
                    if r.name == own_id {
                        self.push(Diagnostic::new(
                            Code::DependencyCycle,
                            r.name_span,
                            format!("step `{own_id}` references its own output"),
                        ));
                    } else if r.dashed {
                        let message = format!(
                            "`steps.{0}` reads as a subtraction in a template; write `steps[\"{0}\"]`",
                            r.name
                        );
                        let fix = format!("steps[\"{}\"]", r.name);
                        self.push(Diagnostic::new(Code::UnknownReference, r.span, message).with_suggestions(vec![fix]));
                    } else if !index.contains_key(r.name.as_str()) {
                        self.unknown_step(&r.name, r.name_span, index);
                    } else if let Some(field) = &r.field
                        && field != "output"
                        && field != "outputs"
                    {
                        self.push(Diagnostic::new(
                            Code::UnknownReference,
                            r.span,
                            format!("a step has `output` and `outputs`, not `{field}`"),
                        ));
                    }
                }
                RefKind::Item | RefKind::Index if !in_fan_out => {
                    let name = if r.kind == RefKind::Item { "item" } else { "index" };
                    self.push(Diagnostic::new(
                        Code::UnknownReference,
                        r.span,
                        format!("`{name}` is only defined in a step with `for_each`"),
                    ));
                }
                RefKind::Item | RefKind::Index => {}
            }
        }
    }

    fn unknown_step(&mut self, name: &str, span: Span, index: &HashMap<&str, usize>) {
        let suggestions = nearest(name, index.keys().copied());
        let message = if suggestions.is_empty() {
            let mut known: Vec<&str> = index.keys().copied().collect();
            known.sort_unstable();
            format!("unknown step `{name}`; steps in this workflow: {}", known.join(", "))
        } else {
            format!("unknown step `{name}`{}", did_you_mean(&suggestions))
        };
        self.push(Diagnostic::new(Code::UnknownReference, span, message).with_suggestions(suggestions));
    }

    /// Reports each dependency cycle once, on the reference that closes it, naming the loop.
    fn cycles(&mut self, index: &HashMap<&str, usize>) {
        let steps = &self.wf.steps;
        let deps: Vec<Vec<(usize, Span)>> = steps
            .iter()
            .map(|s| {
                s.dependency_refs()
                    .filter_map(|(name, span)| index.get(name).map(|&i| (i, span)))
                    .filter(|&(i, _)| steps[i].id_str() != s.id_str())
                    .collect()
            })
            .collect();
        // Iterative DFS with colours: 0 new, 1 on stack, 2 done.
        let mut colour = vec![0u8; steps.len()];
        let mut path: Vec<usize> = Vec::new();
        for start in 0..steps.len() {
            if colour[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            colour[start] = 1;
            path.push(start);
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&(dep, span)) = deps[node].get(*next) {
                    *next += 1;
                    match colour[dep] {
                        0 => {
                            colour[dep] = 1;
                            path.push(dep);
                            stack.push((dep, 0));
                        }
                        1 => {
                            let from = path.iter().position(|&n| n == dep).unwrap_or(0);
                            let mut names: Vec<&str> = path[from..].iter().map(|&n| steps[n].id_str()).collect();
                            names.push(steps[dep].id_str());
                            let message = format!("dependency cycle: {}", names.join(" → "));
                            self.out.push(Diagnostic::new(Code::DependencyCycle, span, message));
                        }
                        _ => {}
                    }
                } else {
                    colour[node] = 2;
                    path.pop();
                    stack.pop();
                }
            }
        }
    }
}
