//! What routing costs on top of an HTTP call: `Router::complete` / `Router::stream` with
//! the OpenAI adapter against a local upstream, next to a raw reqwest POST plus serde parse
//! of the same body.
//!
//! The upstream runs in this process on a thread of its own (see `support/upstream.rs`);
//! the clients run on a single-threaded runtime, so on a two-core machine each side has a
//! core. Groups:
//!
//! - `complete-c1`: one request at a time, latency per request.
//! - `complete-c64`: 64 requests in flight, time per request (criterion's throughput).
//! - `stream-first-event` / `stream-last-event`: one stream at a time, time to the first
//!   text and to the end.
//! - `multi-complete-c1` / `multi-complete-c64`: the same calls the way applications built
//!   on `#[tokio::main]` make them: a 2-worker multi-thread runtime, a task spawned per
//!   request.
//!
//! Each group ends with the upstream's own ceiling (requests per CPU second of its thread)
//! so it can be seen not to be the bottleneck. The `genai` crate and LiteLLM are compared
//! by `bench/peers/run.sh`, which also reports p50/p99 under load.
//!
//! `cargo bench --bench http`

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::time::Instant;

// Shared with `examples/bench_upstream.rs` and `bench/load`, which use other parts of them.
#[allow(dead_code)]
#[path = "support/raw_client.rs"]
mod raw_client;
#[allow(dead_code)]
#[path = "support/routed_client.rs"]
mod routed_client;
#[allow(dead_code)]
#[path = "support/upstream.rs"]
mod upstream;

const PROMPT: &str = "hello";
const API_KEY: &str = "sk-bench";

struct Setup {
    runtime: tokio::runtime::Runtime,
    upstream: upstream::RunningUpstream,
    raw: raw_client::RawClient,
    router: routewise::Router,
}

fn setup() -> Setup {
    let upstream = upstream::spawn(upstream::UpstreamConfig::default(), 0)
        .expect("the upstream starts on a free port");
    let base_url = format!("http://{}/v1", upstream.addr);
    Setup {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime"),
        raw: raw_client::RawClient::new(&base_url, API_KEY),
        router: routed_client::router(&base_url, &base_url, API_KEY),
        upstream,
    }
}

/// Runs `count` calls with `concurrency` in flight; the wall time.
async fn concurrently<F, Fut>(count: u64, concurrency: u64, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut issued = 0;
    while issued < count.min(concurrency) {
        in_flight.push(call());
        issued += 1;
    }
    while in_flight.next().await.is_some() {
        if issued < count {
            in_flight.push(call());
            issued += 1;
        }
    }
    started.elapsed()
}

fn report_ceiling(setup: &Setup, before: upstream::UpstreamStats, group: &str) {
    let ceiling = setup.upstream.stats().ceiling_per_core(&before);
    println!("{group}: upstream ceiling {ceiling:.0} requests per CPU second of its thread");
}

fn complete(c: &mut Criterion) {
    let setup = setup();
    let (rt, raw, router) = (&setup.runtime, &setup.raw, &setup.router);
    let before = setup.upstream.stats();
    let mut group = c.benchmark_group("complete-c1");
    group.bench_function("raw-reqwest", |b| {
        b.to_async(rt)
            .iter(|| async { raw.complete(PROMPT).await.expect("upstream answers") });
    });
    group.bench_function("routewise", |b| {
        b.to_async(rt).iter(|| async {
            routed_client::complete(router, PROMPT)
                .await
                .expect("upstream answers")
        });
    });
    group.finish();

    let mut group = c.benchmark_group("complete-c64");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw-reqwest", |b| {
        b.to_async(rt).iter_custom(|iters| {
            concurrently(iters, 64, || async {
                raw.complete(PROMPT).await.expect("upstream answers");
            })
        });
    });
    group.bench_function("routewise", |b| {
        b.to_async(rt).iter_custom(|iters| {
            concurrently(iters, 64, || async {
                routed_client::complete(router, PROMPT)
                    .await
                    .expect("upstream answers");
            })
        });
    });
    group.finish();
    report_ceiling(&setup, before, "complete");
}

fn stream(c: &mut Criterion) {
    let setup = setup();
    let (rt, raw, router) = (&setup.runtime, &setup.raw, &setup.router);
    let before = setup.upstream.stats();
    let mut group = c.benchmark_group("stream-first-event");
    group.bench_function("raw-reqwest", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (_, first) = raw
                    .stream(PROMPT, Instant::now())
                    .await
                    .expect("upstream streams");
                total += first;
            }
            total
        });
    });
    group.bench_function("routewise", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (_, first) = routed_client::stream(router, PROMPT, Instant::now())
                    .await
                    .expect("upstream streams");
                total += first;
            }
            total
        });
    });
    group.finish();

    let mut group = c.benchmark_group("stream-last-event");
    group.bench_function("raw-reqwest", |b| {
        b.to_async(rt).iter(|| async {
            raw.stream(PROMPT, Instant::now())
                .await
                .expect("upstream streams")
        });
    });
    group.bench_function("routewise", |b| {
        b.to_async(rt).iter(|| async {
            routed_client::stream(router, PROMPT, Instant::now())
                .await
                .expect("upstream streams")
        });
    });
    group.finish();
    report_ceiling(&setup, before, "stream");
}

/// A 2-worker multi-thread runtime with a task spawned per request.
fn multi(c: &mut Criterion) {
    let setup = setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let raw = Arc::new(setup.raw.clone());
    let router = setup.router.clone();
    let raw_call = move || {
        let raw = raw.clone();
        async move {
            tokio::spawn(async move { raw.complete(PROMPT).await.expect("upstream answers") })
                .await
                .expect("the task completes");
        }
    };
    let routed_call = move || {
        let router = router.clone();
        async move {
            tokio::spawn(async move {
                routed_client::complete(&router, PROMPT)
                    .await
                    .expect("upstream answers")
            })
            .await
            .expect("the task completes");
        }
    };
    let before = setup.upstream.stats();
    let mut group = c.benchmark_group("multi-complete-c1");
    group.bench_function("raw-reqwest", |b| b.to_async(&rt).iter(&raw_call));
    group.bench_function("routewise", |b| b.to_async(&rt).iter(&routed_call));
    group.finish();

    let mut group = c.benchmark_group("multi-complete-c64");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw-reqwest", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| concurrently(iters, 64, &raw_call));
    });
    group.bench_function("routewise", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| concurrently(iters, 64, &routed_call));
    });
    group.finish();
    report_ceiling(&setup, before, "multi-complete");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = complete, stream, multi
}
criterion_main!(benches);
