//! Gemini's error body, `{"error": {"code", "message", "status", "details"}}` (a
//! `google.rpc.Status`), as a classified [`ProviderError`].

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::account::AccountInfo;
use crate::provider::http;
use crate::provider::{ErrorKind, ProviderError};

/// How much of a body that is not Gemini's error JSON (a proxy's HTML page, say) is kept
/// as the message.
const MAX_RAW_MESSAGE: usize = 512;

#[derive(Deserialize)]
struct Envelope {
    error: ErrorBody,
}

/// The `error` object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ErrorBody {
    code: Option<u16>,
    message: String,
    status: String,
    details: Vec<Value>,
}

/// The error an HTTP answer with a non-success `status` means.
pub(crate) fn from_http(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    account: &AccountInfo,
) -> ProviderError {
    let header_delay = http::retry_after(headers);
    // Streaming endpoints may wrap the error in a one-element array.
    let parsed = serde_json::from_slice::<Envelope>(body)
        .or_else(|_| serde_json::from_slice::<[Envelope; 1]>(body).map(|[envelope]| envelope));
    match parsed {
        Ok(envelope) => from_body(Some(status), &envelope.error, header_delay, account),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let mut message = text.trim().to_owned();
            if message.len() > MAX_RAW_MESSAGE {
                let cut = (0..=MAX_RAW_MESSAGE)
                    .rev()
                    .find(|&i| message.is_char_boundary(i))
                    .unwrap_or(0);
                message.truncate(cut);
                message.push('…');
            }
            let mut error = ProviderError::new(
                http::kind_for_status(status),
                http::redact(&message, account),
            )
            .with_status(status);
            if let Some(delay) = header_delay {
                error = error.with_retry_after(delay);
            }
            error
        }
    }
}

/// The error an `error` object means; `http_status` is absent for an error inside a
/// stream, where the object's own `code` stands in.
pub(super) fn from_body(
    http_status: Option<u16>,
    body: &ErrorBody,
    header_delay: Option<Duration>,
    account: &AccountInfo,
) -> ProviderError {
    let status = http_status.or(body.code);
    let kind = classify(body, status);
    let mut message = if body.status.is_empty() {
        body.message.clone()
    } else {
        format!("{}: {}", body.status, body.message)
    };
    message = http::redact(&message, account);
    let mut error = ProviderError::new(kind, message);
    if let Some(status) = status {
        error = error.with_status(status);
    }
    if let Some(delay) = header_delay.or_else(|| retry_delay(&body.details)) {
        error = error.with_retry_after(delay);
    }
    error
}

fn classify(body: &ErrorBody, status: Option<u16>) -> ErrorKind {
    match body.status.as_str() {
        "INVALID_ARGUMENT" if api_key_invalid(body) => ErrorKind::Auth,
        "INVALID_ARGUMENT" | "OUT_OF_RANGE" if http::mentions_context_overflow(&body.message) => {
            ErrorKind::ContextLengthExceeded
        }
        "INVALID_ARGUMENT" if http::mentions_unsupported_parameter(&body.message) => {
            ErrorKind::UnsupportedParameter
        }
        "INVALID_ARGUMENT" | "OUT_OF_RANGE" => ErrorKind::InvalidRequest,
        "FAILED_PRECONDITION" | "PERMISSION_DENIED" | "UNAUTHENTICATED" => ErrorKind::Auth,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorKind::ServerError,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        _ => status.map_or(ErrorKind::ServerError, http::kind_for_status),
    }
}

/// Gemini answers a wrong key with 400 `INVALID_ARGUMENT`, reason `API_KEY_INVALID`.
fn api_key_invalid(body: &ErrorBody) -> bool {
    body.details
        .iter()
        .any(|detail| detail.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
}

/// The `retryDelay` (`"30s"`, `"1.5s"`) of a `google.rpc.RetryInfo` detail.
fn retry_delay(details: &[Value]) -> Option<Duration> {
    details
        .iter()
        .filter(|detail| {
            detail
                .get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|detail| {
            detail
                .get("retryDelay")
                .and_then(Value::as_str)
                .and_then(http::parse_go_duration)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classify_json(status: u16, body: Value) -> ProviderError {
        from_http(
            status,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
            &AccountInfo::new("g"),
        )
    }

    fn error(code: u16, status: &str, message: &str) -> Value {
        json!({"error": {"code": code, "message": message, "status": status}})
    }

    #[test]
    fn statuses_decide_the_kind() {
        let cases = [
            (400, "INVALID_ARGUMENT", "bad", ErrorKind::InvalidRequest),
            (
                400,
                "FAILED_PRECONDITION",
                "enable billing",
                ErrorKind::Auth,
            ),
            (403, "PERMISSION_DENIED", "no", ErrorKind::Auth),
            (401, "UNAUTHENTICATED", "no", ErrorKind::Auth),
            (404, "NOT_FOUND", "no model", ErrorKind::NotFound),
            (429, "RESOURCE_EXHAUSTED", "quota", ErrorKind::RateLimited),
            (500, "INTERNAL", "oops", ErrorKind::ServerError),
            (503, "UNAVAILABLE", "overloaded", ErrorKind::Overloaded),
            (504, "DEADLINE_EXCEEDED", "slow", ErrorKind::Timeout),
            (409, "ABORTED", "conflict", ErrorKind::InvalidRequest),
        ];
        for (code, status, message, kind) in cases {
            let err = classify_json(code, error(code, status, message));
            assert_eq!(err.kind(), kind, "{status}");
            assert_eq!(err.status(), Some(code));
            assert_eq!(err.message(), format!("{status}: {message}"));
        }
    }

    #[test]
    fn an_invalid_argument_naming_a_refused_field_is_an_unsupported_parameter() {
        for message in [
            "Function calling with a response mime type: 'application/json' is unsupported",
            "Thinking level is not supported for this model.",
        ] {
            let err = classify_json(400, error(400, "INVALID_ARGUMENT", message));
            assert_eq!(err.kind(), ErrorKind::UnsupportedParameter, "{message}");
        }
    }

    #[test]
    fn token_limit_messages_are_context_overflows() {
        let err = classify_json(
            400,
            error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            ),
        );
        assert_eq!(err.kind(), ErrorKind::ContextLengthExceeded);
    }

    #[test]
    fn an_invalid_api_key_is_an_auth_failure() {
        let err = classify_json(
            400,
            json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT", "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
        );
        assert_eq!(err.kind(), ErrorKind::Auth);
    }

    #[test]
    fn retry_info_gives_the_delay_unless_a_header_does() {
        let body = json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}]}});
        let err = classify_json(429, body.clone());
        assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        let err = from_http(
            429,
            &headers,
            body.to_string().as_bytes(),
            &AccountInfo::new("g"),
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn bodies_that_are_not_error_json_keep_the_status_kind_and_a_short_message() {
        let html = format!("<html>{}</html>", "x".repeat(2000));
        let err = from_http(
            502,
            &HeaderMap::new(),
            html.as_bytes(),
            &AccountInfo::new("g"),
        );
        assert_eq!(err.kind(), ErrorKind::ServerError);
        assert!(err.message().chars().count() <= MAX_RAW_MESSAGE + 1);
        let wrapped = json!([error(503, "UNAVAILABLE", "busy")]);
        assert_eq!(classify_json(503, wrapped).kind(), ErrorKind::Overloaded);
    }
}
