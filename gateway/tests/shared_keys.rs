//! Gateway keys' RPM and budget shared by gateway instances through the router's Redis
//! state (the real Redis on 127.0.0.1:6379, a fresh key prefix per test), counted at a
//! loopback upstream.

#![cfg(feature = "redis")]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use routewise::budget::Usd;
use routewise::shared::{FailMode, RedisState};
use routewise::{Budget, BudgetLedger, LogicalModel, Policy, Price, Router, Target};
use routewise_gateway::{GatewaySettings, KeyConfig};
use serde_json::json;
use support::{KEY, Running, Upstream, json_of};

/// A key prefix no other test or run uses.
fn fresh_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("rwgw-test:{test}:{}:{nanos}", std::process::id())
}

fn state(url: &str, prefix: &str, mode: FailMode) -> RedisState {
    RedisState::builder(url)
        .prefix(prefix)
        .fail_mode(mode)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// A router on `upstream` whose one target costs $1,000 per million tokens either way
/// (the upstream's 13 tokens: $0.013 a request), sharing `shared`.
fn router(upstream: &Upstream, shared: RedisState) -> Router {
    let price = Price::per_million(
        Usd::from_dollars(1000.0).unwrap(),
        Usd::from_dollars(1000.0).unwrap(),
    );
    Router::builder()
        .account(upstream.account("up"))
        .model(LogicalModel::new("m").target(Target::new("up", "gpt-4o-mini").price(price)))
        .policy(Policy::new("default").route(["m"]))
        .shared_state(shared)
        .build()
        .unwrap()
}

async fn instance(upstream: &Upstream, shared: RedisState, key: KeyConfig) -> Running {
    Running::start(router(upstream, shared), GatewaySettings::with_keys([key])).await
}

fn chat() -> serde_json::Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_keys_requests_per_minute() {
    let upstream = Upstream::answering("ok").await;
    let prefix = fresh_prefix("rpm");
    let key = KeyConfig::new("test", KEY).rpm(3);
    let a = instance(
        &upstream,
        state("redis://127.0.0.1:6379", &prefix, FailMode::Open),
        key.clone(),
    )
    .await;
    let b = instance(
        &upstream,
        state("redis://127.0.0.1:6379", &prefix, FailMode::Open),
        key,
    )
    .await;

    let mut statuses = Vec::new();
    for gateway in [&a, &b, &a, &b, &a, &b] {
        let response = gateway.post("/v1/chat/completions", &chat()).await;
        let status = response.status().as_u16();
        if status == 429 {
            assert!(response.headers().contains_key("retry-after"));
            let body = json_of(response).await;
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("requests per minute"), "{message}");
        }
        statuses.push(status);
    }
    // Each alone would let three through: six in all.
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    assert_eq!(upstream.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_keys_budget_and_hold_nothing_after() {
    let upstream = Upstream::answering("ok").await;
    let prefix = fresh_prefix("budget");
    // One request ($0.013) spends it.
    let key = KeyConfig::new("test", KEY).monthly_usd(0.01);
    let shared_a = state("redis://127.0.0.1:6379", &prefix, FailMode::Open);
    let a = instance(&upstream, shared_a.clone(), key.clone()).await;
    let b = instance(
        &upstream,
        state("redis://127.0.0.1:6379", &prefix, FailMode::Open),
        key,
    )
    .await;

    let first = a.post("/v1/chat/completions", &chat()).await;
    assert_eq!(first.status(), 200);
    let window = BudgetLedger::new("any", Budget::monthly_usd(1.0), SystemTime::now())
        .unwrap()
        .snapshot(SystemTime::now())
        .window;
    // The settlement is written after the answer: wait until Redis has it.
    let mut usage = None;
    for _ in 0..200 {
        let read = shared_a
            .fleet_usage("gateway-key:test", Some(&window))
            .await
            .unwrap();
        if read.spent.is_some_and(|s| s > Usd::ZERO) {
            usage = Some(read);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let usage = usage.expect("the first request's cost reaches Redis");
    assert_eq!(usage.spent, Some(Usd::from_nanos(13_000_000)));
    assert_eq!(usage.reserved, Usd::ZERO, "nothing held once settled");

    for gateway in [&b, &a] {
        let refused = gateway.post("/v1/chat/completions", &chat()).await;
        assert_eq!(refused.status(), 429);
        let body = json_of(refused).await;
        assert_eq!(body["error"]["code"], "insufficient_quota", "{body}");
    }
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_closed_key_is_refused_and_an_open_one_is_enforced_here() {
    let upstream = Upstream::answering("ok").await;
    // Nothing listens on port 1: every Redis call fails at once.
    let prefix = fresh_prefix("down");
    let key = KeyConfig::new("test", KEY).rpm(1);
    let closed = instance(
        &upstream,
        state("redis://127.0.0.1:1", &prefix, FailMode::Closed),
        key.clone(),
    )
    .await;
    let refused = closed.post("/v1/chat/completions", &chat()).await;
    assert_eq!(refused.status(), 503);
    let body = json_of(refused).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("gateway key `test`"), "{message}");
    assert_eq!(upstream.calls(), 0);

    let open = instance(
        &upstream,
        state("redis://127.0.0.1:1", &prefix, FailMode::Open),
        key,
    )
    .await;
    let served = open.post("/v1/chat/completions", &chat()).await;
    assert_eq!(served.status(), 200);
    let limited = open.post("/v1/chat/completions", &chat()).await;
    assert_eq!(
        limited.status(),
        429,
        "the key's own limiter holds while Redis is away"
    );
    assert_eq!(upstream.calls(), 1);
}
