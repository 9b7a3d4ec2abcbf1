//! OpenAI Chat Completions (and every OpenAI-compatible endpoint): `POST {base}/chat/completions`,
//! SSE `data:` chunks ending in `[DONE]`, usage in a last chunk with empty `choices`.

use serde_json::{Map, Value, json};

use super::{AuthHeader, ChatRequest, HttpRequest, StreamDecoder, Usage, parse_json, stream_error, u64_at};
use crate::engine::error::ProviderError;
use crate::engine::secret::ApiKey;
use crate::model::catalog::ProviderInfo;

pub(super) fn request(provider: &ProviderInfo, key: Option<ApiKey>, req: &ChatRequest) -> HttpRequest {
    let mut messages = Vec::new();
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": req.prompt}));
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = req.params.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.params.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(n) = req.params.max_tokens {
        // OpenAI itself deprecated `max_tokens` (its reasoning models reject it); compatible
        // endpoints mostly know only `max_tokens`.
        let name = if provider.from_config {
            "max_tokens"
        } else {
            "max_completion_tokens"
        };
        body.insert(name.into(), json!(n));
    }
    if let Some(stop) = &req.params.stop {
        body.insert("stop".into(), json!(stop));
    }
    body.insert("stream".into(), json!(true));
    body.insert("stream_options".into(), json!({"include_usage": true}));
    HttpRequest {
        method: "POST",
        url: format!("{}/chat/completions", provider.base_url),
        headers: vec![("content-type", "application/json".to_string())],
        auth: Some(AuthHeader {
            name: "authorization",
            prefix: "Bearer ",
            key,
        }),
        body: Some(Value::Object(body)),
    }
}

#[derive(Default)]
pub(super) struct Decoder {
    usage: Usage,
    /// OpenRouter (and some other compatible endpoints) put the USD cost in `usage.cost`.
    cost: Option<f64>,
    done: bool,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, _event: Option<&str>, data: &str) -> Result<Option<String>, ProviderError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let value = parse_json(data)?;
        if value.get("error").is_some() {
            return Err(stream_error(&value));
        }
        if let Some(n) = u64_at(&value, "/usage/prompt_tokens") {
            self.usage.input_tokens = n;
        }
        if let Some(n) = u64_at(&value, "/usage/completion_tokens") {
            self.usage.output_tokens = n;
        }
        if let Some(cost) = value.pointer("/usage/cost").and_then(|c| c.as_f64()) {
            self.cost = Some(cost);
        }
        let text: String = value
            .get("choices")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .filter_map(|c| c.pointer("/delta/content").and_then(|t| t.as_str()))
            .collect();
        Ok((!text.is_empty()).then_some(text))
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn reported_cost(&self) -> Option<f64> {
        self.cost
    }
}
