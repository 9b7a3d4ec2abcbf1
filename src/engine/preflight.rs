//! The check before the first request: every step a run will send, with the overrides of
//! this run, must have a provider it can call (known, key set, answering), a persona that
//! exists, templates that parse and call only what the renderer has, and every input a value.
//! All problems are found at once and nothing is sent while any is left, so a missing key of
//! the last step no longer costs the requests of the steps before it. The CLI and the
//! language server both run it (through [`super::Engine::preflight`] and the run itself).

use std::collections::BTreeSet;

use super::graph::Graph;
use super::planner::{Plan, plan, plan_steps};
use super::record::{latest, workflow_key};
use super::render::Renderer;
use super::secret::ApiKey;
use super::{EngineError, RunRequest};
use crate::model::catalog::{Availability, ProviderInfo};
use crate::model::diagnostic::{Code, Diagnostic, Severity, Unknown, did_you_mean, nearest};
use crate::model::resolve::resolve_step;
use crate::model::runs::RunRecord;
use crate::model::template::Template;
use crate::model::template_env::candidates;
use crate::model::workflow::{Step, Workflow};
use crate::syntax::text::Span;

/// Problems that stop a run before anything is sent: every one found, errors first in step
/// order, then warnings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", summary(.problems))]
pub struct PreflightError {
    /// Each problem, placed in the workflow document.
    pub problems: Vec<Diagnostic>,
    /// Required inputs without a value (also among `problems`), for an editor to ask for.
    pub missing_inputs: Vec<String>,
}

impl PreflightError {
    /// The problems that stop the run.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.problems.iter().filter(|d| d.severity == Severity::Error)
    }
}

/// `not running: 2 problems found before sending anything:` and one line per problem.
fn summary(problems: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = problems.iter().filter(|d| d.severity == Severity::Error).collect();
    let noun = if errors.len() == 1 { "problem" } else { "problems" };
    let mut out = format!("not running: {} {noun} found before sending anything", errors.len());
    for d in errors {
        out.push_str(&format!(
            "\n- {}[{}]: {}",
            d.severity.as_str(),
            d.code.as_str(),
            d.message
        ));
    }
    out
}

/// The plan of `request` once every step it runs passed the check, with the warnings found
/// (models the provider does not list, fallbacks that will be skipped).
pub fn checked_plan(
    request: &RunRequest,
    graph: &Graph,
    prior: Option<&RunRecord>,
) -> Result<(Plan, Vec<Diagnostic>), EngineError> {
    let workflow = &request.workflow;
    let key = workflow_key(&request.path);
    let (plan, missing_inputs) = match plan(request, workflow, graph, prior, key) {
        Ok(plan) => (Some(plan), Vec::new()),
        Err(EngineError::MissingInputs(names)) => (None, names),
        Err(other) => return Err(other),
    };
    let to_run = match &plan {
        Some(plan) => plan.order(graph),
        None => {
            let (_, to_run) = plan_steps(graph, &request.target, prior)?;
            graph.order().into_iter().filter(|i| to_run.contains(i)).collect()
        }
    };
    let mut problems: Vec<Diagnostic> = missing_inputs
        .iter()
        .filter_map(|name| workflow.input(name))
        .map(|input| {
            Diagnostic::new(
                Code::MissingField,
                input.name.span,
                format!("input `{}` is required and has no value", input.name.value),
            )
        })
        .collect();
    let renderer = Renderer::new();
    for index in to_run {
        problems.extend(step_problems(request, workflow, &workflow.steps[index], &renderer));
    }
    problems.sort_by_key(|d| d.severity != Severity::Error);
    let errors = problems.iter().filter(|d| d.severity == Severity::Error).count();
    match plan {
        Some(plan) if errors == 0 => Ok((plan, problems)),
        None if errors == missing_inputs.len() => Err(EngineError::MissingInputs(missing_inputs)),
        _ => Err(EngineError::Preflight(PreflightError {
            problems,
            missing_inputs,
        })),
    }
}

/// The warnings of a run of `request` that may start, or why it may not; reads the latest
/// record, sends and writes nothing.
pub fn preflight(request: &RunRequest) -> Result<Vec<Diagnostic>, EngineError> {
    let graph = Graph::new(&request.workflow);
    let prior = latest(&request.workspace.config.runs_dir(), &request.path);
    checked_plan(request, &graph, prior.as_ref()).map(|(_, warnings)| warnings)
}

/// What stops `step` (or would surprise) when it runs with this request's overrides.
fn step_problems(request: &RunRequest, workflow: &Workflow, step: &Step, renderer: &Renderer) -> Vec<Diagnostic> {
    let workspace = &request.workspace;
    let catalog = &workspace.catalog;
    let id = step.id_str();
    let at = step.id.as_ref().map_or(step.span, |i| i.span);
    let effective = resolve_step(workflow, step, workspace, &request.overrides);
    let mut out = Vec::new();
    let place = |span: Option<Span>| span.unwrap_or(at);
    match &effective.provider {
        None => out.push(Diagnostic::new(
            Code::NoProvider,
            at,
            format!("step `{id}` has no provider: set `provider` on the step or the workflow"),
        )),
        Some(provider) => match catalog.provider(&provider.value) {
            None => {
                let unknown = Unknown::new(&provider.value, catalog.providers().iter().map(|p| p.id.as_str()));
                out.push(
                    Diagnostic::new(
                        Code::UnknownProvider,
                        place(provider.span),
                        format!("step `{id}` uses unknown provider {unknown}"),
                    )
                    .with_suggestions(unknown.nearest),
                );
            }
            Some(info) => {
                if let Some(why) = cannot_call(request, info) {
                    let mut d = Diagnostic::new(
                        Code::ProviderUnavailable,
                        place(provider.span),
                        format!("step `{id}` would call `{}`, which cannot be called: {why}", info.id),
                    );
                    d.severity = Severity::Error;
                    out.push(d);
                }
                match &effective.model {
                    None => out.push(Diagnostic::new(
                        Code::NoProvider,
                        place(provider.span),
                        format!("step `{id}` has no model for provider `{}`", info.id),
                    )),
                    Some(model) if !info.models.is_empty() && !info.knows_model(&model.value) => {
                        let listed = info.models.iter().map(|m| m.id.as_str());
                        let close = nearest(&model.value, listed);
                        out.push(
                            Diagnostic::new(
                                Code::UnknownModel,
                                place(model.span),
                                format!(
                                    "step `{id}`: `{}` does not list model `{}` (sent anyway; catalogs lag){}",
                                    info.id,
                                    model.value,
                                    did_you_mean(&close)
                                ),
                            )
                            .with_suggestions(close),
                        );
                    }
                    Some(_) => {}
                }
            }
        },
    }
    for fallback in &step.fallback {
        let name = &fallback.provider.value;
        let why = match catalog.provider(name) {
            None => {
                let unknown = Unknown::new(name, catalog.providers().iter().map(|p| p.id.as_str()));
                out.push(
                    Diagnostic::new(
                        Code::UnknownProvider,
                        fallback.provider.span,
                        format!("step `{id}` falls back to unknown provider {unknown}"),
                    )
                    .with_suggestions(unknown.nearest),
                );
                continue;
            }
            Some(info) => cannot_call(request, info),
        };
        if let Some(why) = why {
            out.push(Diagnostic::new(
                Code::ProviderUnavailable,
                fallback.provider.span,
                format!("step `{id}`: fallback `{name}` will be skipped: {why}"),
            ));
        }
    }
    if let Some(persona) = effective.persona_id()
        && workspace.persona(workflow, persona).is_none()
    {
        let inline = workflow.personas.iter().map(|p| p.id.value.as_str());
        let unknown = Unknown::new(persona, inline.chain(workspace.library.ids()));
        let span = effective.persona.as_ref().and_then(|p| p.span);
        out.push(
            Diagnostic::new(
                Code::UnknownPersona,
                place(span),
                format!("step `{id}` uses unknown persona {unknown}"),
            )
            .with_suggestions(unknown.nearest),
        );
    }
    match &step.prompt {
        None => out.push(Diagnostic::new(
            Code::MissingField,
            at,
            format!("step `{id}` has no `prompt`"),
        )),
        Some(prompt) => {
            out.extend(template_problems(id, "prompt", prompt));
            if prompt.error.is_none()
                && let Err(e) = renderer.compile(&prompt.source)
            {
                out.push(Diagnostic::new(
                    Code::TemplateSyntax,
                    prompt.span,
                    format!("step `{id}`: {e}"),
                ));
            }
        }
    }
    if let Some(for_each) = &step.for_each {
        out.extend(template_problems(id, "for_each", for_each));
    }
    out
}

/// Why `provider` cannot be called in this run, if it cannot: its key is not in the run's
/// environment, or a keyless provider did not answer its last probe. (An untrusted workspace
/// is refused before this check, by the trust gate.)
fn cannot_call(request: &RunRequest, provider: &ProviderInfo) -> Option<String> {
    if !provider.is_keyless() && ApiKey::for_provider(provider, request.env.as_ref()).is_none() {
        return Some(format!("{} is not set", provider.api_key_env.join(" or ")));
    }
    match &provider.availability {
        Availability::NotAnswering => provider.unavailable_reason(),
        _ => None,
    }
}

/// A template's syntax error and the filters, tests and functions it calls that the renderer
/// does not have.
fn template_problems(id: &str, key: &str, template: &Template) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(e) = &template.error {
        out.push(Diagnostic::new(
            Code::TemplateSyntax,
            e.span,
            format!("step `{id}`: the {key} does not parse: {}", e.message),
        ));
    }
    let mut seen = BTreeSet::new();
    for call in template.unknown_calls() {
        if !seen.insert((call.kind.noun(), call.name.as_str())) {
            continue;
        }
        let unknown = Unknown::new(&call.name, candidates(call.kind));
        out.push(
            Diagnostic::new(
                Code::UnknownFilter,
                call.span,
                format!(
                    "step `{id}`: the {key} calls unknown {} `{}`{}",
                    call.kind.noun(),
                    call.name,
                    did_you_mean(&unknown.nearest)
                ),
            )
            .with_suggestions(unknown.nearest),
        );
    }
    out
}
