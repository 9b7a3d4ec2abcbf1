//! Diagnostics in stages, like taplo: YAML syntax, then structure (from lowering), then
//! meaning (providers, models, personas, references, cycles, availability, secrets).

use super::step_env::StepEnv;
use super::step_graph::StepGraph;
use super::{Analysis, syntax_errors};
use crate::model::catalog::Availability;
use crate::model::diagnostic::{Code, Diagnostic, Severity, did_you_mean, nearest};
use crate::model::resolve::{Overrides, resolve_step};
use crate::model::secrets::redact_owned;
use crate::model::template::{RefKind, Template};
use crate::model::template_env;
use crate::model::workflow::{Spanned, Step, Workflow};
use crate::syntax::text::Span;

/// All diagnostics of `analysis`, given the structural ones from lowering.
pub fn diagnose(analysis: &Analysis, structural: &[Diagnostic]) -> Vec<Diagnostic> {
    let text = analysis.text();
    let StepDiagnostics {
        diagnostics: semantic_found,
        unavailable,
    } = semantic(analysis);
    let mentions = unavailable.iter().map(|(provider, d)| (provider.as_str(), d)).chain(
        analysis
            .step_semantic()
            .unavailable
            .values()
            .map(|u| (u.0.as_str(), &u.1)),
    );
    let unavailable = first_mentions(mentions);
    let over_budget = super::budget::over_budget(analysis);
    let ws = &analysis.workspace;
    // Sized once: with 50,000 diagnostics a list grown by doubling held twice their room.
    let mut out = Vec::with_capacity(
        analysis.yaml.errors.len()
            + analysis.yaml.extra_documents.len()
            + structural.len()
            + 1
            + ws.library.refused_dirs.len()
            + semantic_found.len()
            + over_budget.len()
            + unavailable.len()
            + analysis.secrets.len(),
    );
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
    if let Some(err) = &ws.config.error {
        out.push(Diagnostic::new(
            Code::InvalidConfig,
            Span::empty(0),
            format!(
                "{} cannot be used as it is: {}; its settings that are right are in force",
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
    out.extend(semantic_found);
    out.extend(over_budget);
    out.extend(unavailable.into_iter().map(|(_, d)| d.clone()));
    for secret in &analysis.secrets {
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
        d.message = redact_owned(std::mem::take(&mut d.message));
        d.span = clamp(text, d.span);
    }
    out.sort_by_key(|d| (d.span.start, d.span.end));
    out
}

/// The diagnostic at the first mention of each unavailable provider: it is reported once per
/// document. Looked over by reference, as every keystroke does: a provider without a key may
/// be mentioned by thousands of steps.
fn first_mentions<'a>(mentions: impl Iterator<Item = (&'a str, &'a Diagnostic)>) -> Vec<(&'a str, &'a Diagnostic)> {
    let mut first: Vec<(&str, &Diagnostic)> = Vec::new();
    for (provider, d) in mentions {
        match first.iter_mut().find(|(p, _)| *p == provider) {
            Some(seen) if d.span.start < seen.1.span.start => seen.1 = d,
            Some(_) => {}
            None => first.push((provider, d)),
        }
    }
    first
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

/// What checking one step found.
#[derive(Debug, Default)]
pub(crate) struct StepDiagnostics {
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// Unavailable providers with the diagnostic at each mention.
    pub(crate) unavailable: Vec<(String, Diagnostic)>,
}

impl StepDiagnostics {
    /// Frees the room the lists grew into: a step's findings are kept (cached) as long as its
    /// chunk, and a list grown by pushing holds up to four diagnostics for one.
    fn shrink_to_fit(&mut self) {
        self.diagnostics.shrink_to_fit();
        self.unavailable.shrink_to_fit();
    }
}

/// The step's semantic diagnostics: a function of the step and its environment only.
pub(crate) fn check_step(env: &StepEnv, step: &Step) -> StepDiagnostics {
    let mut checks = Checks {
        env,
        found: StepDiagnostics::default(),
    };
    checks.step(step);
    checks.found.shrink_to_fit();
    checks.found
}

/// Checks of the workflow as a whole: its defaults and step IDs.
fn check_workflow(env: &StepEnv, wf: &Workflow, graph: &StepGraph) -> StepDiagnostics {
    let mut checks = Checks {
        env,
        found: StepDiagnostics::default(),
    };
    if let Some(p) = &wf.provider {
        checks.provider(p, "the workflow's provider");
        if let Some(m) = &wf.model {
            checks.model(&p.value, m);
        }
    }
    if let Some(p) = &wf.persona {
        checks.persona(p);
    }
    graph.duplicates_into(wf, &mut checks.found.diagnostics);
    checks.found
}

/// The diagnostics of every step and of the workflow (the steps' unavailable providers apart:
/// [`first_mentions`] reads them where they are kept).
fn semantic(analysis: &Analysis) -> StepDiagnostics {
    let graph = analysis.graph();
    let mut all = check_workflow(&analysis.step_env, &analysis.workflow, graph);
    all.diagnostics
        .extend(analysis.step_semantic().diagnostics.values().cloned());
    graph.cycles_into(&analysis.workflow, &mut all.diagnostics);
    all
}

/// How many step names an "unknown step" message lists.
const LISTED_STEPS: usize = 20;

struct Checks<'a> {
    env: &'a StepEnv,
    found: StepDiagnostics,
}

impl Checks<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.found.diagnostics.push(d);
    }

    fn provider(&mut self, p: &Spanned<String>, what: &str) -> bool {
        let catalog = &self.env.workspace.catalog;
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
                    self.found.unavailable.push((info.id.clone(), d));
                }
                true
            }
        }
    }

    fn model(&mut self, provider: &str, m: &Spanned<String>) {
        let catalog = &self.env.workspace.catalog;
        let Some(info) = catalog.provider(provider) else {
            return;
        };
        if info.knows_model(&m.value) {
            return;
        }
        let suggestions = nearest(&m.value, info.models.iter().map(|m| m.id.as_str()));
        let owner = catalog.providers().iter().find(|p| p.knows_model(&m.value));
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
        let env = self.env;
        if env.inline_personas.contains(&p.value) {
            return;
        }
        if let Some(lp) = env.workspace.library.get(&p.value) {
            if let Some(problem) = lp.diagnostics.iter().find(|d| d.severity == Severity::Error) {
                let message = format!("persona file {} is invalid: {}", lp.path.display(), problem.message);
                self.push(Diagnostic::new(Code::InvalidConfig, p.span, message));
            }
            return;
        }
        let suggestions = env.personas.nearest(&p.value);
        let message = format!(
            "unknown persona `{}`{}",
            p.value,
            if suggestions.is_empty() {
                let dirs = env.workspace.config.config.persona_dirs.join(", ");
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

    fn step(&mut self, step: &Step) {
        let env = self.env;
        let effective = resolve_step(&env.defaults, step, &env.workspace, &Overrides::default());
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
            } else if !self.env.steps.contains(&need.value) {
                self.unknown_step(&need.value, need.span);
            }
        }
        let fan_out = step.for_each.is_some();
        for (template, is_for_each) in step
            .prompt
            .iter()
            .map(|t| (t, false))
            .chain(step.for_each.as_deref().map(|t| (t, true)))
        {
            self.template(template, own_id, fan_out && !is_for_each);
        }
    }

    fn template(&mut self, template: &Template, own_id: &str, in_fan_out: bool) {
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
                    if !self.env.inputs.contains(&r.name) {
                        let suggestions = self.env.inputs.nearest(&r.name);
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
                    } else if !self.env.steps.contains(&r.name) {
                        self.unknown_step(&r.name, r.name_span);
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

    fn unknown_step(&mut self, name: &str, span: Span) {
        let steps = &self.env.steps;
        let suggestions = steps.nearest(name);
        let message = if suggestions.is_empty() {
            format!(
                "unknown step `{name}`; steps in this workflow: {}",
                steps.listing(LISTED_STEPS)
            )
        } else {
            format!("unknown step `{name}`{}", did_you_mean(&suggestions))
        };
        self.push(Diagnostic::new(Code::UnknownReference, span, message).with_suggestions(suggestions));
    }
}
