//! Errors: what went wrong with a routed request ([`Error`]) and with a router's
//! configuration ([`ConfigError`]).

use std::fmt;
use std::sync::Arc;

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
    #[error("no routing policy matches step type `{step_type}` and purpose `{purpose}`")]
    NoMatchingPolicy {
        /// The request's step type.
        step_type: StepType,
        /// The request's purpose.
        purpose: Purpose,
    },

    /// No model on the matched policy's route can do what the request needs; no provider
    /// was called.
    #[error(
        "policy `{policy}`: logical model `{model}` does not support {capability}, which the request needs"
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
    #[error("policy `{policy}`: stream from {target} broke after content was sent")]
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
            | Error::Rejected { attempts, .. }
            | Error::StreamInterrupted { attempts, .. } => attempts,
            _ => &[],
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
/// [`RouterBuilder::build`](crate::RouterBuilder::build).
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
}

/// One problem in a configuration: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where, for example `policies["chat"].route[1]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(problems: Vec<ConfigProblem>) -> Self {
        Self { problems }
    }

    /// Every problem found.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid router configuration ({} problem{})",
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
