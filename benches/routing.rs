//! What a routing decision costs, with no network in the way.
//!
//! Every request goes through a provider that answers at once ([`SimProvider`] with no
//! latency), so the numbers are the router's own: matching policies, planning candidates,
//! the attempt loop, counters and assembling the response.
//!
//! - `decision/P-policies/T-targets`: `Router::complete` where the matching policy is the
//!   last of P (every higher one is checked and passed over) and its model has T targets
//!   (all of them candidates; the first one answers).
//! - `explain/P-policies/T-targets`: `Router::explain` on the same routers: planning alone.
//! - `balance/{complete,explain}/S`: one policy over a model of 4 targets in one tier,
//!   each on an account with RPM and TPM limits (too high to refuse anything here),
//!   balanced by strategy S; `ordered` is the baseline the others are read against.
//! - `contention/shared-router/N`: N tasks sharing one router on a two-worker runtime,
//!   each completing one request per iteration; throughput should grow from 1 to 2 tasks
//!   and hold at 8. `contention/router-per-task/N` is the control: the same work with
//!   nothing shared, which shows what scaling the machine allows at that moment.
//!
//! `cargo bench --bench routing`

use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use routewise::limits::RateLimits;
use routewise::sim::SimProvider;
use routewise::{
    Balance, ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType, Target,
};

const POLICY_COUNTS: [usize; 4] = [1, 10, 100, 1_000];
const TARGET_COUNTS: [usize; 3] = [1, 10, 100];
const TASK_COUNTS: [usize; 3] = [1, 2, 8];
const STRATEGIES: [(&str, Balance); 6] = [
    ("ordered", Balance::Ordered),
    ("round_robin", Balance::RoundRobin),
    ("weighted_random", Balance::WeightedRandom),
    ("least_in_flight", Balance::LeastInFlight),
    ("peak_ewma", Balance::PeakEwma),
    ("headroom", Balance::Headroom),
];

/// A router whose only `chat` policy is the lowest of `policies`, routing to a model with
/// `targets` targets, each on an account of its own.
fn router(policies: usize, targets: usize) -> Router {
    let mut model = LogicalModel::new("m");
    let mut builder = Router::builder();
    for t in 0..targets {
        let account = format!("account-{t}");
        builder = builder.account(ProviderAccount::new(account.as_str(), SimProvider::new()));
        model = model.target(Target::new(account, "model"));
    }
    builder = builder.model(model);
    for p in 1..policies {
        builder = builder.policy(
            Policy::new(format!("other-{p}"))
                .priority(1)
                .purposes([Purpose::custom(format!("purpose-{p}"))])
                .route(["m"]),
        );
    }
    builder
        .policy(Policy::new("chat").purposes([Purpose::Chat]).route(["m"]))
        .build()
        .expect("the benchmark configuration is valid")
}

/// One policy routing to a model of `targets` targets in one tier balanced by `balance`,
/// each on an account with limits no benchmark run reaches, so every strategy plans
/// over metered accounts and none is ever refused.
fn balanced_router(balance: Balance, targets: usize) -> Router {
    let mut model = LogicalModel::new("m").balance(balance);
    let mut builder = Router::builder();
    for t in 0..targets {
        let account = format!("account-{t}");
        let limits = RateLimits::new().rpm(u32::MAX).tpm(u64::MAX);
        builder = builder
            .account(ProviderAccount::new(account.as_str(), SimProvider::new()).limits(limits));
        model = model.target(Target::new(account, "model"));
    }
    builder
        .model(model)
        .policy(Policy::new("chat").route(["m"]))
        .build()
        .expect("the benchmark configuration is valid")
}

fn balance(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let request = ChatRequest::user("hello");
    let mut group = c.benchmark_group("balance");
    for (name, strategy) in STRATEGIES {
        let router = balanced_router(strategy, 4);
        group.bench_function(BenchmarkId::new("complete", name), |b| {
            b.to_async(&runtime).iter_batched(
                || request.clone(),
                |request| router.complete(StepType::Inference, Purpose::Chat, request),
                BatchSize::SmallInput,
            );
        });
        group.bench_function(BenchmarkId::new("explain", name), |b| {
            b.iter(|| router.explain(StepType::Inference, Purpose::Chat, &request));
        });
    }
    group.finish();
}

fn decision(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let request = ChatRequest::user("hello");
    let mut group = c.benchmark_group("decision");
    for policies in POLICY_COUNTS {
        for targets in TARGET_COUNTS {
            let router = router(policies, targets);
            group.bench_function(id(policies, targets), |b| {
                b.to_async(&runtime).iter_batched(
                    || request.clone(),
                    |request| router.complete(StepType::Inference, Purpose::Chat, request),
                    BatchSize::SmallInput,
                );
            });
        }
    }
    group.finish();
}

fn explain(c: &mut Criterion) {
    let request = ChatRequest::user("hello");
    let mut group = c.benchmark_group("explain");
    for policies in POLICY_COUNTS {
        for targets in TARGET_COUNTS {
            let router = router(policies, targets);
            group.bench_function(id(policies, targets), |b| {
                b.iter(|| router.explain(StepType::Inference, Purpose::Chat, &request));
            });
        }
    }
    group.finish();
}

fn contention(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let shared = router(10, 2);
    let mut group = c.benchmark_group("contention");
    for tasks in TASK_COUNTS {
        group.throughput(Throughput::Elements(tasks as u64));
        // One router shared by every task, as an application would run it, and, as the
        // control, a router per task: what the machine gives when nothing is shared.
        let separate: Vec<Router> = (0..tasks).map(|_| router(10, 2)).collect();
        let layouts = [
            ("shared-router", vec![shared.clone(); tasks]),
            ("router-per-task", separate),
        ];
        for (layout, routers) in layouts {
            group.bench_function(BenchmarkId::new(layout, tasks), |b| {
                b.to_async(&runtime)
                    .iter_custom(|iters| run_tasks(routers.clone(), iters));
            });
        }
    }
    group.finish();
}

/// Each router's task completes `iters` requests; the wall time until all are done.
async fn run_tasks(routers: Vec<Router>, iters: u64) -> Duration {
    let started = std::time::Instant::now();
    let workers: Vec<_> = routers
        .into_iter()
        .map(|router| {
            tokio::spawn(async move {
                for _ in 0..iters {
                    let request = ChatRequest::user("hello");
                    let answer = router
                        .complete(StepType::Inference, Purpose::Chat, request)
                        .await;
                    assert!(answer.is_ok(), "the instant provider answers");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a benchmark task finishes");
    }
    started.elapsed()
}

fn id(policies: usize, targets: usize) -> String {
    format!("{policies}-policies/{targets}-targets")
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = decision, explain, balance, contention
}
criterion_main!(benches);
