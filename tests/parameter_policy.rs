//! What happens to parameters a target's model cannot take: the reasoning control in each
//! provider's form, strict skips before any call, and the fallback from an
//! unsupported-parameter 400, each counted at loopback upstreams.

mod support;

use routewise::provider::profile::AdaptAction;
use routewise::{
    AttemptOutcome, ChatRequest, ChatResponse, Error, ErrorKind, LogicalModel, ParameterPolicy,
    Policy, Purpose, ReasoningEffort, Router, SamplingParams, SkipReason, StepType, Target,
};
use serde_json::json;

use support::profiles::{anthropic, gemini, openai, openai_named, readme_defaults, router};
use support::wire_server::{RecordingServer, Reply, fixture};

async fn complete(router: &Router, request: ChatRequest) -> Result<ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
}

/// The attempt's adaptations as `(parameter, action)` pairs.
fn adapted(response: &ChatResponse) -> Vec<(String, AdaptAction)> {
    response.attempts[0]
        .adaptations
        .iter()
        .map(|a| (a.parameter.clone(), a.action))
        .collect()
}

/// The canonical reasoning control in each provider's form, and dropped with a note for
/// a model that does not reason on request.
#[tokio::test]
async fn the_reasoning_control_takes_each_providers_form() {
    let effort = || {
        ChatRequest::user("Think.")
            .params(SamplingParams::new().reasoning_effort(ReasoningEffort::Low))
    };
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/chat_text.json")),
        Reply::json(200, fixture("openai/chat_text.json")),
    ])
    .await;
    let o3 = router(vec![(openai(&server), "o3-mini")], SamplingParams::new());
    complete(&o3, effort()).await.unwrap();
    let gpt = router(vec![(openai(&server), "gpt-4o")], SamplingParams::new());
    let response = complete(&gpt, effort()).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].body["reasoning_effort"], "low");
    assert!(requests[1].body.get("reasoning_effort").is_none());
    assert_eq!(
        adapted(&response),
        [("reasoning".to_owned(), AdaptAction::Dropped)]
    );

    let server = RecordingServer::start([
        Reply::json(200, fixture("gemini/text.json")),
        Reply::json(200, fixture("gemini/text.json")),
    ])
    .await;
    let flash = router(
        vec![(gemini(&server), "gemini-2.5-flash")],
        SamplingParams::new(),
    );
    complete(&flash, effort()).await.unwrap();
    let three = router(
        vec![(gemini(&server), "gemini-3-flash-preview")],
        SamplingParams::new(),
    );
    complete(&three, effort()).await.unwrap();
    let requests = server.requests();
    assert_eq!(
        requests[0].body["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 2048})
    );
    assert_eq!(
        requests[1].body["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "low"})
    );
}

/// Strict: the target whose model would need a change is skipped before any call, and
/// the request moves on; with no other target, the skip reason names parameter and model.
#[tokio::test]
async fn a_strict_model_skips_the_target_before_any_call() {
    let reasoner = RecordingServer::start([]).await;
    let classic =
        RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let accounts = |a: &RecordingServer, b: &RecordingServer| {
        let model = LogicalModel::new("llm")
            .defaults(readme_defaults())
            .parameter_policy(ParameterPolicy::Strict)
            .target(Target::new("reasoner", "o3-mini"))
            .target(Target::new("classic", "gpt-4o"));
        Router::builder()
            .account(openai_named(a, "reasoner"))
            .account(openai_named(b, "classic"))
            .model(model)
            .policy(Policy::new("chat").route(["llm"]))
            .build()
            .unwrap()
    };
    let router = accounts(&reasoner, &classic);
    let response = complete(&router, ChatRequest::user("Hi.")).await.unwrap();
    assert!(reasoner.requests().is_empty());
    assert_eq!(classic.requests().len(), 1);
    assert_eq!(&*response.served_by.account, "classic");
    assert!(response.attempts.iter().all(|a| a.adaptations.is_empty()));

    let only = Router::builder()
        .account(openai_named(&reasoner, "reasoner"))
        .parameter_policy(ParameterPolicy::Strict)
        .model(
            LogicalModel::new("llm")
                .defaults(readme_defaults())
                .target(Target::new("reasoner", "o3-mini")),
        )
        .policy(Policy::new("chat").route(["llm"]))
        .build()
        .unwrap();
    let error = complete(&only, ChatRequest::user("Hi.")).await.unwrap_err();
    let Error::NoAvailableTarget { skipped, .. } = &error else {
        panic!("expected NoAvailableTarget, got {error:?}");
    };
    assert_eq!(
        skipped[0].reason,
        SkipReason::ParameterUnsupported {
            parameter: "temperature".into(),
            model: "o3-mini".into(),
            detail: "dropped `temperature`: `o3-mini` does not accept it".into(),
        }
    );
    assert!(
        error
            .to_string()
            .contains("`o3-mini` cannot take `temperature`"),
        "{error}"
    );
    assert!(reasoner.requests().is_empty());
}

/// A 400 that says the model does not take a parameter falls back by default: the
/// request was valid for the logical model, just not for that target.
#[tokio::test]
async fn an_unsupported_parameter_400_falls_back_by_default() {
    let refusing = RecordingServer::start([Reply::json(
        400,
        json!({"error": {"message": "Unsupported parameter: 'temperature' is not supported with this model.",
                         "type": "invalid_request_error", "param": "temperature",
                         "code": "unsupported_parameter"}})
        .to_string(),
    )])
    .await;
    let accepting =
        RecordingServer::start([Reply::json(200, fixture("anthropic/message_text.json"))]).await;
    // A deployment name no profile knows: the request goes out as it is, and is refused.
    let router = router(
        vec![
            (openai(&refusing), "my-reasoning-deployment"),
            (anthropic(&accepting), "claude-haiku-4-5"),
        ],
        readme_defaults(),
    );
    let response = complete(&router, ChatRequest::user("Say hello."))
        .await
        .unwrap();
    assert_eq!(refusing.requests().len(), 1);
    assert_eq!(refusing.single_request().body["temperature"], json!(0.2));
    assert_eq!(accepting.requests().len(), 1);
    assert_eq!(&*response.served_by.account, "anthropic");
    let AttemptOutcome::Failed { error } = &response.attempts[0].outcome else {
        panic!("the first attempt failed");
    };
    assert_eq!(error.kind(), ErrorKind::UnsupportedParameter);
}
