//! The preview of one step's request: exactly what a run of that step would send now, built
//! by the planner and request builder a run uses, from the latest recorded upstream outputs
//! (a visible placeholder for those without one). No key is read; nothing is sent.

use std::collections::BTreeMap;

use super::graph::Graph;
use super::planner::plan;
use super::providers::HttpRequest;
use super::record::{latest, workflow_key};
use super::render::{Renderer, StepOutput, context};
use super::requests::{StepSetup, items, outputs};
use super::{EngineError, RunRequest, RunTarget, USER_AGENT};
use crate::model::resolve::{ParamRow, Source, Sourced, resolve_step};

/// Why a step has no request to preview.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The run itself would not start (unknown step, bad override, …).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The step has no provider or model.
    #[error("{0}")]
    Setup(String),
    /// The step's provider is not in the catalog.
    #[error("unknown provider `{0}`")]
    UnknownProvider(String),
    /// The step has no prompt.
    #[error("step `{0}` has no prompt")]
    NoPrompt(String),
    /// The prompt or `for_each` does not render.
    #[error("{0}")]
    Render(String),
    /// `for_each` gives no items, so the step sends nothing.
    #[error("`for_each` of step `{0}` gives no items: the step sends nothing")]
    NoItems(String),
}

/// Which fan-out item a preview shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShownItem {
    /// Its index (0-based).
    pub index: usize,
    /// How many items the step has.
    pub total: usize,
}

/// The request step `step` would send, and what it was built from.
#[derive(Debug, Clone)]
pub struct RequestPreview {
    /// Step ID.
    pub step: String,
    /// The provider, with its source.
    pub provider: Sourced<String>,
    /// The model, with its source.
    pub model: Sourced<String>,
    /// The persona in force (`None`: none), with its source.
    pub persona: Option<Sourced<Option<String>>>,
    /// The merged params, each with its source.
    pub params: Vec<ParamRow>,
    /// The persona's system prompt.
    pub system: Option<String>,
    /// The rendered prompt.
    pub prompt: String,
    /// Upstream steps without a recorded output: they appear as placeholders, and a run of
    /// this step runs them first.
    pub not_run: Vec<String>,
    /// Inputs without a value: they appear as placeholders.
    pub missing_inputs: Vec<String>,
    /// The fan-out item shown (`None` without fan-out).
    pub item: Option<ShownItem>,
    /// The fallbacks (`provider/model`), tried in order only when this request fails.
    pub fallbacks: Vec<String>,
    /// The request, key not set.
    pub request: HttpRequest,
    /// The environment variable the key comes from (for "Copy as curl").
    pub key_variable: Option<String>,
}

/// What a template sees for the output of an upstream step that has none yet.
pub fn not_run_placeholder(step: &str) -> StepOutput {
    StepOutput {
        output: format!("⟨steps.{step}.output: not run yet⟩"),
        outputs: vec![format!("⟨steps.{step}.outputs: not run yet⟩")],
    }
}

/// What a template sees for an input without a value.
pub fn missing_input_placeholder(name: &str) -> String {
    format!("⟨inputs.{name}: no value⟩")
}

/// The request step `step_id` of `request`'s workflow would send now (its first fan-out
/// item, and its first candidate: fallbacks are only tried when it fails).
pub fn preview(request: &RunRequest, step_id: &str) -> Result<RequestPreview, PreviewError> {
    let mut request = RunRequest {
        target: RunTarget::Step(step_id.to_string()),
        ..request.clone()
    };
    let workflow = request.workflow.clone();
    let graph = Graph::new(&workflow);
    let prior = latest(&request.workspace.config.runs_dir(), &request.path);
    let planned = match plan(&request, &workflow, &graph, prior.as_ref(), workflow_key(&request.path)) {
        Err(EngineError::MissingInputs(names)) => {
            for name in &names {
                request.inputs.insert(name.clone(), missing_input_placeholder(name));
            }
            let planned = plan(&request, &workflow, &graph, prior.as_ref(), workflow_key(&request.path))?;
            (planned, names)
        }
        other => (other?, Vec::new()),
    };
    let (plan, missing_inputs) = planned;
    let index = plan
        .to_run
        .iter()
        .copied()
        .find(|&i| graph.ids[i] == step_id)
        .ok_or_else(|| PreviewError::Setup(format!("step `{step_id}` would not run")))?;
    let step = &workflow.steps[index];
    let mut not_run = Vec::new();
    let mut known: BTreeMap<String, StepOutput> = outputs(graph.deps[index].iter().map(|&d| &plan.record.steps[d]));
    for &dep in &graph.deps[index] {
        let id = &graph.ids[dep];
        if !known.contains_key(id) {
            not_run.push(id.clone());
            known.insert(id.clone(), not_run_placeholder(id));
        }
    }
    let effective = resolve_step(&workflow, step, &request.workspace, &request.overrides);
    let setup = StepSetup::new(&request, &workflow, step, &effective).map_err(PreviewError::Setup)?;
    let renderer = Renderer::new();
    let base = context(&plan.record.inputs, &known);
    let prompts = items(&renderer, step, &base).map_err(PreviewError::Render)?;
    let (fan_out, total) = (prompts.fan_out(), prompts.count());
    let first = prompts
        .into_items()
        .next()
        .ok_or_else(|| PreviewError::NoItems(step_id.to_string()))?;
    let source = step
        .prompt
        .as_ref()
        .ok_or_else(|| PreviewError::NoPrompt(step_id.to_string()))?;
    let prompt = renderer
        .prompt(&source.source, &first.context)
        .map_err(PreviewError::Render)?;
    let candidate = setup.first();
    let provider = request
        .workspace
        .catalog
        .provider(&candidate.provider)
        .ok_or_else(|| PreviewError::UnknownProvider(candidate.provider.clone()))?;
    let http = setup
        .request(&request, candidate, &prompt, None)
        .ok_or_else(|| PreviewError::UnknownProvider(candidate.provider.clone()))?;
    let key_variable = provider
        .api_key_env
        .iter()
        .find(|name| request.env.var(name).is_some())
        .or(provider.api_key_env.first())
        .cloned();
    let sourced = |s: &Option<Sourced<String>>, value: &str| {
        s.clone().unwrap_or(Sourced {
            value: value.to_string(),
            source: Source::ProviderDefault,
            span: None,
        })
    };
    Ok(RequestPreview {
        step: step_id.to_string(),
        provider: sourced(&effective.provider, &candidate.provider),
        model: sourced(&effective.model, &candidate.model),
        persona: effective.persona.clone(),
        params: effective.params.rows(),
        system: setup.system.clone(),
        prompt,
        not_run,
        missing_inputs,
        item: fan_out.then_some(ShownItem { index: 0, total }),
        fallbacks: setup.candidates[1..]
            .iter()
            .map(|c| format!("{}/{}", c.provider, c.model))
            .collect(),
        request: http,
        key_variable,
    })
}

impl RequestPreview {
    /// The headers as sent, in order, the key as `***`: the request's own, then the
    /// client's `user-agent`.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = self
            .request
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_string(), value.clone()))
            .collect();
        headers.push(("user-agent".to_string(), USER_AGENT.to_string()));
        if let Some(auth) = &self.request.auth {
            headers.push((auth.name.to_string(), format!("{}***", auth.prefix)));
        }
        headers
    }

    /// The body exactly as sent (compact JSON).
    pub fn body_text(&self) -> Option<String> {
        self.request.body.as_ref().map(|b| b.to_string())
    }

    /// A one-line curl command sending the same request, the key as a reference to its
    /// environment variable (never its value).
    pub fn curl(&self) -> String {
        let mut parts = vec![
            "curl".to_string(),
            "-N".to_string(),
            "-X".to_string(),
            self.request.method.to_string(),
            shell_quote(&self.request.url),
        ];
        for (name, value) in &self.request.headers {
            parts.push("-H".to_string());
            parts.push(shell_quote(&format!("{name}: {value}")));
        }
        parts.push("-H".to_string());
        parts.push(shell_quote(&format!("user-agent: {USER_AGENT}")));
        if let Some(auth) = &self.request.auth {
            let variable = self.key_variable.as_deref().unwrap_or("API_KEY");
            parts.push("-H".to_string());
            parts.push(format!("\"{}: {}${variable}\"", auth.name, auth.prefix));
        }
        if let Some(body) = self.body_text() {
            parts.push("--data-raw".to_string());
            parts.push(shell_quote(&body));
        }
        parts.join(" ")
    }

    /// The preview as a read-only document: what is shown, the request, the params with
    /// their sources, the prompt, and the curl line.
    pub fn text(&self) -> String {
        let mut out = format!("# Request preview: step `{}`", self.step);
        if let Some(item) = self.item {
            out.push_str(&format!(" — item {} of {} (for_each)", item.index + 1, item.total));
        }
        out.push('\n');
        let persona = match &self.persona {
            Some(Sourced {
                value: Some(id),
                source,
                ..
            }) => format!(" · persona {id} ({source})"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "# {} ({}) / {} ({}){persona}\n",
            self.provider.value, self.provider.source, self.model.value, self.model.source
        ));
        if !self.fallbacks.is_empty() {
            out.push_str(&format!(
                "# fallbacks, only if this request fails: {}\n",
                self.fallbacks.join(", ")
            ));
        }
        if !self.not_run.is_empty() {
            out.push_str(&format!(
                "# not run yet (shown as placeholders; a run of this step runs them first): {}\n",
                self.not_run.join(", ")
            ));
        }
        if !self.missing_inputs.is_empty() {
            out.push_str(&format!(
                "# inputs without a value (shown as placeholders): {}\n",
                self.missing_inputs.join(", ")
            ));
        }
        out.push('\n');
        out.push_str(&format!("{} {}\n", self.request.method, self.request.url));
        for (name, value) in self.headers() {
            out.push_str(&format!("{name}: {value}\n"));
        }
        if let Some(body) = &self.request.body {
            out.push('\n');
            out.push_str(&serde_json::to_string_pretty(body).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("\n## Params\n");
        if self.params.is_empty() {
            out.push_str("(none)\n");
        }
        for row in &self.params {
            out.push_str(&format!("{}: {} ({})\n", row.name, row.value, row.source));
        }
        if let Some(system) = &self.system {
            out.push_str(&format!("\n## System\n{}\n", system.trim_end()));
        }
        out.push_str(&format!("\n## Prompt\n{}\n", self.prompt));
        out.push_str(&format!("\n## curl\n{}\n", self.curl()));
        out
    }
}

/// `text` in single quotes for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
