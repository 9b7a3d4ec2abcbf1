//! Building a step's requests: its candidates (provider/model, then the fallbacks), system
//! prompt and params, its fan-out items, and the HTTP request for one rendered prompt. The
//! dry run and a real run share all of it.

use std::collections::BTreeMap;

use minijinja::Value;
use sha2::{Digest, Sha256};

use super::RunRequest;
use super::providers::{ChatRequest, GenParams, HttpRequest, chat_request};
use super::render::{Renderer, StepOutput, with_item};
use super::secret::ApiKey;
use crate::model::resolve::Effective;
use crate::model::runs::StepRecord;
use crate::model::workflow::{Step, Workflow};

/// A provider/model to try, in fallback order.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Provider ID.
    pub provider: String,
    /// Model ID.
    pub model: String,
}

/// Everything a step needs to build its requests.
#[derive(Debug, Clone)]
pub struct StepSetup {
    /// The effective provider/model first, then the fallbacks.
    pub candidates: Vec<Candidate>,
    /// The persona's system prompt.
    pub system: Option<String>,
    /// Generation parameters.
    pub params: GenParams,
}

impl StepSetup {
    /// The step's candidates, system prompt and params; an error when it has no provider or
    /// model.
    pub fn new(
        request: &RunRequest,
        workflow: &Workflow,
        step: &Step,
        effective: &Effective,
    ) -> Result<StepSetup, String> {
        let workspace = &request.workspace;
        let provider = effective
            .provider
            .as_ref()
            .ok_or("no provider: set `provider` on the step or the workflow")?;
        let model = effective
            .model
            .as_ref()
            .ok_or_else(|| format!("no model for provider `{}`", provider.value))?;
        let mut candidates = vec![Candidate {
            provider: provider.value.clone(),
            model: model.value.clone(),
        }];
        for fb in &step.fallback {
            let model = fb.model.as_ref().map(|m| m.value.clone()).or_else(|| {
                workspace
                    .catalog
                    .provider(&fb.provider.value)
                    .map(|p| p.default_model.clone())
            });
            if let Some(model) = model {
                candidates.push(Candidate {
                    provider: fb.provider.value.clone(),
                    model,
                });
            }
        }
        let system = effective
            .persona_id()
            .and_then(|id| workspace.persona(workflow, id))
            .and_then(|p| p.persona().system.as_ref().map(|s| s.value.clone()));
        let p = &effective.params;
        let params = GenParams {
            temperature: p.temperature.as_ref().map(|v| v.value),
            max_tokens: p.max_tokens.as_ref().map(|v| v.value),
            top_p: p.top_p.as_ref().map(|v| v.value),
            stop: p.stop.as_ref().map(|v| v.value.clone()),
        };
        Ok(StepSetup {
            candidates,
            system,
            params,
        })
    }

    /// The first candidate.
    pub fn first(&self) -> &Candidate {
        &self.candidates[0]
    }

    /// The HTTP request asking `candidate` for `prompt` (`None`: the provider is unknown).
    pub fn request(
        &self,
        request: &RunRequest,
        candidate: &Candidate,
        prompt: &str,
        key: Option<ApiKey>,
    ) -> Option<HttpRequest> {
        let provider = request.workspace.catalog.provider(&candidate.provider)?;
        let chat = ChatRequest {
            model: candidate.model.clone(),
            system: self.system.clone(),
            prompt: prompt.to_string(),
            params: self.params.clone(),
        };
        Some(chat_request(provider, key, &chat))
    }

    /// SHA-256 of the request `prompt` makes to the first candidate (no key): what a
    /// checkpointed item is matched by (recorded in hex).
    pub fn request_digest(&self, request: &RunRequest, prompt: &str) -> Option<[u8; 32]> {
        self.request(request, self.first(), prompt, None)
            .map(|r| request_digest(&r))
    }
}

/// One prompt to render: the whole step, or one fan-out item.
#[derive(Debug, Clone)]
pub struct Item {
    /// The item's index (`None` without fan-out).
    pub index: Option<usize>,
    /// The template context, with `item` and `index` for a fan-out item.
    pub context: Value,
}

/// The prompts of a step: one, or one per `for_each` item. Each item's context is made when
/// it is taken, so a fan-out over 100,000 items holds their values, not 100,000 contexts.
#[derive(Debug, Clone)]
pub struct Prompts {
    base: Value,
    each: Option<Vec<Value>>,
}

impl Prompts {
    /// Whether the step fans out.
    pub fn fan_out(&self) -> bool {
        self.each.is_some()
    }

    /// How many prompts there are.
    pub fn count(&self) -> usize {
        self.each.as_ref().map_or(1, Vec::len)
    }

    /// The prompts in item order.
    pub fn into_items(self) -> impl Iterator<Item = Item> {
        let Prompts { base, each } = self;
        let whole = each.is_none().then(|| Item {
            index: None,
            context: base.clone(),
        });
        let items = each.into_iter().flatten().enumerate().map(move |(i, v)| Item {
            index: Some(i),
            context: with_item(&base, &v, i),
        });
        whole.into_iter().chain(items)
    }
}

/// The prompts of `step` in the context `base`: one per `for_each` item, or one.
pub fn items(renderer: &Renderer, step: &Step, base: &Value) -> Result<Prompts, String> {
    let each = match &step.for_each {
        Some(expr) => Some(renderer.items(&expr.source, base)?),
        None => None,
    };
    Ok(Prompts {
        base: base.clone(),
        each,
    })
}

/// The outputs templates can see: each of `steps` that has one.
pub fn outputs<'r>(steps: impl Iterator<Item = &'r StepRecord>) -> BTreeMap<String, StepOutput> {
    steps
        .filter(|s| s.has_output())
        .filter_map(|s| {
            let result = s.result()?;
            let output = result.output.clone().unwrap_or_default();
            let outputs = result.outputs.clone().unwrap_or_else(|| vec![output.clone()]);
            Some((s.id.clone(), StepOutput { output, outputs }))
        })
        .collect()
}

/// SHA-256 of a request's method, URL and body.
pub fn request_digest(req: &HttpRequest) -> [u8; 32] {
    let body = req.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
    Sha256::digest(format!("{} {}\n{body}", req.method, req.url).as_bytes()).into()
}
