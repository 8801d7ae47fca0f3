//! How a request's execution starts: validated, matched and planned (waiting for
//! capacity within the router's queue time), and counted by its policy.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::time::Instant;

use super::outcome::OutcomeGuard;
use super::{Execution, Sizing};
use crate::error::Error;
use crate::model::Capabilities;
use crate::policy::{Purpose, StepType};
use crate::router::plan::{Plan, PlanError, PlanRequest, plan, plan_first};
use crate::router::snapshot::Snapshot;
use crate::router::telemetry;
use crate::types::ChatRequest;

/// Prompts estimated at this many tokens or more (about 256 KiB of text) are planned on
/// a blocking thread: counting their tokens would hold an async worker for milliseconds
/// to seconds.
const LARGE_PROMPT_TOKENS: u32 = 64 * 1024;

/// Whether a prompt of `prompt_tokens` is planned on a blocking thread.
fn planned_off_thread(prompt_tokens: u32) -> bool {
    prompt_tokens >= LARGE_PROMPT_TOKENS
}

/// Plans the request: up to its first candidate where that is enough, whole (on a
/// blocking thread) when its prompt (of `prompt_tokens`) is large, since the rest of a
/// route is planned on the async thread that reaches it.
async fn plan_request(
    snapshot: &Arc<Snapshot>,
    input: &PlanRequest<'_>,
    prompt_tokens: u32,
) -> Result<Plan, PlanError> {
    let request = input.request;
    if !planned_off_thread(prompt_tokens) {
        return plan_first(snapshot, input);
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
            // Planning on the blocking pool may have taken a while.
            clock: if planned_off_thread(sizing.prompt_tokens) {
                Instant::now()
            } else {
                now
            },
            skipped: planned.skipped,
            attempts: Vec::with_capacity(1),
            outcome,
            larger_context: planned.larger_context,
            refused_window: None,
            refused_probe: AtomicBool::new(false),
            adaptations: planned.adaptations,
            rest: planned.rest,
            sizing,
            snapshot,
        })
    }
}
