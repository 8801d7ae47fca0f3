//! Calling without a taxonomy: step type and purpose pass by reference (no clone in a
//! loop), and the default shortcut routes as an inference step for chat.

use futures::StreamExt;
use routewise::{
    Capabilities, ChatRequest, LogicalModel, Policy, Purpose, Router, StepType, StreamEvent, Target,
};

use crate::support::upstream::{Answer, Upstream};

/// Model `chat-m` on account `chat`, `rerank-m` on account `rerank`; policy `rerank` for
/// the custom step type, `chat` for inference/chat, `other` for everything else.
fn router(upstream: &Upstream) -> Router {
    Router::builder()
        .account(upstream.account("chat", "sk-1"))
        .account(upstream.account("rerank", "sk-2"))
        .account(upstream.account("other", "sk-3"))
        .model(
            LogicalModel::new("chat-m")
                .capabilities(Capabilities::STREAMING)
                .target(Target::new("chat", "model-chat")),
        )
        .model(LogicalModel::new("rerank-m").target(Target::new("rerank", "model-rerank")))
        .model(LogicalModel::new("other-m").target(Target::new("other", "model-other")))
        .policy(
            Policy::new("rerank")
                .priority(2)
                .step_types([StepType::custom("rerank")])
                .route(["rerank-m"]),
        )
        .policy(
            Policy::new("chat")
                .priority(1)
                .step_types([StepType::Inference])
                .purposes([Purpose::Chat])
                .route(["chat-m"]),
        )
        .policy(Policy::new("other").route(["other-m"]))
        .build()
        .unwrap()
}

#[tokio::test]
async fn custom_step_types_and_purposes_pass_by_reference_in_a_loop() {
    let upstream = Upstream::start(Answer::Ok).await;
    let router = router(&upstream);
    let rerank = StepType::custom("rerank");
    let triage = Purpose::custom("triage");
    for text in ["a", "b", "c"] {
        let response = router
            .complete(&rerank, &triage, ChatRequest::user(text))
            .await
            .unwrap();
        assert_eq!(&*response.policy, "rerank");
    }
    let explanation = router.explain(&rerank, &triage, &ChatRequest::user("d"));
    assert_eq!(explanation.policy.as_deref(), Some("rerank"));
    assert_eq!(upstream.calls_for("model-rerank"), 3);
}

#[tokio::test]
async fn the_default_shortcut_routes_as_an_inference_step_for_chat() {
    let upstream = Upstream::start(Answer::Ok).await;
    let router = router(&upstream);
    let response = router
        .complete_default(ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(&*response.policy, "chat");
    let mut stream = router
        .stream_default(ChatRequest::user("hi"))
        .await
        .unwrap();
    let mut done = None;
    while let Some(event) = stream.next().await {
        if let StreamEvent::Done(response) = event.unwrap() {
            done = Some(response);
        }
    }
    assert_eq!(&*done.unwrap().policy, "chat");
    assert_eq!(upstream.calls_for("model-chat"), 2);
    assert_eq!(upstream.calls_for("model-other"), 0);
}
