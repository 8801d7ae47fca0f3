//! Policy matching: priority order, first match wins, criteria, the default policy, and
//! `explain` agreeing with `complete`.

mod support;

use routewise::sim::SimProvider;
use routewise::{
    ChatRequest, Error, LogicalModel, MatchMiss, Policy, ProviderAccount, Purpose, Router,
    StepType, Target,
};

/// Three accounts, one model per account, so the serving account names the policy's route.
fn router(policies: Vec<Policy>) -> Router {
    let mut builder = Router::builder();
    for name in ["a", "b", "c"] {
        builder = builder
            .account(ProviderAccount::new(name, SimProvider::new().reply(name)))
            .model(LogicalModel::new(format!("model-{name}")).target(Target::new(name, "x")));
    }
    policies
        .into_iter()
        .fold(builder, |b, p| b.policy(p))
        .build()
        .unwrap()
}

async fn served(router: &Router, step: StepType, purpose: Purpose, request: ChatRequest) -> String {
    let response = router.complete(step, purpose, request).await.unwrap();
    format!("{}:{}", response.policy, response.content)
}

#[tokio::test]
async fn highest_priority_matching_policy_wins_regardless_of_declaration_order() {
    let router = router(vec![
        Policy::new("low").priority(1).route(["model-a"]),
        Policy::new("high")
            .priority(9)
            .purposes([Purpose::Chat])
            .route(["model-b"]),
        Policy::new("mid").priority(5).route(["model-c"]),
    ]);
    let chat = served(
        &router,
        StepType::Inference,
        Purpose::Chat,
        ChatRequest::user("x"),
    )
    .await;
    assert_eq!(chat, "high:b");
    let other = served(
        &router,
        StepType::Inference,
        Purpose::Summarization,
        ChatRequest::user("x"),
    )
    .await;
    assert_eq!(
        other, "mid:c",
        "the next priority down takes what `high` does not"
    );
}

#[tokio::test]
async fn equal_priorities_keep_declaration_order() {
    let router = router(vec![
        Policy::new("first").priority(3).route(["model-a"]),
        Policy::new("second").priority(3).route(["model-b"]),
    ]);
    let got = served(
        &router,
        StepType::Inference,
        Purpose::Chat,
        ChatRequest::user("x"),
    )
    .await;
    assert_eq!(got, "first:a");
}

#[tokio::test]
async fn step_type_purpose_model_and_tags_all_must_match() {
    let router = router(vec![
        Policy::new("tool-chat")
            .priority(40)
            .step_types([StepType::ToolCall])
            .purposes([Purpose::Chat])
            .route(["model-a"]),
        Policy::new("tenant")
            .priority(30)
            .tags(["tenant-7", "beta"])
            .route(["model-b"]),
        Policy::new("asks-for-c")
            .priority(20)
            .for_models(["model-c"])
            .route(["model-c"]),
        Policy::new("custom-step")
            .priority(10)
            .step_types([StepType::custom("rerank")])
            .route(["model-b"]),
        Policy::new("default").route(["model-a"]),
    ]);
    let cases = [
        (
            StepType::ToolCall,
            Purpose::Chat,
            ChatRequest::user("x"),
            "tool-chat:a",
        ),
        (
            StepType::ToolCall,
            Purpose::Classification,
            ChatRequest::user("x"),
            "default:a",
        ),
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("x").tag("tenant-7").tag("beta"),
            "tenant:b",
        ),
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("x").tag("tenant-7"),
            "default:a",
        ),
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("x").model("model-c"),
            "asks-for-c:c",
        ),
        (
            StepType::custom("rerank"),
            Purpose::custom("search"),
            ChatRequest::user("x"),
            "custom-step:b",
        ),
    ];
    for (step, purpose, request, expected) in cases {
        let label = format!(
            "{step}/{purpose} tags {:?} model {:?}",
            request.tags, request.model
        );
        assert_eq!(
            served(&router, step, purpose, request).await,
            expected,
            "{label}"
        );
    }
}

#[tokio::test]
async fn a_request_no_policy_matches_gets_a_typed_error_and_no_call() {
    let sim = SimProvider::new();
    let router = Router::builder()
        .account(ProviderAccount::new("a", sim.clone()))
        .model(LogicalModel::new("m").target(Target::new("a", "x")))
        .policy(
            Policy::new("chat-only")
                .purposes([Purpose::Chat])
                .route(["m"]),
        )
        .build()
        .unwrap();
    let err = router
        .complete(
            StepType::Extraction,
            Purpose::Summarization,
            ChatRequest::user("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoMatchingPolicy { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no routing policy matches step type `extraction` and purpose `summarization`; add a catch-all policy (no step type, purpose, model or tag criteria, such as `Policy::new(\"default\").route([...])`) at the lowest priority"
    );
    assert_eq!(sim.calls(), 0);
    assert_eq!(router.stats().policy("chat-only").unwrap().matched, 0);
}

#[tokio::test]
async fn an_invalid_request_is_refused_before_matching() {
    let router = router(vec![Policy::new("default").route(["model-a"])]);
    let err = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::new())
        .await
        .unwrap_err();
    assert!(err.is_request_error());
    assert_eq!(
        err.to_string(),
        "invalid request: messages must hold at least one message"
    );
    assert_eq!(router.stats().policy("default").unwrap().matched, 0);
}

#[tokio::test]
async fn explain_names_passed_over_policies_and_agrees_with_complete() {
    let router = router(vec![
        Policy::new("summaries")
            .priority(9)
            .purposes([Purpose::Summarization])
            .route(["model-c"]),
        Policy::new("extract")
            .priority(5)
            .step_types([StepType::Extraction])
            .route(["model-b"]),
        Policy::new("default").route(["model-a", "model-b"]),
    ]);
    let request = ChatRequest::user("x");
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &request);
    let misses: Vec<(&str, MatchMiss)> = explanation
        .passed_over
        .iter()
        .map(|p| (&*p.policy, p.reason))
        .collect();
    assert_eq!(
        misses,
        [
            ("summaries", MatchMiss::Purpose),
            ("extract", MatchMiss::StepType)
        ]
    );
    assert_eq!(explanation.policy.as_deref(), Some("default"));
    let planned: Vec<String> = explanation
        .candidates
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(planned, ["model-a/a/x", "model-b/b/x"]);

    let response = router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
        .unwrap();
    assert_eq!(response.served_by, explanation.candidates[0]);

    let text = explanation.to_string();
    assert!(
        text.contains("passed over policy `summaries`: purpose not matched"),
        "{text}"
    );
    assert!(text.contains("1. model-a/a/x (primary)"), "{text}");
    assert!(text.contains("2. model-b/b/x (fallback)"), "{text}");
    let json = serde_json::to_value(&explanation).unwrap();
    assert_eq!(json["policy"], "default");
    assert_eq!(json["passed_over"][0]["reason"], "purpose");
}

#[tokio::test]
async fn explain_reports_the_error_complete_would_give() {
    let router = router(vec![
        Policy::new("chat")
            .purposes([Purpose::Chat])
            .route(["model-a"]),
    ]);
    let explanation = router.explain(
        StepType::Inference,
        Purpose::Classification,
        &ChatRequest::user("x"),
    );
    assert_eq!(explanation.policy, None);
    assert!(explanation.candidates.is_empty());
    assert_eq!(
        explanation.error.as_deref(),
        Some(
            "no routing policy matches step type `inference` and purpose `classification`; add a catch-all policy (no step type, purpose, model or tag criteria, such as `Policy::new(\"default\").route([...])`) at the lowest priority"
        )
    );
}
