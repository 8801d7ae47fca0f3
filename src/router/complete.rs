//! The attempt loop of a non-streaming request: candidates in plan order, retries on the
//! same target as the policy allows, each call within its timeout.

use std::sync::Arc;
use tokio::time::Instant;
use tracing::Instrument;

use super::execution::{Answer, CallTime, Execution, Sizing};
use super::hedge;
use super::plan::Candidate;
use super::snapshot::Snapshot;
use super::telemetry;
use crate::error::Error;
use crate::policy::{Purpose, StepType};
use crate::provider::profile::Adapted;
use crate::provider::{ProviderError, ProviderResponse};
use crate::resilience::Deadline;
use crate::types::{ChatRequest, ChatResponse};

/// What routing a request found out that a recorder would otherwise find again.
#[derive(Default)]
pub(crate) struct Trace {
    /// When the answering call ended, if the request was answered in a single call's time
    /// (not in a hedged race): the recorder need not read the clock again.
    pub(crate) answered: Option<Instant>,
    /// The request's needs and prompt size, once it was planned.
    pub(crate) sizing: Option<Sizing>,
}

/// `received` is when the request arrived; `trace` is filled in on the way.
pub(crate) async fn complete(
    snapshot: Arc<Snapshot>,
    received: Instant,
    step: &StepType,
    purpose: &Purpose,
    request: &ChatRequest,
    trace: &mut Trace,
) -> Result<ChatResponse, Error> {
    let mut execution = Box::pin(Execution::start(
        snapshot, received, step, purpose, request, false,
    ))
    .await?;
    trace.sizing = Some(execution.sizing());
    while let Some(candidate) = execution.next_candidate(request) {
        let mut retries = 0;
        let mut now = execution.clock();
        loop {
            let Some(mut admission) = execution.admit(candidate, now).await else {
                break;
            };
            admission.mark_sent();
            if let Some(delay) = execution.hedge_delay(candidate) {
                // Boxed: a race's state (two calls at once) inlined would double every
                // request's future, hedged or not, for as long as its call waits.
                match Box::pin(hedge::race(
                    &mut execution,
                    candidate,
                    admission,
                    delay,
                    request,
                ))
                .await?
                {
                    Some(response) => return Ok(response),
                    None => break,
                }
            }
            let snapshot = execution.snapshot().clone();
            let deadline = *execution.deadline();
            let adapted = execution.adaptation(candidate);
            let (result, time) =
                call(&snapshot, &deadline, candidate, request, adapted.as_deref()).await;
            let error = match result {
                Ok(response) => {
                    let answer = response.into();
                    trace.answered = Some(time.ended);
                    return Ok(execution.succeed(candidate, admission, answer, time));
                }
                Err(error) => error,
            };
            let latency = time.latency;
            execution.observe_failure(candidate, admission, &error, time);
            match execution.retry_delay(retries, &error, request) {
                Some(delay) => {
                    execution.record_failure(candidate, &error, latency);
                    tokio::time::sleep(delay).await;
                    now = Instant::now();
                    retries += 1;
                }
                None => {
                    execution.fail_attempt(candidate, error, latency)?;
                    break;
                }
            }
        }
    }
    Err(execution.exhausted())
}

/// One provider call within the attempt's time limit, traced as an attempt span. It
/// borrows no [`Execution`], so a hedged call can run beside another.
pub(super) async fn call(
    snapshot: &Snapshot,
    deadline: &Deadline,
    candidate: Candidate,
    request: &ChatRequest,
    adapted: Option<&Adapted>,
) -> (Result<ProviderResponse, ProviderError>, CallTime) {
    let resolved = Execution::resolve(snapshot, candidate);
    let _in_flight = resolved.target.load.begin();
    let span = telemetry::attempt_span(&resolved, request, adapted);
    telemetry::adapted(&span, &resolved, adapted);
    let started = Instant::now();
    let call = resolved
        .account
        .provider
        .complete(resolved.request(request).with_adaptation(adapted));
    let result = deadline
        .run_from(started, call.instrument(span.clone()))
        .await
        .unwrap_or_else(|timed_out| Err(timed_out.into()));
    let time = CallTime::since(started);
    match &result {
        Ok(response) => {
            telemetry::record_answer(&span, &response.usage, &response.finish_reason);
            telemetry::record_response(
                &span,
                response.response_id.as_deref(),
                response.response_model.as_deref(),
            );
        }
        Err(error) => telemetry::record_failure(&span, error.kind()),
    }
    (result, time)
}

impl From<ProviderResponse> for Answer {
    fn from(response: ProviderResponse) -> Self {
        Answer {
            content: response.content,
            tool_calls: response.tool_calls,
            finish_reason: response.finish_reason,
            usage: response.usage,
        }
    }
}
