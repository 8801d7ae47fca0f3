//! A fast local OpenAI-compatible server for benchmarks and peer comparisons.
//!
//! ```text
//! cargo run --release --example bench_upstream -- --port 18080 --latency-ms 0 \
//!     --content-bytes 256 --chunks 8 --chunk-interval-ms 0 --fail-rate 0 --threads 1
//! ```
//!
//! `POST /v1/chat/completions` answers in the OpenAI format (SSE when `"stream": true`),
//! `POST /fail/v1/chat/completions` always answers 500, and `GET /stats` reports requests
//! served and the server's own CPU time. It prints `listening on ADDR` once it accepts
//! connections and runs until killed.

use std::time::Duration;

// Shared with the benches, which use parts of it this binary does not.
#[allow(dead_code)]
#[path = "../benches/support/upstream.rs"]
mod upstream;

use upstream::UpstreamConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = UpstreamConfig::default();
    let mut port = 0;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("flag `{flag}` needs a value"))?;
        match flag.as_str() {
            "--port" => port = value.parse()?,
            "--latency-ms" => config.latency = millis(&value)?,
            "--content-bytes" => config.content_bytes = value.parse()?,
            "--chunks" => config.chunks = value.parse()?,
            "--chunk-interval-ms" => config.chunk_interval = millis(&value)?,
            "--fail-rate" => config.fail_rate = value.parse()?,
            "--threads" => config.threads = value.parse()?,
            other => return Err(format!("unknown flag `{other}`").into()),
        }
    }
    if !(0.0..=1.0).contains(&config.fail_rate) {
        return Err("`--fail-rate` must be between 0 and 1".into());
    }
    let server = upstream::spawn(config, port)?;
    println!("listening on {}", server.addr);
    server
        .thread
        .join()
        .map_err(|_| "the server thread panicked")?;
    Ok(())
}

fn millis(value: &str) -> Result<Duration, std::num::ParseFloatError> {
    Ok(Duration::from_secs_f64(value.parse::<f64>()? / 1000.0))
}
