//! Anthropic error bodies, stream error events and rate-limit headers as classified
//! [`ProviderError`]s.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::account::AccountInfo;
use crate::provider::http;
use crate::provider::{ErrorKind, ProviderError};

/// The limits Anthropic reports in `anthropic-ratelimit-<limit>-{remaining,reset}`.
const LIMITS: [&str; 4] = ["requests", "tokens", "input-tokens", "output-tokens"];

/// How much of a body that is not an Anthropic error goes into the message.
const SNIPPET_CHARS: usize = 200;

/// The `error` object of an error body or an `error` stream event.
#[derive(Debug, Deserialize)]
pub(super) struct WireError {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: WireError,
}

/// The error for a non-success HTTP answer.
pub(super) fn from_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    account: &AccountInfo,
) -> ProviderError {
    let (kind, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => (
            kind_of(&error).unwrap_or_else(|| http::kind_for_status(status)),
            http::redact(&format!("{}: {}", error.kind, error.message), account),
        ),
        // Redacted before it is cut short, so no fragment of a secret survives the cut.
        Err(_) => (
            http::kind_for_status(status),
            body_snippet(&http::redact(&String::from_utf8_lossy(body), account)),
        ),
    };
    let mut error = ProviderError::new(kind, message).with_status(status);
    if let Some(after) = retry_after(headers, SystemTime::now()) {
        error = error.with_retry_after(after);
    }
    error
}

#[cfg(feature = "vertex")]
/// Whether `body` is an Anthropic error body (`{"type": "error", "error": {"type", ...}}`).
pub(super) fn is_error_body(body: &[u8]) -> bool {
    serde_json::from_slice::<ErrorBody>(body).is_ok()
}

/// The error for an `error` event in the middle of a stream (already answered 200).
pub(super) fn from_event(error: &WireError, account: &AccountInfo) -> ProviderError {
    let kind = kind_of(error).unwrap_or(ErrorKind::ServerError);
    let message = format!("{}: {}", error.kind, error.message);
    ProviderError::new(kind, http::redact(&message, account))
}

/// The kind an error `type` names; `None` for types this adapter does not know.
fn kind_of(error: &WireError) -> Option<ErrorKind> {
    Some(match error.kind.as_str() {
        "invalid_request_error" if http::mentions_context_overflow(&error.message) => {
            ErrorKind::ContextLengthExceeded
        }
        "invalid_request_error" if http::mentions_unsupported_parameter(&error.message) => {
            ErrorKind::UnsupportedParameter
        }
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" | "permission_error" | "billing_error" => ErrorKind::Auth,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::ContextLengthExceeded,
        "rate_limit_error" => ErrorKind::RateLimited,
        "timeout_error" => ErrorKind::Timeout,
        "api_error" => ErrorKind::ServerError,
        "overloaded_error" => ErrorKind::Overloaded,
        _ => return None,
    })
}

fn body_snippet(body: &str) -> String {
    let text = body.trim();
    if text.is_empty() {
        return "empty error body".to_owned();
    }
    let mut snippet: String = text.chars().take(SNIPPET_CHARS).collect();
    if snippet.len() < text.len() {
        snippet.push('…');
    }
    format!("error body is not an Anthropic error: {snippet}")
}

/// `retry-after` (and the other headers [`http::retry_after`] reads), else the rate-limit
/// reset timestamps: the latest reset among limits with nothing remaining (all of them
/// must reset before a retry can pass), else the earliest reset.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(after) = http::retry_after(headers) {
        return Some(after);
    }
    let text = |name: String| headers.get(name).and_then(|v| v.to_str().ok());
    let resets: Vec<(SystemTime, bool)> = LIMITS
        .iter()
        .filter_map(|limit| {
            let reset =
                text(format!("anthropic-ratelimit-{limit}-reset")).and_then(http::parse_rfc3339)?;
            let exhausted = text(format!("anthropic-ratelimit-{limit}-remaining"))
                .is_some_and(|remaining| remaining.trim() == "0");
            Some((reset, exhausted))
        })
        .collect();
    let exhausted = resets.iter().filter(|(_, exhausted)| *exhausted);
    let at = exhausted
        .map(|(at, _)| *at)
        .max()
        .or_else(|| resets.iter().map(|(at, _)| *at).min())?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::header_map;

    fn error(kind: &str, message: &str) -> WireError {
        WireError {
            kind: kind.into(),
            message: message.into(),
        }
    }

    #[test]
    fn error_types_decide_the_kind() {
        let kind = |kind: &str, message: &str| kind_of(&error(kind, message));
        assert_eq!(
            kind(
                "invalid_request_error",
                "prompt is too long: 250000 tokens > 200000 maximum"
            ),
            Some(ErrorKind::ContextLengthExceeded)
        );
        assert_eq!(
            kind("invalid_request_error", "max_tokens: Field required"),
            Some(ErrorKind::InvalidRequest)
        );
        assert_eq!(
            kind(
                "invalid_request_error",
                "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
            ),
            Some(ErrorKind::UnsupportedParameter)
        );
        assert_eq!(kind("billing_error", "x"), Some(ErrorKind::Auth));
        assert_eq!(kind("timeout_error", "x"), Some(ErrorKind::Timeout));
        assert_eq!(kind("overloaded_error", "x"), Some(ErrorKind::Overloaded));
        assert_eq!(kind("brand_new_error", "x"), None);
    }

    #[test]
    fn unknown_types_fall_back_to_the_status_and_unknown_events_to_server_error() {
        let account = AccountInfo::new("a");
        let body = br#"{"type":"error","error":{"type":"brand_new_error","message":"hm"}}"#;
        let err = from_response(503, &HeaderMap::new(), body, &account);
        assert_eq!(err.kind(), ErrorKind::Overloaded);
        assert_eq!(err.message(), "brand_new_error: hm");
        let event = from_event(&error("brand_new_error", "hm"), &account);
        assert_eq!(event.kind(), ErrorKind::ServerError);
    }

    #[test]
    fn bodies_that_are_not_errors_are_quoted_briefly() {
        let account = AccountInfo::new("a");
        let long = "x".repeat(1000);
        let err = from_response(502, &HeaderMap::new(), long.as_bytes(), &account);
        assert_eq!(err.kind(), ErrorKind::ServerError);
        assert!(err.message().len() < 300, "{}", err.message());
        let empty = from_response(500, &HeaderMap::new(), b"", &account);
        assert_eq!(empty.message(), "empty error body");
    }

    #[test]
    fn retry_after_header_wins_over_reset_timestamps() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let both = header_map(&[
            ("retry-after", "7"),
            ("anthropic-ratelimit-requests-reset", "1994-11-06T08:50:37Z"),
        ]);
        assert_eq!(retry_after(&both, now), Some(Duration::from_secs(7)));
    }

    #[test]
    fn the_latest_reset_of_an_exhausted_limit_decides() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 08:49:37
        let exhausted_tokens = header_map(&[
            ("anthropic-ratelimit-requests-remaining", "12"),
            ("anthropic-ratelimit-requests-reset", "1994-11-06T08:49:38Z"),
            ("anthropic-ratelimit-input-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "1994-11-06T08:49:57Z",
            ),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "1994-11-06T08:49:47Z",
            ),
        ]);
        assert_eq!(
            retry_after(&exhausted_tokens, now),
            Some(Duration::from_secs(20))
        );
        let no_remaining_counts = header_map(&[
            ("anthropic-ratelimit-requests-reset", "1994-11-06T08:49:40Z"),
            ("anthropic-ratelimit-tokens-reset", "1994-11-06T08:49:50Z"),
        ]);
        assert_eq!(
            retry_after(&no_remaining_counts, now),
            Some(Duration::from_secs(3))
        );
        let past = header_map(&[("anthropic-ratelimit-requests-reset", "1994-11-06T08:00:00Z")]);
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
