//! The attempt loop of a non-streaming request.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::Instrument;

use super::execution::{Answer, Execution};
use super::snapshot::Snapshot;
use crate::error::Error;
use crate::policy::{Purpose, StepType};
use crate::provider::ProviderResponse;
use crate::types::{ChatRequest, ChatResponse};

pub(crate) async fn complete(
    snapshot: Arc<Snapshot>,
    step: &StepType,
    purpose: &Purpose,
    request: &ChatRequest,
) -> Result<ChatResponse, Error> {
    let mut execution = Execution::start(snapshot, step, purpose, request, false)?;
    while let Some(candidate) = execution.next_candidate() {
        let started = Instant::now();
        let (result, span) = {
            let resolved = Execution::resolve(execution.snapshot(), candidate);
            let _in_flight = resolved.target.load.begin();
            let span = resolved.span();
            let call = resolved
                .account
                .provider
                .complete(resolved.request(request));
            (call.instrument(span.clone()).await, span)
        };
        let latency = started.elapsed();
        match result {
            Ok(response) => {
                record_usage(&span, &response);
                return Ok(execution.succeed(candidate, response.into(), latency));
            }
            Err(error) => {
                span.record("error.type", tracing::field::display(error.kind()));
                execution.fail_attempt(candidate, error, latency)?;
            }
        }
    }
    Err(execution.exhausted())
}

fn record_usage(span: &tracing::Span, response: &ProviderResponse) {
    span.record("gen_ai.usage.input_tokens", response.usage.input_tokens);
    span.record("gen_ai.usage.output_tokens", response.usage.output_tokens);
    span.record(
        "gen_ai.response.finish_reasons",
        tracing::field::debug(&response.finish_reason),
    );
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
