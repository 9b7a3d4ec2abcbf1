//! Provider failures sorted into classes, so retries, fallbacks, records and the editor all
//! agree on what went wrong, each keeping the provider's own message.

use std::fmt;
use std::time::Duration;

use crate::model::secrets::redact;

pub use crate::model::runs::ErrorClass;
use crate::model::runs::Usage;

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
    /// Tokens the provider had counted before the failure (billed even so).
    pub usage: Usage,
    /// The cost the provider reported before the failure, if it did.
    pub reported_cost: Option<f64>,
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
            usage: Usage::default(),
            reported_cost: None,
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
