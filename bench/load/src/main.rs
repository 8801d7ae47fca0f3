//! Closed-loop load against an OpenAI-compatible upstream, printing one JSON line of
//! results: throughput, latency percentiles (and time to first text when streaming),
//! success rate, the client's CPU per request and the upstream's ceiling.
//!
//! ```text
//! routewise-load --client routewise|raw|genai --base-url http://127.0.0.1:18080/v1 \
//!     [--fallback-base-url URL] --concurrency 64 --requests 20000 [--warmup 500] [--stream] \
//!     [--scenario NAME] [--runtime current|multi] [--workers 2] [--label NAME]
//! ```
//!
//! `--label` reports the client under another name (a build of an older routewise, say).
//!
//! `--runtime current` (the default) drives every call from one task on a current-thread
//! runtime; `--runtime multi` is how applications built on `#[tokio::main]` run: a
//! multi-thread runtime of `--workers` threads and a task spawned for each request.
//!
//! `--base-url` is the first target; for routewise, `--fallback-base-url` (default: the
//! same) is the second, so a failing primary (`.../fail/v1`) shows the fallback's cost.

mod clients;
mod load;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use clients::Client;
use load::Outcome;

struct Options {
    client: String,
    base_url: String,
    fallback_base_url: Option<String>,
    concurrency: usize,
    requests: usize,
    warmup: usize,
    stream: bool,
    scenario: String,
    runtime: Runtime,
    workers: usize,
    label: Option<String>,
}

/// How the calls are driven.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// One task on a current-thread runtime polls every call in flight.
    Current,
    /// A multi-thread runtime with a task spawned per request.
    Multi,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::Current => "current",
            Runtime::Multi => "multi",
        }
    }
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        client: "routewise".into(),
        base_url: "http://127.0.0.1:18080/v1".into(),
        fallback_base_url: None,
        concurrency: 1,
        requests: 1_000,
        warmup: 100,
        stream: false,
        scenario: "healthy".into(),
        runtime: Runtime::Current,
        workers: 2,
        label: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--stream" {
            options.stream = true;
            continue;
        }
        let value = args.next().ok_or(format!("flag `{flag}` needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--client" => options.client = value.clone(),
            "--base-url" => options.base_url = value.clone(),
            "--fallback-base-url" => options.fallback_base_url = Some(value.clone()),
            "--concurrency" => options.concurrency = number()?.max(1),
            "--requests" => options.requests = number()?,
            "--warmup" => options.warmup = number()?,
            "--scenario" => options.scenario = value.clone(),
            "--runtime" => {
                options.runtime = match value.as_str() {
                    "current" => Runtime::Current,
                    "multi" => Runtime::Multi,
                    other => return Err(format!("--runtime: `{other}` is not current or multi")),
                }
            }
            "--workers" => options.workers = number()?.max(1),
            "--label" => options.label = Some(value.clone()),
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    Ok(options)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    // Fails only when a provider is installed already (the `reqwest-defaults` build's).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match options.runtime {
        Runtime::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Runtime::Multi => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.workers)
            .enable_all()
            .build()?,
    };
    runtime.block_on(run(options))
}

async fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let fallback = options
        .fallback_base_url
        .clone()
        .unwrap_or_else(|| options.base_url.clone());
    let client = Arc::new(Client::new(&options.client, &options.base_url, &fallback)?);
    let stats_url = stats_url(&options.base_url);
    let drive = |count| {
        load::run(
            client.clone(),
            options.runtime,
            options.stream,
            options.concurrency,
            count,
        )
    };
    drive(options.warmup).await;

    let upstream_before = upstream_stats(&stats_url).await?;
    let cpu_before = load::process_cpu();
    let (outcomes, wall) = drive(options.requests).await;
    let client_cpu = load::process_cpu().saturating_sub(cpu_before);
    let upstream_after = upstream_stats(&stats_url).await?;

    let served = upstream_after.0.saturating_sub(upstream_before.0) as f64;
    let upstream_cpu = (upstream_after.1 - upstream_before.1).max(0.0);
    let ok: Vec<&Outcome> = outcomes.iter().filter(|o| o.ok).collect();
    let latencies = load::percentiles(ok.iter().map(|o| o.latency));
    let first = load::percentiles(ok.iter().filter_map(|o| o.first_text));
    let requests = outcomes.len() as f64;
    let result = json!({
        "client": options.label.as_deref().unwrap_or(client.name()),
        "scenario": options.scenario,
        "runtime": options.runtime.name(),
        "workers": (options.runtime == Runtime::Multi).then_some(options.workers),
        "stream": options.stream,
        "concurrency": options.concurrency,
        "requests": outcomes.len(),
        "success_rate": ok.len() as f64 / requests,
        "seconds": wall.as_secs_f64(),
        "throughput": ok.len() as f64 / wall.as_secs_f64(),
        "p50_us": micros(latencies.p50),
        "p99_us": micros(latencies.p99),
        "first_text_p50_us": options.stream.then(|| micros(first.p50)),
        "first_text_p99_us": options.stream.then(|| micros(first.p99)),
        "client_cpu_us_per_request": client_cpu.as_secs_f64() * 1e6 / requests,
        "upstream_requests_per_request": served / requests,
        "upstream_cpu_share": upstream_cpu / wall.as_secs_f64(),
        "upstream_ceiling_per_core": if upstream_cpu > 0.0 { served / upstream_cpu } else { f64::INFINITY },
        "first_error": outcomes.iter().find_map(|o| o.error.clone()),
    });
    println!("{result}");
    Ok(())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// `http://host:port/stats` from a base URL such as `http://host:port/fail/v1`.
fn stats_url(base_url: &str) -> String {
    let after_scheme = base_url.find("://").map_or(0, |i| i + 3);
    let host_end = base_url[after_scheme..]
        .find('/')
        .map_or(base_url.len(), |i| after_scheme + i);
    format!("{}/stats", &base_url[..host_end])
}

/// Requests served and CPU seconds used by the upstream so far.
async fn upstream_stats(url: &str) -> Result<(u64, f64), Box<dyn std::error::Error>> {
    let stats: serde_json::Value =
        serde_json::from_slice(&reqwest::get(url).await?.bytes().await?)?;
    let requests = stats["requests"].as_u64().ok_or("stats lack `requests`")?;
    let cpu = stats["cpu_seconds"]
        .as_f64()
        .ok_or("stats lack `cpu_seconds`")?;
    Ok((requests, cpu))
}
