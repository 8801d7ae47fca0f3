//! What sharing state through Redis costs a routing decision: the same metered account
//! (a rate limit and a budget) with its state in memory, in Redis (one admit round trip
//! per attempt, and a settle off the request path), and in Redis with leases (a round
//! trip per block).
//!
//! - `shared/decision/memory|redis|redis-lease`: `Router::complete` through a provider
//!   that answers at once, so the numbers are the router's and Redis's own.
//! - Before the measurements, the bench counts Redis commands per request for each mode
//!   (from `INFO commandstats`) and prints them.
//!
//! Needs Redis on 127.0.0.1:6379 (or `REDIS_URL`): `cargo bench --bench shared --features redis`

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use routewise::budget::Usd;
use routewise::shared::{Lease, RedisState};
use routewise::sim::SimProvider;
use routewise::{
    Budget, ChatRequest, LogicalModel, Policy, Price, ProviderAccount, Purpose, RateLimits, Router,
    StepType, Target,
};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The three ways of keeping the account's state.
fn modes() -> [(&'static str, Option<RedisState>); 3] {
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let state = |name: &str, lease: Option<Lease>| {
        let mut builder =
            RedisState::builder(redis_url()).prefix(format!("routewise-bench:{run}:{name}"));
        if let Some(lease) = lease {
            builder = builder.lease(lease);
        }
        builder.build().expect("a valid Redis URL")
    };
    let lease = Lease::requests(100)
        .usd(Usd::from_cents(100))
        .ttl(Duration::from_secs(5));
    [
        ("memory", None),
        ("redis", Some(state("redis", None))),
        ("redis-lease", Some(state("lease", Some(lease)))),
    ]
}

/// One metered account: limits high enough and a budget large enough never to refuse.
fn router(shared: Option<RedisState>) -> Router {
    let account = ProviderAccount::new("main", SimProvider::new())
        .limits(RateLimits::new().rpm(1_000_000_000))
        .budget(Budget::monthly_usd(1_000_000.0));
    let price = Price::per_million(Usd::from_cents(100), Usd::from_cents(200));
    let mut builder = Router::builder()
        .account(account)
        .model(LogicalModel::new("m").target(Target::new("main", "model").price(price)))
        .policy(Policy::new("chat").route(["m"]));
    if let Some(shared) = shared {
        builder = builder.shared_state(shared);
    }
    builder
        .build()
        .expect("the benchmark configuration is valid")
}

/// Script calls (`EVALSHA`) the Redis server has answered so far: the client's only
/// command on the routing path.
async fn script_calls() -> u64 {
    let client = redis::Client::open(redis_url()).expect("a valid Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .expect("Redis answers INFO");
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

fn round_trips(runtime: &tokio::runtime::Runtime) {
    const REQUESTS: u64 = 2_000;
    println!("Redis round trips per request ({REQUESTS} requests each):");
    for (name, shared) in modes() {
        let router = router(shared);
        let per_request = runtime.block_on(async {
            let before = script_calls().await;
            for _ in 0..REQUESTS {
                router
                    .complete(
                        StepType::Inference,
                        Purpose::Chat,
                        ChatRequest::user("hello"),
                    )
                    .await
                    .expect("the sim answers");
            }
            // Settlements run just after each answer.
            tokio::time::sleep(Duration::from_millis(200)).await;
            (script_calls().await - before) as f64 / REQUESTS as f64
        });
        println!("  {name:<12} {per_request:.2}");
    }
}

fn decision(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // Redis connections live on the runtime, from the moment they are built.
    let _runtime = runtime.enter();
    let probe = runtime.block_on(async { RedisState::builder(redis_url()).build()?.ping().await });
    if let Err(error) = probe {
        eprintln!(
            "shared-state bench skipped: Redis does not answer at {}: {error}",
            redis_url()
        );
        return;
    }
    round_trips(&runtime);
    let request = ChatRequest::user("hello");
    let mut group = c.benchmark_group("shared/decision");
    for (name, shared) in modes() {
        let router = router(shared);
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_batched(
                || request.clone(),
                |request| router.complete(StepType::Inference, Purpose::Chat, request),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = decision
}
criterion_main!(benches);
