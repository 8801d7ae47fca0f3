//! What recording costs on the request path, and how long a large replay takes.
//!
//! - `recorder/off` and `recorder/on`: `Router::complete` through a `SimProvider` that
//!   answers at once (ten policies, two targets, as `decision/10-policies/2-targets` of
//!   the routing bench), without and with a [`Recorder`] writing to a temporary file. The
//!   difference is what recording adds to a request's routing cost.
//! - `recorder-cpu/off` and `recorder-cpu/on`: the same, timed by the CPU time of the
//!   thread that routes (Linux), so neither the machine's other load nor the recorder's
//!   writer thread (which serializes and writes off the request path) counts; the
//!   writer's own CPU time per record is printed after it.
//! - `recorder-tasks/off` and `recorder-tasks/on`: the same request on a two-worker
//!   multi-thread runtime, one spawned task per request (256 at a time), wall time per
//!   request.
//! - `replay 100k`: one replay of 100,000 synthetic requests spread over a day (a mix of
//!   chat and classification, 5% primary failures, a 429 episode) through a two-target
//!   route with breakers, timed once with the wall clock.
//!
//! `cargo bench --bench replay --features replay` (add `-- recorder` for the first part
//! alone).

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use routewise::replay::{Behaviours, Recorder, Replay, Traffic, TrafficRecord};
use routewise::sim::SimProvider;
use routewise::{
    ChatRequest, LogicalModel, Policy, Price, ProviderAccount, Purpose, Router, RouterBuilder,
    StepType, Target, Usd,
};

fn config() -> RouterBuilder {
    let price = Price::per_million(Usd::from_cents(250), Usd::from_cents(1000));
    let mut builder = Router::builder()
        .account(ProviderAccount::new("primary", SimProvider::new()))
        .account(ProviderAccount::new("backup", SimProvider::new()))
        .model(
            LogicalModel::new("m")
                .target(Target::new("primary", "large-v1").price(price))
                .target(Target::new("backup", "large-v1").price(price)),
        );
    for p in 1..10 {
        builder = builder.policy(
            Policy::new(format!("other-{p}"))
                .priority(1)
                .purposes([Purpose::custom(format!("purpose-{p}"))])
                .route(["m"]),
        );
    }
    builder.policy(Policy::new("chat").route(["m"]))
}

/// The two routers compared: without a recorder, and with one writing to a file in
/// `dir`. A benchmark loop routes far faster than any real traffic: a larger batch and a
/// writer waking every 10 ms keep every record (drops would make `on` look cheaper).
fn off_and_on(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
) -> (Recorder, [(&'static str, Router); 2]) {
    let recorder = runtime.block_on(async {
        Recorder::builder(dir.join("bench.jsonl"))
            .capacity(1 << 16)
            .flush_every(Duration::from_millis(10))
            .start()
            .expect("a traffic file")
    });
    let off = config().build().expect("valid");
    let on = config().recorder(recorder.clone()).build().expect("valid");
    (recorder, [("off", off), ("on", on)])
}

fn recorder(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let request = ChatRequest::user("hello").tag("tenant-a");
    let mut group = c.benchmark_group("recorder");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let (_, routers) = off_and_on(&runtime, dir.path());
    for (name, router) in routers {
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

/// A multi-thread runtime (two workers, as many as this machine's cores) with one task per
/// request, spawned in rounds of 256: each worker's thread records into its own batch.
fn recorder_tasks(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let request = ChatRequest::user("hello").tag("tenant-a");
    let (recorder, routers) = off_and_on(&runtime, dir.path());
    let mut group = c.benchmark_group("recorder-tasks");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, router) in routers {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                runtime.block_on(async {
                    let mut left = iters;
                    while left > 0 {
                        let round = left.min(256);
                        let tasks: Vec<_> = (0..round)
                            .map(|_| {
                                let (router, request) = (router.clone(), request.clone());
                                tokio::spawn(async move {
                                    router
                                        .complete(StepType::Inference, Purpose::Chat, request)
                                        .await
                                })
                            })
                            .collect();
                        for task in tasks {
                            let _ = task.await;
                        }
                        left -= round;
                    }
                });
                started.elapsed()
            });
        });
    }
    group.finish();
    recorder.flush().expect("the traffic file is written");
    println!(
        "recorder-tasks: {} records written, {} dropped",
        recorder.written(),
        recorder.dropped()
    );
}

/// CPU time of the calling thread.
#[cfg(target_os = "linux")]
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call to fill in.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// CPU time of the recorder's writer thread so far (from `/proc`, in clock ticks).
#[cfg(target_os = "linux")]
fn writer_cpu() -> Option<Duration> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim() != "routewise-recor" {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the command's closing parenthesis; utime and stime are the 12th
        // and 13th of them.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        return Some(Duration::from_nanos(ticks * 1_000_000_000 / per_second));
    }
    None
}

#[cfg(target_os = "linux")]
fn recorder_cpu(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let request = ChatRequest::user("hello").tag("tenant-a");
    let (recorder, routers) = off_and_on(&runtime, dir.path());
    let mut group = c.benchmark_group("recorder-cpu");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, router) in routers {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let started = thread_cpu();
                runtime.block_on(async {
                    for _ in 0..iters {
                        let _ = router
                            .complete(StepType::Inference, Purpose::Chat, request.clone())
                            .await;
                    }
                });
                thread_cpu() - started
            });
        });
    }
    group.finish();
    recorder.flush().expect("the traffic file is written");
    if let Some(cpu) = writer_cpu() {
        let records = recorder.written().max(1);
        println!(
            "recorder writer thread: {} records written, {} dropped, {:.2} µs of CPU per record",
            recorder.written(),
            recorder.dropped(),
            cpu.as_secs_f64() * 1e6 / records as f64
        );
    }
}

/// 100,000 requests over 24 hours; every fifth a classification.
fn synthetic_traffic(requests: u64) -> Traffic {
    let day_ms = 24 * 3_600 * 1_000;
    let records = (0..requests).map(|i| {
        let unix_ms = 1_767_225_600_000 + i * day_ms / requests;
        let purpose = if i % 5 == 0 { "classification" } else { "chat" };
        let line = format!(
            r#"{{"unix_ms":{unix_ms},"step":"inference","purpose":"{purpose}","input_tokens":{},"outcome":"ok","latency_us":1}}"#,
            200 + i % 800
        );
        serde_json::from_str::<TrafficRecord>(&line).expect("a valid record")
    });
    Traffic::from_records(records)
}

fn replay_timing() {
    let traffic = synthetic_traffic(100_000);
    let mut behaviours = Behaviours::fit(&traffic);
    let mut primary = routewise::replay::TargetBehaviour::default();
    primary.latency_ms = routewise::replay::Quantiles::from_values([150.0, 300.0, 900.0]);
    primary.output_tokens = routewise::replay::Quantiles::from_values([50.0, 200.0, 600.0]);
    primary.error_rates = vec![routewise::replay::ErrorRate {
        kind: routewise::ErrorKind::ServerError,
        rate: 0.05,
    }];
    behaviours
        .set_target("primary", "large-v1", primary)
        .outage_after(
            "primary",
            Duration::from_secs(3_600),
            Duration::from_secs(600),
        );
    let replay = Replay::new(traffic, behaviours);
    let started = Instant::now();
    let run = replay.run(config()).expect("the replay runs");
    let took = started.elapsed();
    let summary = run.summary();
    println!(
        "replay 100k: {} requests over 24 h replayed in {:.2} s ({:.1} µs per request); \
         answered {:.2}%, {} fallbacks, cost ${:.2}",
        summary.requests,
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / summary.requests as f64,
        summary.success_rate * 100.0,
        summary.fallbacks,
        summary.cost_usd
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    recorder(&mut criterion);
    #[cfg(target_os = "linux")]
    recorder_cpu(&mut criterion);
    recorder_tasks(&mut criterion);
    criterion.final_summary();
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if filter.is_empty() || filter.iter().any(|f| "replay 100k".contains(f.as_str())) {
        replay_timing();
    }
}
