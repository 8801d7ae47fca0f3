use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::millis;

/// What went wrong with a provider call, in the terms routing decisions need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The call did not finish in time.
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// The provider refused for rate limits (HTTP 429).
    RateLimited,
    /// The provider failed (HTTP 5xx).
    ServerError,
    /// The provider is overloaded (Anthropic's 529, Gemini's 503 `UNAVAILABLE`).
    Overloaded,
    /// The credentials were rejected (HTTP 401/403).
    Auth,
    /// The request is invalid; another target will reject it too (HTTP 400/422).
    InvalidRequest,
    /// The model or endpoint does not exist on this account (HTTP 404).
    NotFound,
    /// The provider's content filter refused the request.
    ContentFiltered,
    /// The prompt does not fit the model's context window.
    ContextLengthExceeded,
    /// The provider answered with something that could not be understood.
    MalformedResponse,
    /// The backend does not serve this request and says so before doing any work: try the
    /// next candidate. For custom providers (a local model that only takes short prompts,
    /// a backend for some tenants only). It falls back by default, is never retried, and
    /// never counts against breakers, health or error rates.
    Declined,
    /// The model does not take a parameter or value the request carries (OpenAI
    /// `unsupported_parameter` / `unsupported_value`, Anthropic's "cannot both be
    /// specified", Gemini's `INVALID_ARGUMENT` naming a field): the request is valid for
    /// the logical model, just not for this target, so another target may take it.
    UnsupportedParameter,
}

impl ErrorKind {
    const ALL: [ErrorKind; 13] = [
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::RateLimited,
        ErrorKind::ServerError,
        ErrorKind::Overloaded,
        ErrorKind::Auth,
        ErrorKind::InvalidRequest,
        ErrorKind::NotFound,
        ErrorKind::ContentFiltered,
        ErrorKind::ContextLengthExceeded,
        ErrorKind::MalformedResponse,
        ErrorKind::Declined,
        ErrorKind::UnsupportedParameter,
    ];

    const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// Whether the failure is about the provider rather than the request: the kinds a
    /// circuit breaker counts and a retry on the same target may cure.
    pub const fn is_provider_fault(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout
                | ErrorKind::Connection
                | ErrorKind::RateLimited
                | ErrorKind::ServerError
                | ErrorKind::Overloaded
                | ErrorKind::MalformedResponse
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Timeout => "timed out",
            ErrorKind::Connection => "connection failed",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::ServerError => "server error",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Auth => "authentication failed",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::NotFound => "not found",
            ErrorKind::ContentFiltered => "content filtered",
            ErrorKind::ContextLengthExceeded => "context length exceeded",
            ErrorKind::MalformedResponse => "malformed response",
            ErrorKind::Declined => "declined",
            ErrorKind::UnsupportedParameter => "unsupported parameter",
        })
    }
}

/// A set of [`ErrorKind`]s, for rules such as "fall back on these".
///
/// ```
/// use routewise::{ErrorKind, ErrorKindSet};
///
/// let set = ErrorKindSet::default_fallback().with(ErrorKind::Auth);
/// assert!(set.contains(ErrorKind::Auth));
/// assert!(!set.contains(ErrorKind::InvalidRequest));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorKindSet(u16);

impl ErrorKindSet {
    /// No kind.
    pub const EMPTY: Self = Self(0);

    /// The kinds that move on to the next candidate by default: every provider fault
    /// (timeout, connection, rate limited, server error, overloaded, malformed response)
    /// plus not found, context length exceeded and unsupported parameter, which another
    /// target may not share, and a backend that declined the request. Invalid requests,
    /// auth failures and content filtering stop the request.
    pub const fn default_fallback() -> Self {
        Self(
            ErrorKind::Timeout.bit()
                | ErrorKind::Connection.bit()
                | ErrorKind::RateLimited.bit()
                | ErrorKind::ServerError.bit()
                | ErrorKind::Overloaded.bit()
                | ErrorKind::MalformedResponse.bit()
                | ErrorKind::NotFound.bit()
                | ErrorKind::ContextLengthExceeded.bit()
                | ErrorKind::Declined.bit()
                | ErrorKind::UnsupportedParameter.bit(),
        )
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: ErrorKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// The set with `kind` added.
    #[must_use]
    pub const fn with(self, kind: ErrorKind) -> Self {
        Self(self.0 | kind.bit())
    }

    /// The set with `kind` removed.
    #[must_use]
    pub const fn without(self, kind: ErrorKind) -> Self {
        Self(self.0 & !kind.bit())
    }

    /// The kinds in the set.
    pub fn iter(self) -> impl Iterator<Item = ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

impl Default for ErrorKindSet {
    fn default() -> Self {
        Self::default_fallback()
    }
}

impl FromIterator<ErrorKind> for ErrorKindSet {
    fn from_iter<I: IntoIterator<Item = ErrorKind>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

impl fmt::Debug for ErrorKindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for ErrorKindSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for ErrorKindSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<ErrorKind>::deserialize(d)?.into_iter().collect())
    }
}

/// A classified failure of one provider call.
///
/// The [`kind`](Self::kind) drives routing (retry, fall back, stop, count against a
/// breaker); the message keeps the provider's own words, with secrets already removed by
/// the adapter.
///
/// ```
/// use std::time::Duration;
/// use routewise::{ErrorKind, ProviderError};
///
/// let err = ProviderError::new(ErrorKind::RateLimited, "slow down")
///     .with_status(429)
///     .with_retry_after(Duration::from_secs(2));
/// assert!(err.is_provider_fault());
/// assert_eq!(err.to_string(), "rate limited (HTTP 429): slow down; retry after 2s");
/// ```
#[derive(Clone)]
pub struct ProviderError {
    // Boxed so results carrying it stay small on the success path.
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    retry_after: Option<Duration>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl ProviderError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                status: None,
                retry_after: None,
                source: None,
            }),
        }
    }

    /// Records the HTTP status the provider answered with.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Records when the provider said to try again.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.inner.retry_after = Some(retry_after);
        self
    }

    /// Records the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The provider's message (secrets removed).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The HTTP status, when there was one.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// When the provider said to try again.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Shorthand for [`ErrorKind::is_provider_fault`] of the kind.
    pub fn is_provider_fault(&self) -> bool {
        self.inner.kind.is_provider_fault()
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner.kind)?;
        if let Some(status) = self.inner.status {
            write!(f, " (HTTP {status})")?;
        }
        if !self.inner.message.is_empty() {
            write!(f, ": {}", self.inner.message)?;
        }
        if let Some(after) = self.inner.retry_after {
            write!(f, "; retry after {after:?}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderError")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .field("status", &self.inner.status)
            .field("retry_after", &self.inner.retry_after)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl StdError for ProviderError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

impl Serialize for ProviderError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ProviderError", 4)?;
        st.serialize_field("kind", &self.inner.kind)?;
        st.serialize_field("message", &self.inner.message)?;
        st.serialize_field("status", &self.inner.status)?;
        st.serialize_field(
            "retry_after_ms",
            &self.inner.retry_after.map(millis::saturating),
        )?;
        st.end()
    }
}

/// Reads what [`Serialize`] writes (a cached or replayed [`ChatResponse`](crate::ChatResponse)'s
/// attempts); the source error, which is not serialized, is absent.
impl<'de> serde::Deserialize<'de> for ProviderError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Written {
            kind: ErrorKind,
            message: String,
            #[serde(default)]
            status: Option<u16>,
            #[serde(default)]
            retry_after_ms: Option<u64>,
        }
        let written = Written::deserialize(d)?;
        let mut error = ProviderError::new(written.kind, written.message);
        error.inner.status = written.status;
        error.inner.retry_after = written.retry_after_ms.map(Duration::from_millis);
        Ok(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_bit() {
        let all: ErrorKindSet = ErrorKind::ALL.into_iter().collect();
        assert_eq!(all.iter().count(), ErrorKind::ALL.len());
    }

    #[test]
    fn default_fallback_excludes_request_errors() {
        let set = ErrorKindSet::default_fallback();
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::Auth,
            ErrorKind::ContentFiltered,
        ] {
            assert!(!set.contains(kind), "{kind} must not fall back by default");
        }
        for kind in ErrorKind::ALL.into_iter().filter(|k| k.is_provider_fault()) {
            assert!(set.contains(kind), "{kind} must fall back by default");
        }
    }

    #[test]
    fn display_keeps_the_source_out_of_the_message() {
        let io = std::io::Error::other("socket closed");
        let err = ProviderError::new(ErrorKind::Connection, "request failed").with_source(io);
        assert_eq!(err.to_string(), "connection failed: request failed");
        assert_eq!(err.source().unwrap().to_string(), "socket closed");
    }
}
