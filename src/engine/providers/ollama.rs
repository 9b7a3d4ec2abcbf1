//! Ollama: `POST {base}/api/chat`, an NDJSON stream ending in a line with `"done": true`;
//! `{"error": …}` lines may come mid-stream.

use serde_json::{Map, Value, json};

use super::{ChatRequest, HttpRequest, StreamDecoder, Usage, parse_json, stream_error, u64_at};
use crate::engine::error::ProviderError;

pub(super) fn request(base: &str, req: &ChatRequest) -> HttpRequest {
    let mut messages = Vec::new();
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": req.prompt}));
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(true));
    let mut options = Map::new();
    if let Some(t) = req.params.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.params.top_p {
        options.insert("top_p".into(), json!(p));
    }
    if let Some(n) = req.params.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    if let Some(stop) = &req.params.stop {
        options.insert("stop".into(), json!(stop));
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    HttpRequest {
        method: "POST",
        url: format!("{base}/api/chat"),
        headers: vec![("content-type", "application/json".to_string())],
        auth: None,
        body: Some(Value::Object(body)),
    }
}

#[derive(Default)]
pub(super) struct Decoder {
    usage: Usage,
    done: bool,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, _event: Option<&str>, data: &str) -> Result<Option<String>, ProviderError> {
        let value = parse_json(data)?;
        if value.get("error").is_some() {
            return Err(stream_error(&value));
        }
        if value.get("done").and_then(|d| d.as_bool()) == Some(true) {
            self.done = true;
            self.usage.input_tokens = u64_at(&value, "/prompt_eval_count").unwrap_or(0);
            self.usage.output_tokens = u64_at(&value, "/eval_count").unwrap_or(0);
        }
        let text = value.pointer("/message/content").and_then(|t| t.as_str()).unwrap_or("");
        Ok((!text.is_empty()).then(|| text.to_string()))
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn usage(&self) -> Usage {
        self.usage
    }
}
