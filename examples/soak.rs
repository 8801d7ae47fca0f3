//! Soak: many requests through a router with a budget, breakers and retries,
//! first on the sim provider, then through the OpenAI adapter against a local upstream,
//! printing resident memory (from `/proc/self/statm`) at the start, the middle and the
//! end of each phase. Memory should level off: the end no higher than the middle, give or
//! take allocator noise. Not part of CI; see RELIABILITY.md for the last figures.
//!
//! ```sh
//! cargo run --release --example soak             # 1,000,000 requests per phase
//! cargo run --release --example soak -- 100000   # fewer
//! cargo run --release --example soak -- --limits # with rate limits (see `router`)
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;
use futures::StreamExt;
use routewise::sim::SimProvider;
use routewise::{
    BreakerConfig, Budget, Capabilities, ChatRequest, LogicalModel, OpenAi, Policy, Price,
    ProviderAccount, Purpose, RateLimits, RetryPolicy, Router, SamplingParams, StepType, Target,
    Usd,
};

const CONCURRENCY: usize = 64;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let limits = args.iter().any(|a| a == "--limits");
    let requests: u64 = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    println!(
        "soak: {requests} requests per phase, {CONCURRENCY} at a time, half streamed{}",
        if limits { ", with rate limits" } else { "" }
    );
    println!("start: {}", rss());

    let sims = [
        SimProvider::new()
            .reply("from a")
            .failure_rate(0.05)
            .seed(1),
        SimProvider::new()
            .reply("from b")
            .failure_rate(0.05)
            .seed(2),
    ];
    let sim_router = router(
        ProviderAccount::new("a", sims[0].clone()),
        ProviderAccount::new("b", sims[1].clone()),
        limits,
    )?;
    soak("sim provider", &sim_router, requests).await;
    drop(sim_router);

    let base = upstream().await?;
    let http_router = router(
        ProviderAccount::new("a", OpenAi::new()).base_url(format!("{base}/a/v1")),
        ProviderAccount::new("b", OpenAi::new()).base_url(format!("{base}/b/v1")),
        limits,
    )?;
    soak("OpenAI adapter over HTTP", &http_router, requests).await;
    Ok(())
}

/// Two accounts behind one logical model, with a budget large enough to last the run, so
/// every request reserves, settles and releases.
///
/// No rate limits: a limiter keeps one entry (24 bytes) per request of the trailing
/// 60 seconds, by design (exact sliding windows), so at the rates of this soak it would
/// grow for the first minute (by about 16 MiB per million requests) and only then level
/// off; with a real RPM limit it holds at most that many entries. Pass `--limits` to see it.
fn router(
    a: ProviderAccount,
    b: ProviderAccount,
    limits: bool,
) -> Result<Router, routewise::ConfigError> {
    let price = Price::per_million(Usd::from_cents(15), Usd::from_cents(60));
    let metered = |account: ProviderAccount| {
        let account = account.budget(Budget::monthly_usd(1_000_000.0));
        if limits {
            account.limits(RateLimits::new().rpm(100_000_000).tpm(10_000_000_000))
        } else {
            account
        }
    };
    Router::builder()
        .account(metered(a))
        .account(metered(b))
        .model(
            LogicalModel::new("m")
                .capabilities(Capabilities::STREAMING)
                .defaults(SamplingParams::new().max_tokens(64))
                .target(Target::new("a", "soak-model").price(price))
                .target(Target::new("b", "soak-model").price(price)),
        )
        .policy(
            Policy::new("default")
                .route(["m"])
                .retry(RetryPolicy::default().backoff(Duration::ZERO, Duration::ZERO))
                .breaker(
                    BreakerConfig::default()
                        .failure_threshold(None)
                        .failure_rate(0.5, 100),
                ),
        )
        .build()
}

async fn soak(label: &'static str, router: &Router, requests: u64) {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let reported = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (router, next, answered, reported) = (
                router.clone(),
                next.clone(),
                answered.clone(),
                reported.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= requests {
                        return;
                    }
                    if id == requests / 2 && reported.swap(1, Ordering::Relaxed) == 0 {
                        println!("{label}, middle ({id} sent): {}", rss());
                    }
                    if one(&router, id).await {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a soak worker panicked");
    }
    let elapsed = started.elapsed();
    let stats = router.stats();
    let policy = stats.policy("default").expect("the policy exists");
    println!(
        "{label}, end: {}; {} answered in {elapsed:.1?} ({:.0}/s); policy matched {} = {} succeeded + {} failed + {} cancelled",
        rss(),
        answered.load(Ordering::Relaxed),
        requests as f64 / elapsed.as_secs_f64(),
        policy.matched,
        policy.succeeded,
        policy.failed,
        policy.cancelled,
    );
}

/// One request; streams every other one and reads it to the end.
async fn one(router: &Router, id: u64) -> bool {
    let request = ChatRequest::user(format!("soak {id}"));
    if id % 2 == 0 {
        return router
            .complete(StepType::Inference, Purpose::Chat, request)
            .await
            .is_ok();
    }
    let Ok(mut stream) = router
        .stream(StepType::Inference, Purpose::Chat, request)
        .await
    else {
        return false;
    };
    let mut done = false;
    while let Some(event) = stream.next().await {
        done = matches!(event, Ok(routewise::StreamEvent::Done(_)));
    }
    done
}

/// A local OpenAI-format upstream answering every chat request, whole or streamed.
async fn upstream() -> std::io::Result<String> {
    async fn chat(body: String) -> axum::response::Response {
        use axum::response::IntoResponse;
        if body.contains("\"stream\":true") {
            let events = concat!(
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"soak\"}}]}\n\n",
                "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n",
                "data: [DONE]\n\n",
            );
            ([("content-type", "text/event-stream")], events).into_response()
        } else {
            let answer = r#"{"choices":[{"index":0,"message":{"content":"soak"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#;
            ([("content-type", "application/json")], answer).into_response()
        }
    }
    let app = axum::Router::new().route("/{account}/v1/chat/completions", post(chat));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

/// Resident memory from `/proc/self/statm` (its second field, in 4 KiB pages on Linux
/// x86-64), or "n/a" elsewhere.
fn rss() -> String {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or_else(
            || "RSS n/a".to_owned(),
            |pages| format!("RSS {:.1} MiB", (pages * 4096) as f64 / (1024.0 * 1024.0)),
        )
}
