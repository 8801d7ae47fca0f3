//! Per-request overrides, context-window awareness and load balancing within tiers.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use routewise::sim::SimProvider;
use routewise::{
    Balance, ChatRequest, ContextWindow, Error, LogicalModel, Policy, ProviderAccount, Purpose,
    RouteOptions, Router, SamplingParams, SkipReason, StepType, Target,
};

fn two_models(a: &SimProvider, b: &SimProvider, c: &SimProvider) -> Router {
    Router::builder()
        .account(ProviderAccount::new("a", a.clone()))
        .account(ProviderAccount::new("b", b.clone()))
        .account(ProviderAccount::new("c", c.clone()))
        .model(
            LogicalModel::new("main")
                .target(Target::new("a", "x"))
                .target(Target::new("b", "x")),
        )
        .model(LogicalModel::new("spare").target(Target::new("c", "y")))
        .policy(Policy::new("default").route(["main"]))
        .build()
        .unwrap()
}

async fn send(router: &Router, request: ChatRequest) -> Result<routewise::ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
}

#[tokio::test]
async fn a_pinned_model_or_target_replaces_the_route_and_explain_says_so() {
    let (a, b, c) = (
        SimProvider::new().reply("a"),
        SimProvider::new().reply("b"),
        SimProvider::new().reply("c"),
    );
    let router = two_models(&a, &b, &c);
    let pinned_model = ChatRequest::user("x").options(RouteOptions::new().pin_model("spare"));
    assert_eq!(
        send(&router, pinned_model.clone()).await.unwrap().content,
        "c"
    );
    let pinned_target = ChatRequest::user("x").options(RouteOptions::new().pin_target("main", "b"));
    assert_eq!(send(&router, pinned_target).await.unwrap().content, "b");

    let explanation = router.explain(StepType::Inference, Purpose::Chat, &pinned_model);
    assert_eq!(explanation.overrides, ["pinned to `spare`"]);
    assert_eq!(explanation.candidates.len(), 1);
    assert!(
        explanation
            .to_string()
            .contains("override: pinned to `spare`")
    );
}

#[tokio::test]
async fn extra_fallbacks_are_tried_after_the_route_and_no_fallback_stops_after_one() {
    let (a, b, c) = (
        SimProvider::new().always_fail(),
        SimProvider::new().always_fail(),
        SimProvider::new().reply("c"),
    );
    let router = two_models(&a, &b, &c);
    assert!(matches!(
        send(&router, ChatRequest::user("x")).await,
        Err(Error::AllTargetsFailed { .. })
    ));

    let extended = ChatRequest::user("x").options(RouteOptions::new().extra_fallback("spare"));
    let response = send(&router, extended).await.unwrap();
    assert_eq!(response.content, "c");
    assert_eq!(response.attempts.len(), 3);

    let calls_before = b.calls();
    let single =
        ChatRequest::user("x").options(RouteOptions::new().no_fallback().extra_fallback("spare"));
    let err = send(&router, single).await.unwrap_err();
    assert_eq!(err.attempts().len(), 1);
    assert_eq!(b.calls(), calls_before, "no fallback was tried");

    let capped =
        ChatRequest::user("x").options(RouteOptions::new().max_attempts(2).extra_fallback("spare"));
    assert_eq!(send(&router, capped).await.unwrap_err().attempts().len(), 2);
}

#[tokio::test]
async fn overrides_cannot_reach_unknown_models_or_accounts() {
    let (a, b, c) = (SimProvider::new(), SimProvider::new(), SimProvider::new());
    let router = two_models(&a, &b, &c);
    let request = ChatRequest::user("x").options(
        RouteOptions::new()
            .pin_target("main", "c")
            .extra_fallback("gpt-9"),
    );
    let err = send(&router, request).await.unwrap_err();
    assert!(err.is_request_error());
    let text = err.to_string();
    assert!(
        text.contains("options.pin logical model `main` has no target on account `c`"),
        "{text}"
    );
    assert!(
        text.contains("options.extra_fallbacks[0] names unknown logical model `gpt-9`"),
        "{text}"
    );
    assert_eq!(a.calls() + b.calls() + c.calls(), 0);
}

fn windowed_router(small: &SimProvider, large: &SimProvider) -> Router {
    Router::builder()
        .account(ProviderAccount::new("small", small.clone()))
        .account(ProviderAccount::new("large", large.clone()))
        .model(
            LogicalModel::new("m")
                .defaults(SamplingParams::new().max_tokens(500))
                .target(Target::new("small", "s").context_window(ContextWindow::new(2_000, 1_000)))
                .target(
                    Target::new("large", "l").context_window(ContextWindow::new(20_000, 4_000)),
                ),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_prompt_too_large_for_a_target_skips_it_before_any_call() {
    let (small, large) = (
        SimProvider::new().reply("small"),
        SimProvider::new().reply("large"),
    );
    let router = windowed_router(&small, &large);
    let short = ChatRequest::user("hello");
    assert_eq!(send(&router, short).await.unwrap().content, "small");

    let long = ChatRequest::user("word ".repeat(2_000)); // about 2,500 tokens
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &long);
    match &explanation.skipped[0].reason {
        SkipReason::ContextWindow {
            needed, context, ..
        } => {
            assert_eq!(*context, 2_000);
            assert!(
                *needed > 2_500,
                "prompt estimate plus 500 output tokens: {needed}"
            );
        }
        other => panic!("expected a context-window skip, got {other:?}"),
    }
    assert!(explanation.to_string().contains("the window holds 2000"));
    assert_eq!(send(&router, long).await.unwrap().content, "large");
    assert_eq!(
        small.calls(),
        1,
        "the small target was never called with the long prompt"
    );

    let too_much_output = ChatRequest::user("hi").max_tokens(2_000);
    assert_eq!(
        send(&router, too_much_output).await.unwrap().content,
        "large"
    );
}

#[tokio::test]
async fn a_prompt_no_target_can_hold_fails_with_the_tokens_needed_and_the_largest_window() {
    let (small, large) = (SimProvider::new(), SimProvider::new());
    let router = windowed_router(&small, &large);
    let err = send(&router, ChatRequest::user("word ".repeat(80_000)))
        .await
        .unwrap_err();
    match &err {
        Error::ContextTooLong {
            needed, largest, ..
        } => {
            assert!(*needed > 100_000);
            assert_eq!(*largest, 20_000);
        }
        other => panic!("expected ContextTooLong, got {other:?}"),
    }
    assert!(err.is_request_error());
    assert_eq!(small.calls() + large.calls(), 0);
}

/// Sends `n` requests and counts which account served each.
async fn distribution(router: &Router, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let response = send(router, ChatRequest::user("x")).await.unwrap();
        *counts
            .entry(response.served_by.account.to_string())
            .or_insert(0) += 1;
    }
    counts
}

fn balanced(balance: Balance, targets: &[(&str, u32, u32)]) -> Router {
    let mut model = LogicalModel::new("m").balance(balance);
    let mut builder = Router::builder();
    for (name, weight, tier) in targets {
        builder = builder.account(ProviderAccount::new(*name, SimProvider::new()));
        model = model.target(Target::new(*name, "x").weight(*weight).tier(*tier));
    }
    builder
        .model(model)
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap()
}

fn share(counts: &HashMap<String, usize>, account: &str, total: usize) -> f64 {
    *counts.get(account).unwrap_or(&0) as f64 / total as f64
}

#[tokio::test]
async fn round_robin_spreads_exactly_evenly() {
    let router = balanced(
        Balance::RoundRobin,
        &[("a", 1, 0), ("b", 1, 0), ("c", 1, 0), ("d", 1, 1)],
    );
    let counts = distribution(&router, 9_999).await;
    assert_eq!(
        (counts["a"], counts["b"], counts["c"]),
        (3_333, 3_333, 3_333)
    );
    assert!(!counts.contains_key("d"), "a lower tier is only a fallback");
}

#[tokio::test]
async fn weighted_random_follows_the_weights_within_two_points() {
    let router = balanced(Balance::WeightedRandom, &[("a", 1, 0), ("b", 3, 0)]);
    let counts = distribution(&router, 10_000).await;
    let a = share(&counts, "a", 10_000);
    assert!((a - 0.25).abs() < 0.02, "a got {a}");
}

#[tokio::test]
async fn least_in_flight_spreads_equal_loads_evenly() {
    let router = balanced(Balance::LeastInFlight, &[("a", 1, 0), ("b", 1, 0)]);
    let counts = distribution(&router, 10_000).await;
    let a = share(&counts, "a", 10_000);
    assert!((a - 0.5).abs() < 0.03, "a got {a}");
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_moves_traffic_away_from_a_slow_target() {
    let router = Router::builder()
        .account(ProviderAccount::new(
            "fast",
            SimProvider::new().latency(Duration::from_millis(2)),
        ))
        .account(ProviderAccount::new(
            "slow",
            SimProvider::new().latency(Duration::from_millis(40)),
        ))
        .model(
            LogicalModel::new("m")
                .balance(Balance::PeakEwma)
                .target(Target::new("fast", "x"))
                .target(Target::new("slow", "x")),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    let counts = distribution(&router, 2_000).await;
    let slow = share(&counts, "slow", 2_000);
    assert!(slow < 0.05, "the slow target kept {slow} of the traffic");
    assert!(counts["slow"] >= 1, "it was explored at least once");
}

#[tokio::test]
async fn a_lower_tier_serves_when_the_tier_above_fails() {
    let router = Router::builder()
        .account(ProviderAccount::new("a", SimProvider::new().always_fail()))
        .account(ProviderAccount::new("b", SimProvider::new().always_fail()))
        .account(ProviderAccount::new(
            "spare",
            SimProvider::new().reply("spare"),
        ))
        .model(
            LogicalModel::new("m")
                .balance(Balance::RoundRobin)
                .target(Target::new("spare", "x").tier(1))
                .target(Target::new("a", "x"))
                .target(Target::new("b", "x")),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    let response = send(&router, ChatRequest::user("x")).await.unwrap();
    assert_eq!(response.content, "spare");
    let order: Vec<&str> = response
        .attempts
        .iter()
        .map(|a| &*a.target.account)
        .collect();
    assert_eq!(order.len(), 3);
    assert_eq!(
        order[2], "spare",
        "tier 1 comes after every tier-0 target: {order:?}"
    );
}
