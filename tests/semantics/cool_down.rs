//! A provider 429 cools its account (or account × model) down, limits configured or not:
//! plans move on to the next candidate, a same-target retry happens only when nothing else
//! can serve and the wait fits, and a wait that does not fit fails fast with
//! `Error::RateLimited`.

use std::time::{Duration, Instant};

use routewise::{
    ChatRequest, Error, Jitter, LogicalModel, Policy, Purpose, RetryPolicy, RouteOptions, Router,
    SkipReason, StepType, Target,
};

use crate::support::upstream::{Answer, Upstream};

/// Retries that wait what a 429 asks (up to `max_retry_after`) and nothing otherwise.
fn retries(max_retry_after: Duration) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(2)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .jitter(Jitter::None)
        .max_retry_after(max_retry_after)
}

/// Model `m` on account `limited` (at `limited`), then on account `healthy` (at
/// `healthy`); no limits configured anywhere.
fn two_accounts(limited: &Upstream, healthy: &Upstream, policy: Policy) -> Router {
    Router::builder()
        .account(limited.account("limited", "sk-limited"))
        .account(healthy.account("healthy", "sk-healthy"))
        .model(
            LogicalModel::new("m")
                .target(Target::new("limited", "gpt-4o"))
                .target(Target::new("healthy", "gpt-4o")),
        )
        .policy(policy.route(["m"]))
        .build()
        .unwrap()
}

async fn complete(router: &Router, request: ChatRequest) -> Result<routewise::ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
}

#[tokio::test]
async fn a_429_without_limits_keeps_the_next_requests_off_the_account() {
    let limited = Upstream::start(Answer::RateLimited(Some(30))).await;
    let healthy = Upstream::start(Answer::Ok).await;
    let router = two_accounts(&limited, &healthy, Policy::new("p"));
    for _ in 0..5 {
        let response = complete(&router, ChatRequest::user("hi")).await.unwrap();
        assert_eq!(&*response.served_by.account, "healthy");
    }
    assert_eq!(limited.calls(), 1, "the limited account is asked once");
    assert_eq!(healthy.calls(), 5);

    let status = router.accounts();
    let cooling = &status[0].cool_downs;
    assert_eq!(cooling.len(), 1, "{status:?}");
    assert_eq!(
        cooling[0].model.as_deref(),
        Some("gpt-4o"),
        "OpenAI limits per model"
    );
    assert!(cooling[0].remaining_ms > 25_000);

    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    let skipped = &explanation.skipped[0];
    assert_eq!(&*skipped.target.account, "limited");
    assert!(
        matches!(&skipped.reason, SkipReason::CoolingDown { model: Some(m), retry_in_ms } if m == "gpt-4o" && *retry_in_ms > 25_000),
        "{skipped:?}"
    );
    assert!(
        explanation
            .to_string()
            .contains("cooling down on this account after HTTP 429"),
        "{explanation}"
    );
}

#[tokio::test]
async fn a_per_model_429_leaves_the_accounts_other_models_in_rotation() {
    let upstream = Upstream::start(Answer::Ok).await;
    upstream.answer_for("gpt-4o", Answer::RateLimited(Some(30)));
    let router = Router::builder()
        .account(upstream.account("acct", "sk-one"))
        .model(
            LogicalModel::new("m")
                .target(Target::new("acct", "gpt-4o"))
                .target(Target::new("acct", "gpt-4o-mini")),
        )
        .policy(Policy::new("p").route(["m"]))
        .build()
        .unwrap();
    for _ in 0..3 {
        let response = complete(&router, ChatRequest::user("hi")).await.unwrap();
        assert_eq!(&*response.served_by.provider_model, "gpt-4o-mini");
    }
    assert_eq!(upstream.calls_for("gpt-4o"), 1);
    assert_eq!(upstream.calls_for("gpt-4o-mini"), 3);
}

#[tokio::test]
async fn with_retries_a_429_moves_on_to_the_sibling_instead_of_waiting() {
    let limited = Upstream::start(Answer::RateLimited(Some(1))).await;
    let healthy = Upstream::start(Answer::Ok).await;
    let policy = Policy::new("p").retry(retries(Duration::from_secs(30)));
    let router = two_accounts(&limited, &healthy, policy);
    let started = Instant::now();
    let response = complete(&router, ChatRequest::user("hi")).await.unwrap();
    assert_eq!(&*response.served_by.account, "healthy");
    assert_eq!(limited.calls(), 1, "no retry on the limited target");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no sleep for the retry-after"
    );
}

#[tokio::test]
async fn the_only_candidate_is_retried_after_its_retry_after_when_it_fits() {
    let only = Upstream::start(Answer::Ok).await;
    only.then(Answer::RateLimited(Some(1)));
    let router = Router::builder()
        .account(only.account("only", "sk-only"))
        .model(LogicalModel::new("m").target(Target::new("only", "gpt-4o")))
        .policy(
            Policy::new("p")
                .route(["m"])
                .retry(retries(Duration::from_secs(5))),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    let request =
        ChatRequest::user("hi").options(RouteOptions::new().deadline(Duration::from_secs(10)));
    let response = complete(&router, request).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(only.calls(), 2);
    assert_eq!(response.attempts.len(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_max_retry_after_fails_fast_with_rate_limited() {
    let only = Upstream::start(Answer::RateLimited(Some(60))).await;
    let router = Router::builder()
        .account(only.account("only", "sk-only"))
        .model(LogicalModel::new("m").target(Target::new("only", "gpt-4o")))
        .policy(
            Policy::new("p")
                .route(["m"])
                .retry(retries(Duration::from_secs(5))),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    let error = complete(&router, ChatRequest::user("hi"))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let Error::RateLimited {
        retry_after: Some(wait),
        attempts,
        ..
    } = &error
    else {
        panic!("expected RateLimited, got {error:?}");
    };
    assert!(
        *wait > Duration::from_secs(55) && *wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert_eq!(attempts.len(), 1);
    assert_eq!(only.calls(), 1);

    // The next request does not call at all: the account is cooling down.
    let error = complete(&router, ChatRequest::user("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::RateLimited {
                retry_after: Some(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(only.calls(), 1);
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    assert!(
        matches!(
            explanation.skipped[0].reason,
            SkipReason::CoolingDown { .. }
        ),
        "explain shows the cool-down even when nothing is left: {explanation}"
    );
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_fails_fast_instead_of_sleeping() {
    let only = Upstream::start(Answer::RateLimited(Some(3))).await;
    let router = Router::builder()
        .account(only.account("only", "sk-only"))
        .model(LogicalModel::new("m").target(Target::new("only", "gpt-4o")))
        .policy(
            Policy::new("p")
                .route(["m"])
                .retry(retries(Duration::from_secs(30))),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    let request =
        ChatRequest::user("hi").options(RouteOptions::new().deadline(Duration::from_secs(1)));
    let error = complete(&router, request).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            error,
            Error::RateLimited {
                retry_after: Some(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(only.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_100_concurrent_requests_the_limited_account_is_called_once_per_cool_down() {
    let limited = Upstream::start(Answer::RateLimited(Some(2))).await;
    let healthy = Upstream::start(Answer::Ok).await;
    let router = two_accounts(
        &limited,
        &healthy,
        Policy::new("p").retry(retries(Duration::from_secs(30))),
    );

    let wave = |router: Router| async move {
        let requests = (0..100).map(|_| {
            let router = router.clone();
            tokio::spawn(async move { complete(&router, ChatRequest::user("hi")).await })
        });
        for request in futures::future::join_all(requests).await {
            let response = request.unwrap().unwrap();
            assert_eq!(&*response.served_by.account, "healthy");
        }
    };
    // The first request meets the 429 and starts the cool-down.
    complete(&router, ChatRequest::user("hi")).await.unwrap();
    assert_eq!(limited.calls(), 1);
    wave(router.clone()).await;
    assert_eq!(limited.calls(), 1, "nobody calls it while it cools down");

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    wave(router.clone()).await;
    assert_eq!(
        limited.calls(),
        2,
        "one probe after the cool-down, not a stampede"
    );
    assert_eq!(healthy.calls(), 201);
}

/// Whether `key` exists on the shared test Redis.
#[cfg(feature = "redis")]
pub fn redis_has(key: &str) -> bool {
    let output = std::process::Command::new("redis-cli")
        .args(["-u", &crate::support::redis::redis_url(), "EXISTS", key])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "1"
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_429_seen_by_one_instance_keeps_the_whole_fleet_off_the_model() {
    let limited = Upstream::start(Answer::RateLimited(Some(30))).await;
    let healthy = Upstream::start(Answer::Ok).await;
    let prefix = crate::support::redis::unique_prefix("cool-down-fleet");
    let instance = || {
        let shared = routewise::shared::RedisState::builder(crate::support::redis::redis_url())
            .prefix(prefix.clone())
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        Router::builder()
            .shared_state(shared)
            .account(limited.account("limited", "sk-limited"))
            .account(healthy.account("healthy", "sk-healthy"))
            .model(
                LogicalModel::new("m")
                    .target(Target::new("limited", "gpt-4o"))
                    .target(Target::new("healthy", "gpt-4o")),
            )
            .policy(Policy::new("p").route(["m"]))
            .build()
            .unwrap()
    };
    let (first, second) = (instance(), instance());
    complete(&first, ChatRequest::user("hi")).await.unwrap();
    assert_eq!(limited.calls(), 1);

    // The mark is written off the request path: wait until Redis has it.
    let mark = format!("{prefix}:{{limited}}:model:gpt-4o:cooldown");
    let waited = Instant::now();
    while !redis_has(&mark) {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "no cool-down mark at {mark}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..3 {
        let response = complete(&second, ChatRequest::user("hi")).await.unwrap();
        assert_eq!(&*response.served_by.account, "healthy");
    }
    assert_eq!(
        limited.calls(),
        1,
        "the other instance never calls the cooling model"
    );
    let status = second.accounts();
    assert_eq!(
        status[0].cool_downs.len(),
        1,
        "it learned the cool-down: {status:?}"
    );
}
