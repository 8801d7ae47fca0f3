//! Bedrock's error shapes (an HTTP error answer, an exception in the middle of a stream)
//! as classified [`ProviderError`]s.

use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::credentials::AwsCredentials;
use crate::account::AccountInfo;
use crate::provider::http;
use crate::provider::{ErrorKind, ProviderError};

/// How much of a body that is not a Bedrock error goes into the message.
const SNIPPET_CHARS: usize = 200;

/// The rest-json error body: `{"message": "..."}`, sometimes with the type in `__type`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireError {
    #[serde(default, rename = "__type")]
    kind: Option<String>,
    #[serde(default, alias = "Message")]
    message: Option<String>,
}

/// The error for a non-success HTTP answer. The error type comes from the
/// `x-amzn-ErrorType` header (`ThrottlingException:http://...`), else the body's
/// `__type` (`com.amazon...#ThrottlingException`); the status decides when neither names
/// a type this adapter knows.
pub(super) fn from_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    account: &AccountInfo,
) -> ProviderError {
    let wire = serde_json::from_slice::<WireError>(body).ok();
    let header_type = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).trim().to_owned());
    let error_type = header_type
        .or_else(|| wire.as_ref().and_then(|w| w.kind.clone()))
        .map(|t| t.rsplit('#').next().unwrap_or(&t).to_owned());
    let message = match (&wire, &error_type) {
        (
            Some(WireError {
                message: Some(m), ..
            }),
            Some(t),
        ) => format!("{t}: {m}"),
        (
            Some(WireError {
                message: Some(m), ..
            }),
            None,
        ) => m.clone(),
        (_, Some(t)) => t.clone(),
        (_, None) => body_snippet(&http::redact(&String::from_utf8_lossy(body), account)),
    };
    let kind = error_type
        .as_deref()
        .and_then(|t| kind_of(t, &message))
        .unwrap_or_else(|| http::kind_for_status(status));
    let mut error = ProviderError::new(kind, http::redact(&message, account)).with_status(status);
    if let Some(after) = http::retry_after(headers) {
        error = error.with_retry_after(after);
    }
    error
}

/// The error for an exception event in a stream (already answered 200): `exception_type`
/// is the event's `:exception-type` (`throttlingException`), `payload` its JSON.
pub(super) fn from_exception(exception_type: &str, payload: &[u8]) -> ProviderError {
    let message = serde_json::from_slice::<WireError>(payload)
        .ok()
        .and_then(|w| w.message)
        .unwrap_or_default();
    let kind = kind_of(exception_type, &message).unwrap_or(ErrorKind::ServerError);
    ProviderError::new(kind, format!("{exception_type}: {message}"))
}

/// The kind an error type names (in either case of its first letter, as the HTTP and
/// stream shapes differ); `None` for types this adapter does not know.
fn kind_of(error_type: &str, message: &str) -> Option<ErrorKind> {
    let lower = error_type.to_ascii_lowercase();
    Some(match lower.as_str() {
        "throttlingexception" | "servicequotaexceededexception" => ErrorKind::RateLimited,
        "serviceunavailableexception" | "modelnotreadyexception" => ErrorKind::Overloaded,
        "modeltimeoutexception" => ErrorKind::Timeout,
        "validationexception" if mentions_context_overflow(message) => {
            ErrorKind::ContextLengthExceeded
        }
        "validationexception" if http::mentions_unsupported_parameter(message) => {
            ErrorKind::UnsupportedParameter
        }
        "validationexception" => ErrorKind::InvalidRequest,
        "accessdeniedexception"
        | "unrecognizedclientexception"
        | "invalidsignatureexception"
        | "incompletesignatureexception"
        | "missingauthenticationtokenexception"
        | "expiredtokenexception" => ErrorKind::Auth,
        "resourcenotfoundexception" => ErrorKind::NotFound,
        "internalserverexception" | "modelerrorexception" | "modelstreamerrorexception" => {
            ErrorKind::ServerError
        }
        _ => return None,
    })
}

/// The shared wording, and Bedrock's own (`Input is too long for requested model`,
/// `too many input tokens`).
fn mentions_context_overflow(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    http::mentions_context_overflow(message)
        || [
            "input is too long",
            "too many input tokens",
            "too long for the model",
        ]
        .iter()
        .any(|needle| lower.contains(needle))
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
    format!("error body is not a Bedrock error: {snippet}")
}

/// `error` with the AWS credentials' parts replaced in its message; kind, status and
/// retry delay kept.
pub(super) fn redact(error: ProviderError, credentials: &AwsCredentials) -> ProviderError {
    let mut message = error.message().to_owned();
    for secret in credentials.secrets() {
        // Short values are not secrets worth hunting and would maul the text.
        if secret.len() >= 8 {
            message = message.replace(secret, "[REDACTED]");
        }
    }
    if message == error.message() {
        return error;
    }
    let mut clean = ProviderError::new(error.kind(), message);
    if let Some(status) = error.status() {
        clean = clean.with_status(status);
    }
    if let Some(after) = error.retry_after() {
        clean = clean.with_retry_after(after);
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, error_type: Option<&str>, body: &str) -> ProviderError {
        let mut headers = HeaderMap::new();
        if let Some(t) = error_type {
            headers.insert("x-amzn-errortype", t.parse().unwrap());
        }
        from_response(status, &headers, body.as_bytes(), &AccountInfo::new("a"))
    }

    #[test]
    fn the_type_comes_from_the_header_else_from_the_bodys_type_field() {
        let error = classify(
            400,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            r#"{"message":"Too many requests"}"#,
        );
        assert_eq!(error.kind(), ErrorKind::RateLimited);
        assert_eq!(error.message(), "ThrottlingException: Too many requests");
        let error = classify(
            400,
            None,
            r#"{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"no"}"#,
        );
        assert_eq!(error.kind(), ErrorKind::Auth);
        assert_eq!(error.message(), "AccessDeniedException: no");
    }

    #[test]
    fn an_unknown_type_or_a_foreign_body_falls_back_to_the_status() {
        assert_eq!(
            classify(503, Some("SomethingNew"), "{}").kind(),
            ErrorKind::Overloaded
        );
        let error = classify(502, None, "<html>bad gateway</html>");
        assert_eq!(error.kind(), ErrorKind::ServerError);
        assert!(error.message().contains("not a Bedrock error"), "{error}");
    }

    #[test]
    fn stream_exceptions_use_the_lower_camel_member_names() {
        let error = from_exception("throttlingException", br#"{"message":"slow down"}"#);
        assert_eq!(error.kind(), ErrorKind::RateLimited);
        assert_eq!(error.message(), "throttlingException: slow down");
        let error = from_exception(
            "validationException",
            br#"{"message":"Input is too long for requested model."}"#,
        );
        assert_eq!(error.kind(), ErrorKind::ContextLengthExceeded);
        assert_eq!(
            from_exception("brandNewException", b"").kind(),
            ErrorKind::ServerError
        );
    }

    #[test]
    fn credentials_echoed_in_a_message_are_redacted() {
        let keys = AwsCredentials::new("AKIAEXAMPLEKEYID", "secret-access-key-value")
            .session_token("session-token-value");
        let error = ProviderError::new(
            ErrorKind::Auth,
            "key AKIAEXAMPLEKEYID token session-token-value",
        )
        .with_status(403);
        let clean = redact(error, &keys);
        assert_eq!(clean.message(), "key [REDACTED] token [REDACTED]");
        assert_eq!(clean.status(), Some(403));
    }
}
