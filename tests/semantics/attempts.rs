//! `max_attempts` is exact: at most N provider calls, whatever mix of retries, fallbacks,
//! hedges and stream continuations makes them up.

use std::time::Duration;

use futures::StreamExt;
use routewise::{
    Capabilities, ChatRequest, Error, HedgePolicy, Jitter, LogicalModel, Policy, Purpose,
    RetryPolicy, RouteOptions, Router, StepType, StreamRecovery, Target,
};

use crate::support::upstream::{Answer, Upstream};

/// Retries with no real wait, so the tests count calls, not sleep.
fn quick_retries(retries: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(retries)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .jitter(Jitter::None)
}

/// A router whose model `m` has one target per account (`a`, `b`, ...) on `upstream`,
/// provider models named after their accounts, routed by `policy`.
fn router(upstream: &Upstream, accounts: &[&str], policy: Policy) -> Router {
    let mut model = LogicalModel::new("m").capabilities(Capabilities::STREAMING);
    let mut builder = Router::builder();
    for name in accounts {
        builder = builder.account(upstream.account(name, "sk-test"));
        model = model.target(Target::new(*name, format!("model-{name}")));
    }
    builder
        .model(model)
        .policy(policy.route(["m"]).without_breaker())
        .build()
        .unwrap()
}

async fn complete(router: &Router, request: ChatRequest) -> Result<routewise::ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
}

#[tokio::test]
async fn the_policy_cap_counts_retries_on_the_same_target() {
    for cap in 1..=3 {
        let upstream = Upstream::start(Answer::Status(500)).await;
        let policy = Policy::new("p").max_attempts(cap).retry(quick_retries(2));
        let router = router(&upstream, &["a"], policy);
        let error = complete(&router, ChatRequest::user("hi"))
            .await
            .unwrap_err();
        assert_eq!(upstream.calls(), u64::from(cap), "cap {cap}: {error}");
        assert_eq!(error.attempts().len(), cap as usize);
    }
}

#[tokio::test]
async fn the_request_cap_counts_retries_on_the_same_target() {
    let upstream = Upstream::start(Answer::Status(500)).await;
    let router = router(&upstream, &["a"], Policy::new("p").retry(quick_retries(2)));
    let request = ChatRequest::user("hi").options(RouteOptions::new().max_attempts(1));
    complete(&router, request).await.unwrap_err();
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test]
async fn no_fallback_with_one_attempt_is_exactly_one_call() {
    let upstream = Upstream::start(Answer::Status(503)).await;
    let router = router(
        &upstream,
        &["a", "b"],
        Policy::new("p").retry(quick_retries(3)),
    );
    let options = RouteOptions::new().no_fallback().max_attempts(1);
    complete(&router, ChatRequest::user("hi").options(options))
        .await
        .unwrap_err();
    assert_eq!(upstream.calls(), 1);
    assert_eq!(upstream.calls_for("model-b"), 0);
}

#[tokio::test]
async fn retries_and_fallbacks_together_stop_at_the_cap() {
    let upstream = Upstream::start(Answer::Status(500)).await;
    let policy = Policy::new("p").max_attempts(4).retry(quick_retries(2));
    let router = router(&upstream, &["a", "b", "c"], policy);
    let error = complete(&router, ChatRequest::user("hi"))
        .await
        .unwrap_err();
    assert_eq!(upstream.calls(), 4, "{error}");
    assert_eq!(upstream.calls_for("model-a"), 3);
    assert_eq!(upstream.calls_for("model-b"), 1);
    assert_eq!(upstream.calls_for("model-c"), 0);
}

#[tokio::test]
async fn a_hedge_never_exceeds_the_cap() {
    let upstream = Upstream::start(Answer::Slow(Duration::from_millis(150))).await;
    let hedged = Policy::new("p").hedge(HedgePolicy::After(Duration::from_millis(20)));
    let one = router(&upstream, &["a", "b"], hedged.max_attempts(1));
    complete(&one, ChatRequest::user("hi")).await.unwrap();
    assert_eq!(
        upstream.calls(),
        1,
        "a cap of one leaves no room for a hedge"
    );

    let upstream = Upstream::start(Answer::Slow(Duration::from_millis(150))).await;
    let hedged = Policy::new("p").hedge(HedgePolicy::After(Duration::from_millis(20)));
    let two = router(&upstream, &["a", "b", "c"], hedged.max_attempts(2));
    complete(&two, ChatRequest::user("hi")).await.unwrap();
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test]
async fn a_hedge_then_fallbacks_stop_at_the_cap() {
    let upstream = Upstream::start(Answer::Status(500)).await;
    let policy = Policy::new("p")
        .hedge(HedgePolicy::After(Duration::from_millis(1)))
        .retry(quick_retries(2))
        .max_attempts(3);
    let router = router(&upstream, &["a", "b", "c", "d"], policy);
    complete(&router, ChatRequest::user("hi"))
        .await
        .unwrap_err();
    assert_eq!(upstream.calls(), 3);
}

#[tokio::test]
async fn stream_recovery_counts_against_the_cap() {
    for cap in 1..=2 {
        let upstream = Upstream::start(Answer::BrokenStream).await;
        let policy = Policy::new("p")
            .stream_recovery(StreamRecovery::Continue)
            .retry(quick_retries(2))
            .max_attempts(cap);
        let router = router(&upstream, &["a", "b", "c"], policy);
        let mut stream = router
            .stream(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
            .await
            .unwrap();
        let mut last = None;
        while let Some(item) = stream.next().await {
            last = Some(item);
        }
        let error = last.unwrap().unwrap_err();
        assert!(matches!(error, Error::StreamInterrupted { .. }), "{error}");
        assert_eq!(upstream.calls(), u64::from(cap), "cap {cap}");
    }
}
