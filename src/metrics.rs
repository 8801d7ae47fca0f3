//! Metrics (feature `metrics`): what the router reports through the [`metrics`] facade.
//!
//! Install any `metrics` recorder (a Prometheus exporter, an OpenTelemetry bridge) and the
//! router reports into it; call [`describe`] once to give each metric its unit and
//! description. Names follow the OpenTelemetry GenAI semantic conventions where one
//! exists; routing-specific ones start with `routewise.`.
//!
//! | metric | kind | unit | labels |
//! | --- | --- | --- | --- |
//! | [`REQUESTS`] | counter | | `routewise.policy`, `routewise.outcome` |
//! | [`REQUEST_DURATION`] | histogram | s | `routewise.policy`, `routewise.outcome` |
//! | [`FALLBACKS`] | counter | | `routewise.policy` |
//! | [`ATTEMPTS`] | counter | | attempt labels, `routewise.outcome` |
//! | [`OPERATION_DURATION`] | histogram | s | attempt labels, `error.type` on failure |
//! | [`TIME_TO_FIRST_CHUNK`] | histogram | s | attempt labels (streams only) |
//! | [`TOKEN_USAGE`] | histogram | tokens | attempt labels, `gen_ai.token.type` |
//!
//! Attempt labels: `gen_ai.operation.name` (`chat`), `gen_ai.provider.name`,
//! `gen_ai.request.model` (the provider's model id), `routewise.policy`,
//! `routewise.logical_model`, `routewise.account`.
//!
//! `routewise.outcome` of a request is `success`, `cancelled` or the kind of error it ended
//! with (`all_targets_failed`, `rejected`, `no_matching_policy`, ...); of an attempt,
//! `success` or the failure kind (`rate_limited`, `timeout`, ...), which is also its
//! `error.type`. A histogram's sum is the total: the sum of [`TOKEN_USAGE`] with
//! `gen_ai.token.type = "output"` counts every generated token.

/// Routed requests, by policy and outcome. A request no policy matched has an empty
/// `routewise.policy`.
pub const REQUESTS: &str = "routewise.requests";
/// Time from routing a request to its end, in seconds.
pub const REQUEST_DURATION: &str = "routewise.request.duration";
/// Moves from one candidate to the next.
pub const FALLBACKS: &str = "routewise.fallbacks";
/// Provider calls, by target and outcome.
pub const ATTEMPTS: &str = "routewise.attempts";
/// Duration of one provider call, in seconds (OpenTelemetry `gen_ai.client.operation.duration`).
pub const OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
/// Time from a streaming call to its first content chunk, in seconds (OpenTelemetry
/// `gen_ai.client.operation.time_to_first_chunk`).
pub const TIME_TO_FIRST_CHUNK: &str = "gen_ai.client.operation.time_to_first_chunk";
/// Tokens of one successful call, input and output (OpenTelemetry `gen_ai.client.token.usage`).
pub const TOKEN_USAGE: &str = "gen_ai.client.token.usage";

/// Gives every routewise metric its unit and description in the installed recorder.
///
/// ```
/// routewise::metrics::describe(); // a no-op until a recorder is installed
/// ```
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(REQUESTS, "Routed requests, by policy and outcome.");
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from routing a request to its end."
    );
    describe_counter!(FALLBACKS, "Moves from one candidate target to the next.");
    describe_counter!(ATTEMPTS, "Provider calls, by target and outcome.");
    describe_histogram!(
        OPERATION_DURATION,
        Unit::Seconds,
        "GenAI operation duration."
    );
    describe_histogram!(
        TIME_TO_FIRST_CHUNK,
        Unit::Seconds,
        "Time to receive the first chunk of a streaming response."
    );
    describe_histogram!(
        TOKEN_USAGE,
        Unit::Count,
        "Number of input and output tokens used."
    );
}
