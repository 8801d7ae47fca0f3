//! One request's walk through its plan: which candidate is next, what each attempt did,
//! and how the request ends. Shared by the non-streaming and streaming paths, so both
//! count, fall back and fail the same way.

mod ending;
mod outcome;
mod settle;
mod sizing;

pub(crate) use settle::{Admission, CallTime};
pub(crate) use sizing::Sizing;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use outcome::OutcomeGuard;

use super::accounting::after_settle;
use super::adaptation::PlannedAdaptation;
use super::plan::{Candidate, Plan, PlanError, PlanRequest, plan};
use super::skip::{SkipReason, SkippedTarget};
use super::snapshot::{CompiledAccount, CompiledModel, CompiledPolicy, CompiledTarget, Snapshot};
use super::telemetry;
use crate::error::Error;
use crate::model::Capabilities;
use crate::policy::StreamRecovery;
use crate::policy::{Purpose, StepType};
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

/// Prompts estimated at this many tokens or more (about 256 KiB of text) are planned on
/// a blocking thread: counting their tokens would hold an async worker for milliseconds
/// to seconds.
const LARGE_PROMPT_TOKENS: u32 = 64 * 1024;

/// Plans the request, on a blocking thread when its prompt (of `prompt_tokens`) is large.
async fn plan_request(
    snapshot: &Arc<Snapshot>,
    input: &PlanRequest<'_>,
    prompt_tokens: u32,
) -> Result<Plan, PlanError> {
    let request = input.request;
    if prompt_tokens < LARGE_PROMPT_TOKENS {
        return plan(snapshot, input);
    }
    let owned = (
        snapshot.clone(),
        input.step.clone(),
        input.purpose.clone(),
        request.clone(),
    );
    let (needs, for_real, now) = (input.needs, input.for_real, input.now);
    let planned = tokio::task::spawn_blocking(move || {
        let (snapshot, step, purpose, request) = owned;
        let input = PlanRequest {
            step: &step,
            purpose: &purpose,
            request: &request,
            needs,
            for_real,
            now,
        };
        plan(&snapshot, &input)
    })
    .await;
    // The blocking pool refuses work only while the runtime shuts down: plan here then.
    planned.unwrap_or_else(|_| plan(snapshot, input))
}

impl Execution {
    /// Validates and plans the request, waiting up to the router's queue time when every
    /// candidate is rate limited. A matched policy counts the request from here on.
    /// `received` is when the request arrived.
    pub(crate) async fn start(
        snapshot: Arc<Snapshot>,
        received: Instant,
        step: &StepType,
        purpose: &Purpose,
        request: &ChatRequest,
        streaming: bool,
    ) -> Result<Self, Error> {
        let problems = request.problems();
        if !problems.is_empty() {
            let error = Error::InvalidRequest { problems };
            telemetry::request_finished(None, telemetry::outcome(&error), received.elapsed());
            return Err(error);
        }
        let sizing = Sizing::of(request);
        let mut needs = sizing.needs;
        if streaming {
            needs |= Capabilities::STREAMING;
        }
        // Waiting for capacity never outlasts the request's own deadline.
        let queue_time = request
            .options
            .deadline
            .map_or(snapshot.queue_time, |d| d.min(snapshot.queue_time));
        let queue_until = received + queue_time;
        // One clock reading serves validation and the first plan; a wait for capacity
        // reads it again.
        let mut now = received;
        let planned = loop {
            let input = PlanRequest {
                step,
                purpose,
                request,
                needs,
                for_real: true,
                now,
            };
            let planned = plan_request(&snapshot, &input, sizing.prompt_tokens).await;
            if let Err(PlanError {
                error:
                    Error::RateLimited {
                        retry_after: Some(wait),
                        ..
                    },
                ..
            }) = &planned
                && input.now + *wait <= queue_until
            {
                tokio::time::sleep(*wait).await;
                now = Instant::now();
                continue;
            }
            break planned;
        };
        let planned = match planned {
            Ok(planned) => planned,
            Err(failure) => {
                let policy = failure.policy.map(|i| &snapshot.policies[i]);
                if let Some(policy) = policy {
                    policy.counters.record_match();
                    policy.counters.record_outcome(false);
                }
                let outcome = telemetry::outcome(&failure.error);
                let policy = policy.map(|p| &*p.telemetry);
                telemetry::request_finished(policy, outcome, received.elapsed());
                return Err(failure.error);
            }
        };
        let policy = &snapshot.policies[planned.policy];
        policy.counters.record_match();
        let options = &request.options;
        let max_attempts = [policy.fallback.max_attempts, options.max_attempts]
            .into_iter()
            .flatten()
            .min()
            .map_or(usize::MAX, |n| n as usize);
        let mut timeouts = policy.timeouts;
        if let Some(limit) = options.deadline {
            timeouts.request = Some(timeouts.request.map_or(limit, |l| l.min(limit)));
        }
        let span = tracing::Span::current();
        span.record("routewise.policy", &*policy.name);
        let outcome = OutcomeGuard {
            counters: policy.counters.clone(),
            policy: policy.telemetry.clone(),
            received,
            span,
            finished: false,
        };
        Ok(Self {
            policy: planned.policy,
            candidates: planned.candidates,
            next: 0,
            max_attempts,
            calls: 0,
            max_candidates: if options.no_fallback { 1 } else { usize::MAX },
            deadline: timeouts.start(now),
            started: now,
            skipped: planned.skipped,
            attempts: Vec::with_capacity(1),
            outcome,
            larger_context: planned.larger_context,
            refused_window: None,
            refused_probe: AtomicBool::new(false),
            adaptations: planned.adaptations,
            sizing,
            snapshot,
        })
    }

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

    /// Whether another provider call is allowed (attempt cap and deadline).
    pub(crate) fn may_attempt(&self, now: Instant) -> bool {
        self.calls < self.max_attempts && !self.deadline.is_expired(now)
    }

    /// The next candidate to call, or `None` when the plan or the attempt budget is spent.
    pub(crate) fn next_candidate(&mut self) -> Option<Candidate> {
        if !self.may_attempt(Instant::now()) || self.next >= self.max_candidates {
            return None;
        }
        let mut candidate = *self.candidates.get(self.next)?;
        self.next += 1;
        while let Some(refused_by) = self.refused_window {
            let target = Self::resolve(&self.snapshot, candidate).target;
            match target.window.map(|w| w.context) {
                Some(context) if context <= refused_by => {
                    self.skipped.push(SkippedTarget {
                        target: target.target.clone(),
                        reason: SkipReason::ContextRefused {
                            context,
                            refused_by,
                        },
                    });
                    candidate = *self.candidates.get(self.next)?;
                    self.next += 1;
                }
                _ => break,
            }
        }
        if !self.attempts.is_empty() {
            let policy = self.policy();
            policy.counters.record_fallback();
            telemetry::fallback(&policy.telemetry);
        }
        Some(candidate)
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
    /// something refuses; the candidate is then recorded as skipped.
    pub(crate) async fn admit(&mut self, candidate: Candidate) -> Option<Admission> {
        let now = Instant::now();
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

    /// How long to let the first attempt run before racing the next candidate, when the
    /// policy hedges and a second attempt is allowed and available.
    pub(crate) fn hedge_delay(&self, first: Candidate) -> Option<Duration> {
        let policy = self.policy();
        let room = self.attempts.is_empty()
            && self.calls < self.max_attempts
            && self.max_candidates >= 2
            && self.next < self.candidates.len();
        if !room {
            return None;
        }
        let account = Self::resolve(&self.snapshot, first).account;
        policy.hedge.delay(account.health.latency(), Instant::now())
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

    /// How long to wait before retrying the same target after `error`, if the policy
    /// retries it: provider faults by [`RetryPolicy`](crate::RetryPolicy), other kinds only
    /// when a per-kind rule asks for it, always within the attempt cap and the deadline.
    pub(crate) fn retry_delay(&self, retries: u32, error: &ProviderError) -> Option<Duration> {
        let now = Instant::now();
        let policy = self.policy();
        let kind = error.kind();
        let limit = match policy.retries_by_kind.iter().find(|(k, _)| *k == kind) {
            Some((_, limit)) => *limit,
            None if error.is_provider_fault() => policy.retry.max_retries,
            None => 0,
        };
        if retries >= limit || !self.may_attempt(now) {
            return None;
        }
        let mut retry_after = error.retry_after();
        if kind == ErrorKind::RateLimited {
            // Another candidate serves now; the same one only after its cool-down.
            if self.another_candidate_serves(now) {
                return None;
            }
            retry_after = Some(retry_after.unwrap_or(self.snapshot.cool_down));
        }
        policy.retry.max_retries(limit).next_delay(
            retries,
            retry_after,
            self.deadline.remaining(now),
        )
    }

    /// Whether a candidate after the current one may be called now (the request allows
    /// fallbacks, and its account is neither cooling down nor out of limits or budget).
    fn another_candidate_serves(&self, now: Instant) -> bool {
        let end = self.candidates.len().min(self.max_candidates);
        let rest = self.candidates.get(self.next..end).unwrap_or_default();
        rest.iter().any(|&candidate| {
            let resolved = Self::resolve(&self.snapshot, candidate);
            let breaker_open = self
                .policy()
                .breaker(resolved.target)
                .is_some_and(|b| b.state(now).is_open());
            !breaker_open && resolved.check(candidate.tokens, now, false).is_ok()
        })
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
