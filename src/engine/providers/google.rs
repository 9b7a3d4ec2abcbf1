//! Google Gemini: `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`, SSE
//! `data:` chunks each a `GenerateContentResponse`; the stream simply ends.

use serde_json::{Map, Value, json};

use super::{AuthHeader, ChatRequest, HttpRequest, StreamDecoder, Usage, parse_json, stream_error, u64_at};
use crate::engine::error::ProviderError;
use crate::engine::secret::ApiKey;

pub(super) fn request(base: &str, key: Option<ApiKey>, req: &ChatRequest) -> HttpRequest {
    let mut body = Map::new();
    body.insert(
        "contents".into(),
        json!([{"role": "user", "parts": [{"text": req.prompt}]}]),
    );
    if let Some(system) = &req.system {
        body.insert("systemInstruction".into(), json!({"parts": [{"text": system}]}));
    }
    let mut config = Map::new();
    if let Some(t) = req.params.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.params.top_p {
        config.insert("topP".into(), json!(p));
    }
    if let Some(n) = req.params.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(stop) = &req.params.stop {
        config.insert("stopSequences".into(), json!(stop));
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    HttpRequest {
        method: "POST",
        url: format!("{base}/v1beta/models/{}:streamGenerateContent?alt=sse", req.model),
        headers: vec![("content-type", "application/json".to_string())],
        auth: Some(AuthHeader {
            name: "x-goog-api-key",
            prefix: "",
            key,
        }),
        body: Some(Value::Object(body)),
    }
}

#[derive(Default)]
pub(super) struct Decoder {
    usage: Usage,
    finish_reason: bool,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, _event: Option<&str>, data: &str) -> Result<Option<String>, ProviderError> {
        let value = parse_json(data)?;
        if value.get("error").is_some() {
            return Err(stream_error(&value));
        }
        if let Some(n) = u64_at(&value, "/usageMetadata/promptTokenCount") {
            self.usage.input_tokens = n;
        }
        if let Some(n) = u64_at(&value, "/usageMetadata/candidatesTokenCount") {
            self.usage.output_tokens = n;
        }
        let candidate = value.pointer("/candidates/0");
        if candidate.and_then(|c| c.get("finishReason")).is_some() {
            self.finish_reason = true;
        }
        let text: String = candidate
            .and_then(|c| c.pointer("/content/parts"))
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
            .filter(|p| p.get("thought").and_then(|t| t.as_bool()) != Some(true))
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect();
        Ok((!text.is_empty()).then_some(text))
    }

    /// The stream has no end marker; a candidate with a `finishReason` is the last one.
    fn finished(&self) -> bool {
        self.finish_reason
    }

    fn usage(&self) -> Usage {
        self.usage
    }
}
