//! The walk through a request's candidates: which one is next (planning the route on when
//! only its start was planned), whether to hedge it, and whether to retry it.

use std::time::Duration;

use tokio::time::Instant;

use super::Execution;
use crate::provider::{ErrorKind, ProviderError};
use crate::router::plan::{Candidate, Found};
use crate::router::skip::{SkipReason, SkippedTarget};
use crate::router::telemetry;
use crate::types::ChatRequest;

impl Execution {
    /// The next candidate to call, or `None` when the plan or the attempt budget is spent.
    /// A route planned up to its first candidate is planned on here, with `request`,
    /// when the request reaches the part not planned yet; when the request ends before,
    /// the rest is planned then, so that its error lists every target passed over.
    pub(crate) fn next_candidate(&mut self, request: &ChatRequest) -> Option<Candidate> {
        // The first candidate was planned at the start's reading, just now; every later
        // one comes after a call, a wait or a refusal, so the clock is read again.
        if self.next > 0 {
            self.clock = Instant::now();
        }
        let now = self.clock;
        if !self.may_attempt(now) || self.next >= self.max_candidates {
            self.plan_rest(request, now);
            return None;
        }
        let mut candidate = self.take_candidate(request, now)?;
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
                    candidate = self.take_candidate(request, now)?;
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

    /// The candidate after the last one taken, planning the route on to it if needed.
    fn take_candidate(&mut self, request: &ChatRequest, now: Instant) -> Option<Candidate> {
        if self.next == self.candidates.len() {
            self.plan_more(request, now);
        }
        let candidate = *self.candidates.get(self.next)?;
        self.next += 1;
        Some(candidate)
    }

    /// Plans the route on to its next candidate, if part of it is not planned yet.
    fn plan_more(&mut self, request: &ChatRequest, now: Instant) {
        let Some(rest) = &mut self.rest else {
            return;
        };
        let found = Found {
            candidates: &mut self.candidates,
            skipped: &mut self.skipped,
            adaptations: &mut self.adaptations,
        };
        rest.advance(&self.snapshot, request, now, found);
        if rest.is_spent() {
            self.rest = None;
        }
    }

    /// Plans whatever is left of the route.
    fn plan_rest(&mut self, request: &ChatRequest, now: Instant) {
        while self.rest.is_some() {
            self.plan_more(request, now);
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

    /// How long to wait before retrying the same target after `error`, if the policy
    /// retries it: provider faults by [`RetryPolicy`](crate::RetryPolicy), other kinds only
    /// when a per-kind rule asks for it, always within the attempt cap and the deadline.
    pub(crate) fn retry_delay(
        &mut self,
        retries: u32,
        error: &ProviderError,
        request: &ChatRequest,
    ) -> Option<Duration> {
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
            if self.another_candidate_serves(request, now) {
                return None;
            }
            retry_after = Some(retry_after.unwrap_or(self.snapshot.cool_down));
        }
        self.policy().retry.max_retries(limit).next_delay(
            retries,
            retry_after,
            self.deadline.remaining(now),
        )
    }

    /// Whether a candidate after the current one may be called now (the request allows
    /// fallbacks, and its account is neither cooling down nor out of limits or budget).
    /// The rest of the route is planned first, if it was not.
    fn another_candidate_serves(&mut self, request: &ChatRequest, now: Instant) -> bool {
        if self.max_candidates > self.next {
            self.plan_rest(request, now);
        }
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
}
