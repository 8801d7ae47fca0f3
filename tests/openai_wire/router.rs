//! End to end through the [`Router`]: accounts on local OpenAI-format servers, and fallback
//! from one that fails to the next.

use routewise::provider::openai::OpenAi;
use routewise::{
    AttemptOutcome, ChatRequest, ErrorKind, ProviderAccount, Purpose, Router, SamplingParams,
    StepType,
};

use super::support::wire::{collect_routed, fallback_router};
use super::support::wire_server::{RecordingServer, Reply, fixture};
use super::{HEADER_SECRET, KEY};

const BACKUP_KEY: &str = "gsk-backup-key-93c1f0a7d2";

/// A router that tries `gpt-4o` on `failing`, then a Groq-style account on `healthy`.
fn router(failing: &RecordingServer, healthy: &RecordingServer) -> Router {
    let openai = ProviderAccount::new("openai-main", OpenAi::new())
        .api_key(KEY)
        .header("x-gateway-token", HEADER_SECRET)
        .base_url(failing.base("/v1"));
    let groq = ProviderAccount::new("groq-backup", OpenAi::new().with_provider_name("groq"))
        .api_key(BACKUP_KEY)
        .base_url(healthy.base("/openai/v1"));
    fallback_router(
        (openai, "gpt-4o"),
        (groq, "llama-3.3-70b-versatile"),
        SamplingParams::default(),
    )
}

#[tokio::test]
async fn a_failing_openai_target_falls_back_to_the_next_one() {
    let failing =
        RecordingServer::start([Reply::json(500, fixture("openai/error_server_error.json"))]).await;
    let healthy =
        RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let router = router(&failing, &healthy);

    let answer = router
        .complete(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("Say hello."),
        )
        .await
        .unwrap();

    assert_eq!(answer.content, "Hello! How can I assist you today?");
    assert_eq!(&*answer.served_by.account, "groq-backup");
    assert_eq!(answer.usage.cached_input_tokens, 1920);
    assert_eq!(answer.attempts.len(), 2);
    let AttemptOutcome::Failed { error } = &answer.attempts[0].outcome else {
        panic!("the first attempt failed");
    };
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert!(!format!("{answer:?}").contains(KEY));

    let first = failing.single_request();
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.body["model"], "gpt-4o");
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let second = healthy.single_request();
    assert_eq!(second.path, "/openai/v1/chat/completions");
    assert_eq!(second.body["model"], "llama-3.3-70b-versatile");
    assert_eq!(
        second.header("authorization"),
        Some(format!("Bearer {BACKUP_KEY}").as_str())
    );
    assert!(second.headers.get("x-gateway-token").is_none());
}

#[tokio::test]
async fn a_rate_limited_stream_falls_back_before_any_content() {
    let failing =
        RecordingServer::start([
            Reply::json(429, fixture("openai/error_rate_limit.json")).header("retry-after", "30")
        ])
        .await;
    let healthy = RecordingServer::start([Reply::sse(fixture("openai/stream_text.sse"))]).await;
    let router = router(&failing, &healthy);

    let events = router
        .stream(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("Say hello."),
        )
        .await
        .unwrap();
    let (text, done) = collect_routed(events).await;
    assert_eq!(text, "Hello! How can I help you today?");
    assert_eq!(done.content, text);
    assert_eq!(&*done.served_by.account, "groq-backup");
    assert_eq!(done.usage.input_tokens, 19);
    let AttemptOutcome::Failed { error } = &done.attempts[0].outcome else {
        panic!("the first attempt failed");
    };
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(
        error.retry_after(),
        Some(std::time::Duration::from_secs(30))
    );
    assert!(!format!("{error:?} {error}").contains(KEY));
    assert_eq!(healthy.single_request().body["stream"], true);
}

#[tokio::test]
async fn an_invalid_request_stops_without_falling_back() {
    let failing = RecordingServer::start([Reply::json(
        400,
        fixture("openai/error_unknown_parameter.json"),
    )])
    .await;
    let healthy =
        RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let router = router(&failing, &healthy);

    let error = router
        .complete(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("Say hello."),
        )
        .await
        .unwrap_err();
    assert_eq!(error.attempts().len(), 1);
    assert!(healthy.requests().is_empty());
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("Unrecognized request argument"), "{shown}");
    assert!(!shown.contains(KEY) && !shown.contains(HEADER_SECRET));
}
