//! Diagnostics in stages, like taplo: YAML syntax, then structure (from lowering), then
//! meaning (providers, models, personas, references, cycles, availability, secrets).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::Analysis;
use crate::model::diagnostic::{Code, Diagnostic, Severity, did_you_mean, nearest};
use crate::model::resolve::{Overrides, resolve_step};
use crate::model::secrets::{find_secrets, redact};
use crate::model::template::{RefKind, Template};
use crate::model::workflow::{Spanned, Step, Workflow, step_index};
use crate::model::workspace::{PersonaRef, Workspace};
use crate::syntax::text::Span;

/// All diagnostics of `analysis`, given the structural ones from lowering.
pub fn diagnose(analysis: &Analysis, structural: &[Diagnostic]) -> Vec<Diagnostic> {
    let text = analysis.text();
    let mut out = Vec::new();
    for err in &analysis.yaml.errors {
        out.push(Diagnostic::new(
            Code::YamlSyntax,
            widen(text, err.span),
            format!("YAML syntax error: {}", err.message),
        ));
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
    let wf = &analysis.workflow;
    Checker {
        wf,
        ws,
        out: &mut out,
        warned_unavailable: HashSet::default(),
    }
    .run();
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

struct Checker<'a> {
    wf: &'a Workflow,
    ws: &'a Workspace,
    out: &'a mut Vec<Diagnostic>,
    /// Providers already reported unavailable: once per document, at the first mention.
    warned_unavailable: HashSet<String>,
}

impl Checker<'_> {
    fn run(&mut self) {
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
        for step in &wf.steps {
            self.step(step, &index);
        }
        self.cycles(&index);
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
                if !info.is_available() && self.warned_unavailable.insert(info.id.clone()) {
                    let alternatives: Vec<String> = catalog.healthy().map(|p| p.id.clone()).collect();
                    let message = format!(
                        "{what} `{}` is unavailable: {} is not set{}",
                        info.id,
                        info.api_key_env.join(" or "),
                        if alternatives.is_empty() {
                            String::new()
                        } else {
                            format!(" (available: {})", alternatives.join(", "))
                        }
                    );
                    self.push(
                        Diagnostic::new(Code::ProviderUnavailable, p.span, message).with_suggestions(alternatives),
                    );
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
