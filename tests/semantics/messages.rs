//! Error messages a user can act on: each names what went wrong and what to do.

use std::time::Duration;

use futures::StreamExt;
use routewise::{
    Capabilities, ChatRequest, Error, LogicalModel, Policy, Purpose, RouteOptions, Router,
    StepType, Target,
};

use crate::support::upstream::{Answer, Upstream};

fn router(upstream: &Upstream, capabilities: Capabilities, policy: Policy) -> Router {
    Router::builder()
        .account(upstream.account("a", "sk-a"))
        .model(
            LogicalModel::new("chat-llm")
                .capabilities(capabilities)
                .target(Target::new("a", "gpt-4o")),
        )
        .policy(policy.route(["chat-llm"]))
        .build()
        .unwrap()
}

#[tokio::test]
async fn streaming_from_a_model_not_declared_streaming_says_how_to_declare_it() {
    let upstream = Upstream::start(Answer::Ok).await;
    let router = router(&upstream, Capabilities::NONE, Policy::new("p"));
    let error = router
        .stream_default(ChatRequest::user("hi"))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("logical model `chat-llm` does not support streaming"),
        "{message}"
    );
    assert!(
        message.contains("LogicalModel::new(\"chat-llm\").capabilities(Capabilities::STREAMING)"),
        "{message}"
    );
    assert!(
        message.contains("capabilities = [\"streaming\"]"),
        "{message}"
    );
    assert_eq!(upstream.calls(), 0);
}

#[tokio::test]
async fn the_deadline_error_names_the_target_in_flight() {
    let upstream = Upstream::start(Answer::Slow(Duration::from_secs(5))).await;
    let router = router(&upstream, Capabilities::NONE, Policy::new("p"));
    let request =
        ChatRequest::user("hi").options(RouteOptions::new().deadline(Duration::from_secs(1)));
    let error = router.complete_default(request).await.unwrap_err();
    assert!(matches!(error, Error::DeadlineExceeded { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("target chat-llm/a/gpt-4o was still answering"),
        "{message}"
    );
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test]
async fn a_broken_stream_says_why_and_how_to_recover_it() {
    let upstream = Upstream::start(Answer::BrokenStream).await;
    let router = router(&upstream, Capabilities::STREAMING, Policy::new("p"));
    let mut stream = router
        .stream_default(ChatRequest::user("hi"))
        .await
        .unwrap();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    let error = last.unwrap().unwrap_err();
    let Error::StreamInterrupted { error: cause, .. } = &error else {
        panic!("expected StreamInterrupted, got {error:?}");
    };
    let message = error.to_string();
    assert!(
        message.contains(&format!("({})", cause.kind())),
        "{message}"
    );
    assert!(
        message.contains("stream_recovery(StreamRecovery::Continue)"),
        "{message}"
    );
}

#[tokio::test]
async fn no_matching_policy_suggests_a_catch_all() {
    let upstream = Upstream::start(Answer::Ok).await;
    let router = router(
        &upstream,
        Capabilities::NONE,
        Policy::new("summaries").purposes([Purpose::Summarization]),
    );
    let error = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("add a catch-all policy"), "{message}");
    assert_eq!(upstream.calls(), 0);
}
