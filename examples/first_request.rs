//! How long the first request through a config-built router takes, next to the requests
//! after it: the cost a router pays on its first call to each account (building HTTP
//! clients, opening connections) shows up here.
//!
//! ```text
//! cargo run --release --features toml --example first_request
//! ```
//!
//! A local OpenAI-compatible server answers every request at once; two `openai` accounts
//! point at it, and the policy gives each attempt 150 ms. The example prints the time to
//! build the router, to warm it up, the first request's latency, and the median and
//! maximum of the 50 requests after it.

use std::time::{Duration, Instant};

use axum::routing::post;
use routewise::config::{Format, RouterConfig};
use routewise::{ChatRequest, Purpose, Router, StepType};

const REPLY: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o",
"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|| async { ([("content-type", "application/json")], REPLY) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let config = RouterConfig::from_str_format(
        &format!(
            r#"
            [[accounts]]
            name = "first"
            provider = {{ kind = "openai" }}
            base_url = "{base}"

            [[accounts]]
            name = "second"
            provider = {{ kind = "openai" }}
            base_url = "{base}"

            [[models]]
            name = "m"
            targets = [{{ account = "first", model = "gpt-4o" }}, {{ account = "second", model = "gpt-4o" }}]

            [[policies]]
            name = "default"
            route = ["m"]
            timeouts = {{ attempt = "150ms" }}
            "#
        ),
        Format::Toml,
    )?;

    let started = Instant::now();
    let router = Router::from_config(&config)?;
    let built = started.elapsed();
    let warm_up = warm_up(&router).await;

    let first = timed(&router).await;
    let mut later = Vec::new();
    for _ in 0..50 {
        later.push(timed(&router).await?);
    }
    later.sort();
    println!("router built in      {built:>10.1?}");
    if let Some(warm_up) = warm_up {
        println!("warm-up              {warm_up:>10.1?}");
    }
    match first {
        Ok(first) => println!("first request        {first:>10.1?}"),
        Err(error) => println!("first request failed: {error}"),
    }
    println!("later requests, p50  {:>10.1?}", later[later.len() / 2]);
    println!("later requests, max  {:>10.1?}", later[later.len() - 1]);
    Ok(())
}

/// The time to warm the router's accounts up, when this version of routewise can.
async fn warm_up(router: &Router) -> Option<Duration> {
    if std::env::var_os("ROUTEWISE_SKIP_WARM_UP").is_some() {
        return None;
    }
    let started = Instant::now();
    router.warm_up().await.ok()?;
    Some(started.elapsed())
}

async fn timed(router: &Router) -> Result<Duration, routewise::Error> {
    let started = Instant::now();
    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await?;
    Ok(started.elapsed())
}
