//! `POST /v1/chat/completions` and `GET /v1/models`, driven over HTTP as an OpenAI client
//! would, against loopback upstreams that count the calls they receive.

mod support;

use std::time::Duration;

use futures::StreamExt;
use routewise::sim::SimProvider;
use routewise::{
    BreakerConfig, Capabilities, LogicalModel, Policy, ProviderAccount, RateLimits, Router, Target,
};
use routewise_gateway::KeyConfig;
use serde_json::{Value, json};
use support::{KEY, Running, Upstream, json_of, settings};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hello"}]})
}

/// `primary-llm` over a failing upstream, then a working one.
async fn falling_back() -> (Upstream, Upstream, Router) {
    let down = Upstream::failing(500).await;
    let up = Upstream::answering("Hello from the backup").await;
    let router = Router::builder()
        .account(down.account("down"))
        .account(up.account("up"))
        .model(
            LogicalModel::new("primary-llm")
                .capabilities(Capabilities::ALL)
                .target(Target::new("down", "gpt-4o"))
                .target(Target::new("up", "gpt-4o")),
        )
        .policy(Policy::new("default").route(["primary-llm"]))
        .build()
        .unwrap();
    (down, up, router)
}

#[tokio::test]
async fn a_completion_falls_back_transparently_and_headers_say_who_served() {
    let (down, up, router) = falling_back().await;
    let gateway = Running::start(router, settings()).await;

    let response = gateway
        .post("/v1/chat/completions", &chat("primary-llm"))
        .await;

    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("x-routewise-policy"), "default");
    assert_eq!(header("x-routewise-account"), "up");
    assert_eq!(header("x-routewise-target"), "primary-llm/up/gpt-4o");
    assert_eq!(header("x-routewise-attempts"), "2");
    let body = json_of(response).await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "primary-llm");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from the backup"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["total_tokens"], 13);
    assert_eq!((down.calls(), up.calls()), (1, 1));
}

#[tokio::test]
async fn a_stream_is_chunks_ending_with_done_after_a_silent_fallback() {
    let (down, up, router) = falling_back().await;
    let gateway = Running::start(router, settings()).await;
    let mut body = chat("primary-llm");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});

    let response = gateway.post("/v1/chat/completions", &body).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-routewise-account"], "up");
    assert_eq!(response.headers()["x-routewise-attempts"], "2");
    let text = response.text().await.unwrap();
    let frames: Vec<&str> = text
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            f.strip_prefix("data: ")
                .expect("every frame is a data line")
        })
        .collect();
    assert_eq!(frames.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello from the backup");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 13);
    assert_eq!((down.calls(), up.calls()), (1, 1));
}

fn sim_router(provider: SimProvider, capabilities: Capabilities) -> Router {
    Router::builder()
        .account(ProviderAccount::new("sim", provider))
        .model(
            LogicalModel::new("primary-llm")
                .capabilities(capabilities)
                .target(Target::new("sim", "large")),
        )
        .model(LogicalModel::new("other-llm").target(Target::new("sim", "small")))
        .policy(Policy::new("default").route(["primary-llm"]))
        .build()
        .unwrap()
}

#[tokio::test]
async fn models_lists_the_logical_models_with_their_capabilities() {
    let router = sim_router(
        SimProvider::new(),
        Capabilities::STREAMING | Capabilities::TOOLS,
    );
    let gateway = Running::start(router, settings()).await;

    let models = gateway.get_json("/v1/models").await;

    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "primary-llm");
    assert_eq!(
        models["data"][0]["capabilities"],
        json!(["streaming", "tools"])
    );
    assert_eq!(models["data"][1]["id"], "other-llm");
}

#[tokio::test]
async fn a_logical_model_no_policy_names_is_served_by_that_model() {
    let provider = SimProvider::new().echo();
    let gateway = Running::start(sim_router(provider, Capabilities::ALL), settings()).await;

    let response = gateway
        .post("/v1/chat/completions", &chat("other-llm"))
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-routewise-target"],
        "other-llm/sim/small"
    );
}

#[tokio::test]
async fn an_unknown_model_gets_404_model_not_found_naming_the_models() {
    let provider = SimProvider::new();
    let gateway = Running::start(sim_router(provider.clone(), Capabilities::ALL), settings()).await;

    let response = gateway.post("/v1/chat/completions", &chat("gpt-9")).await;

    assert_eq!(response.status(), 404);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("gpt-9") && message.contains("primary-llm"),
        "{message}"
    );
    assert_eq!(provider.calls(), 0);
}

#[tokio::test]
async fn a_missing_or_wrong_key_gets_401_and_no_call_is_made() {
    let provider = SimProvider::new();
    let gateway = Running::start(sim_router(provider.clone(), Capabilities::ALL), settings()).await;

    let missing = gateway
        .post_with("/v1/chat/completions", &chat("primary-llm"), &[])
        .await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        json_of(missing).await["error"]["type"],
        "authentication_error"
    );

    let wrong = gateway
        .post_with(
            "/v1/chat/completions",
            &chat("primary-llm"),
            &[("authorization", "Bearer sk-provider-secret")],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(json_of(wrong).await["error"]["code"], "invalid_api_key");

    let anthropic_style = gateway
        .post_with(
            "/v1/chat/completions",
            &chat("primary-llm"),
            &[("x-api-key", KEY)],
        )
        .await;
    assert_eq!(anthropic_style.status(), 200);
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn malformed_json_gets_400_in_the_openai_shape() {
    let gateway = Running::start(
        sim_router(SimProvider::new(), Capabilities::ALL),
        settings(),
    )
    .await;

    let response = support::client()
        .post(format!("{}/v1/chat/completions", gateway.url))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body("{\"model\": \"primary-llm\", \"messages\": [")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body")
    );
}

#[tokio::test]
async fn an_oversized_body_gets_413_and_closes_the_connection() {
    let gateway = Running::start(
        sim_router(SimProvider::new(), Capabilities::ALL),
        settings().max_body_bytes(1024),
    )
    .await;
    let body = json!({"model": "primary-llm", "messages": [{"role": "user", "content": "x".repeat(4096)}]});

    let response = gateway.post("/v1/chat/completions", &body).await;

    assert_eq!(response.status(), 413);
    // The unread body leaves the connection unusable: a pooling client must not reuse it.
    assert_eq!(response.headers()["connection"], "close");
    let body = json_of(response).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1024 bytes")
    );
}

#[tokio::test]
async fn a_request_no_model_on_the_route_can_serve_gets_400_with_the_explanation() {
    let provider = SimProvider::new();
    let gateway = Running::start(
        sim_router(provider.clone(), Capabilities::STREAMING),
        settings(),
    )
    .await;
    let mut body = chat("primary-llm");
    body["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);

    let response = gateway.post("/v1/chat/completions", &body).await;

    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-routewise-policy"], "default");
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "missing_capability");
    assert!(body["error"]["message"].as_str().unwrap().contains("tools"));
    assert_eq!(provider.calls(), 0);
}

#[tokio::test]
async fn every_candidate_rate_limited_gets_429_with_retry_after() {
    let router = Router::builder()
        .account(ProviderAccount::new("sim", SimProvider::new()).limits(RateLimits::new().rpm(1)))
        .model(LogicalModel::new("m").target(Target::new("sim", "x")))
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    let gateway = Running::start(router, settings()).await;

    assert_eq!(
        gateway
            .post("/v1/chat/completions", &chat("m"))
            .await
            .status(),
        200
    );
    let limited = gateway.post("/v1/chat/completions", &chat("m")).await;

    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "retry-after {wait}");
    assert_eq!(json_of(limited).await["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn every_breaker_open_gets_503_with_retry_after() {
    let down = Upstream::failing(500).await;
    let router = Router::builder()
        .account(down.account("down"))
        .model(LogicalModel::new("m").target(Target::new("down", "gpt-4o")))
        .policy(
            Policy::new("default").route(["m"]).breaker(
                BreakerConfig::default()
                    .failure_threshold(1)
                    .recovery(Duration::from_secs(30)),
            ),
        )
        .build()
        .unwrap();
    let gateway = Running::start(router, settings()).await;

    let failed = gateway.post("/v1/chat/completions", &chat("m")).await;
    assert_eq!(failed.status(), 502);
    let open = gateway.post("/v1/chat/completions", &chat("m")).await;

    assert_eq!(open.status(), 503);
    let wait: u64 = open.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "retry-after {wait}");
    let body = json_of(open).await;
    assert_eq!(body["error"]["code"], "circuit_open");
    assert_eq!(down.calls(), 1, "the open breaker let no call through");
}

#[tokio::test]
async fn a_key_limited_to_some_models_gets_403_for_others() {
    let settings = routewise_gateway::GatewaySettings::with_keys([
        KeyConfig::new("narrow", KEY).models(["other-llm"])
    ]);
    let gateway = Running::start(sim_router(SimProvider::new(), Capabilities::ALL), settings).await;

    let refused = gateway
        .post("/v1/chat/completions", &chat("primary-llm"))
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(json_of(refused).await["error"]["code"], "model_not_allowed");
    let models = gateway.get_json("/v1/models").await;
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
    assert_eq!(models["data"][0]["id"], "other-llm");
}

#[tokio::test]
async fn a_key_over_its_own_rpm_gets_429() {
    let settings =
        routewise_gateway::GatewaySettings::with_keys([KeyConfig::new("slow", KEY).rpm(1)]);
    let provider = SimProvider::new();
    let gateway = Running::start(sim_router(provider.clone(), Capabilities::ALL), settings).await;

    assert_eq!(
        gateway
            .post("/v1/chat/completions", &chat("primary-llm"))
            .await
            .status(),
        200
    );
    let limited = gateway
        .post("/v1/chat/completions", &chat("primary-llm"))
        .await;

    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn step_and_purpose_come_from_headers_and_choose_the_policy() {
    let router = Router::builder()
        .account(ProviderAccount::new("sim", SimProvider::new()))
        .model(LogicalModel::new("m").target(Target::new("sim", "x")))
        .policy(
            Policy::new("extraction")
                .priority(5)
                .step_types([routewise::StepType::Extraction])
                .purposes([routewise::Purpose::custom("invoices")])
                .route(["m"]),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    let gateway = Running::start(router, settings()).await;
    let auth = format!("Bearer {KEY}");

    let routed = gateway
        .post_with(
            "/v1/chat/completions",
            &chat("m"),
            &[
                ("authorization", &auth),
                ("x-routewise-step", "extraction"),
                ("x-routewise-purpose", "invoices"),
            ],
        )
        .await;
    assert_eq!(routed.headers()["x-routewise-policy"], "extraction");

    let mut by_metadata = chat("m");
    by_metadata["metadata"] =
        json!({"routewise_step": "extraction", "routewise_purpose": "invoices"});
    let routed = gateway.post("/v1/chat/completions", &by_metadata).await;
    assert_eq!(routed.headers()["x-routewise-policy"], "extraction");

    let default = gateway.post("/v1/chat/completions", &chat("m")).await;
    assert_eq!(default.headers()["x-routewise-policy"], "default");
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_leaves_no_reservation_behind() {
    let provider = SimProvider::new()
        .reply("one two three four five six seven eight nine ten")
        .chunk_delay(Duration::from_millis(200));
    let router = Router::builder()
        .account(
            ProviderAccount::new("sim", provider)
                .limits(RateLimits::new().rpm(100).tpm(100_000))
                .budget(routewise::Budget::monthly_usd(10.0)),
        )
        .model(
            LogicalModel::new("m")
                .capabilities(Capabilities::STREAMING)
                .target(Target::new("sim", "x").price(routewise::Price::per_million(
                    routewise::Usd::from_cents(100),
                    routewise::Usd::from_cents(200),
                ))),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    let gateway = Running::start(router.clone(), settings()).await;
    let mut body = chat("m");
    body["stream"] = json!(true);

    let response = gateway.post("/v1/chat/completions", &body).await;
    let mut bytes = response.bytes_stream();
    let first = bytes.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("data: "));
    let account = &router.accounts()[0];
    assert_eq!(
        account.limits.as_ref().unwrap().in_flight,
        1,
        "the stream holds its slot"
    );
    drop(bytes);

    // The gateway notices the disconnect at its next write, then the router settles.
    let mut waited = 0;
    while router.stats().policy("default").unwrap().cancelled == 0 {
        assert!(waited < 500, "the dropped stream was never cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    let account = &router.accounts()[0];
    assert_eq!(account.limits.as_ref().unwrap().in_flight, 0);
    assert_eq!(
        account.budget.as_ref().unwrap().reserved,
        routewise::Usd::ZERO
    );
}
