//! Provider failures sorted into classes, so retries, fallbacks, records and the editor all
//! agree on what went wrong, each keeping the provider's own message.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::secrets::redact;

/// What kind of failure a request ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 401 or 403: the key is missing, wrong or lacks permission.
    Auth,
    /// 400 or 422: the request itself is wrong (bad prompt, bad parameter).
    BadRequest,
    /// 404: unknown model or endpoint.
    NotFound,
    /// 429.
    RateLimit,
    /// Anthropic's 529, or an `overloaded` error event.
    Overloaded,
    /// 5xx, 408-less server trouble, 409, or an error event mid-stream.
    Server,
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be made or was reset.
    Connection,
    /// The stream ended early or carried data that is not the wire format.
    StreamBroken,
    /// The request could not be built: the prompt failed to render, or no key is set.
    Prompt,
}

impl ErrorClass {
    /// The label used in records and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Auth => "auth",
            ErrorClass::BadRequest => "bad_request",
            ErrorClass::NotFound => "not_found",
            ErrorClass::RateLimit => "rate_limit",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::Server => "server",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connection => "connection",
            ErrorClass::StreamBroken => "stream_broken",
            ErrorClass::Prompt => "prompt",
        }
    }

    /// Whether the failure says the provider is down rather than the request wrong: these
    /// are retried, move on to the fallback list and mark the provider degraded.
    pub fn is_outage(self) -> bool {
        !matches!(
            self,
            ErrorClass::Auth | ErrorClass::BadRequest | ErrorClass::NotFound | ErrorClass::Prompt
        )
    }

    /// The class of an HTTP error status.
    pub fn from_status(status: u16) -> ErrorClass {
        match status {
            401 | 403 => ErrorClass::Auth,
            404 => ErrorClass::NotFound,
            408 => ErrorClass::Timeout,
            429 => ErrorClass::RateLimit,
            529 => ErrorClass::Overloaded,
            409 | 500..=599 => ErrorClass::Server,
            _ => ErrorClass::BadRequest,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed request.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderError {
    /// Its class.
    pub class: ErrorClass,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The provider's own message (redacted), or what went wrong on the wire.
    pub message: String,
    /// How long the server asked to wait (`retry-after-ms` / `retry-after`).
    pub retry_after: Option<Duration>,
    /// The server's `x-should-retry` verdict, when it gave one.
    pub should_retry: Option<bool>,
    /// Characters of output that had streamed before the failure (then discarded).
    pub partial_chars: usize,
}

impl ProviderError {
    /// A failure without a response.
    pub fn new(class: ErrorClass, message: impl AsRef<str>) -> ProviderError {
        ProviderError {
            class,
            status: None,
            message: redact(message.as_ref()),
            retry_after: None,
            should_retry: None,
            partial_chars: 0,
        }
    }

    /// The short reason shown in hints and the health file, e.g. `overloaded (529)`.
    pub fn reason(&self) -> String {
        match self.status {
            Some(status) => format!("{} ({status})", self.class),
            None => self.class.to_string(),
        }
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason(), self.message)
    }
}

impl std::error::Error for ProviderError {}

/// The provider's message in an error body of any of the four wire formats:
/// `{"error": {"message": …}}`, `{"error": "…"}`, else the body text itself.
pub fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    // Gemini wraps errors in an array when it answers a streaming call without SSE.
    let parsed = match parsed {
        Some(serde_json::Value::Array(mut items)) if !items.is_empty() => Some(items.remove(0)),
        other => other,
    };
    let found = parsed.as_ref().and_then(|v| {
        let error = v.get("error")?;
        error
            .get("message")
            .and_then(|m| m.as_str())
            .or_else(|| error.as_str())
            .map(str::to_string)
    });
    let text = found.unwrap_or_else(|| body.trim().chars().take(500).collect());
    if text.is_empty() {
        "(empty response body)".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(ErrorClass::from_status(529), ErrorClass::Overloaded);
        assert_eq!(ErrorClass::from_status(503), ErrorClass::Server);
        assert_eq!(ErrorClass::from_status(403), ErrorClass::Auth);
        assert_eq!(ErrorClass::from_status(422), ErrorClass::BadRequest);
        assert!(!ErrorClass::NotFound.is_outage());
        assert!(ErrorClass::StreamBroken.is_outage());
    }

    #[test]
    fn error_message_reads_each_wire_format() {
        assert_eq!(
            error_message(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
            "Overloaded"
        );
        assert_eq!(error_message(r#"{"error":"model not found"}"#), "model not found");
        assert_eq!(error_message("Bad gateway"), "Bad gateway");
        assert_eq!(
            error_message(r#"[{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}]"#),
            "Resource exhausted"
        );
    }
}
