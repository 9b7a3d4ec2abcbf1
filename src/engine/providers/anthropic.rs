//! Anthropic Messages API: `POST {base}/v1/messages`, SSE with typed events.

use serde_json::{Map, Value, json};

use super::{AuthHeader, ChatRequest, HttpRequest, StreamDecoder, Usage, parse_json, stream_error, u64_at};
use crate::engine::error::ProviderError;
use crate::engine::secret::ApiKey;

/// The API version header the engine speaks.
pub const VERSION: &str = "2023-06-01";

/// Anthropic requires `max_tokens`; used when nothing sets it.
const DEFAULT_MAX_TOKENS: u32 = 4096;

pub(super) fn request(base: &str, key: Option<ApiKey>, req: &ChatRequest) -> HttpRequest {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert(
        "max_tokens".into(),
        json!(req.params.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if let Some(system) = &req.system {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), json!([{"role": "user", "content": req.prompt}]));
    if let Some(t) = req.params.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.params.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(stop) = &req.params.stop {
        body.insert("stop_sequences".into(), json!(stop));
    }
    body.insert("stream".into(), json!(true));
    HttpRequest {
        method: "POST",
        url: format!("{base}/v1/messages"),
        headers: vec![
            ("anthropic-version", VERSION.to_string()),
            ("content-type", "application/json".to_string()),
        ],
        auth: Some(AuthHeader {
            name: "x-api-key",
            prefix: "",
            key,
        }),
        body: Some(Value::Object(body)),
    }
}

#[derive(Default)]
pub(super) struct Decoder {
    usage: Usage,
    stopped: bool,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: Option<&str>, data: &str) -> Result<Option<String>, ProviderError> {
        if data.is_empty() && event == Some("ping") {
            return Ok(None);
        }
        let value = parse_json(data)?;
        let kind = value.get("type").and_then(|t| t.as_str()).or(event).unwrap_or("");
        match kind {
            "message_start" => {
                self.usage.input_tokens = u64_at(&value, "/message/usage/input_tokens").unwrap_or(0);
                self.usage.output_tokens = u64_at(&value, "/message/usage/output_tokens").unwrap_or(0);
            }
            "content_block_delta" => {
                if let Some(text) = value.pointer("/delta/text").and_then(|t| t.as_str()) {
                    return Ok(Some(text.to_string()));
                }
            }
            "message_delta" => {
                if let Some(n) = u64_at(&value, "/usage/output_tokens") {
                    self.usage.output_tokens = n;
                }
                if let Some(n) = u64_at(&value, "/usage/input_tokens") {
                    self.usage.input_tokens = n;
                }
            }
            "message_stop" => self.stopped = true,
            "error" => return Err(stream_error(&value)),
            "ping" | "content_block_start" | "content_block_stop" => {}
            other => {
                if value.get("error").is_some() {
                    return Err(stream_error(&value));
                }
                tracing::debug!("anthropic: ignoring event {other}");
            }
        }
        Ok(None)
    }

    fn finished(&self) -> bool {
        self.stopped
    }

    fn usage(&self) -> Usage {
        self.usage
    }
}
