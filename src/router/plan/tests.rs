use super::super::skip::SkipReason;
use super::*;
use crate::model::Capability;
use crate::sim::SimProvider;
use crate::{LogicalModel, Policy, ProviderAccount, RouterBuilder, Target};

fn snapshot() -> Snapshot {
    RouterBuilder::new()
        .account(ProviderAccount::new("a", SimProvider::new()))
        .account(ProviderAccount::new("b", SimProvider::new()))
        .model(
            LogicalModel::new("text-only")
                .capabilities(Capabilities::TOOLS)
                .target(Target::new("a", "small")),
        )
        .model(
            LogicalModel::new("vision")
                .capabilities(Capabilities::TOOLS | Capabilities::VISION)
                .target(Target::new("a", "big").capabilities(Capabilities::TOOLS))
                .target(Target::new("b", "big")),
        )
        .policy(
            Policy::new("extract")
                .priority(10)
                .step_types([StepType::Extraction])
                .route(["vision"]),
        )
        .policy(
            Policy::new("pinned")
                .priority(5)
                .tags(["pin"])
                .then(crate::RouteStep::target("vision", "b")),
        )
        .policy(Policy::new("default").route(["text-only", "vision"]))
        .compile(None)
        .unwrap()
}

fn names(snapshot: &Snapshot, plan: &Plan) -> Vec<String> {
    plan.candidates
        .iter()
        .map(|c| {
            snapshot.models[c.model].targets[c.target]
                .target
                .to_string()
        })
        .collect()
}

fn plan_for(snapshot: &Snapshot, step: StepType, request: &ChatRequest) -> Result<Plan, PlanError> {
    let input = PlanRequest {
        step: &step,
        purpose: &Purpose::Chat,
        request,
        needs: request.required_capabilities(),
        for_real: true,
        now: Instant::now(),
    };
    plan(snapshot, &input)
}

#[test]
fn route_expands_to_every_target_in_declared_order() {
    let s = snapshot();
    let plan = plan_for(&s, StepType::Inference, &ChatRequest::user("hi")).unwrap();
    assert_eq!(s.policies[plan.policy].name.as_ref(), "default");
    assert_eq!(
        names(&s, &plan),
        ["text-only/a/small", "vision/a/big", "vision/b/big"]
    );
    assert!(plan.skipped.is_empty());
}

#[test]
fn first_matching_policy_by_priority_wins_and_misses_are_reported() {
    let s = snapshot();
    let mut misses = Vec::new();
    let request = ChatRequest::user("hi").tag("pin");
    let input = PlanRequest {
        step: &StepType::Inference,
        purpose: &Purpose::Chat,
        request: &request,
        needs: Capabilities::NONE,
        for_real: true,
        now: Instant::now(),
    };
    let plan = plan_explained(&s, &input, |i, m| {
        misses.push((s.policies[i].name.to_string(), m))
    })
    .unwrap();
    assert_eq!(s.policies[plan.policy].name.as_ref(), "pinned");
    assert_eq!(names(&s, &plan), ["vision/b/big"]);
    assert_eq!(misses, [("extract".to_owned(), MatchMiss::StepType)]);
}

#[test]
fn models_and_targets_lacking_a_needed_capability_are_skipped_with_reasons() {
    let s = snapshot();
    let request =
        ChatRequest::new().message(crate::Message::user_parts([crate::ContentPart::image_url(
            "https://x/y.png",
        )]));
    let plan = plan_for(&s, StepType::Inference, &request).unwrap();
    assert_eq!(names(&s, &plan), ["vision/b/big"]);
    let reasons: Vec<_> = plan
        .skipped
        .iter()
        .map(|k| (k.target.to_string(), k.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "text-only/a/small".to_owned(),
                SkipReason::ModelLacks {
                    capability: Capability::Vision
                }
            ),
            (
                "vision/a/big".to_owned(),
                SkipReason::TargetLacks {
                    capability: Capability::Vision
                }
            ),
        ]
    );
}

#[test]
fn a_need_no_route_model_meets_is_a_capability_error_naming_the_primary() {
    let s = snapshot();
    let request = ChatRequest::user("hi").response_format(crate::ResponseFormat::JsonObject);
    let err = plan_for(&s, StepType::Inference, &request).unwrap_err();
    assert_eq!(err.policy, Some(2));
    match err.error {
        Error::MissingCapability {
            model, capability, ..
        } => {
            assert_eq!(&*model, "text-only");
            assert_eq!(capability, Capability::JsonMode);
        }
        other => panic!("expected MissingCapability, got {other:?}"),
    }
}

#[test]
fn capable_model_whose_targets_all_lack_the_need_is_no_available_target() {
    let s = RouterBuilder::new()
        .account(ProviderAccount::new("a", SimProvider::new()))
        .model(
            LogicalModel::new("vision")
                .capabilities(Capabilities::VISION)
                .target(Target::new("a", "blind").capabilities(Capabilities::NONE)),
        )
        .policy(Policy::new("p").route(["vision"]))
        .compile(None)
        .unwrap();
    let request =
        ChatRequest::new().message(crate::Message::user_parts([crate::ContentPart::image_url(
            "https://x/y.png",
        )]));
    let err = plan_for(&s, StepType::Inference, &request).unwrap_err();
    match err.error {
        Error::NoAvailableTarget { skipped, .. } => {
            assert_eq!(skipped.len(), 1);
            assert_eq!(skipped[0].target.to_string(), "vision/a/blind");
        }
        other => panic!("expected NoAvailableTarget, got {other:?}"),
    }
}

#[test]
fn no_matching_policy_is_reported_without_a_policy() {
    let s = RouterBuilder::new()
        .account(ProviderAccount::new("a", SimProvider::new()))
        .model(LogicalModel::new("m").target(Target::new("a", "x")))
        .policy(
            Policy::new("only-chat")
                .purposes([Purpose::Chat])
                .route(["m"]),
        )
        .compile(None)
        .unwrap();
    let request = ChatRequest::user("hi");
    let input = PlanRequest {
        step: &StepType::Inference,
        purpose: &Purpose::Summarization,
        request: &request,
        needs: Capabilities::NONE,
        for_real: true,
        now: Instant::now(),
    };
    let err = plan(&s, &input).unwrap_err();
    assert_eq!(err.policy, None);
    assert!(matches!(err.error, Error::NoMatchingPolicy { .. }));
}
