//! Retries as the official SDKs do them: which failures are retried, how long to wait, and
//! when a server's requested wait is too long to sit out (move on to the fallback instead).

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::error::ProviderError;

/// How requests are retried; the defaults are the SDKs', tests shrink the durations.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (config `max_retries`).
    pub max_retries: u32,
    /// First backoff delay (0.5 s); doubled each retry.
    pub initial_backoff: Duration,
    /// Ceiling of the backoff delay (8 s).
    pub max_backoff: Duration,
    /// A server asking to wait longer than this is not waited for (60 s).
    pub retry_after_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            retry_after_cap: Duration::from_secs(60),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryDecision {
    /// Wait this long, then try the same provider again.
    RetryAfter(Duration),
    /// Give up on this provider and try the next fallback (outage-class failure).
    NextProvider,
    /// Fail the request now: the request is wrong, no provider will do better.
    Fail,
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (0-based): `min(initial·2^n, max)` × jitter in
    /// [0.75, 1].
    pub fn backoff(&self, retry: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(30)))
            .min(self.max_backoff);
        base.mul_f64(1.0 - 0.25 * fastrand::f64())
    }

    /// Decides after `error` on attempt `retries_done + 1` of one provider.
    pub fn decide(&self, error: &ProviderError, retries_done: u32) -> RetryDecision {
        let give_up = if error.class.is_outage() {
            RetryDecision::NextProvider
        } else {
            RetryDecision::Fail
        };
        let retryable = error.should_retry.unwrap_or(error.class.is_outage());
        if !retryable || retries_done >= self.max_retries {
            return give_up;
        }
        match error.retry_after {
            Some(wait) if wait > self.retry_after_cap => give_up,
            Some(wait) => RetryDecision::RetryAfter(wait),
            None => RetryDecision::RetryAfter(self.backoff(retries_done)),
        }
    }
}

/// Whether a response status is retried by the SDKs.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// Reads `x-should-retry` and `retry-after-ms`, then `retry-after` (seconds or an HTTP date)
/// from an error response into `error`.
pub fn read_retry_headers(headers: &HeaderMap, error: &mut ProviderError) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    error.should_retry = match header("x-should-retry") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => error.status.map(is_retryable_status),
    };
    error.retry_after = header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| header("retry-after").and_then(parse_retry_after));
}

/// `retry-after` as seconds (possibly fractional) or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate_to_unix(value)?;
    let now = crate::model::health::unix_now();
    Some(Duration::from_secs(when.saturating_sub(now)))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into unix seconds.
fn httpdate_to_unix(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let year: u64 = year.parse().ok()?;
    let hms: Vec<u64> = time.split(':').filter_map(|p| p.parse().ok()).collect();
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm), for years after 1970.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::error::ErrorClass;
    use reqwest::header::HeaderValue;

    fn error(status: u16) -> ProviderError {
        let mut e = ProviderError::new(ErrorClass::from_status(status), "x");
        e.status = Some(status);
        e
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_ceiling() {
        let policy = RetryPolicy::default();
        for retry in 0..8 {
            let expected = (0.5 * 2f64.powi(retry as i32)).min(8.0);
            let got = policy.backoff(retry).as_secs_f64();
            assert!(got <= expected && got >= expected * 0.75, "{retry}: {got}");
        }
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        headers.insert("retry-after", HeaderValue::from_static("7"));
        let mut e = error(429);
        read_retry_headers(&headers, &mut e);
        assert_eq!(e.retry_after, Some(Duration::from_millis(250)));
        headers.remove("retry-after-ms");
        read_retry_headers(&headers, &mut e);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_http_date_is_read() {
        assert_eq!(httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    }

    #[test]
    fn x_should_retry_false_moves_on_without_retrying() {
        let mut headers = HeaderMap::new();
        headers.insert("x-should-retry", HeaderValue::from_static("false"));
        let mut e = error(503);
        read_retry_headers(&headers, &mut e);
        assert_eq!(RetryPolicy::default().decide(&e, 0), RetryDecision::NextProvider);
    }

    #[test]
    fn client_errors_fail_at_once_and_long_waits_move_on() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.decide(&error(401), 0), RetryDecision::Fail);
        assert_eq!(policy.decide(&error(400), 0), RetryDecision::Fail);
        let mut e = error(429);
        e.retry_after = Some(Duration::from_secs(61));
        assert_eq!(policy.decide(&e, 0), RetryDecision::NextProvider);
        e.retry_after = Some(Duration::from_secs(3));
        assert_eq!(policy.decide(&e, 0), RetryDecision::RetryAfter(Duration::from_secs(3)));
        assert_eq!(policy.decide(&e, 2), RetryDecision::NextProvider);
    }
}
