//! The four wire formats: building the exact HTTP request of a chat call, and decoding its
//! streamed answer. `send` is shared; each format module knows only its own JSON.

mod anthropic;
mod google;
mod ollama;
mod openai;

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::error::{ErrorClass, ProviderError, error_message};
use super::retry::read_retry_headers;
use super::secret::ApiKey;
use crate::model::catalog::{ProviderInfo, ProviderKind};
use crate::model::secrets::KeyScrubber;

/// Generation parameters after resolution, as plain values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenParams {
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Maximum tokens to generate.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling mass.
    pub top_p: Option<f64>,
    /// Stop sequences.
    pub stop: Option<Vec<String>>,
}

/// One chat call: what every wire format needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The model ID.
    pub model: String,
    /// The persona's system prompt, if a persona is in force.
    pub system: Option<String>,
    /// The rendered prompt, sent as the one user message.
    pub prompt: String,
    /// Generation parameters.
    pub params: GenParams,
}

/// The key header of a request, kept apart so it can be printed redacted.
#[derive(Debug, Clone)]
pub struct AuthHeader {
    /// Header name, e.g. `x-api-key`.
    pub name: &'static str,
    /// Text before the key, e.g. `Bearer `.
    pub prefix: &'static str,
    /// The key; `None` when it is not set (dry runs).
    pub key: Option<ApiKey>,
}

/// An HTTP request exactly as it is sent, except the key, which only [`send`] reads.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// `POST` or `GET`.
    pub method: &'static str,
    /// Full URL.
    pub url: String,
    /// Headers other than the key.
    pub headers: Vec<(&'static str, String)>,
    /// The key header, for providers that take one.
    pub auth: Option<AuthHeader>,
    /// JSON body (`None` for GET).
    pub body: Option<serde_json::Value>,
}

impl HttpRequest {
    /// Headers as they would be sent, with the key shown as `***`.
    pub fn redacted_headers(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        if let Some(auth) = &self.auth {
            out.push((auth.name.to_string(), format!("{}***", auth.prefix)));
        }
        out
    }

    /// The request as text: method, URL, redacted headers and pretty JSON body.
    pub fn display(&self) -> String {
        let mut out = format!("{} {}\n", self.method, self.url);
        for (k, v) in self.redacted_headers() {
            out.push_str(&format!("{k}: {v}\n"));
        }
        if let Some(body) = &self.body {
            out.push('\n');
            out.push_str(&serde_json::to_string_pretty(body).unwrap_or_default());
            out.push('\n');
        }
        out
    }
}

pub use crate::model::runs::Usage;

/// A finished answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The generated text.
    pub text: String,
    /// Token usage.
    pub usage: Usage,
    /// The cost the provider reported itself (OpenRouter's `usage.cost`), if it did.
    pub reported_cost: Option<f64>,
}

/// Decodes one wire format's stream: SSE events, or NDJSON lines (`event` is `None`).
trait StreamDecoder: Send {
    /// Takes one event; returns streamed text, if the event carries some.
    fn event(&mut self, event: Option<&str>, data: &str) -> Result<Option<String>, ProviderError>;
    /// Whether the stream reached its proper end (else it was cut).
    fn finished(&self) -> bool;
    /// Usage seen so far.
    fn usage(&self) -> Usage;
    /// The cost in USD the provider reported, if its wire format carries one.
    fn reported_cost(&self) -> Option<f64> {
        None
    }
}

/// The chat request for `provider` in its wire format.
pub fn chat_request(provider: &ProviderInfo, key: Option<ApiKey>, req: &ChatRequest) -> HttpRequest {
    match provider.kind {
        ProviderKind::Anthropic => anthropic::request(&provider.base_url, key, req),
        ProviderKind::Openai => openai::request(provider, key, req),
        ProviderKind::Google => google::request(&provider.base_url, key, req),
        ProviderKind::Ollama => ollama::request(&provider.base_url, req),
    }
}

/// The model-listing request for `provider`.
pub fn models_request(provider: &ProviderInfo, key: Option<ApiKey>) -> HttpRequest {
    let base = &provider.base_url;
    let (url, headers, auth): (String, Vec<(&'static str, String)>, _) = match provider.kind {
        ProviderKind::Anthropic => (
            format!("{base}/v1/models?limit=1000"),
            vec![("anthropic-version", anthropic::VERSION.to_string())],
            Some(AuthHeader {
                name: "x-api-key",
                prefix: "",
                key,
            }),
        ),
        ProviderKind::Openai => (
            format!("{base}/models"),
            Vec::new(),
            Some(AuthHeader {
                name: "authorization",
                prefix: "Bearer ",
                key,
            }),
        ),
        ProviderKind::Google => (
            format!("{base}/v1beta/models?pageSize=1000"),
            Vec::new(),
            Some(AuthHeader {
                name: "x-goog-api-key",
                prefix: "",
                key,
            }),
        ),
        ProviderKind::Ollama => (format!("{base}/api/tags"), Vec::new(), None),
    };
    HttpRequest {
        method: "GET",
        url,
        headers,
        auth,
        body: None,
    }
}

/// Model IDs in a model-listing response of `kind`.
pub fn parse_models(kind: ProviderKind, body: &serde_json::Value) -> Vec<String> {
    let (list, field) = match kind {
        ProviderKind::Anthropic | ProviderKind::Openai => ("data", "id"),
        ProviderKind::Google => ("models", "name"),
        ProviderKind::Ollama => ("models", "name"),
    };
    body.get(list)
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| m.get(field)?.as_str())
        .map(|id| id.strip_prefix("models/").unwrap_or(id).to_string())
        .collect()
}

fn decoder(kind: ProviderKind) -> Box<dyn StreamDecoder> {
    match kind {
        ProviderKind::Anthropic => Box::new(anthropic::Decoder::default()),
        ProviderKind::Openai => Box::new(openai::Decoder::default()),
        ProviderKind::Google => Box::new(google::Decoder::default()),
        ProviderKind::Ollama => Box::new(ollama::Decoder::default()),
    }
}

fn to_reqwest(client: &reqwest::Client, req: &HttpRequest) -> reqwest::RequestBuilder {
    let mut builder = match req.method {
        "GET" => client.get(&req.url),
        _ => client.post(&req.url),
    };
    for (k, v) in &req.headers {
        builder = builder.header(*k, v);
    }
    if let Some(AuthHeader {
        name,
        prefix,
        key: Some(key),
    }) = &req.auth
    {
        builder = builder.header(*name, format!("{prefix}{}", key.expose()));
    }
    if let Some(body) = &req.body {
        builder = builder.json(body);
    }
    builder
}

fn wire_error(e: &reqwest::Error, phase: &str) -> ProviderError {
    let class = if e.is_timeout() {
        ErrorClass::Timeout
    } else {
        ErrorClass::Connection
    };
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    ProviderError::new(class, format!("{phase}: {text}"))
}

fn timed_out(what: &str, timeout: Duration) -> ProviderError {
    ProviderError::new(
        ErrorClass::Timeout,
        format!("no {what} within {:.1}s", timeout.as_secs_f64()),
    )
}

/// Sends `req` and returns the response, or an error with its class, status, message and
/// retry headers. `timeout` bounds the wait for the response headers.
async fn response(
    client: &reqwest::Client,
    req: &HttpRequest,
    timeout: Duration,
) -> Result<reqwest::Response, ProviderError> {
    let resp = tokio::time::timeout(timeout, to_reqwest(client, req).send())
        .await
        .map_err(|_| timed_out("response", timeout))?
        .map_err(|e| wire_error(&e, "request failed"))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    let body = tokio::time::timeout(timeout, resp.text())
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
    // Scrubbed before the message is cut to length, so no fragment of the key survives.
    let body = scrubber(req).scrub(&body);
    let mut error = ProviderError::new(ErrorClass::from_status(status), error_message(&body));
    error.status = Some(status);
    read_retry_headers(&headers, &mut error);
    Err(error)
}

/// Sends a chat request of wire format `kind` and streams its answer: `on_text` gets each
/// piece of text as it arrives. `timeout` bounds the wait for the response and each gap
/// between chunks, so a stalled stream fails instead of hanging.
pub async fn send(
    client: &reqwest::Client,
    kind: ProviderKind,
    req: &HttpRequest,
    timeout: Duration,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    stream(client, kind, req, timeout, on_text)
        .await
        .map_err(|e| scrub_key(e, req))
}

/// The scrubber of the key this request carries: the one key its provider could echo back.
fn scrubber(req: &HttpRequest) -> KeyScrubber {
    match &req.auth {
        Some(AuthHeader { key: Some(key), .. }) => KeyScrubber::new([key.expose()]),
        _ => KeyScrubber::default(),
    }
}

/// Removes every run of the request's key from an error message (wire errors included).
fn scrub_key(mut error: ProviderError, req: &HttpRequest) -> ProviderError {
    error.message = scrubber(req).scrub(&error.message);
    error
}

async fn stream(
    client: &reqwest::Client,
    kind: ProviderKind,
    req: &HttpRequest,
    timeout: Duration,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    let resp = response(client, req, timeout).await?;
    let scrubber = scrubber(req);
    let mut shown = scrubber.stream();
    let mut decoder = decoder(kind);
    let mut stream = resp.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut text = String::new();
    let sse = kind != ProviderKind::Ollama;
    let mut received_chars = 0;
    let partial = |mut e: ProviderError, received_chars: usize, decoder: &dyn StreamDecoder| {
        e.partial_chars = received_chars;
        e.usage = decoder.usage();
        e.reported_cost = decoder.reported_cost();
        e
    };
    loop {
        let chunk = match tokio::time::timeout(timeout, stream.next()).await {
            Err(_) => {
                return Err(partial(
                    timed_out("data from the stream", timeout),
                    received_chars,
                    decoder.as_ref(),
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                let mut error = wire_error(&e, "stream interrupted");
                if error.class != ErrorClass::Timeout {
                    error.class = ErrorClass::StreamBroken;
                }
                return Err(partial(error, received_chars, decoder.as_ref()));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        buffer.extend_from_slice(&chunk);
        let frames = if sse {
            take_sse_events(&mut buffer)
        } else {
            take_lines(&mut buffer)
        };
        for (event, data) in frames {
            match decoder.event(event.as_deref(), &data) {
                Ok(Some(delta)) => {
                    received_chars += delta.chars().count();
                    show(&shown.push(&delta), &mut text, on_text);
                }
                Ok(None) => {}
                Err(e) => return Err(partial(e, received_chars, decoder.as_ref())),
            }
        }
    }
    let trailing = String::from_utf8_lossy(&buffer).trim().to_string();
    if !trailing.is_empty() {
        let frames = if sse {
            buffer.extend_from_slice(b"\n\n");
            take_sse_events(&mut buffer)
        } else {
            vec![(None, trailing)]
        };
        for (event, data) in frames {
            let delta = decoder.event(event.as_deref(), &data);
            if let Some(delta) = delta.map_err(|e| partial(e, received_chars, decoder.as_ref()))? {
                received_chars += delta.chars().count();
                show(&shown.push(&delta), &mut text, on_text);
            }
        }
    }
    show(&shown.finish(), &mut text, on_text);
    if !decoder.finished() {
        return Err(partial(
            ProviderError::new(
                ErrorClass::StreamBroken,
                "the stream ended before the answer was complete",
            ),
            received_chars,
            decoder.as_ref(),
        ));
    }
    Ok(Completion {
        text,
        usage: decoder.usage(),
        reported_cost: decoder.reported_cost(),
    })
}

/// Passes settled, scrubbed answer text on: the key is removed from the decoded text rather
/// than from the wire's JSON, so a key split across deltas is caught and the JSON stays intact.
fn show(piece: &str, text: &mut String, on_text: &mut (dyn FnMut(&str) + Send)) {
    if !piece.is_empty() {
        on_text(piece);
        text.push_str(piece);
    }
}

/// Lists a provider's models over `GET`.
pub async fn list_models(
    client: &reqwest::Client,
    provider: &ProviderInfo,
    key: Option<ApiKey>,
    timeout: Duration,
) -> Result<Vec<String>, ProviderError> {
    let req = models_request(provider, key);
    let fetch = async {
        let resp = response(client, &req, timeout).await?;
        tokio::time::timeout(timeout, resp.json::<serde_json::Value>())
            .await
            .map_err(|_| timed_out("model list", timeout))?
            .map_err(|e| ProviderError::new(ErrorClass::StreamBroken, format!("model list: {e}")))
    };
    let body = fetch.await.map_err(|e| scrub_key(e, &req))?;
    Ok(parse_models(provider.kind, &body))
}

/// Removes complete SSE events from `buffer`: `(event name, joined data lines)`.
fn take_sse_events(buffer: &mut Vec<u8>) -> Vec<(Option<String>, String)> {
    let mut events = Vec::new();
    while let Some((end, sep)) = find_blank_line(buffer) {
        let block = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end + sep);
        let mut event = None;
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(v) = line.strip_prefix("event:") {
                event = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if event.is_some() || !data.is_empty() {
            events.push((event, data.join("\n")));
        }
    }
    events
}

/// The end of the first SSE event in `buffer` and the length of its blank-line separator.
fn find_blank_line(buffer: &[u8]) -> Option<(usize, usize)> {
    (0..buffer.len()).find_map(|i| {
        let rest = &buffer[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some((i, 4))
        } else if rest.starts_with(b"\n\n") || rest.starts_with(b"\r\r") {
            Some((i, 2))
        } else {
            None
        }
    })
}

/// Removes complete lines from `buffer`.
fn take_lines(buffer: &mut Vec<u8>) -> Vec<(Option<String>, String)> {
    let mut lines = Vec::new();
    while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buffer.drain(..=end).collect();
        let line = String::from_utf8_lossy(&line).trim().to_string();
        if !line.is_empty() {
            lines.push((None, line));
        }
    }
    lines
}

/// Parses a stream payload, failing as `StreamBroken` with the offending text.
fn parse_json(data: &str) -> Result<serde_json::Value, ProviderError> {
    serde_json::from_str(data).map_err(|e| {
        let shown: String = data.chars().take(120).collect();
        ProviderError::new(
            ErrorClass::StreamBroken,
            format!("malformed JSON in the stream ({e}): {shown}"),
        )
    })
}

/// An error event inside a 200 stream, classed by the provider's error type when it has one.
fn stream_error(value: &serde_json::Value) -> ProviderError {
    let error = value.get("error").unwrap_or(value);
    let kind = error.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let class = match kind {
        "overloaded_error" => ErrorClass::Overloaded,
        "rate_limit_error" => ErrorClass::RateLimit,
        "authentication_error" | "permission_error" => ErrorClass::Auth,
        "invalid_request_error" => ErrorClass::BadRequest,
        "not_found_error" => ErrorClass::NotFound,
        _ => ErrorClass::Server,
    };
    ProviderError::new(class, error_message(&value.to_string()))
}

fn u64_at(value: &serde_json::Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(|v| v.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_across_chunks_and_line_endings() {
        let mut buffer = b"event: a\r\ndata: {\"x\":1}\r\n\r\ndata: one\ndata: two\n\n: comment\n\ndata: par".to_vec();
        let events = take_sse_events(&mut buffer);
        assert_eq!(
            events,
            vec![
                (Some("a".to_string()), "{\"x\":1}".to_string()),
                (None, "one\ntwo".to_string())
            ]
        );
        assert_eq!(buffer, b"data: par");
    }
}
