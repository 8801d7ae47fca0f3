use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::RouteStep;

/// Per-request routing overrides, carried on a [`ChatRequest`](crate::ChatRequest).
///
/// Overrides can narrow what the matched policy does (no fallbacks, fewer attempts, one
/// pinned model or target) and add fallback models for this request, but only models and
/// accounts the router knows: an unknown name makes the request invalid. Pinned and extra
/// models still go through capability, context-window, limit and budget checks.
/// [`Router::explain`](crate::Router::explain) lists the overrides that applied.
///
/// ```
/// use routewise::{ChatRequest, RouteOptions};
///
/// let request = ChatRequest::user("summarize this")
///     .options(RouteOptions::new().pin_model("fast-llm").extra_fallback("primary-llm").max_attempts(2));
/// assert_eq!(request.options.extra_fallbacks, ["primary-llm"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteOptions {
    /// Try only the first candidate: no fallback to others.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_fallback: bool,
    /// At most this many provider calls (the smaller of this and the policy's cap wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The most this request may take, every attempt included (the earlier of this and
    /// the policy's deadline wins). In configuration: milliseconds, `deadline_ms`.
    #[serde(
        rename = "deadline_ms",
        with = "crate::types::millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<Duration>,
    /// Route to this logical model (or one target of it) instead of the policy's route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<RouteStep>,
    /// Logical models appended to the route as last fallbacks, for this request only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_fallbacks: Vec<String>,
}

impl RouteOptions {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Disables fallbacks: only the first candidate is tried.
    #[must_use]
    pub fn no_fallback(mut self) -> Self {
        self.no_fallback = true;
        self
    }

    /// Caps the provider calls for this request.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Sets an overall deadline for this request.
    #[must_use]
    pub fn deadline(mut self, limit: Duration) -> Self {
        self.deadline = Some(limit);
        self
    }

    /// Pins the request to a logical model.
    #[must_use]
    pub fn pin_model(mut self, model: impl Into<String>) -> Self {
        self.pin = Some(RouteStep::model(model));
        self
    }

    /// Pins the request to one account's target of a logical model.
    #[must_use]
    pub fn pin_target(mut self, model: impl Into<String>, account: impl Into<String>) -> Self {
        self.pin = Some(RouteStep::target(model, account));
        self
    }

    /// Appends a fallback logical model for this request.
    #[must_use]
    pub fn extra_fallback(mut self, model: impl Into<String>) -> Self {
        self.extra_fallbacks.push(model.into());
        self
    }

    /// Whether any override is set.
    pub fn is_empty(&self) -> bool {
        let Self {
            no_fallback,
            max_attempts,
            deadline,
            pin,
            extra_fallbacks,
        } = self;
        !no_fallback
            && max_attempts.is_none()
            && deadline.is_none()
            && pin.is_none()
            && extra_fallbacks.is_empty()
    }

    /// Each override that is set, described for [`Explanation`](crate::Explanation).
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut applied = Vec::new();
        if self.no_fallback {
            applied.push("no fallback".to_owned());
        }
        if let Some(n) = self.max_attempts {
            applied.push(format!("max attempts {n}"));
        }
        if let Some(limit) = self.deadline {
            applied.push(format!("deadline {limit:?}"));
        }
        if let Some(pin) = &self.pin {
            match &pin.account {
                Some(account) => applied.push(format!("pinned to `{}` on `{account}`", pin.model)),
                None => applied.push(format!("pinned to `{}`", pin.model)),
            }
        }
        for model in &self.extra_fallbacks {
            applied.push(format!("extra fallback `{model}`"));
        }
        applied
    }
}
