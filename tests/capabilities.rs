//! Capabilities and default parameters: what a request needs decides which targets may
//! serve it, and logical-model defaults fill only what the request leaves unset.

mod support;

use routewise::sim::SimProvider;
use routewise::{
    Capabilities, Capability, ChatRequest, ContentPart, Error, LogicalModel, Message, Policy,
    ProviderAccount, Purpose, ResponseFormat, Router, SamplingParams, SkipReason, StepType, Target,
    Tool,
};
use serde_json::json;
use support::recording::RecordingProvider;

fn text_only_router(sim: &SimProvider) -> Router {
    Router::builder()
        .account(ProviderAccount::new("a", sim.clone()))
        .model(LogicalModel::new("text-llm").target(Target::new("a", "x")))
        .policy(Policy::new("default").route(["text-llm"]))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_need_the_model_lacks_fails_naming_model_and_capability_before_any_call() {
    let sim = SimProvider::new();
    let router = text_only_router(&sim);
    let image = ChatRequest::new().message(Message::user_parts([
        ContentPart::text("what is in this picture?"),
        ContentPart::image_base64("image/png", "iVBORw0KGgo="),
    ]));
    let tools =
        ChatRequest::user("weather?").tool(Tool::new("get_weather", json!({"type": "object"})));
    let schema = ChatRequest::user("as json").response_format(ResponseFormat::JsonSchema {
        name: "answer".into(),
        schema: json!({"type": "object"}),
        strict: true,
    });
    for (request, capability) in [
        (image, Capability::Vision),
        (tools, Capability::Tools),
        (schema, Capability::JsonMode),
    ] {
        let err = router
            .complete(StepType::Inference, Purpose::Chat, request)
            .await
            .unwrap_err();
        match &err {
            Error::MissingCapability {
                model,
                capability: c,
                policy,
            } => {
                assert_eq!(
                    (&**model, *c, &**policy),
                    ("text-llm", capability, "default")
                );
            }
            other => panic!("expected MissingCapability, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains(&format!("`text-llm` does not support {capability}"))
        );
        assert!(err.is_request_error());
    }
    let err = router
        .stream(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("stream please"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingCapability {
                capability: Capability::Streaming,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(sim.calls(), 0, "no provider may be called");
    let stats = router.stats();
    let policy = stats.policy("default").unwrap();
    assert_eq!((policy.matched, policy.failed), (4, 4));
}

#[tokio::test]
async fn a_target_lacking_a_promised_capability_is_skipped_for_requests_that_need_it() {
    let blind = SimProvider::new().reply("blind");
    let seeing = SimProvider::new().reply("seeing");
    let router = Router::builder()
        .account(ProviderAccount::new("cheap", blind.clone()))
        .account(ProviderAccount::new("full", seeing.clone()))
        .model(
            LogicalModel::new("vision-llm")
                .capabilities(Capabilities::VISION)
                .target(Target::new("cheap", "mini").capabilities(Capabilities::NONE))
                .target(Target::new("full", "large")),
        )
        .policy(Policy::new("default").route(["vision-llm"]))
        .build()
        .unwrap();
    let image = ChatRequest::new().message(Message::user_parts([ContentPart::image_url(
        "https://example.com/cat.png",
    )]));
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &image);
    assert_eq!(explanation.skipped.len(), 1);
    assert_eq!(
        explanation.skipped[0].reason,
        SkipReason::TargetLacks {
            capability: Capability::Vision
        }
    );
    let response = router
        .complete(StepType::Inference, Purpose::Chat, image)
        .await
        .unwrap();
    assert_eq!(response.content, "seeing");
    assert_eq!(response.attempts.len(), 1);
    assert_eq!(blind.calls(), 0);

    // Text needs no vision: the cheap target serves first.
    let text = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(text.content, "blind");
}

#[tokio::test]
async fn a_route_falls_through_to_the_first_model_that_can_serve() {
    let router = Router::builder()
        .account(ProviderAccount::new("a", SimProvider::new().reply("text")))
        .account(ProviderAccount::new("b", SimProvider::new().reply("tools")))
        .model(LogicalModel::new("text-llm").target(Target::new("a", "x")))
        .model(
            LogicalModel::new("tool-llm")
                .capabilities(Capabilities::TOOLS)
                .target(Target::new("b", "y")),
        )
        .policy(Policy::new("default").route(["text-llm", "tool-llm"]))
        .build()
        .unwrap();
    let request = ChatRequest::user("call it").tool(Tool::new("f", json!({})));
    let response = router
        .complete(StepType::ToolCall, Purpose::Chat, request)
        .await
        .unwrap();
    assert_eq!(response.content, "tools");
    assert_eq!(&*response.served_by.logical_model, "tool-llm");
}

#[tokio::test]
async fn defaults_fill_unset_params_and_request_values_win() {
    let recorder = RecordingProvider::default();
    let router = Router::builder()
        .account(ProviderAccount::new("rec", recorder.clone()))
        .model(
            LogicalModel::new("m")
                .defaults(
                    SamplingParams::new()
                        .temperature(0.2)
                        .max_tokens(256)
                        .top_p(0.9)
                        .stop(["END"])
                        .extra("presence_penalty", 0.5),
                )
                .target(Target::new("rec", "x")),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();

    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("a"))
        .await
        .unwrap();
    let overriding = ChatRequest::user("b").temperature(1.1).params(
        SamplingParams::new()
            .temperature(1.1)
            .stop(Vec::<String>::new())
            .seed(3),
    );
    router
        .complete(StepType::Inference, Purpose::Chat, overriding)
        .await
        .unwrap();

    let calls = recorder.calls();
    let inherited = &calls[0].params;
    assert_eq!(inherited.temperature, Some(0.2));
    assert_eq!(inherited.max_tokens, Some(256));
    assert_eq!(inherited.top_p, Some(0.9));
    assert_eq!(inherited.stop.as_deref(), Some(&["END".to_owned()][..]));
    assert_eq!(inherited.extra["presence_penalty"], 0.5);

    let overridden = &calls[1].params;
    assert_eq!(
        overridden.temperature,
        Some(1.1),
        "the request's own value wins"
    );
    assert_eq!(
        overridden.max_tokens,
        Some(256),
        "unset values still inherit"
    );
    assert_eq!(
        overridden.stop.as_deref(),
        Some(&[][..]),
        "an explicit empty stop list wins"
    );
    assert_eq!(overridden.seed, Some(3));
}

#[tokio::test]
async fn each_target_gets_its_own_logical_models_defaults() {
    let recorder = RecordingProvider::default();
    let failing = SimProvider::new().always_fail();
    let router = Router::builder()
        .account(ProviderAccount::new("down", failing))
        .account(ProviderAccount::new("rec", recorder.clone()))
        .model(
            LogicalModel::new("creative")
                .defaults(SamplingParams::new().temperature(1.0))
                .target(Target::new("down", "x")),
        )
        .model(
            LogicalModel::new("precise")
                .defaults(SamplingParams::new().temperature(0.0))
                .target(Target::new("rec", "y")),
        )
        .policy(Policy::new("default").route(["creative", "precise"]))
        .build()
        .unwrap();
    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("a"))
        .await
        .unwrap();
    assert_eq!(recorder.calls()[0].params.temperature, Some(0.0));
    assert_eq!(recorder.calls()[0].model, "y");
}
