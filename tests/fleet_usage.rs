//! `RedisState::fleet_usage` and `Router::fleet_accounts` against the real Redis on
//! 127.0.0.1:6379 (each test under its own key prefix): what every instance together
//! holds of an account's rate window, budget and cool-down.
#![cfg(feature = "redis")]

mod support;

use std::time::{Duration, Instant};

use routewise::provider::{ErrorKind, ProviderRequest};
use routewise::shared::{FleetUsage, Lease, RedisState, RedisStateBuilder};
use routewise::sim::SimProvider;
use routewise::state::StateError;
use routewise::{
    Budget, ChatRequest, LogicalModel, Policy, Price, ProviderAccount, Purpose, RateLimits,
    RetryPolicy, Router, SamplingParams, StepType, Target, TokenEstimate, Usage, Usd,
};
use support::redis::{ThrowawayRedis, fresh_state, unique_prefix};

/// Every call's actual usage: 7 prompt tokens and 3 completion tokens, fewer than the
/// router reserves for [`request`], so a settled call is told apart from one in flight.
fn usage() -> Usage {
    Usage::new(7, 3)
}

/// What `calls` settled calls cost.
fn spend_of(calls: u64) -> Usd {
    Usd::from_nanos(dear().cost(&usage()).nanos() * calls)
}

fn request() -> ChatRequest {
    ChatRequest::user("hi").max_tokens(10)
}

/// What the router reserves for [`request`] on account `a`, model `x`.
fn estimate() -> TokenEstimate {
    let account = ProviderAccount::new("a", SimProvider::new());
    let defaults = SamplingParams::default();
    let request = request();
    TokenEstimate::of(&ProviderRequest::new(
        "x",
        account.info(),
        &request,
        &defaults,
    ))
}

/// One cent per input token, two per output token.
fn dear() -> Price {
    Price::per_million(Usd::from_cents(1_000_000), Usd::from_cents(2_000_000))
}

/// Account `a` (RPM and TPM limits, a budget, served by `sim`) behind model `m`, and
/// account `b` with neither, sharing state under `prefix`.
fn instance(prefix: &str, rate_window: Duration, sim: SimProvider) -> Router {
    let state = fresh_state("usage").prefix(prefix).rate_window(rate_window);
    instance_on(state, sim)
}

/// [`instance`] on the state `state` builds.
fn instance_on(state: RedisStateBuilder, sim: SimProvider) -> Router {
    let shared = state.build().unwrap();
    let metered = ProviderAccount::new("a", sim)
        .limits(RateLimits::new().rpm(1_000).tpm(1_000_000))
        .budget(Budget::monthly_usd(1_000.0));
    Router::builder()
        .shared_state(shared)
        .account(metered)
        .account(ProviderAccount::new("b", SimProvider::new()))
        .model(LogicalModel::new("m").target(Target::new("a", "x").price(dear())))
        .policy(
            Policy::new("default")
                .route(["m"])
                .retry(RetryPolicy::none()),
        )
        .build()
        .unwrap()
}

async fn send(router: &Router, n: usize) {
    for _ in 0..n {
        router
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
            .unwrap();
    }
}

/// Account `a`'s fleet usage once `done` holds: settlements run after each answer, off
/// the request path.
async fn usage_once(router: &Router, done: impl Fn(&FleetUsage) -> bool) -> FleetUsage {
    let mut usage = router.fleet_accounts().await.unwrap().remove(0);
    for _ in 0..500 {
        if done(&usage) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        usage = router.fleet_accounts().await.unwrap().remove(0);
    }
    usage
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_usage_sums_every_instances_requests_tokens_and_spend() {
    let prefix = unique_prefix("usage-sum");
    let minute = Duration::from_secs(60);
    let first = instance(&prefix, minute, SimProvider::new().usage(usage()));
    let second = instance(&prefix, minute, SimProvider::new().usage(usage()));
    send(&first, 3).await;
    send(&second, 2).await;

    let usage = usage_once(&first, |u| u.spent == Some(spend_of(5))).await;
    let label = first.accounts()[0].budget.as_ref().unwrap().window.clone();
    assert_eq!(usage.account, "a");
    assert_eq!(usage.requests, 5);
    assert_eq!(usage.tokens, 5 * self::usage().total_tokens());
    assert_eq!(usage.budget_window.as_deref(), Some(label.as_str()));
    assert_eq!(usage.spent, Some(spend_of(5)));
    assert_eq!(usage.reserved, Usd::ZERO);
    assert_eq!(usage.cooldown_ms, None);

    // Any instance, or a bare state under the same prefix, reads the same sums.
    let from_second = second.fleet_accounts().await.unwrap();
    assert_eq!(from_second[0], usage);
    let observer = fresh_state("usage").prefix(&prefix).build().unwrap();
    assert_eq!(
        observer.fleet_usage("a", Some(&label)).await.unwrap(),
        usage
    );

    // Account `b` has no limits and no budget: nothing is kept for it.
    let unmetered = &from_second[1];
    assert_eq!(unmetered.account, "b");
    assert_eq!((unmetered.requests, unmetered.tokens), (0, 0));
    assert_eq!(
        (unmetered.budget_window.as_deref(), unmetered.spent),
        (None, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_older_than_the_rate_window_are_left_out_without_being_removed() {
    let prefix = unique_prefix("usage-window");
    let window = Duration::from_secs(2);
    let router = instance(&prefix, window, SimProvider::new().usage(usage()));
    send(&router, 2).await;
    let older_sent = Instant::now();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    send(&router, 1).await;
    // The first two were granted before `older_sent`: past the window by then, while
    // the third is barely a second old.
    tokio::time::sleep((older_sent + window + Duration::from_millis(100)) - Instant::now()).await;

    let usage = usage_once(&router, |u| u.spent == Some(spend_of(3))).await;
    assert_eq!(usage.requests, 1);
    assert_eq!(usage.tokens, self::usage().total_tokens());
    // Spend belongs to the budget window, not the rate window.
    assert_eq!(usage.spent, Some(spend_of(3)));

    // Reading wrote nothing: the expired grants are still in the log.
    let log = format!("{prefix}:{{a}}:rate:log");
    let output = std::process::Command::new("redis-cli")
        .args(["-u", &support::redis::redis_url(), "ZCARD", &log])
        .output()
        .expect("redis-cli is installed with redis-server");
    assert_eq!(String::from_utf8(output.stdout).unwrap().trim(), "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_shows_its_reservation_until_it_ends() {
    let prefix = unique_prefix("usage-flight");
    let hanging = SimProvider::new().latency(Duration::from_secs(3600));
    let router = instance(&prefix, Duration::from_secs(60), hanging.clone());
    let call = tokio::spawn({
        let router = router.clone();
        async move {
            router
                .complete(StepType::Inference, Purpose::Chat, request())
                .await
        }
    });

    // Once the provider is called, the reservation is the call's to release (not still
    // in the admission's reply).
    for _ in 0..500 {
        if hanging.calls() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(hanging.calls(), 1);
    let usage = router.fleet_accounts().await.unwrap().remove(0);
    let estimate = estimate();
    assert_eq!(usage.requests, 1);
    assert_eq!(
        usage.tokens,
        u64::from(estimate.prompt + estimate.max_output)
    );
    assert_eq!(
        usage.reserved,
        dear().worst_case(estimate.prompt, estimate.max_output)
    );
    assert_eq!(usage.spent, Some(Usd::ZERO));

    // Cancelled after the provider received it, the call keeps its request and is
    // charged its worst case (the provider bills it).
    call.abort();
    let worst = dear().worst_case(estimate.prompt, estimate.max_output);
    let usage = usage_once(&router, |u| u.spent == Some(worst)).await;
    assert_eq!(
        (usage.requests, usage.tokens),
        (1, u64::from(estimate.prompt + estimate.max_output))
    );
    assert_eq!(usage.reserved, Usd::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_while_redis_admits_it_leaves_no_reservation_behind() {
    let redis = ThrowawayRedis::start();
    let state = RedisState::builder(redis.url())
        .prefix(unique_prefix("usage-cancel"))
        .timeout(Duration::from_secs(2));
    let router = instance_on(state, SimProvider::new().usage(usage()));
    // One call first, so that the connection and the scripts are ready.
    send(&router, 1).await;
    usage_once(&router, |u| u.spent == Some(spend_of(1))).await;

    redis.pause(Duration::from_millis(500));
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        router.complete(StepType::Inference, Purpose::Chat, request()),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the admission waited on the paused Redis"
    );

    // Redis grants the admission once the pause ends; nobody awaits it any more, so it is
    // released: the window and the budget hold only the first call.
    let usage = usage_once(&router, |u| u.requests == 1 && u.reserved == Usd::ZERO).await;
    assert_eq!(usage.requests, 1);
    assert_eq!(usage.tokens, self::usage().total_tokens());
    assert_eq!(usage.reserved, Usd::ZERO);
    assert_eq!(usage.spent, Some(spend_of(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_granted_after_its_caller_was_cancelled_serves_the_next_request() {
    let redis = ThrowawayRedis::start();
    let state = RedisState::builder(redis.url())
        .prefix(unique_prefix("usage-lease-cancel"))
        .timeout(Duration::from_secs(2))
        .lease(Lease::requests(1).ttl(Duration::from_secs(60)));
    let router = instance_on(state, SimProvider::new().usage(usage()));
    // Blocks of one request: the first call spends its block, so the next one refills.
    send(&router, 1).await;

    redis.pause(Duration::from_millis(500));
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        router.complete(StepType::Inference, Purpose::Chat, request()),
    )
    .await;
    assert!(cancelled.is_err(), "the refill waited on the paused Redis");
    tokio::time::sleep(Duration::from_millis(600)).await;

    // The block Redis granted the cancelled call is this instance's current block: the
    // next call takes it instead of asking for another, so the window holds two blocks
    // of one request, not three.
    send(&router, 1).await;
    let usage = usage_once(&router, |u| u.requests == 2).await;
    assert_eq!(usage.requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_cool_down_shows_with_the_time_it_has_left() {
    let prefix = unique_prefix("usage-cooldown");
    let limited = SimProvider::new()
        .always_fail()
        .failure_kind(ErrorKind::RateLimited);
    let router = instance(&prefix, Duration::from_secs(60), limited);
    router
        .complete(StepType::Inference, Purpose::Chat, request())
        .await
        .unwrap_err();

    // The cool-down mark and the attempt's settlement are separate writes: wait for both.
    let usage = usage_once(&router, |u| u.cooldown_ms.is_some() && u.tokens == 0).await;
    // The sim gives no retry-after: the default of one second applies.
    let left = usage.cooldown().expect("a cool-down in force");
    assert!(left <= Duration::from_secs(1), "{left:?}");
    assert!(left > Duration::from_millis(500), "{left:?}");
    // The failed attempt stays in the window, with no tokens and no spend.
    assert_eq!((usage.requests, usage.tokens), (1, 0));
    assert_eq!(usage.spent, Some(Usd::ZERO));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_reported_unavailable_within_the_timeout() {
    let mut redis = ThrowawayRedis::start();
    let url = redis.url();
    redis.kill();
    let state = RedisState::builder(url)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = state.fleet_usage("a", Some("2025-01")).await.unwrap_err();
    assert!(matches!(error, StateError::Unavailable { .. }), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Marked down, the next read fails at once without trying.
    let started = Instant::now();
    let error = state.fleet_usage("a", None).await.unwrap_err();
    assert!(matches!(error, StateError::Unavailable { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_millis(50));
}
