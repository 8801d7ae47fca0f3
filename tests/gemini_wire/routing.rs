//! The adapter behind a [`Router`]: fallback from an overloaded Gemini target, streaming
//! end to end, and the health check.

use futures::StreamExt;
use routewise::provider::gemini::Gemini;
use routewise::{
    AttemptOutcome, Capabilities, ChatRequest, ErrorKind, LogicalModel, Policy, Provider, Purpose,
    Router, StepType, StreamEvent, Target, Usage,
};

use crate::server::{API_KEY, GeminiServer, Reply};

fn router(primary: &GeminiServer, backup: &GeminiServer) -> Router {
    Router::builder()
        .account(primary.account("gemini-primary"))
        .account(backup.account("gemini-backup"))
        .model(
            LogicalModel::new("chat")
                .capabilities(Capabilities::STREAMING | Capabilities::TOOLS)
                .target(Target::new("gemini-primary", "gemini-2.5-pro"))
                .target(Target::new("gemini-backup", "gemini-2.5-flash")),
        )
        .policy(
            Policy::new("chat")
                .purposes([Purpose::Chat])
                .route(["chat"]),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_router_falls_back_from_an_overloaded_gemini_target_to_the_next() {
    let primary = GeminiServer::start([Reply::error(503, "unavailable")]).await;
    let backup = GeminiServer::start([Reply::ok("text.json")]).await;

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
        primary.requests()[0].uri.path(),
        "/v1beta/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!(
        backup.requests()[0].uri.path(),
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    primary.check();
    backup.check();
}

#[tokio::test]
async fn the_router_streams_a_gemini_answer_after_falling_back() {
    let primary = GeminiServer::start([Reply::error(429, "resource_exhausted")]).await;
    let backup = GeminiServer::start([Reply::sse("stream_text.sse")]).await;

    let mut stream = router(&primary, &backup)
        .stream(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("A pangram?"),
        )
        .await
        .unwrap();
    let mut text = String::new();
    let mut done = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::TextDelta { text: delta } => text.push_str(&delta),
            StreamEvent::Done(response) => done = Some(response),
            other => panic!("unexpected event {other:?}"),
        }
    }

    assert_eq!(text, "The quick brown fox jumps over the lazy dog.");
    let done = done.expect("the stream ends with Done");
    assert_eq!(done.content, text);
    assert_eq!(done.usage, Usage::new(9, 14));
    assert_eq!(&*done.served_by.account, "gemini-backup");
    assert_eq!(backup.requests()[0].uri.query(), Some("alt=sse"));
    primary.check();
    backup.check();
}

#[tokio::test]
async fn the_health_check_lists_models_with_the_key_in_its_header() {
    let healthy = GeminiServer::start([Reply::ok("models.json")]).await;
    let denied = GeminiServer::start([Reply::error(403, "permission_denied")]).await;

    Gemini::new()
        .health_check(healthy.account("google").info())
        .await
        .unwrap();
    let error = Gemini::new()
        .health_check(denied.account("google").info())
        .await
        .unwrap_err();

    let request = &healthy.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.uri.path(), "/v1beta/models");
    assert_eq!(request.uri.query(), Some("pageSize=1"));
    assert_eq!(error.kind(), ErrorKind::Auth);
    crate::assert_secret_free(&error);
    healthy.check();
    denied.check();
}
