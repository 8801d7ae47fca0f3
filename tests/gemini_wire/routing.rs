//! The adapter behind a [`Router`]: fallback from an overloaded Gemini target, streaming
//! end to end, and the health check.

use routewise::provider::gemini::Gemini;
use routewise::{
    AttemptOutcome, ChatRequest, ErrorKind, Provider, Purpose, Router, SamplingParams, StepType,
    Usage,
};

use crate::support::gemini::{API_KEY, account, check, error_reply, ok_reply, sse_reply};
use crate::support::wire::{assert_secret_free, collect_routed, fallback_router};
use crate::support::wire_server::RecordingServer;

fn router(primary: &RecordingServer, backup: &RecordingServer) -> Router {
    fallback_router(
        (account(primary, "gemini-primary"), "gemini-2.5-pro"),
        (account(backup, "gemini-backup"), "gemini-2.5-flash"),
        SamplingParams::default(),
    )
}

#[tokio::test]
async fn the_router_falls_back_from_an_overloaded_gemini_target_to_the_next() {
    let primary = RecordingServer::start([error_reply(503, "unavailable")]).await;
    let backup = RecordingServer::start([ok_reply("text.json")]).await;

    let answer = router(&primary, &backup)
        .complete(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("Capital of Norway?"),
        )
        .await
        .unwrap();

    assert_eq!(answer.content, "Oslo is the capital of Norway.");
    assert_eq!(&*answer.served_by.account, "gemini-backup");
    assert_eq!(answer.usage, Usage::new(12, 8));
    assert_eq!(answer.fallbacks(), 1);
    let AttemptOutcome::Failed { error } = &answer.attempts[0].outcome else {
        panic!("the primary must have failed: {:?}", answer.attempts[0]);
    };
    assert_eq!(error.kind(), ErrorKind::Overloaded);
    for attempt in &answer.attempts {
        let shown = format!("{attempt} {attempt:?}");
        assert!(!shown.contains(API_KEY), "API key leaked: {shown}");
    }
    assert_eq!(
        primary.requests()[0].path,
        "/v1beta/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!(
        backup.requests()[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    check(&primary);
    check(&backup);
}

#[tokio::test]
async fn the_router_streams_a_gemini_answer_after_falling_back() {
    let primary = RecordingServer::start([error_reply(429, "resource_exhausted")]).await;
    let backup = RecordingServer::start([sse_reply("stream_text.sse")]).await;

    let stream = router(&primary, &backup)
        .stream(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("A pangram?"),
        )
        .await
        .unwrap();
    let (text, done) = collect_routed(stream).await;

    assert_eq!(text, "The quick brown fox jumps over the lazy dog.");
    assert_eq!(done.content, text);
    assert_eq!(done.usage, Usage::new(9, 14));
    assert_eq!(&*done.served_by.account, "gemini-backup");
    assert_eq!(backup.requests()[0].query.as_deref(), Some("alt=sse"));
    check(&primary);
    check(&backup);
}

#[tokio::test]
async fn the_health_check_lists_models_with_the_key_in_its_header() {
    let healthy = RecordingServer::start([ok_reply("models.json")]).await;
    let denied = RecordingServer::start([error_reply(403, "permission_denied")]).await;

    Gemini::new()
        .health_check(account(&healthy, "google").info())
        .await
        .unwrap();
    let error = Gemini::new()
        .health_check(account(&denied, "google").info())
        .await
        .unwrap_err();

    let request = &healthy.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/v1beta/models");
    assert_eq!(request.query.as_deref(), Some("pageSize=1"));
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert_secret_free(&error, &[API_KEY]);
    check(&healthy);
    check(&denied);
}
