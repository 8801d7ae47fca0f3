//! Telemetry of routed requests in one place: `tracing` spans carrying the OpenTelemetry
//! GenAI attributes, and (feature `metrics`) the metrics listed in [`crate::metrics`].
//! The request path calls these where requests and attempts start and end; without the
//! feature the metric hooks are empty.

use std::sync::Arc;
use std::time::Duration;

use tracing::Span;
use tracing::field::Empty;

use super::execution::Resolved;
use crate::error::Error;
use crate::policy::{Purpose, StepType};
use crate::provider::ErrorKind;
use crate::provider::profile::Adapted;
use crate::types::{ChatRequest, EffectiveParams, FinishReason, Usage};

/// `gen_ai.operation.name` of every call the router makes.
pub(crate) const OPERATION: &str = "chat";
/// The outcome of a request that was answered.
pub(crate) const SUCCESS: &str = "success";
/// The outcome of a request dropped before it ended.
pub(crate) const CANCELLED: &str = "cancelled";

/// The span of one routed request; the matched policy is recorded once known.
pub(crate) fn request_span(step: &StepType, purpose: &Purpose, request: &ChatRequest) -> Span {
    tracing::info_span!(
        "routewise.request",
        gen_ai.operation.name = OPERATION,
        routewise.step_type = %step,
        routewise.purpose = %purpose,
        routewise.requested_model = request.model.as_deref(),
        routewise.policy = Empty,
        routewise.outcome = Empty,
    )
}

/// The span of one provider call: an OpenTelemetry GenAI client span ("chat {model}"),
/// with the parameters as sent (adapted to the model, when they were). Whole numbers are
/// recorded as `i64`: OpenTelemetry attributes have no unsigned type, and bridges such as
/// `tracing-opentelemetry` turn a `u64` into a string.
pub(crate) fn attempt_span(
    resolved: &Resolved<'_>,
    request: &ChatRequest,
    adapted: Option<&Adapted>,
) -> Span {
    let model = &*resolved.target.target.provider_model;
    let params = match adapted {
        Some(adapted) => resolved
            .request(request)
            .with_adaptation(Some(adapted))
            .params(),
        None => EffectiveParams::new(&request.params, &resolved.model.defaults),
    };
    tracing::info_span!(
        "routewise.attempt",
        otel.name = %format_args!("{OPERATION} {model}"),
        otel.kind = "client",
        gen_ai.operation.name = OPERATION,
        gen_ai.provider.name = resolved.account.provider.provider_name(),
        gen_ai.request.model = model,
        gen_ai.request.temperature = params.temperature().map(f64::from),
        gen_ai.request.top_p = params.top_p().map(f64::from),
        gen_ai.request.max_tokens = params.max_tokens().map(i64::from),
        routewise.logical_model = &*resolved.model.name,
        routewise.account = &*resolved.target.target.account,
        server.address = resolved.account.server.as_ref().map(|(host, _)| &**host),
        server.port = resolved.account.server.as_ref().map(|(_, port)| i64::from(*port)),
        gen_ai.response.id = Empty,
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.response.finish_reasons = Empty,
        error.type = Empty,
    )
}

/// Emits one `routewise::adapt` event, inside the attempt's span, for each change made
/// to the request for the target's model: nothing changes silently.
pub(crate) fn adapted(span: &Span, resolved: &Resolved<'_>, adapted: Option<&Adapted>) {
    let Some(adapted) = adapted else {
        return;
    };
    let _entered = span.enter();
    for change in adapted.changes() {
        tracing::info!(
            target: "routewise::adapt",
            model = &*resolved.target.target.provider_model,
            account = &*resolved.target.target.account,
            parameter = %change.parameter,
            adaptation = %change,
            "request adapted to the target's model"
        );
    }
}

/// Records a successful call's usage and finish reason on its span.
pub(crate) fn record_answer(span: &Span, usage: &Usage, finish_reason: &FinishReason) {
    span.record("gen_ai.usage.input_tokens", i64::from(usage.input_tokens));
    span.record("gen_ai.usage.output_tokens", i64::from(usage.output_tokens));
    span.record(
        "gen_ai.response.finish_reasons",
        finish_reason_name(finish_reason),
    );
}

/// Records the provider's id of a non-streaming answer and the model that gave it.
pub(crate) fn record_response(span: &Span, id: Option<&str>, model: Option<&str>) {
    if let Some(id) = id {
        span.record("gen_ai.response.id", id);
    }
    if let Some(model) = model {
        span.record("gen_ai.response.model", model);
    }
}

/// Records a failed call's error kind on its span.
pub(crate) fn record_failure(span: &Span, kind: ErrorKind) {
    span.record("error.type", kind_name(kind));
}

/// What a policy's requests report under: its name and (feature `metrics`) the metric
/// keys built for it so far.
pub(crate) struct PolicyTelemetry {
    pub(crate) name: Arc<str>,
    #[cfg(feature = "metrics")]
    keys: super::metric_keys::PolicyKeys,
}

impl PolicyTelemetry {
    /// The telemetry of policy `name` in a snapshot of `targets` targets.
    pub(crate) fn new(name: Arc<str>, targets: usize) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = targets;
        Self {
            name,
            #[cfg(feature = "metrics")]
            keys: super::metric_keys::PolicyKeys::new(targets),
        }
    }
}

/// Where routewise's metrics say they come from.
#[cfg(feature = "metrics")]
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Adds one to the counter `key` in the recorder current now.
#[cfg(feature = "metrics")]
fn count(key: &metrics::Key) {
    metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(1));
}

/// Records `value` in the histogram `key` of the recorder current now.
#[cfg(feature = "metrics")]
fn observe(key: &metrics::Key, value: f64) {
    metrics::with_recorder(|recorder| recorder.register_histogram(key, &METADATA).record(value));
}

/// A provider call ended: `Ok` with its usage, or `Err` with its failure kind.
pub(crate) fn attempt_finished(
    policy: &PolicyTelemetry,
    resolved: &Resolved<'_>,
    result: Result<&Usage, ErrorKind>,
    latency: Duration,
) {
    #[cfg(feature = "metrics")]
    {
        let keys = policy.keys.attempts(&policy.name, resolved);
        match result {
            Ok(usage) => {
                count(&keys.succeeded);
                observe(&keys.input_tokens, f64::from(usage.input_tokens));
                observe(&keys.output_tokens, f64::from(usage.output_tokens));
                observe(&keys.duration, latency.as_secs_f64());
            }
            Err(kind) => {
                let [attempts, duration] = keys.failed(kind_name(kind));
                count(&attempts);
                observe(&duration, latency.as_secs_f64());
            }
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (policy, resolved, result, latency);
}

/// The first content chunk of a stream arrived `elapsed` after the call was made.
pub(crate) fn first_chunk(policy: &PolicyTelemetry, resolved: &Resolved<'_>, elapsed: Duration) {
    #[cfg(feature = "metrics")]
    observe(
        &policy.keys.attempts(&policy.name, resolved).first_chunk,
        elapsed.as_secs_f64(),
    );
    #[cfg(not(feature = "metrics"))]
    let _ = (policy, resolved, elapsed);
}

/// A request moved on from a failed candidate to the next.
pub(crate) fn fallback(policy: &PolicyTelemetry) {
    #[cfg(feature = "metrics")]
    count(&policy.keys.requests(&policy.name).fallbacks);
    #[cfg(not(feature = "metrics"))]
    let _ = policy;
}

/// A request ended with `outcome` ([`SUCCESS`], [`CANCELLED`] or [`outcome`] of its
/// error) under `policy` (`None`: no policy matched it). Call it in the request's span.
pub(crate) fn request_finished(
    policy: Option<&PolicyTelemetry>,
    outcome: &'static str,
    elapsed: Duration,
) {
    Span::current().record("routewise.outcome", outcome);
    #[cfg(feature = "metrics")]
    {
        let elapsed = elapsed.as_secs_f64();
        match policy {
            Some(policy) if outcome == SUCCESS => {
                let keys = policy.keys.requests(&policy.name);
                count(&keys.requests);
                observe(&keys.duration, elapsed);
            }
            _ => {
                let name = policy.map_or("", |p| &p.name);
                let [requests, duration] = super::metric_keys::request_keys(name, outcome);
                count(&requests);
                observe(&duration, elapsed);
            }
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (policy, elapsed);
}

/// The outcome label of a request that ended with `error`.
pub(crate) fn outcome(error: &Error) -> &'static str {
    match error {
        Error::InvalidRequest { .. } => "invalid_request",
        Error::NoMatchingPolicy { .. } => "no_matching_policy",
        Error::MissingCapability { .. } => "missing_capability",
        Error::ContextTooLong { .. } => "context_too_long",
        Error::CircuitOpen { .. } => "circuit_open",
        Error::RateLimited { .. } => "rate_limited",
        Error::BudgetExhausted { .. } => "budget_exhausted",
        Error::SharedStateUnavailable { .. } => "shared_state_unavailable",
        Error::DeadlineExceeded { .. } => "deadline_exceeded",
        Error::NoAvailableTarget { .. } => "no_available_target",
        Error::AllTargetsFailed { .. } => "all_targets_failed",
        Error::Rejected { .. } => "rejected",
        Error::StreamInterrupted { .. } => "stream_interrupted",
    }
}

/// The OpenTelemetry name of an error kind (`error.type`), as in configuration.
pub(crate) fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Timeout => "timeout",
        ErrorKind::Connection => "connection",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::ServerError => "server_error",
        ErrorKind::Overloaded => "overloaded",
        ErrorKind::Auth => "auth",
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::NotFound => "not_found",
        ErrorKind::ContentFiltered => "content_filtered",
        ErrorKind::ContextLengthExceeded => "context_length_exceeded",
        ErrorKind::UnsupportedParameter => "unsupported_parameter",
        ErrorKind::MalformedResponse => "malformed_response",
        ErrorKind::Declined => "declined",
    }
}

/// The OpenTelemetry name of a finish reason (`gen_ai.response.finish_reasons`).
fn finish_reason_name(reason: &FinishReason) -> &str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::Other(other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kind_names_match_their_serde_names() {
        for kind in crate::provider::ErrorKindSet::default_fallback()
            .with(ErrorKind::Auth)
            .with(ErrorKind::InvalidRequest)
            .with(ErrorKind::ContentFiltered)
            .iter()
        {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                kind_name(kind),
                "{kind:?}"
            );
        }
    }
}
