//! How a request ends without an answer: the final error once no candidate is left, or
//! a stream broken after content reached the caller.

use std::time::Duration;

use tokio::time::Instant;

use super::Execution;
use crate::error::Error;
use crate::provider::{ErrorKind, ProviderError};
use crate::router::plan::Candidate;
use crate::router::skip::no_candidate_error;
use crate::router::telemetry;
use crate::types::{Attempt, AttemptOutcome, TargetRef};

impl Execution {
    /// The final error once no candidate is left.
    pub(crate) fn exhausted(&mut self) -> Error {
        let error = self.final_error();
        self.outcome.finish(telemetry::outcome(&error));
        error
    }

    /// Why nothing answered: the deadline passed, no candidate was admitted, or every
    /// attempt failed.
    fn final_error(&mut self) -> Error {
        let policy = self.policy().name.clone();
        let attempts = std::mem::take(&mut self.attempts);
        if let (Some(limit), true) = (
            self.policy_deadline(),
            self.deadline.is_expired(Instant::now()),
        ) {
            return Error::DeadlineExceeded {
                policy,
                deadline: limit,
                attempts,
            };
        }
        if attempts.is_empty() {
            return no_candidate_error(policy, std::mem::take(&mut self.skipped));
        }
        if let Some(retry_after) = self.capacity_returns(&attempts) {
            return Error::RateLimited {
                policy,
                retry_after: Some(retry_after),
                skipped: std::mem::take(&mut self.skipped),
                attempts,
            };
        }
        Error::AllTargetsFailed { policy, attempts }
    }

    /// When every call failed with a 429: how long until the first of their targets may
    /// be called again.
    fn capacity_returns(&self, attempts: &[Attempt]) -> Option<Duration> {
        let failed = attempts.iter().filter_map(|a| match &a.outcome {
            AttemptOutcome::Failed { error } => Some((a, error.kind())),
            AttemptOutcome::Success | AttemptOutcome::Cancelled => None,
        });
        if !failed
            .clone()
            .all(|(_, kind)| kind == ErrorKind::RateLimited)
        {
            return None;
        }
        let now = Instant::now();
        failed
            .filter_map(|(attempt, _)| {
                let target = self.snapshot.target(&attempt.target)?;
                let account = &self.snapshot.accounts[target.account];
                let model = &target.target.provider_model;
                Some(account.cool_downs.earliest(model, now) - now)
            })
            .min()
    }

    fn policy_deadline(&self) -> Option<Duration> {
        self.deadline
            .end()
            .map(|end| end.saturating_duration_since(self.started))
    }

    /// The final error of a stream that broke after content reached the caller.
    pub(crate) fn interrupted(
        &mut self,
        candidate: Candidate,
        error: ProviderError,
        latency: Duration,
    ) -> Error {
        let target = self.record_failure(candidate, &error, latency);
        self.stream_interrupted(target, error)
    }

    /// The final error of a stream that broke after content reached the caller and
    /// could not be recovered: the target that broke, its failure, and every attempt.
    pub(crate) fn stream_interrupted(&mut self, target: TargetRef, error: ProviderError) -> Error {
        let error = Error::StreamInterrupted {
            policy: self.policy().name.clone(),
            target,
            error,
            attempts: std::mem::take(&mut self.attempts),
        };
        self.outcome.finish(telemetry::outcome(&error));
        error
    }
}
