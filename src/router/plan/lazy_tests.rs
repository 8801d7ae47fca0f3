use super::lazy::Found;
use super::*;
use crate::model::{Balance, Capability};
use crate::sim::SimProvider;
use crate::{HedgePolicy, LogicalModel, Policy, ProviderAccount, RouterBuilder, Target};

/// Accounts a to f; model `tools` (tier 0: a, then c which lacks tools; tier 1: b),
/// model `plain` (no tools: d), model `more` (e, f).
fn builder() -> RouterBuilder {
    let mut builder = RouterBuilder::new();
    for name in ["a", "b", "c", "d", "e", "f"] {
        builder = builder.account(ProviderAccount::new(name, SimProvider::new()));
    }
    builder
        .model(
            LogicalModel::new("tools")
                .capabilities(Capabilities::TOOLS)
                .target(Target::new("a", "x"))
                .target(Target::new("b", "x").tier(1))
                .target(Target::new("c", "x").capabilities(Capabilities::NONE)),
        )
        .model(LogicalModel::new("plain").target(Target::new("d", "x")))
        .model(
            LogicalModel::new("more")
                .capabilities(Capabilities::TOOLS)
                .target(Target::new("e", "x"))
                .target(Target::new("f", "x")),
        )
}

fn tool() -> crate::Tool {
    crate::Tool::new("f", serde_json::json!({"type": "object"}))
}

fn lazy_flags(builder: RouterBuilder) -> Vec<(String, bool)> {
    let snapshot = builder.compile(None).unwrap();
    snapshot
        .policies
        .iter()
        .map(|p| (p.name.to_string(), p.plans_lazily))
        .collect()
}

#[test]
fn only_routes_that_need_no_global_view_are_planned_lazily() {
    let flags = lazy_flags(
        builder()
            .model(
                LogicalModel::new("spread")
                    .balance(Balance::RoundRobin)
                    .target(Target::new("e", "y")),
            )
            .policy(Policy::new("plain").priority(9).route(["tools", "more"]))
            .policy(
                Policy::new("cheapest")
                    .priority(8)
                    .route(["tools"])
                    .cheapest_first(),
            )
            .policy(
                Policy::new("hedged")
                    .priority(7)
                    .route(["tools"])
                    .hedge(HedgePolicy::After(std::time::Duration::from_secs(1))),
            )
            .policy(Policy::new("twice").priority(6).route(["more", "spread"]))
            .policy(Policy::new("balanced").priority(5).route(["spread"]))
            .policy(
                Policy::new("larger")
                    .priority(4)
                    .route(["tools"])
                    .larger_context(["more"]),
            ),
    );
    let expected = [
        ("plain", true),
        ("cheapest", false),
        ("hedged", false),
        ("twice", false),
        ("balanced", false),
        ("larger", false),
    ];
    let expected: Vec<_> = expected.iter().map(|(n, l)| (n.to_string(), *l)).collect();
    assert_eq!(flags, expected);
}

/// An inference-step chat request, planned for real, needing what `request` asks for.
fn chat_input(request: &ChatRequest) -> PlanRequest<'_> {
    PlanRequest {
        step: &StepType::Inference,
        purpose: &Purpose::Chat,
        request,
        needs: request.required_capabilities(),
        for_real: true,
        now: Instant::now(),
    }
}

/// Each skipped target with its reason, one line each, in the order found.
fn skip_lines(skipped: &[SkippedTarget]) -> Vec<String> {
    skipped
        .iter()
        .map(|s| format!("{} {:?}", s.target, s.reason))
        .collect()
}

/// Plans `request` up to its first candidate, then the rest one candidate at a time;
/// returns the candidates and skips in the order found.
fn plan_stepwise(snapshot: &Snapshot, request: &ChatRequest) -> (Vec<Candidate>, Vec<String>) {
    let input = chat_input(request);
    let mut plan = plan_first(snapshot, &input).unwrap();
    assert!(plan.rest.is_some(), "planned lazily");
    assert_eq!(
        plan.candidates.len(),
        1,
        "only the first candidate at first"
    );
    while let Some(rest) = &mut plan.rest {
        let found = Found {
            candidates: &mut plan.candidates,
            skipped: &mut plan.skipped,
            adaptations: &mut plan.adaptations,
        };
        rest.advance(snapshot, request, input.now, found);
        if rest.is_spent() {
            plan.rest = None;
        }
    }
    let skipped = skip_lines(&plan.skipped);
    (plan.candidates, skipped)
}

fn plan_whole(snapshot: &Snapshot, request: &ChatRequest) -> (Vec<Candidate>, Vec<String>) {
    let input = chat_input(request);
    let plan = plan(snapshot, &input).unwrap();
    assert!(plan.rest.is_none());
    let skipped = skip_lines(&plan.skipped);
    (plan.candidates, skipped)
}

#[test]
fn planning_candidate_by_candidate_finds_what_planning_whole_finds() {
    let snapshot = builder()
        .policy(Policy::new("p").route(["tools", "plain", "more"]))
        .compile(None)
        .unwrap();
    let request = ChatRequest::user("hi").tool(tool());
    let whole = plan_whole(&snapshot, &request);
    let stepwise = plan_stepwise(&snapshot, &request);
    assert_eq!(stepwise, whole);
    let accounts: Vec<&str> = whole
        .0
        .iter()
        .map(|c| &*snapshot.models[c.model].targets[c.target].target.account)
        .collect();
    assert_eq!(
        accounts,
        ["a", "b", "e", "f"],
        "tier 0, tier 1, then the next model"
    );
    assert_eq!(whole.1.len(), 2, "{:?}", whole.1);
    assert!(whole.1[0].contains("/c/"), "{:?}", whole.1);
    assert!(whole.1[1].contains("/d/"), "{:?}", whole.1);
}

#[test]
fn a_route_with_no_candidate_fails_as_when_planned_whole() {
    let snapshot = builder()
        .policy(Policy::new("p").route(["plain"]))
        .compile(None)
        .unwrap();
    assert!(snapshot.policies[0].plans_lazily);
    let request = ChatRequest::user("hi").tool(tool());
    let input = chat_input(&request);
    let lazily = plan_first(&snapshot, &input).unwrap_err();
    let whole = plan(&snapshot, &input).unwrap_err();
    assert_eq!(lazily.policy, whole.policy);
    assert_eq!(lazily.error.to_string(), whole.error.to_string());
    assert!(
        matches!(
            lazily.error,
            Error::MissingCapability {
                capability: Capability::Tools,
                ..
            }
        ),
        "{:?}",
        lazily.error
    );
}

#[test]
fn a_first_candidate_that_ends_the_route_leaves_no_rest() {
    let request = ChatRequest::user("hi");
    let input = chat_input(&request);
    let rest_after = |route: &[&str]| {
        let snapshot = builder()
            .policy(Policy::new("p").route(route.iter().copied()))
            .compile(None)
            .unwrap();
        assert!(snapshot.policies[0].plans_lazily);
        plan_first(&snapshot, &input).unwrap().rest.is_some()
    };
    assert!(!rest_after(&["plain"]), "one target: nothing left to plan");
    assert!(
        rest_after(&["plain", "more"]),
        "the next model's targets are left"
    );
}
