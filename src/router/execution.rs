//! One request's walk through its plan: which candidate is next, what each attempt did,
//! and how the request ends. Shared by the non-streaming and streaming paths, so both
//! count, fall back and fail the same way.

use std::sync::Arc;
use std::time::Duration;

use super::plan::{Candidate, PlanRequest, plan};
use super::snapshot::{CompiledAccount, CompiledModel, CompiledPolicy, CompiledTarget, Snapshot};
use crate::error::Error;
use crate::model::Capabilities;
use crate::policy::{Purpose, StepType};
use crate::provider::{ProviderError, ProviderRequest};
use crate::stats::PolicyCounters;
use crate::types::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, FinishReason, ToolCall, Usage,
};

pub(crate) struct Execution {
    snapshot: Arc<Snapshot>,
    policy: usize,
    candidates: Vec<Candidate>,
    next: usize,
    /// The policy's cap, narrowed by the request's overrides.
    max_attempts: usize,
    attempts: Vec<Attempt>,
    outcome: OutcomeGuard,
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
    }

    pub(crate) fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "routewise.attempt",
            gen_ai.system = self.account.provider.system(),
            gen_ai.request.model = &*self.target.target.provider_model,
            routewise.account = &*self.target.target.account,
            routewise.logical_model = &*self.model.name,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            gen_ai.response.finish_reasons = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    }
}

impl Execution {
    /// Validates and plans the request. A matched policy counts the request from here on.
    pub(crate) fn start(
        snapshot: Arc<Snapshot>,
        step: &StepType,
        purpose: &Purpose,
        request: &ChatRequest,
        streaming: bool,
    ) -> Result<Self, Error> {
        let problems = request.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidRequest { problems });
        }
        let mut needs = request.required_capabilities();
        if streaming {
            needs |= Capabilities::STREAMING;
        }
        let input = PlanRequest {
            step,
            purpose,
            request,
            needs,
            for_real: true,
        };
        let planned = plan(&snapshot, &input, |_, _| {});
        let planned = match planned {
            Ok(planned) => planned,
            Err(failure) => {
                if let Some(policy) = failure.policy {
                    let counters = &snapshot.policies[policy].counters;
                    counters.record_match();
                    counters.record_outcome(false);
                }
                return Err(failure.error);
            }
        };
        let policy = &snapshot.policies[planned.policy];
        policy.counters.record_match();
        let options = &request.options;
        let max_attempts = [
            policy.fallback.max_attempts,
            options.max_attempts,
            options.no_fallback.then_some(1),
        ]
        .into_iter()
        .flatten()
        .min()
        .map_or(usize::MAX, |n| n as usize);
        tracing::Span::current().record("routewise.policy", &*policy.name);
        let outcome = OutcomeGuard::new(policy.counters.clone());
        Ok(Self {
            policy: planned.policy,
            candidates: planned.candidates,
            next: 0,
            max_attempts,
            attempts: Vec::with_capacity(1),
            outcome,
            snapshot,
        })
    }

    pub(crate) fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    fn policy(&self) -> &CompiledPolicy {
        &self.snapshot.policies[self.policy]
    }

    /// The next candidate to call, or `None` when the plan or the attempt budget is spent.
    pub(crate) fn next_candidate(&mut self) -> Option<Candidate> {
        if self.attempts.len() >= self.max_attempts {
            return None;
        }
        let candidate = *self.candidates.get(self.next)?;
        self.next += 1;
        if !self.attempts.is_empty() {
            self.policy().counters.record_fallback();
        }
        Some(candidate)
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

    /// Records a failed attempt. `Ok` means the policy falls back on this failure; `Err`
    /// is the request's final error.
    pub(crate) fn fail_attempt(
        &mut self,
        candidate: Candidate,
        error: ProviderError,
        latency: Duration,
    ) -> Result<(), Error> {
        let target = self.record_failure(candidate, &error, latency);
        if self.policy().fallback.on.contains(error.kind()) {
            return Ok(());
        }
        self.outcome.finish(false);
        Err(Error::Rejected {
            policy: self.policy().name.clone(),
            target,
            error,
            attempts: std::mem::take(&mut self.attempts),
        })
    }

    fn record_failure(
        &mut self,
        candidate: Candidate,
        error: &ProviderError,
        latency: Duration,
    ) -> crate::types::TargetRef {
        let target = Self::resolve(&self.snapshot, candidate).target;
        target.counters.record(false, latency);
        target.load.observe(latency);
        self.attempts.push(Attempt {
            target: target.target.clone(),
            outcome: AttemptOutcome::Failed {
                error: error.clone(),
            },
            latency,
        });
        target.target.clone()
    }

    /// Records the successful attempt and assembles the response.
    pub(crate) fn succeed(
        &mut self,
        candidate: Candidate,
        answer: Answer,
        latency: Duration,
    ) -> ChatResponse {
        let resolved = Self::resolve(&self.snapshot, candidate);
        resolved.target.counters.record(true, latency);
        resolved.target.load.observe(latency);
        let served_by = resolved.target.target.clone();
        self.attempts.push(Attempt {
            target: served_by.clone(),
            outcome: AttemptOutcome::Success,
            latency,
        });
        self.outcome.finish(true);
        ChatResponse {
            content: answer.content,
            tool_calls: answer.tool_calls,
            finish_reason: answer.finish_reason,
            usage: answer.usage,
            cost_usd: None,
            policy: self.policy().name.clone(),
            served_by,
            attempts: std::mem::take(&mut self.attempts),
        }
    }

    /// The final error once no candidate is left.
    pub(crate) fn exhausted(&mut self) -> Error {
        self.outcome.finish(false);
        Error::AllTargetsFailed {
            policy: self.policy().name.clone(),
            attempts: std::mem::take(&mut self.attempts),
        }
    }

    /// The final error of a stream that broke after content reached the caller.
    pub(crate) fn interrupted(
        &mut self,
        candidate: Candidate,
        error: ProviderError,
        latency: Duration,
    ) -> Error {
        let target = self.record_failure(candidate, &error, latency);
        self.outcome.finish(false);
        Error::StreamInterrupted {
            policy: self.policy().name.clone(),
            target,
            error,
            attempts: std::mem::take(&mut self.attempts),
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

/// Counts the request as cancelled if it is dropped before it finished.
struct OutcomeGuard {
    counters: Arc<PolicyCounters>,
    finished: bool,
}

impl OutcomeGuard {
    fn new(counters: Arc<PolicyCounters>) -> Self {
        Self {
            counters,
            finished: false,
        }
    }

    fn finish(&mut self, success: bool) {
        if !self.finished {
            self.finished = true;
            self.counters.record_outcome(success);
        }
    }
}

impl Drop for OutcomeGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.counters.record_cancelled();
        }
    }
}
