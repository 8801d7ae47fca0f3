//! Money and limits when the shared Redis stalls or dies under load: three router
//! instances share one account (RPM limit, budget) through a throwaway redis-server
//! that is frozen with `SIGSTOP` and resumed with `SIGCONT`, or killed and restarted,
//! in `FailMode::Open` and `FailMode::Closed`.
//!
//! Afterwards the fleet's spend equals the priced answers to the nano-dollar, nothing is
//! reserved with nothing in flight, the next window admits exactly its limit, and no
//! request waited longer than the Redis timeout plus the attempt.
#![cfg(feature = "redis")]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use routewise::shared::{FailMode, RedisState};
use routewise::sim::SimProvider;
use routewise::{
    Budget, ChatRequest, Error, LogicalModel, Policy, Price, ProviderAccount, Purpose, RateLimits,
    RetryPolicy, Router, StepType, Target, Usage, Usd,
};
use support::redis::{ThrowawayRedis, unique_prefix};

/// Requests per rate window, shared by the fleet.
const LIMIT: u32 = 40;
const WINDOW: Duration = Duration::from_secs(2);
const REDIS_TIMEOUT: Duration = Duration::from_millis(200);
const RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// How long the provider takes to answer.
const ATTEMPT: Duration = Duration::from_millis(50);
const INSTANCES: usize = 3;
const CLIENTS_PER_INSTANCE: usize = 3;
/// What a loaded test machine may add to a request beyond its Redis timeout and its
/// attempt (scheduling, a debug build).
const SLACK: Duration = Duration::from_millis(1_000);

fn usage() -> Usage {
    Usage::new(5, 10)
}

/// One cent per input token, two per output token: 25 cents per answer.
fn price() -> Price {
    Price::per_million(Usd::from_cents(1_000_000), Usd::from_cents(2_000_000))
}

fn request() -> ChatRequest {
    ChatRequest::user("hi").max_tokens(10)
}

fn instance(redis: &ThrowawayRedis, prefix: &str, mode: FailMode) -> Router {
    let shared = RedisState::builder(redis.url())
        .prefix(prefix)
        .timeout(REDIS_TIMEOUT)
        .retry_interval(RETRY_INTERVAL)
        .rate_window(WINDOW)
        .fail_mode(mode)
        .build()
        .unwrap();
    let sim = SimProvider::new().latency(ATTEMPT).usage(usage());
    let account = ProviderAccount::new("a", sim)
        .limits(RateLimits::new().rpm(LIMIT))
        .budget(Budget::monthly_usd(1_000.0));
    Router::builder()
        .shared_state(shared)
        .account(account)
        .model(LogicalModel::new("m").target(Target::new("a", "x").price(price())))
        .policy(
            Policy::new("default")
                .route(["m"])
                .retry(RetryPolicy::none()),
        )
        .build()
        .unwrap()
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Tally {
    answers: u64,
    refused: u64,
    longest_wait: Duration,
    unexpected: Vec<String>,
}

/// Sends `request()` through `router` until `stop`, backing off a little after a refusal.
async fn client(router: Router, stop: Arc<AtomicBool>, tally: Arc<Mutex<Tally>>) {
    while !stop.load(Ordering::Acquire) {
        let started = Instant::now();
        let result = router
            .complete(StepType::Inference, Purpose::Chat, request())
            .await;
        let waited = started.elapsed();
        let refused = {
            let mut tally = tally.lock().unwrap();
            tally.longest_wait = tally.longest_wait.max(waited);
            match &result {
                Ok(_) => tally.answers += 1,
                Err(Error::RateLimited { .. } | Error::SharedStateUnavailable { .. }) => {
                    tally.refused += 1;
                }
                Err(other) => tally.unexpected.push(other.to_string()),
            }
            result.is_err()
        };
        if refused {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct Fleet {
    routers: Vec<Router>,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    /// Three instances, each answered once (so each knows Redis's clock), then loaded by
    /// three clients each.
    async fn start(redis: &ThrowawayRedis, mode: FailMode) -> Self {
        let prefix = unique_prefix("stall");
        let routers: Vec<Router> = (0..INSTANCES)
            .map(|_| instance(redis, &prefix, mode))
            .collect();
        let tally = Arc::new(Mutex::new(Tally::default()));
        for router in &routers {
            router
                .complete(StepType::Inference, Purpose::Chat, request())
                .await
                .unwrap();
            tally.lock().unwrap().answers += 1;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients = routers
            .iter()
            .flat_map(|router| std::iter::repeat_n(router, CLIENTS_PER_INSTANCE))
            .map(|router| tokio::spawn(client(router.clone(), stop.clone(), tally.clone())))
            .collect();
        Self {
            routers,
            stop,
            tally,
            clients,
        }
    }

    /// Stops the clients and waits for their last requests.
    async fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for client in self.clients.drain(..) {
            client.await.unwrap();
        }
    }

    /// The fleet's spend and reservations once the write-backs have landed (or after a
    /// while, when they never do).
    async fn settled(&self, expected: Usd) -> (Usd, Usd) {
        let mut seen = (Usd::ZERO, Usd::ZERO);
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(usage) = self.routers[0].fleet_accounts().await {
                seen = (usage[0].spent.unwrap_or_default(), usage[0].reserved);
                if seen == (expected, Usd::ZERO) {
                    break;
                }
            }
        }
        seen
    }

    /// How many of three times the limit, sent at once over every instance, get through.
    async fn next_window_admits(&self) -> usize {
        // Each instance reconnects on its own schedule after a restart: wait until every
        // one reaches Redis again and its outage mark has lapsed, or the burst would be
        // refused as unavailable (Closed) by an instance that has not reconnected yet.
        for router in &self.routers {
            for _ in 0..50 {
                if router.fleet_accounts().await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        tokio::time::sleep(RETRY_INTERVAL * 2).await;
        let sends = self.routers.iter().flat_map(|router| {
            (0..LIMIT).map(move |_| router.complete(StepType::Inference, Purpose::Chat, request()))
        });
        let results = join_all(sends).await;
        for result in &results {
            if let Err(error) = result {
                assert!(matches!(error, Error::RateLimited { .. }), "{error}");
            }
        }
        results.iter().filter(|r| r.is_ok()).count()
    }
}

/// What the fleet looked like after the fault.
#[derive(Debug)]
struct Aftermath {
    answers: u64,
    expected_spend: Usd,
    fleet_spend: Usd,
    fleet_reserved: Usd,
    /// Each instance's own view of the spend.
    local_spend: Vec<Usd>,
    next_window: usize,
    longest_wait: Duration,
}

impl Aftermath {
    async fn of(fleet: &mut Fleet) -> Self {
        let tally = std::mem::take(&mut *fleet.tally.lock().unwrap());
        assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
        assert!(tally.answers > 0 && tally.refused > 0, "{tally:?}");
        let per_answer = price().cost(&usage());
        let expected_spend = Usd::from_nanos(per_answer.nanos() * tally.answers);
        let (fleet_spend, fleet_reserved) = fleet.settled(expected_spend).await;
        let local_spend = fleet
            .routers
            .iter()
            .map(|router| router.accounts()[0].budget.as_ref().unwrap().spent)
            .collect();
        let next_window = fleet.next_window_admits().await;
        Self {
            answers: tally.answers,
            expected_spend,
            fleet_spend,
            fleet_reserved,
            local_spend,
            next_window,
            longest_wait: tally.longest_wait,
        }
    }

    fn check(&self) {
        println!("{self:?}");
        assert_eq!(self.fleet_spend, self.expected_spend, "{self:?}");
        assert_eq!(self.fleet_reserved, Usd::ZERO, "{self:?}");
        for local in &self.local_spend {
            // An instance's view is the fleet's as of its last settlement: never more.
            assert!(*local <= self.expected_spend, "{self:?}");
        }
        assert!(self.answers > 0, "{self:?}");
        assert_eq!(self.next_window, LIMIT as usize, "{self:?}");
        assert!(
            self.longest_wait <= REDIS_TIMEOUT + ATTEMPT + SLACK,
            "{self:?}"
        );
    }
}

/// Load, a three-second freeze of Redis while the load goes on, the clients stopped,
/// Redis resumed. Every window before the freeze has passed by then: the rate window
/// holds only what Redis granted after it resumed.
async fn stall(mode: FailMode) -> Aftermath {
    let redis = ThrowawayRedis::start();
    let mut fleet = Fleet::start(&redis, mode).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.freeze();
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    fleet.stop().await;
    redis.thaw();
    Aftermath::of(&mut fleet).await
}

/// Load, Redis killed and the load going on for 2.5 s, the clients stopped, Redis
/// restarted with everything it had acknowledged (an append-only file synced on every
/// write).
async fn kill_and_restart(mode: FailMode) -> Aftermath {
    let mut redis = ThrowawayRedis::start_durable();
    let mut fleet = Fleet::start(&redis, mode).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    fleet.stop().await;
    redis.restart();
    Aftermath::of(&mut fleet).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_stall_under_load_fail_open_keeps_spend_and_limits_exact() {
    stall(FailMode::Open).await.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_stall_under_load_fail_closed_keeps_spend_and_limits_exact() {
    stall(FailMode::Closed).await.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_kill_and_restart_under_load_fail_open_keeps_spend_and_limits_exact() {
    kill_and_restart(FailMode::Open).await.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_kill_and_restart_under_load_fail_closed_keeps_spend_and_limits_exact() {
    kill_and_restart(FailMode::Closed).await.check();
}
