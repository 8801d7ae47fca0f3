//! OpenAI error bodies (`{"error": {"message", "type", "code", "param"}}`) -> classified
//! [`ProviderError`]s.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::account::AccountInfo;
use crate::provider::http::{self, kind_for_status, mentions_context_overflow, retry_after};
use crate::provider::{ErrorKind, ProviderError};

/// A body that is not JSON is quoted up to this many bytes.
const MAX_QUOTED_BODY: usize = 512;

/// The `error` member of an error body: OpenAI's object, or the bare string some compatible
/// servers send.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ErrorField {
    Object(ErrorObject),
    Text(String),
}

/// OpenAI's error object. `code` is a string on OpenAI, a number on some compatible
/// servers (OpenRouter sends the HTTP status).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ErrorObject {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    param: Option<Value>,
}

/// The shapes of error bodies seen in the wild: OpenAI's `{"error": ...}`, and the
/// `{"message": ...}` / `{"detail": ...}` of some compatible servers.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    error: Option<ErrorField>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<Value>,
}

/// The error an unsuccessful HTTP response stands for.
pub(super) fn from_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    account: &AccountInfo,
) -> ProviderError {
    let field = match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error: Some(field), ..
        }) => field,
        Ok(Envelope {
            message: Some(message),
            ..
        }) => ErrorField::Text(message),
        Ok(Envelope {
            detail: Some(detail),
            ..
        }) => ErrorField::Text(match detail {
            Value::String(text) => text,
            other => other.to_string(),
        }),
        _ => {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason());
            ErrorField::Text(quote(body, reason))
        }
    };
    let mut error = classify(field, Some(status), account).with_status(status);
    if let Some(wait) = retry_after(headers) {
        error = error.with_retry_after(wait);
    }
    error
}

/// The error an `error` member stands for. `status` is the HTTP status, or `None` for an
/// error reported inside a stream or a successful response.
pub(super) fn classify(
    field: ErrorField,
    status: Option<u16>,
    account: &AccountInfo,
) -> ProviderError {
    let object = match field {
        ErrorField::Object(object) => object,
        ErrorField::Text(text) => ErrorObject {
            message: Some(text),
            ..ErrorObject::default()
        },
    };
    let code = object.code.as_ref().map(text_of);
    let kind = kind_of(status, &object, code.as_deref());
    let mut message = object.message.unwrap_or_default();
    let details: Vec<String> = [
        object.kind.map(|t| format!("type {t}")),
        code.map(|c| format!("code {c}")),
        object
            .param
            .as_ref()
            .map(text_of)
            .map(|p| format!("param {p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !details.is_empty() {
        message = format!("{message} ({})", details.join(", "));
    }
    ProviderError::new(kind, http::redact(message.trim(), account))
}

fn kind_of(status: Option<u16>, object: &ErrorObject, code: Option<&str>) -> ErrorKind {
    let named = |names: &[&str]| {
        names
            .iter()
            .any(|n| code == Some(*n) || object.kind.as_deref() == Some(*n))
    };
    let message = object.message.as_deref().unwrap_or_default();
    if named(&["content_policy_violation", "content_filter"]) {
        return ErrorKind::ContentFiltered;
    }
    let request_error = matches!(status, None | Some(400 | 413 | 422));
    if named(&["context_length_exceeded"]) || (request_error && mentions_context_overflow(message))
    {
        return ErrorKind::ContextLengthExceeded;
    }
    if named(&["unsupported_parameter", "unsupported_value"])
        || (request_error && http::mentions_unsupported_parameter(message))
    {
        return ErrorKind::UnsupportedParameter;
    }
    match status {
        Some(status) => kind_for_status(status),
        // Inside a stream there is no status; OpenRouter puts one in `code`.
        None => match code.and_then(|c| c.parse::<u16>().ok()) {
            Some(status) if status >= 400 => kind_for_status(status),
            _ if named(&[
                "rate_limit_exceeded",
                "rate_limit_error",
                "tokens",
                "requests",
            ]) =>
            {
                ErrorKind::RateLimited
            }
            _ if named(&["overloaded", "overloaded_error"]) => ErrorKind::Overloaded,
            _ if named(&["invalid_request_error"]) => ErrorKind::InvalidRequest,
            _ => ErrorKind::ServerError,
        },
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A non-JSON body, shortened; the status's reason phrase when it is empty.
fn quote(body: &[u8], reason: Option<&str>) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return reason.unwrap_or("no error message").to_owned();
    }
    match text.char_indices().nth(MAX_QUOTED_BODY) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: Value) -> ErrorField {
        serde_json::from_value(json).unwrap()
    }

    fn kind(status: Option<u16>, json: Value) -> ErrorKind {
        classify(object(json), status, &AccountInfo::new("a")).kind()
    }

    #[test]
    fn codes_refine_the_status() {
        let too_long = serde_json::json!({"message": "This model's maximum context length is 8192 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"});
        assert_eq!(kind(Some(400), too_long), ErrorKind::ContextLengthExceeded);
        let said_so = serde_json::json!({"message": "maximum context length exceeded", "type": "invalid_request_error", "code": null});
        assert_eq!(kind(Some(400), said_so), ErrorKind::ContextLengthExceeded);
        let filtered = serde_json::json!({"message": "rejected", "type": "invalid_request_error", "code": "content_policy_violation"});
        assert_eq!(kind(Some(400), filtered), ErrorKind::ContentFiltered);
        let plain = serde_json::json!({"message": "bad temperature", "type": "invalid_request_error", "code": null});
        assert_eq!(kind(Some(400), plain), ErrorKind::InvalidRequest);
        let refused = serde_json::json!({"message": "Unsupported parameter: 'temperature' is not supported with this model.", "type": "invalid_request_error", "param": "temperature", "code": "unsupported_parameter"});
        assert_eq!(kind(Some(400), refused), ErrorKind::UnsupportedParameter);
        let value = serde_json::json!({"message": "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.", "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"});
        assert_eq!(kind(Some(400), value), ErrorKind::UnsupportedParameter);
        let server =
            serde_json::json!({"message": "context length service down", "type": "server_error"});
        assert_eq!(kind(Some(500), server), ErrorKind::ServerError);
    }

    #[test]
    fn errors_inside_streams_are_classified_by_code_and_type() {
        assert_eq!(
            kind(
                None,
                serde_json::json!({"message": "x", "type": "server_error"})
            ),
            ErrorKind::ServerError
        );
        assert_eq!(
            kind(None, serde_json::json!({"message": "x", "code": 429})),
            ErrorKind::RateLimited
        );
        assert_eq!(
            kind(None, serde_json::json!({"message": "x", "code": 503})),
            ErrorKind::Overloaded
        );
        assert_eq!(
            kind(
                None,
                serde_json::json!({"message": "x", "type": "invalid_request_error"})
            ),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            kind(None, serde_json::json!("upstream died")),
            ErrorKind::ServerError
        );
    }

    #[test]
    fn messages_keep_type_code_and_param() {
        let err = classify(
            object(
                serde_json::json!({"message": "Unknown parameter.", "type": "invalid_request_error", "param": "max_tokns", "code": "unknown_parameter"}),
            ),
            Some(400),
            &AccountInfo::new("a"),
        );
        assert_eq!(
            err.message(),
            "Unknown parameter. (type invalid_request_error, code unknown_parameter, param max_tokns)"
        );
    }

    #[test]
    fn long_plain_bodies_are_shortened() {
        let long = "x".repeat(2000);
        assert_eq!(quote(long.as_bytes(), None).len(), MAX_QUOTED_BODY + 3);
        assert_eq!(quote(b"  ", Some("Bad Gateway")), "Bad Gateway");
    }
}
