//! Errors as clients see them: the status, and a body in the wire format they speak.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use routewise::{Error, ErrorKind};
use serde_json::json;

/// Which API's error shape a client expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    /// `{"error": {"message", "type", "param", "code"}}`
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}`
    Anthropic,
}

/// What went wrong, by the class a client acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    TooLarge,
    RateLimited,
    Unavailable,
    Upstream,
    Timeout,
}

impl Class {
    fn status(self) -> StatusCode {
        match self {
            Class::InvalidRequest => StatusCode::BAD_REQUEST,
            Class::Authentication => StatusCode::UNAUTHORIZED,
            Class::Permission => StatusCode::FORBIDDEN,
            Class::NotFound => StatusCode::NOT_FOUND,
            Class::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Class::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Class::Upstream => StatusCode::BAD_GATEWAY,
            Class::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn openai_type(self) -> &'static str {
        match self {
            Class::InvalidRequest | Class::NotFound | Class::TooLarge => "invalid_request_error",
            Class::Authentication => "authentication_error",
            Class::Permission => "permission_error",
            Class::RateLimited => "rate_limit_error",
            Class::Unavailable | Class::Upstream | Class::Timeout => "server_error",
        }
    }

    fn anthropic_type(self) -> &'static str {
        match self {
            Class::InvalidRequest => "invalid_request_error",
            Class::Authentication => "authentication_error",
            Class::Permission => "permission_error",
            Class::NotFound => "not_found_error",
            Class::TooLarge => "request_too_large",
            Class::RateLimited => "rate_limit_error",
            Class::Unavailable => "overloaded_error",
            Class::Upstream | Class::Timeout => "api_error",
        }
    }
}

/// An error on its way to a client.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) class: Class,
    pub(crate) message: String,
    /// OpenAI's machine-readable `code` (`model_not_found`, `invalid_api_key`, ...).
    pub(crate) code: Option<&'static str>,
    pub(crate) retry_after: Option<Duration>,
    /// The policy that matched, when one did.
    pub(crate) policy: Option<String>,
}

impl ApiError {
    pub(crate) fn new(class: Class, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            code: None,
            retry_after: None,
            policy: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(Class::InvalidRequest, message)
    }

    pub(crate) fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub(crate) fn retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.class.status()
    }

    /// The JSON body in `wire`'s shape.
    pub(crate) fn body(&self, wire: Wire) -> serde_json::Value {
        match wire {
            Wire::OpenAi => json!({
                "error": {
                    "message": self.message,
                    "type": self.class.openai_type(),
                    "param": null,
                    "code": self.code,
                }
            }),
            Wire::Anthropic => json!({
                "type": "error",
                "error": {"type": self.class.anthropic_type(), "message": self.message},
            }),
        }
    }

    /// The response: status, `retry-after` when known, body in `wire`'s shape.
    pub(crate) fn into_wire(self, wire: Wire) -> Response {
        let mut response = (self.status(), axum::Json(self.body(wire))).into_response();
        let headers = response.headers_mut();
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up: a client that waits this long finds capacity.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if let Some(policy) = self.policy.and_then(|p| HeaderValue::try_from(p).ok()) {
            headers.insert(crate::routing::POLICY_HEADER, policy);
        }
        if self.class == Class::TooLarge {
            // The body was refused unread, so the server closes this connection after the
            // response; saying so keeps a pooling client from sending its next request
            // down a socket that is about to close.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<&Error> for ApiError {
    fn from(error: &Error) -> Self {
        let class = match error {
            Error::InvalidRequest { .. }
            | Error::NoMatchingPolicy { .. }
            | Error::MissingCapability { .. }
            | Error::ContextTooLong { .. } => Class::InvalidRequest,
            Error::RateLimited { .. } | Error::BudgetExhausted { .. } => Class::RateLimited,
            Error::CircuitOpen { .. }
            | Error::SharedStateUnavailable { .. }
            | Error::NoAvailableTarget { .. } => Class::Unavailable,
            Error::DeadlineExceeded { .. } => Class::Timeout,
            Error::Rejected { error, .. } => match error.kind() {
                ErrorKind::InvalidRequest | ErrorKind::ContentFiltered => Class::InvalidRequest,
                _ => Class::Upstream,
            },
            _ => Class::Upstream,
        };
        let code = match error {
            Error::BudgetExhausted { .. } => Some("insufficient_quota"),
            Error::CircuitOpen { .. } => Some("circuit_open"),
            Error::NoMatchingPolicy { .. } => Some("no_matching_policy"),
            Error::MissingCapability { .. } => Some("missing_capability"),
            Error::ContextTooLong { .. } => Some("context_length_exceeded"),
            _ => None,
        };
        Self {
            class,
            message: error.to_string(),
            code,
            retry_after: match class {
                Class::RateLimited | Class::Unavailable => error.retry_after(),
                _ => None,
            },
            policy: error.policy().map(str::to_owned),
        }
    }
}
