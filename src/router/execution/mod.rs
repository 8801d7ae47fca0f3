//! One request's walk through its plan: which candidate is next, what each attempt did,
//! and how the request ends. Shared by the non-streaming and streaming paths, so both
//! count, fall back and fail the same way.

mod ending;
mod outcome;
mod settle;
mod sizing;
mod start;
mod walk;

pub(crate) use settle::{Admission, CallTime};
pub(crate) use sizing::Sizing;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use outcome::OutcomeGuard;

use super::accounting::after_settle;
use super::adaptation::PlannedAdaptation;
use super::plan::{Candidate, Rest};
use super::skip::{SkipReason, SkippedTarget};
use super::snapshot::{CompiledAccount, CompiledModel, CompiledPolicy, CompiledTarget, Snapshot};
use super::telemetry;
use crate::error::Error;
use crate::policy::StreamRecovery;
use crate::provider::profile::{Adaptation, Adapted};
use crate::provider::{ErrorKind, ProviderError, ProviderRequest};
use crate::resilience::Deadline;
use crate::types::millis;
use crate::types::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, FinishReason, TargetRef, ToolCall, Usage,
};

pub(crate) struct Execution {
    snapshot: Arc<Snapshot>,
    policy: usize,
    candidates: Vec<Candidate>,
    next: usize,
    /// The policy's cap on provider calls, narrowed by the request's overrides.
    max_attempts: usize,
    /// Provider calls admitted so far (retries, fallbacks, hedges and stream
    /// continuations alike): the count `max_attempts` caps. Counted at admission, before
    /// the call goes out, so a call in flight counts too.
    calls: usize,
    /// 1 when the request disables fallbacks.
    max_candidates: usize,
    deadline: Deadline,
    started: Instant,
    /// The walk's latest clock reading: the one that planned the request, then the one
    /// [`Execution::next_candidate`] takes for each later candidate. The first candidate
    /// is taken and admitted at the reading that planned it, with nothing awaited between.
    clock: Instant,
    /// Targets passed over: by the planner, then at attempt time (a breaker refused a
    /// permit, limits or budget refused a reservation). All of them explain the error of a
    /// request that made no attempt.
    skipped: Vec<SkippedTarget>,
    attempts: Vec<Attempt>,
    outcome: OutcomeGuard,
    /// The policy's larger-context candidates, until a context-length error adds them to
    /// the plan.
    larger_context: Vec<Candidate>,
    /// The largest context window that refused the request as too long: candidates whose
    /// window is no larger are passed over.
    refused_window: Option<u32>,
    /// The last call probed credentials already known rejected and was refused again: the
    /// request falls back whatever the policy says about auth failures, since the probe,
    /// not the request, chose that account. (Atomic only so that `&Execution` is `Sync`.)
    refused_probe: AtomicBool,
    /// How the request is adapted to the candidates whose models cannot take it as it is.
    adaptations: Vec<PlannedAdaptation>,
    /// The part of the route not planned yet, when only its start was.
    rest: Option<Box<Rest>>,
    sizing: Sizing,
}

/// The parts of one candidate, resolved from the snapshot.
pub(crate) struct Resolved<'s> {
    pub(crate) model: &'s CompiledModel,
    pub(crate) target: &'s CompiledTarget,
    pub(crate) account: &'s CompiledAccount,
}

impl<'s> Resolved<'s> {
    pub(crate) fn request(&self, request: &'s ChatRequest) -> ProviderRequest<'s> {
        ProviderRequest::new(
            &self.target.target.provider_model,
            &self.account.info,
            request,
            &self.model.defaults,
        )
        .with_profile(&self.target.profile)
    }
}

impl Execution {
    /// The request's needs (without streaming) and prompt size, as found at the start.
    pub(crate) fn sizing(&self) -> Sizing {
        self.sizing
    }

    /// The calls made so far that are settled (failed or retried).
    pub(crate) fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    pub(crate) fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// Provider calls admitted so far.
    pub(crate) fn calls(&self) -> usize {
        self.calls
    }

    pub(crate) fn policy_name(&self) -> &Arc<str> {
        &self.outcome.policy.name
    }

    pub(crate) fn policy(&self) -> &CompiledPolicy {
        &self.snapshot.policies[self.policy]
    }

    pub(crate) fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// The reading [`Execution::next_candidate`] took (or the one that planned the
    /// request, before the first candidate): what the candidate it returned is admitted at.
    pub(crate) fn clock(&self) -> Instant {
        self.clock
    }

    /// [`Execution::admit`] for the candidate [`Execution::next_candidate`] just returned,
    /// at the reading it took.
    pub(crate) async fn admit_next(&mut self, candidate: Candidate) -> Option<Admission> {
        self.admit(candidate, self.clock).await
    }

    /// Whether another provider call is allowed (attempt cap and deadline).
    pub(crate) fn may_attempt(&self, now: Instant) -> bool {
        self.calls < self.max_attempts && !self.deadline.is_expired(now)
    }

    /// How the request is adapted to `candidate`'s model; `None` when it is sent as it is.
    pub(crate) fn adaptation(&self, candidate: Candidate) -> Option<Arc<Adapted>> {
        self.adaptations
            .iter()
            .find(|a| a.model == candidate.model && a.target == candidate.target)
            .map(|a| a.adapted.clone())
    }

    /// The changes made for `candidate`, for its attempt.
    fn changes(&self, candidate: Candidate) -> Vec<Adaptation> {
        self.adaptation(candidate)
            .map(|a| a.changes().to_vec())
            .unwrap_or_default()
    }

    pub(crate) fn resolve(snapshot: &Snapshot, candidate: Candidate) -> Resolved<'_> {
        let model = &snapshot.models[candidate.model];
        let target = &model.targets[candidate.target];
        Resolved {
            model,
            target,
            account: &snapshot.accounts[target.account],
        }
    }

    /// Admits a call to the candidate now: past its account's 429 cool-downs and
    /// credentials state, a permit
    /// from its circuit breaker (when the policy keeps one) and its account's limit and
    /// budget reservations. `None` when
    /// something refuses; the candidate is then recorded as skipped. `now` is a fresh
    /// reading: [`Execution::clock`] right after [`Execution::next_candidate`], else a new
    /// one (a retry after its wait).
    pub(crate) async fn admit(&mut self, candidate: Candidate, now: Instant) -> Option<Admission> {
        // Field borrows, not `self.policy()`: the snapshot is read while `skipped` is
        // written, without cloning the snapshot's `Arc` on every attempt.
        let snapshot = &self.snapshot;
        let resolved = Self::resolve(snapshot, candidate);
        // The account's state first: a refusal here must not take a breaker's trial.
        let probes = match resolved.admit_account(now).await {
            Ok(probes) => probes,
            Err(reason) => {
                self.skipped.push(SkippedTarget {
                    target: resolved.target.target.clone(),
                    reason,
                });
                return None;
            }
        };
        let breaker = snapshot.policies[self.policy].breaker(resolved.target);
        let permit = match breaker {
            None => None,
            Some(breaker) => match breaker.try_acquire(now) {
                Some(permit) => Some(permit),
                None => {
                    let recovers_in_ms = breaker.state(now).open_until().map_or(0, |until| {
                        millis::saturating(until.saturating_duration_since(now))
                    });
                    self.skipped.push(SkippedTarget {
                        target: resolved.target.target.clone(),
                        reason: SkipReason::BreakerOpen { recovers_in_ms },
                    });
                    return None;
                }
            },
        };
        let reserved = resolved
            .reserve(candidate.tokens, breaker.map(|b| &**b), snapshot)
            .await;
        match reserved {
            Ok(held) => {
                self.calls += 1;
                Some(Admission {
                    permit,
                    held,
                    probes,
                })
            }
            Err(reason) => {
                self.skipped.push(SkippedTarget {
                    target: resolved.target.target.clone(),
                    reason,
                });
                None
            }
        }
    }

    /// Records a call abandoned because a hedged call answered first.
    pub(crate) fn cancel_attempt(&mut self, candidate: Candidate, latency: Duration) {
        let target = Self::resolve(&self.snapshot, candidate).target;
        target.counters.record_cancelled();
        let adaptations = self.changes(candidate);
        self.attempts.push(Attempt {
            target: target.target.clone(),
            outcome: AttemptOutcome::Cancelled,
            latency,
            adaptations,
        });
    }

    /// Whether the request may move on from its first candidate at all (not with
    /// [`RouteOptions::no_fallback`](crate::RouteOptions::no_fallback)).
    pub(crate) fn allows_fallback(&self) -> bool {
        self.max_candidates > 1
    }

    /// What the policy does with a stream that breaks after content was sent.
    pub(crate) fn stream_recovery(&self) -> StreamRecovery {
        self.policy().stream_recovery
    }

    /// Whether the request moves on to another candidate after `error` (a refused probe
    /// of rejected credentials always does).
    pub(crate) fn falls_back_on(&self, error: &ProviderError) -> bool {
        let refused_probe = self.refused_probe.swap(false, Ordering::Relaxed);
        refused_probe || self.policy().fallback.on.contains(error.kind())
    }

    /// Notes that the last call probed rejected credentials and was refused again.
    pub(crate) fn note_refused_probe(&self) {
        self.refused_probe.store(true, Ordering::Relaxed);
    }

    /// Records a failed attempt. `Ok` means the policy falls back on this failure; `Err`
    /// is the request's final error.
    pub(crate) fn fail_attempt(
        &mut self,
        candidate: Candidate,
        error: ProviderError,
        latency: Duration,
    ) -> Result<(), Error> {
        let target = self.record_failure(candidate, &error, latency);
        if self.falls_back_on(&error) {
            return Ok(());
        }
        let error = Error::Rejected {
            policy: self.policy().name.clone(),
            target,
            error,
            attempts: std::mem::take(&mut self.attempts),
        };
        self.outcome.finish(telemetry::outcome(&error));
        Err(error)
    }

    /// Records a failed attempt that will be retried on the same target.
    pub(crate) fn record_failure(
        &mut self,
        candidate: Candidate,
        error: &ProviderError,
        latency: Duration,
    ) -> TargetRef {
        let resolved = Self::resolve(&self.snapshot, candidate);
        telemetry::attempt_finished(&self.outcome.policy, &resolved, Err(error.kind()), latency);
        let target = resolved.target;
        if error.kind() == ErrorKind::ContextLengthExceeded {
            if let Some(window) = target.window {
                self.refused_window = self.refused_window.max(Some(window.context));
            }
            // Held back until now: the request proved too long.
            self.candidates.append(&mut self.larger_context);
        }
        // A backend that declined did no work: its stats and latency stay as they were.
        if error.kind() != ErrorKind::Declined {
            target.counters.record(false, latency);
            target.load.observe(latency);
        }
        let adaptations = self.changes(candidate);
        self.attempts.push(Attempt {
            target: target.target.clone(),
            outcome: AttemptOutcome::Failed {
                error: error.clone(),
            },
            latency,
            adaptations,
        });
        target.target.clone()
    }

    /// Records the successful attempt (breaker, health, limits and spend settled to the
    /// actual usage) and assembles the response.
    pub(crate) fn succeed(
        &mut self,
        candidate: Candidate,
        admission: Admission,
        answer: Answer,
        time: CallTime,
    ) -> ChatResponse {
        let CallTime { latency, ended } = time;
        let resolved = Self::resolve(&self.snapshot, candidate);
        telemetry::attempt_finished(&self.outcome.policy, &resolved, Ok(&answer.usage), latency);
        if let Some(permit) = admission.permit {
            permit.success(ended);
        }
        admission.probes.succeeded(&resolved);
        resolved.account.health.record(true, latency, ended);
        let cost = resolved.cost(&answer.usage);
        let alerts = admission.held.settle(&answer.usage, cost, latency);
        after_settle(&self.snapshot, &resolved, alerts);
        resolved.target.counters.record(true, latency);
        resolved.target.load.observe(latency);
        let served_by = resolved.target.target.clone();
        let adaptations = self.changes(candidate);
        self.attempts.push(Attempt {
            target: served_by.clone(),
            outcome: AttemptOutcome::Success,
            latency,
            adaptations,
        });
        self.outcome.finish_at(telemetry::SUCCESS, ended);
        ChatResponse {
            content: answer.content,
            tool_calls: answer.tool_calls,
            finish_reason: answer.finish_reason,
            usage: answer.usage,
            cost_usd: cost.map(|c| c.dollars()),
            policy: self.policy().name.clone(),
            served_by,
            attempts: std::mem::take(&mut self.attempts),
            recoveries: Vec::new(),
        }
    }
}

/// What a provider produced, whether in one piece or assembled from a stream.
pub(crate) struct Answer {
    pub(crate) content: String,
    pub(crate) tool_calls: Vec<ToolCall>,
    pub(crate) finish_reason: FinishReason,
    pub(crate) usage: Usage,
}
