//! Errors: what went wrong with a routed request ([`Error`]) and with a router's
//! configuration ([`ConfigError`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::model::Capability;
use crate::policy::{Purpose, StepType};
use crate::provider::ProviderError;
use crate::router::SkippedTarget;
use crate::types::{Attempt, TargetRef};

/// Why a routed request failed.
///
/// The variants separate what a caller handles differently: a request that is wrong
/// ([`InvalidRequest`](Self::InvalidRequest), [`MissingCapability`](Self::MissingCapability),
/// [`Rejected`](Self::Rejected)), a router with no rule for it
/// ([`NoMatchingPolicy`](Self::NoMatchingPolicy)), and providers that could not serve it
/// ([`NoAvailableTarget`](Self::NoAvailableTarget), [`AllTargetsFailed`](Self::AllTargetsFailed),
/// [`StreamInterrupted`](Self::StreamInterrupted)). Every message names the policy, model or
/// target involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request itself is malformed; no provider was called.
    #[error("invalid request: {}", join_problems(problems))]
    InvalidRequest {
        /// `(field, problem)` pairs.
        problems: Vec<(String, String)>,
    },

    /// No policy matches the request and no default policy is declared.
    #[error(
        "no routing policy matches step type `{step_type}` and purpose `{purpose}`; add a catch-all policy (no step type, purpose, model or tag criteria, such as `Policy::new(\"default\").route([...])`) at the lowest priority"
    )]
    NoMatchingPolicy {
        /// The request's step type.
        step_type: StepType,
        /// The request's purpose.
        purpose: Purpose,
    },

    /// No model on the matched policy's route can do what the request needs; no provider
    /// was called.
    #[error(
        "policy `{policy}`: logical model `{model}` does not support {capability}, which the request needs; if it does, declare it: {}",
        declare_capability(model, *capability)
    )]
    MissingCapability {
        /// The matched policy.
        policy: Arc<str>,
        /// The route's primary logical model.
        model: Arc<str>,
        /// The first capability missing.
        capability: Capability,
    },

    /// The prompt does not fit any candidate's context window; no provider was called.
    #[error(
        "policy `{policy}`: the request needs about {needed} tokens but the largest context window on the route holds {largest}"
    )]
    ContextTooLong {
        /// The matched policy.
        policy: Arc<str>,
        /// Estimated prompt tokens plus requested output tokens (the smallest estimate
        /// over the candidates).
        needed: u32,
        /// The largest context window among the candidates.
        largest: u32,
    },

    /// Every candidate's circuit breaker is open; the request failed fast.
    #[error(
        "policy `{policy}`: every target's circuit breaker is open; the first recovers in {retry_after:?}"
    )]
    CircuitOpen {
        /// The matched policy.
        policy: Arc<str>,
        /// Time until the first breaker lets a trial call through.
        retry_after: Duration,
        /// Every candidate and why it was skipped.
        skipped: Vec<SkippedTarget>,
    },

    /// Every candidate's account is rate limited (by its configured limits or a provider
    /// 429), and waiting up to the router's queue time did not help; or every call made
    /// was answered with a 429 whose wait does not fit the retry policy or the deadline.
    #[error("policy `{policy}`: every target is rate limited{}", retry_after.map(|d| format!("; capacity returns in {d:?}")).unwrap_or_default())]
    RateLimited {
        /// The matched policy.
        policy: Arc<str>,
        /// When the first account has room again; `None` when the request alone exceeds
        /// every tokens-per-minute limit.
        retry_after: Option<Duration>,
        /// Every candidate and why it was skipped.
        skipped: Vec<SkippedTarget>,
        /// Every call made (each answered with a 429); empty when none was.
        attempts: Vec<Attempt>,
    },

    /// Every candidate's account has spent its budget for the current window.
    #[error(
        "policy `{policy}`: every target's account has exhausted its budget ({})",
        join_skips(skipped)
    )]
    BudgetExhausted {
        /// The matched policy.
        policy: Arc<str>,
        /// Every candidate and why it was skipped.
        skipped: Vec<SkippedTarget>,
    },

    /// Every target's account shares its limits, budget or breaker through Redis, Redis
    /// does not answer, and the shared state fails closed
    /// ([`FailMode::Closed`](crate::shared::FailMode)). Routing resumes by itself once
    /// Redis answers.
    #[error(
        "policy `{policy}`: the shared state (Redis) does not answer and fails closed ({})",
        join_skips(skipped)
    )]
    SharedStateUnavailable {
        /// The matched policy.
        policy: Arc<str>,
        /// Every candidate and why it was skipped.
        skipped: Vec<SkippedTarget>,
    },

    /// The request's deadline passed before a target answered.
    #[error(
        "policy `{policy}`: the request deadline of {deadline:?} passed after {} attempt(s){}",
        attempts.len(),
        in_flight(attempts)
    )]
    DeadlineExceeded {
        /// The matched policy.
        policy: Arc<str>,
        /// The deadline.
        deadline: Duration,
        /// Every attempt made.
        attempts: Vec<Attempt>,
    },

    /// Every candidate was skipped before any call (each with its reason).
    #[error(
        "policy `{policy}`: no target can take the request ({})",
        join_skips(skipped)
    )]
    NoAvailableTarget {
        /// The matched policy.
        policy: Arc<str>,
        /// Every candidate and why it was skipped.
        skipped: Vec<SkippedTarget>,
    },

    /// Every candidate was tried and failed.
    #[error(
        "policy `{policy}`: every target failed after {} attempt(s): {}",
        attempts.len(),
        join_attempts(attempts)
    )]
    AllTargetsFailed {
        /// The matched policy.
        policy: Arc<str>,
        /// Every attempt, in order, with its error.
        attempts: Vec<Attempt>,
    },

    /// A target failed in a way the policy does not fall back on (by default: an invalid
    /// request, failed authentication or a content filter), so routing stopped.
    #[error(
        "policy `{policy}`: target {target} refused the request and the policy does not fall back on that"
    )]
    Rejected {
        /// The matched policy.
        policy: Arc<str>,
        /// The target that refused.
        target: TargetRef,
        /// The provider's error.
        #[source]
        error: ProviderError,
        /// Every attempt, in order; the last is the refusal.
        attempts: Vec<Attempt>,
    },

    /// A stream failed after content had reached the caller, so it could not fall back.
    #[error(
        "policy `{policy}`: stream from {target} broke after content was sent ({}); `Policy::stream_recovery(StreamRecovery::Continue)` continues such a stream on the next candidate",
        error.kind()
    )]
    StreamInterrupted {
        /// The matched policy.
        policy: Arc<str>,
        /// The target whose stream broke.
        target: TargetRef,
        /// The provider's error.
        #[source]
        error: ProviderError,
        /// Every attempt, in order; the last is the broken stream.
        attempts: Vec<Attempt>,
    },
}

impl Error {
    /// The policy that matched, when one did.
    pub fn policy(&self) -> Option<&str> {
        match self {
            Error::InvalidRequest { .. } | Error::NoMatchingPolicy { .. } => None,
            Error::MissingCapability { policy, .. }
            | Error::ContextTooLong { policy, .. }
            | Error::CircuitOpen { policy, .. }
            | Error::RateLimited { policy, .. }
            | Error::BudgetExhausted { policy, .. }
            | Error::SharedStateUnavailable { policy, .. }
            | Error::DeadlineExceeded { policy, .. }
            | Error::NoAvailableTarget { policy, .. }
            | Error::AllTargetsFailed { policy, .. }
            | Error::Rejected { policy, .. }
            | Error::StreamInterrupted { policy, .. } => Some(policy),
        }
    }

    /// Every provider call made before the request failed (empty when none was).
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            Error::AllTargetsFailed { attempts, .. }
            | Error::RateLimited { attempts, .. }
            | Error::DeadlineExceeded { attempts, .. }
            | Error::Rejected { attempts, .. }
            | Error::StreamInterrupted { attempts, .. } => attempts,
            _ => &[],
        }
    }

    /// How long to wait before the same request may succeed, when the router knows: the
    /// first breaker recovery, or the shortest retry-after among the attempts.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::CircuitOpen { retry_after, .. } => Some(*retry_after),
            Error::RateLimited { retry_after, .. } => *retry_after,
            Error::NoAvailableTarget { skipped, .. } => {
                skipped.iter().filter_map(|s| s.reason.retry_after()).min()
            }
            _ => self
                .attempts()
                .iter()
                .filter_map(|a| match &a.outcome {
                    crate::types::AttemptOutcome::Failed { error } => error.retry_after(),
                    crate::types::AttemptOutcome::Success
                    | crate::types::AttemptOutcome::Cancelled => None,
                })
                .min(),
        }
    }

    /// Whether the request itself is at fault, so sending it again unchanged cannot help.
    pub fn is_request_error(&self) -> bool {
        match self {
            Error::InvalidRequest { .. }
            | Error::MissingCapability { .. }
            | Error::ContextTooLong { .. } => true,
            Error::Rejected { error, .. } => !error.is_provider_fault(),
            _ => false,
        }
    }
}

/// How to declare `capability` on `model`, in code and in a config file.
fn declare_capability(model: &str, capability: Capability) -> String {
    let (constant, name) = match capability {
        Capability::Streaming => ("STREAMING", "streaming"),
        Capability::Tools => ("TOOLS", "tools"),
        Capability::Vision => ("VISION", "vision"),
        Capability::JsonMode => ("JSON_MODE", "json_mode"),
    };
    format!(
        "`LogicalModel::new(\"{model}\").capabilities(Capabilities::{constant})` in code, or `capabilities = [\"{name}\"]` on model `{model}` in a config file"
    )
}

/// The target whose call the deadline cut short, if it cut one short.
fn in_flight(attempts: &[Attempt]) -> String {
    match attempts.last().map(|a| (&a.target, &a.outcome)) {
        Some((target, crate::types::AttemptOutcome::Failed { error }))
            if error.kind() == crate::provider::ErrorKind::Timeout =>
        {
            format!("; target {target} was still answering")
        }
        _ => String::new(),
    }
}

fn join_problems(problems: &[(String, String)]) -> String {
    problems
        .iter()
        .map(|(field, problem)| format!("{field} {problem}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn join_skips(skipped: &[SkippedTarget]) -> String {
    skipped
        .iter()
        .map(|s| format!("{}: {}", s.target, s.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn join_attempts(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Everything wrong with a router's configuration, found at once by
/// [`RouterBuilder::build`](crate::RouterBuilder::build) or while loading a
/// [`RouterConfig`](crate::RouterConfig).
///
/// ```
/// use routewise::{Policy, Router};
///
/// let err = Router::builder()
///     .policy(Policy::new("chat").route(["missing-model"]))
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("policies[\"chat\"].route[0]: unknown logical model `missing-model`"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<ConfigProblem>,
    origin: Option<Arc<str>>,
}

/// One problem in a configuration: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where, for example `policies["chat"].route[1]` (builder) or `policies[2].route[1]`
    /// (config file).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Line and column in the config file, when the file format can tell.
    pub location: Option<Location>,
}

/// A position in a config file, both numbers counting from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The line.
    pub line: usize,
    /// The column, in characters.
    pub column: usize,
}

impl ConfigError {
    pub(crate) fn new(problems: Vec<ConfigProblem>) -> Self {
        Self {
            problems,
            origin: None,
        }
    }

    /// Names the file the problems are in.
    pub(crate) fn in_file(mut self, origin: Arc<str>) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Every problem found.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    /// The config file the problems are in, when they come from one.
    pub fn file(&self) -> Option<&str> {
        self.origin.as_deref()
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(at) = self.location {
            write!(f, " (line {}, column {})", at.line, at.column)?;
        }
        Ok(())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid router configuration")?;
        if let Some(origin) = &self.origin {
            write!(f, " in `{origin}`")?;
        }
        write!(
            f,
            " ({} problem{})",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// An error and its sources on one line, each after a `: `, for logs and exit messages.
///
/// ```
/// let io = std::io::Error::other("disk full");
/// assert_eq!(routewise::error_chain(&io), "disk full");
/// ```
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
