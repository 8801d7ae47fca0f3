//! Routers sharing limits, spend, breakers and cool-downs through the real Redis on
//! 127.0.0.1:6379 (each test under its own key prefix), one of them in a second OS
//! process, and a throwaway redis-server killed mid-run.
#![cfg(feature = "redis")]

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use routewise::budget::{Alert, CallbackSink};
use routewise::provider::ProviderRequest;
use routewise::shared::{FailMode, Lease, RedisState};
use routewise::sim::SimProvider;
use routewise::state::{StateKey, StateStore};
use routewise::{
    BreakerConfig, Budget, ChatRequest, Error, LogicalModel, Policy, Price, ProviderAccount,
    Purpose, RateLimits, RetryPolicy, Router, SamplingParams, StepType, Target, TokenEstimate,
    Usage, Usd,
};
use support::redis::{ThrowawayRedis, fresh_state, redis_url};

const CHILD_PREFIX: &str = "ROUTEWISE_CHILD_PREFIX";

fn request() -> ChatRequest {
    ChatRequest::user("hi").max_tokens(10)
}

/// Tokens the router reserves for [`request`] on account `a`, model `x`.
fn reserved_tokens() -> u32 {
    let account = ProviderAccount::new("a", SimProvider::new());
    let request = request();
    let defaults = SamplingParams::default();
    let estimate = TokenEstimate::of(&ProviderRequest::new(
        "x",
        account.info(),
        &request,
        &defaults,
    ));
    estimate.prompt + estimate.max_output
}

/// One account `a` (served by `sim`), one model `m`, one policy without retries.
fn router(shared: RedisState, account: ProviderAccount) -> routewise::RouterBuilder {
    Router::builder()
        .shared_state(shared)
        .account(account)
        .model(LogicalModel::new("m").target(Target::new("a", "x").price(dear())))
        .policy(
            Policy::new("default")
                .route(["m"])
                .retry(RetryPolicy::none()),
        )
}

/// One cent per input token, two per output token.
fn dear() -> Price {
    Price::per_million(Usd::from_cents(1_000_000), Usd::from_cents(2_000_000))
}

fn rpm_router(prefix: &str) -> Router {
    let shared = RedisState::builder(redis_url())
        .prefix(prefix)
        .timeout(Duration::from_secs(2))
        // Closed: a request that could not reach Redis fails the test instead of being
        // counted by a local limiter.
        .fail_mode(FailMode::Closed)
        .build()
        .unwrap();
    let account = ProviderAccount::new("a", SimProvider::new()).limits(RateLimits::new().rpm(100));
    router(shared, account).build().unwrap()
}

/// Sends `n` requests at once; returns how many succeeded, after checking that every
/// failure was a rate limit.
async fn burst(router: &Router, n: usize) -> usize {
    let results =
        join_all((0..n).map(|_| router.complete(StepType::Inference, Purpose::Chat, request())))
            .await;
    for result in &results {
        if let Err(error) = result {
            assert!(matches!(error, Error::RateLimited { .. }), "{error}");
        }
    }
    results.iter().filter(|r| r.is_ok()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the second process of rpm_limit_shared_by_two_processes_lets_exactly_the_limit_through"]
async fn child_instance() {
    let Ok(prefix) = std::env::var(CHILD_PREFIX) else {
        return;
    };
    let admitted = burst(&rpm_router(&prefix), 100).await;
    println!("CHILD_ADMITTED={admitted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_limit_shared_by_two_processes_lets_exactly_the_limit_through() {
    let prefix = support::redis::unique_prefix("rpm");
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["child_instance", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_PREFIX, &prefix)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (first, second) = (rpm_router(&prefix), rpm_router(&prefix));
    let (a, b) = tokio::join!(burst(&first, 100), burst(&second, 100));
    let output = tokio::task::spawn_blocking(|| child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let child: usize = stdout
        .lines()
        .find_map(|line| line.strip_prefix("CHILD_ADMITTED="))
        .unwrap_or_else(|| panic!("the child reported nothing: {stdout}"))
        .parse()
        .unwrap();
    assert_eq!(
        a + b + child,
        100,
        "this process {a} + {b}, the other {child}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpm_limit_shared_by_two_instances_lets_exactly_its_tokens_through() {
    let per_request = reserved_tokens();
    let tpm = u64::from(per_request) * 10;
    // Usage equal to the reservation: settling changes nothing, so the count is exact.
    let usage = Usage::new(per_request - 10, 10);
    let make = |prefix: &str| {
        let shared = fresh_state("tpm").prefix(prefix).build().unwrap();
        let sim = SimProvider::new().usage(usage);
        let account = ProviderAccount::new("a", sim).limits(RateLimits::new().tpm(tpm));
        router(shared, account).build().unwrap()
    };
    let prefix = support::redis::unique_prefix("tpm");
    let (first, second) = (make(&prefix), make(&prefix));
    let (a, b) = tokio::join!(burst(&first, 30), burst(&second, 30));
    assert_eq!(a + b, 10, "{a} + {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_stop_at_one_budget_and_fire_each_alert_once_in_all() {
    let per_request = reserved_tokens();
    let worst = dear().worst_case(per_request - 10, 10);
    // Ten requests and a half: exactly ten fit whatever the rounding of dollars.
    let budget = Budget::monthly_usd(worst.dollars() * 10.5).thresholds([50, 80, 90]);
    let alerts: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let prefix = support::redis::unique_prefix("budget");
    let make = || {
        let shared = fresh_state("budget").prefix(&prefix).build().unwrap();
        let sim = SimProvider::new().usage(Usage::new(per_request - 10, 10));
        let account = ProviderAccount::new("a", sim).budget(budget.clone());
        let alerts = alerts.clone();
        let sink =
            CallbackSink::new(move |alert: &Alert| alerts.lock().unwrap().push(alert.clone()));
        router(shared, account)
            .alert_sink(Arc::new(sink))
            .build()
            .unwrap()
    };
    let (first, second) = (make(), make());
    let mut served = 0;
    for _ in 0..8 {
        let (a, b) = tokio::join!(
            first.complete(StepType::Inference, Purpose::Chat, request()),
            second.complete(StepType::Inference, Purpose::Chat, request()),
        );
        for result in [a, b] {
            match result {
                Ok(_) => served += 1,
                Err(error) => assert!(matches!(error, Error::BudgetExhausted { .. }), "{error}"),
            }
        }
    }
    assert_eq!(served, 10);
    let fired = || {
        let mut percents: Vec<u16> = alerts
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.threshold_percent)
            .collect();
        percents.sort_unstable();
        percents
    };
    wait_until(|| fired().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fired(), [50, 80, 90]);

    let store = fresh_state("budget").prefix(&prefix).build().unwrap();
    let label = first.accounts()[0].budget.as_ref().unwrap().window.clone();
    let spend = store.get(&StateKey::spend("a", &label)).await.unwrap();
    assert_eq!(spend, worst.nanos() * 10);
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_opened_by_one_instance_is_honoured_by_another_and_trials_are_fleet_wide() {
    let prefix = support::redis::unique_prefix("breaker");
    let breaker = BreakerConfig::default()
        .failure_threshold(2)
        .recovery(Duration::from_millis(500));
    let make = |sim: SimProvider| {
        let shared = fresh_state("breaker").prefix(&prefix).build().unwrap();
        Router::builder()
            .shared_state(shared)
            .account(ProviderAccount::new("a", sim))
            .model(LogicalModel::new("m").target(Target::new("a", "x")))
            .policy(
                Policy::new("default")
                    .route(["m"])
                    .retry(RetryPolicy::none())
                    .breaker(breaker.clone()),
            )
            .build()
            .unwrap()
    };
    let failing = SimProvider::new().always_fail();
    let healthy = SimProvider::new().latency(Duration::from_millis(300));
    let (broken, observer, bystander) =
        (make(failing), make(healthy.clone()), make(healthy.clone()));
    for _ in 0..2 {
        broken
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
            .unwrap_err();
    }
    let error = observer
        .complete(StepType::Inference, Purpose::Chat, request())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::CircuitOpen { .. }), "{error}");
    assert_eq!(
        healthy.calls(),
        0,
        "the observer never called the open target"
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    // Recovery is due: one trial for the whole fleet. The observer takes it (a slow,
    // healthy call); the bystander, whose own breaker never opened, must wait.
    let trial = observer.complete(StepType::Inference, Purpose::Chat, request());
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bystander
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
    };
    let (trial, second) = tokio::join!(trial, second);
    trial.unwrap();
    let error = second.unwrap_err();
    assert!(matches!(error, Error::CircuitOpen { .. }), "{error}");
    // The trial succeeded: the shared breaker closed for everyone.
    bystander
        .complete(StepType::Inference, Purpose::Chat, request())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_seen_by_one_instance_cools_the_account_down_for_all() {
    use routewise::provider::ErrorKind;
    let prefix = support::redis::unique_prefix("cooldown");
    let make = |sim: SimProvider| {
        let shared = fresh_state("cooldown").prefix(&prefix).build().unwrap();
        let account = ProviderAccount::new("a", sim).limits(RateLimits::new().rpm(1_000));
        router(shared, account).build().unwrap()
    };
    let limited = SimProvider::new()
        .always_fail()
        .failure_kind(ErrorKind::RateLimited);
    let fine = SimProvider::new();
    let (first, second) = (make(limited), make(fine.clone()));
    first
        .complete(StepType::Inference, Purpose::Chat, request())
        .await
        .unwrap_err();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = second
        .complete(StepType::Inference, Purpose::Chat, request())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::RateLimited { .. }), "{error}");
    assert_eq!(fine.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the crashing process of a_crashed_holders_budget_reservation_expires_after_the_reservation_ttl"]
async fn crash_holder() {
    let Ok(prefix) = std::env::var(CHILD_PREFIX) else {
        return;
    };
    let sim = SimProvider::new().latency(Duration::from_secs(3600));
    let router = crash_router(&prefix, sim);
    let call = tokio::spawn(async move {
        router
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!("HOLDING");
    let _ = call.await;
}

/// A budget with room for one request and a half.
fn crash_router(prefix: &str, sim: SimProvider) -> Router {
    let worst = dear().worst_case(reserved_tokens() - 10, 10);
    let shared = fresh_state("crash")
        .prefix(prefix)
        .reservation_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    let account = ProviderAccount::new("a", sim).budget(Budget::monthly_usd(worst.dollars() * 1.5));
    router(shared, account).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_holders_budget_reservation_expires_after_the_reservation_ttl() {
    use std::io::BufRead;
    let prefix = support::redis::unique_prefix("crash");
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args(["crash_holder", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_PREFIX, &prefix)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = holder.stdout.take().unwrap();
    let holding = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .any(|line| line.is_ok_and(|l| l.contains("HOLDING")))
    });
    assert!(holding.await.unwrap(), "the holder reserved its request");
    holder.kill().unwrap();
    holder.wait().unwrap();

    let usage = Usage::new(reserved_tokens() - 10, 10);
    let survivor = crash_router(&prefix, SimProvider::new().usage(usage));
    let send = || survivor.complete(StepType::Inference, Purpose::Chat, request());
    let error = send().await.unwrap_err();
    assert!(matches!(error, Error::BudgetExhausted { .. }), "{error}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    send().await.unwrap();
}

fn outage_router(redis: &ThrowawayRedis, mode: FailMode, sim: SimProvider, rpm: u32) -> Router {
    let shared = RedisState::builder(redis.url())
        .prefix("outage")
        .timeout(Duration::from_millis(200))
        .retry_interval(Duration::from_millis(100))
        .fail_mode(mode)
        .build()
        .unwrap();
    let account = ProviderAccount::new("a", sim)
        .limits(RateLimits::new().rpm(rpm))
        .budget(Budget::monthly_usd(1_000.0));
    router(shared, account).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_killed_fail_open_keeps_serving_and_reconciles_spend_when_it_returns() {
    let mut redis = ThrowawayRedis::start();
    let per_request = reserved_tokens();
    let cost = dear().worst_case(per_request - 10, 10);
    let sim = SimProvider::new().usage(Usage::new(per_request - 10, 10));
    // The local limiter fills up during the outage; once Redis answers again (with its
    // windows empty after the restart), it no longer decides.
    let router = outage_router(&redis, FailMode::Open, sim, 5);
    let send = || router.complete(StepType::Inference, Purpose::Chat, request());
    send().await.unwrap();
    // Its settlement (spawned after the answer) reaches Redis before the kill.
    tokio::time::sleep(Duration::from_millis(100)).await;

    redis.kill();
    for _ in 0..5 {
        send().await.unwrap();
    }
    redis.restart();
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The first request after the restart reaches Redis and writes back the spend of the
    // five served while it was away (the one before the kill died with the server).
    send().await.unwrap();
    let store = RedisState::builder(redis.url())
        .prefix("outage")
        .build()
        .unwrap();
    let label = router.accounts()[0].budget.as_ref().unwrap().window.clone();
    let key = StateKey::spend("a", &label);
    let mut spend = 0;
    for _ in 0..100 {
        spend = store.get(&key).await.unwrap();
        if spend == cost.nanos() * 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(spend, cost.nanos() * 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_killed_fail_closed_refuses_cleanly_and_recovers_on_restart() {
    let mut redis = ThrowawayRedis::start();
    let router = outage_router(&redis, FailMode::Closed, SimProvider::new(), 10_000);
    let send = || router.complete(StepType::Inference, Purpose::Chat, request());
    send().await.unwrap();

    redis.kill();
    for _ in 0..3 {
        let error = send().await.unwrap_err();
        assert!(
            matches!(error, Error::SharedStateUnavailable { .. }),
            "{error}"
        );
    }
    redis.restart();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut recovered = false;
    for _ in 0..50 {
        if send().await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "routing resumed once Redis answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_attempt_costs_one_round_trip_to_admit_and_one_to_settle() {
    let redis = ThrowawayRedis::start();
    let router = outage_router(&redis, FailMode::Open, SimProvider::new(), 10_000);
    for _ in 0..20 {
        router
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
            .unwrap();
    }
    // Settlements run after the answers: wait for the last of them (bounded).
    let mut stats = redis.command_stats();
    for _ in 0..50 {
        let (calls, missed) = stats["evalsha"];
        if calls - missed >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        stats = redis.command_stats();
    }
    // The client sends only EVALSHA, and SCRIPT LOAD after an EVALSHA the server did not
    // know the script of; every other command in the stats ran inside a script. Settling
    // runs off the request path, so two settlements may both miss before either loads.
    let (calls, missed) = stats["evalsha"];
    assert_eq!(
        calls - missed,
        40,
        "20 admissions and 20 settlements: {stats:?}"
    );
    assert!(
        (2..=4).contains(&missed),
        "each script missed at first: {stats:?}"
    );
    assert_eq!(
        stats["script|load"],
        (missed, 0),
        "a load per miss: {stats:?}"
    );
}

fn lease_router(url: &str, prefix: &str, rpm: u32, lease: Lease, window: Duration) -> Router {
    let shared = RedisState::builder(url)
        .prefix(prefix)
        .timeout(Duration::from_secs(2))
        .fail_mode(FailMode::Closed)
        .rate_window(window)
        .lease(lease)
        .build()
        .unwrap();
    let account = ProviderAccount::new("a", SimProvider::new()).limits(RateLimits::new().rpm(rpm));
    router(shared, account).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_mode_serves_most_requests_without_a_round_trip() {
    let redis = ThrowawayRedis::start();
    let lease = Lease::requests(10).ttl(Duration::from_secs(30));
    let router = lease_router(&redis.url(), "lease", 1_000, lease, Duration::from_secs(60));
    for _ in 0..50 {
        router
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
            .unwrap();
    }
    let stats = redis.command_stats();
    let (calls, missed) = stats["evalsha"];
    // Five blocks of ten: five admissions and four settlements of spent blocks (the
    // fifth block is still current); each script's first call misses once.
    assert_eq!(calls - missed, 9, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_mode_sends_at_most_limit_plus_instances_times_block_in_any_window() {
    const LIMIT: usize = 20;
    const BLOCK: u32 = 5;
    const INSTANCES: usize = 2;
    let window = Duration::from_secs(1);
    let prefix = support::redis::unique_prefix("lease-bound");
    let lease = Lease::requests(BLOCK).ttl(Duration::from_millis(700));
    let sent: Arc<Mutex<Vec<tokio::time::Instant>>> = Arc::default();
    let started = tokio::time::Instant::now();
    let instances = (0..INSTANCES).map(|_| {
        let router = lease_router(&redis_url(), &prefix, LIMIT as u32, lease.clone(), window);
        let sent = sent.clone();
        async move {
            while started.elapsed() < Duration::from_secs(3) {
                let result = router
                    .complete(StepType::Inference, Purpose::Chat, request())
                    .await;
                match result {
                    Ok(_) => sent.lock().unwrap().push(tokio::time::Instant::now()),
                    Err(error) => assert!(matches!(error, Error::RateLimited { .. }), "{error}"),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    join_all(instances).await;
    let mut sent = sent.lock().unwrap().clone();
    sent.sort_unstable();
    assert!(sent.len() >= LIMIT, "the fleet was served: {}", sent.len());
    let bound = LIMIT + INSTANCES * BLOCK as usize;
    for (i, start) in sent.iter().enumerate() {
        let in_window = sent[i..]
            .iter()
            .take_while(|t| **t < *start + window)
            .count();
        assert!(
            in_window <= bound,
            "{in_window} sends in one window, bound {bound}"
        );
    }
}

#[cfg(feature = "toml")]
fn from_toml(text: &str) -> Result<Router, routewise::ConfigError> {
    let config =
        routewise::RouterConfig::from_str_format(text, routewise::config::Format::Toml).unwrap();
    Router::from_config(&config)
}

#[cfg(feature = "toml")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_built_from_one_config_file_share_its_limits() {
    let text = format!(
        r#"
        [shared_state]
        redis = "{url}"
        prefix = "{prefix}"
        fail_mode = "closed"
        timeout = "2s"

        [[accounts]]
        name = "a"
        provider = {{ kind = "sim", reply = "hi" }}
        limits = {{ rpm = 3 }}

        [[models]]
        name = "m"
        targets = [{{ account = "a", model = "x" }}]

        [[policies]]
        name = "default"
        route = ["m"]
        "#,
        url = redis_url(),
        prefix = support::redis::unique_prefix("config"),
    );
    let (first, second) = (from_toml(&text).unwrap(), from_toml(&text).unwrap());
    let (a, b) = tokio::join!(burst(&first, 3), burst(&second, 3));
    assert_eq!(a + b, 3);
}

#[cfg(feature = "toml")]
#[tokio::test]
async fn a_config_with_both_a_shared_state_and_a_state_store_says_to_keep_one() {
    let text = r#"
        state_store = "memory"
        [shared_state]
        redis = "redis://127.0.0.1:6379"
        "#;
    let error = from_toml(text).unwrap_err();
    let problem = &error.problems()[0];
    assert_eq!(problem.path, "shared_state");
    assert!(problem.message.contains("state_store"), "{problem:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_health_sums_every_instances_outcomes() {
    let prefix = support::redis::unique_prefix("health");
    let make = |sim: SimProvider| {
        let shared = fresh_state("health").prefix(&prefix).build().unwrap();
        let account = ProviderAccount::new("a", sim).limits(RateLimits::new().rpm(1_000));
        router(shared, account).build().unwrap()
    };
    let healthy = make(SimProvider::new());
    let failing = make(SimProvider::new().always_fail());
    for _ in 0..3 {
        healthy
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
            .unwrap();
    }
    for _ in 0..2 {
        failing
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
            .unwrap_err();
    }
    let observer = fresh_state("health").prefix(&prefix).build().unwrap();
    let mut health = observer.fleet_health("a").await.unwrap();
    for _ in 0..100 {
        if health.successes + health.faults == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        health = observer.fleet_health("a").await.unwrap();
    }
    assert_eq!((health.successes, health.faults), (3, 2));
    assert!((health.error_rate() - 0.4).abs() < 1e-9);
}
