//! Error mapping: Vertex AI's front end answers with Google's `google.rpc.Status`; a
//! Claude model's own errors keep Anthropic's shape, also in the middle of a stream.

use routewise::provider::vertex::Vertex;
use routewise::{ChatRequest, ErrorKind, Provider, ProviderRequest, SamplingParams};
use serde_json::{Value, json};

use super::{CLAUDE, GEMINI, complete_at};
use crate::support::vertex::{PROJECT, TokenServer, account};
use crate::support::wire::{assert_secret_free, collect_events};
use crate::support::wire_server::{RecordingServer, Reply, fixture};

fn google(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

fn anthropic(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[tokio::test]
async fn every_error_shape_maps_to_its_kind_for_both_publishers() {
    let quota = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
        "message": "Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute_per_project_per_base_model with base model: gemini-2.5-flash.",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}]}});
    let cases: Vec<(u16, Value, ErrorKind)> = vec![
        (429, quota, ErrorKind::RateLimited),
        (
            403,
            google(
                403,
                "PERMISSION_DENIED",
                "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/routewise-tests/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5' (or it may not exist).",
            ),
            ErrorKind::Auth,
        ),
        (
            401,
            google(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            ),
            ErrorKind::Auth,
        ),
        (
            404,
            google(
                404,
                "NOT_FOUND",
                "Publisher Model `projects/routewise-tests/locations/us-east5/publishers/google/models/gemini-9` was not found or your project does not have access to it.",
            ),
            ErrorKind::NotFound,
        ),
        (
            400,
            google(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            ),
            ErrorKind::ContextLengthExceeded,
        ),
        (
            400,
            google(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
            ),
            ErrorKind::InvalidRequest,
        ),
        (
            500,
            google(500, "INTERNAL", "Internal error encountered."),
            ErrorKind::ServerError,
        ),
        (
            503,
            google(503, "UNAVAILABLE", "The service is currently unavailable."),
            ErrorKind::Overloaded,
        ),
        (
            504,
            google(504, "DEADLINE_EXCEEDED", "Deadline exceeded."),
            ErrorKind::Timeout,
        ),
        (
            400,
            anthropic(
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
            ),
            ErrorKind::ContextLengthExceeded,
        ),
        (
            400,
            anthropic("invalid_request_error", "max_tokens: Field required"),
            ErrorKind::InvalidRequest,
        ),
        (
            529,
            anthropic("overloaded_error", "Overloaded"),
            ErrorKind::Overloaded,
        ),
        (
            429,
            anthropic(
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            ),
            ErrorKind::RateLimited,
        ),
        (
            500,
            anthropic("api_error", "Internal server error"),
            ErrorKind::ServerError,
        ),
    ];
    let tokens = TokenServer::start().await;
    let vertex = Vertex::new(PROJECT, "us-east5", tokens.service_account());
    let chat = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    for model in [GEMINI, CLAUDE] {
        for (status, body, kind) in &cases {
            let api = RecordingServer::start([Reply::json(*status, body.to_string())]).await;
            let account = account(&api, &tokens, "vertex");
            let error = vertex
                .complete(ProviderRequest::new(
                    model,
                    account.info(),
                    &chat,
                    &defaults,
                ))
                .await
                .unwrap_err();
            assert_eq!(error.kind(), *kind, "{model} {status} {body}: {error}");
            assert_eq!(error.status(), Some(*status));
            assert_secret_free(&error, &["tok-1"]);
        }
    }
}

#[tokio::test]
async fn retry_delays_come_from_retry_info_or_the_retry_after_header() {
    let quota = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Resource exhausted.",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}]}});
    let api = RecordingServer::start([
        Reply::json(429, quota.to_string()),
        Reply::json(429, anthropic("rate_limit_error", "slow down").to_string())
            .header("retry-after", "9"),
    ])
    .await;
    let tokens = TokenServer::start().await;
    let first = complete_at(&api, &tokens, GEMINI, &ChatRequest::user("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        first.retry_after(),
        Some(std::time::Duration::from_secs(17))
    );
    let second = complete_at(&api, &tokens, CLAUDE, &ChatRequest::user("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        second.retry_after(),
        Some(std::time::Duration::from_secs(9))
    );
}

#[tokio::test]
async fn a_body_that_is_neither_shape_is_classified_by_its_status() {
    let api = RecordingServer::start([Reply::raw(
        502,
        "text/html",
        "<html><body>Bad Gateway</body></html>",
    )])
    .await;
    let tokens = TokenServer::start().await;
    let error = complete_at(&api, &tokens, CLAUDE, &ChatRequest::user("hi"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert!(error.message().contains("Bad Gateway"), "{error}");
}

#[tokio::test]
async fn an_error_event_in_a_claude_stream_ends_it_with_its_kind() {
    let api =
        RecordingServer::start([Reply::sse(fixture("anthropic/stream_overloaded.sse"))]).await;
    let tokens = TokenServer::start().await;
    let account = account(&api, &tokens, "vertex");
    let vertex = Vertex::new(PROJECT, "us-east5", tokens.service_account());
    let chat = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    let opened = vertex
        .stream(ProviderRequest::new(
            CLAUDE,
            account.info(),
            &chat,
            &defaults,
        ))
        .await;
    let (_, error) = collect_events(opened).await;
    assert_eq!(error.unwrap().kind(), ErrorKind::Overloaded);
}

#[tokio::test]
async fn an_error_chunk_in_a_gemini_stream_ends_it_with_its_kind() {
    let api = RecordingServer::start([Reply::sse(fixture("gemini/stream_error.sse"))]).await;
    let tokens = TokenServer::start().await;
    let account = account(&api, &tokens, "vertex");
    let vertex = Vertex::new(PROJECT, "us-east5", tokens.service_account());
    let chat = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    let opened = vertex
        .stream(ProviderRequest::new(
            GEMINI,
            account.info(),
            &chat,
            &defaults,
        ))
        .await;
    let (_, error) = collect_events(opened).await;
    assert!(error.is_some());
}

#[tokio::test]
async fn model_ids_of_other_publishers_fail_before_any_call() {
    let api = RecordingServer::start([]).await;
    let tokens = TokenServer::start().await;
    let error = complete_at(
        &api,
        &tokens,
        "meta/llama-4-maverick",
        &ChatRequest::user("hi"),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert!(error.message().contains("`google/...`"), "{error}");
    assert!(api.requests().is_empty() && tokens.requests().is_empty());
}
