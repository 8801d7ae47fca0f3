//! What the settings of a config do once the router runs: adapter settings shape the
//! requests sent (to a local server), retries, hedges, deadlines, rate limits with queueing,
//! budget alerts to a webhook, and state stores that keep spend across restarts and
//! reloads.
#![cfg(feature = "toml")]

mod support;

use std::time::Duration;

use futures::StreamExt;
use routewise::config::{Format, RouterConfig};
use routewise::{ChatRequest, Error, Purpose, Router, SamplingParams, StepType};
use support::wire_server::{RecordingServer, Reply, fixture};

/// A router of one account (the TOML `account` table body) behind one model and policy.
fn router_with(account: &str, model: &str, env: &dyn Fn(&str) -> Option<String>) -> Router {
    let text = format!(
        "[[accounts]]\nname = \"main\"\n{account}\n\n[[models]]\nname = \"m\"\ncapabilities = [\"streaming\"]\ntargets = [{{ account = \"main\", model = \"{model}\" }}]\n\n[[policies]]\nname = \"p\"\nroute = [\"m\"]\n"
    );
    let config = RouterConfig::from_str_format(&text, Format::Toml).unwrap();
    Router::from_config_with_env(&config, env).unwrap_or_else(|e| panic!("{e}"))
}

fn key(name: &str) -> Option<String> {
    Some(format!("secret-{name}"))
}

async fn ask(router: &Router, request: ChatRequest) -> Result<routewise::ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
}

#[tokio::test]
async fn openai_settings_choose_the_token_field_stream_usage_and_key() {
    let server = RecordingServer::start([]).await;
    server.reply(Reply::json(200, fixture("openai/chat_text.json")));
    server.reply(Reply::sse(fixture("openai/stream_text.sse")));
    let router = router_with(
        &format!(
            "api_key = \"${{OPENAI_KEY}}\"\nbase_url = \"{}/v1\"\nprovider = {{ kind = \"openai\", max_tokens_field = \"max_tokens\", stream_usage = false }}",
            server.url()
        ),
        "gpt-5",
        &key,
    );
    let request = ChatRequest::user("hi").params(SamplingParams::new().max_tokens(50));
    ask(&router, request.clone()).await.unwrap();
    let mut stream = router
        .stream(StepType::Inference, Purpose::Chat, request)
        .await
        .unwrap();
    while stream.next().await.is_some() {}

    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    for request in &sent {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(
            request.header("authorization"),
            Some("Bearer secret-OPENAI_KEY")
        );
        // gpt-5 would get max_completion_tokens by default.
        assert_eq!(request.body["max_tokens"], 50, "{}", request.body);
        assert!(request.body.get("max_completion_tokens").is_none());
    }
    assert!(
        sent[1].body.get("stream_options").is_none(),
        "{}",
        sent[1].body
    );
}

#[tokio::test]
async fn an_azure_account_calls_its_deployment_with_the_api_version() {
    let server = RecordingServer::start([]).await;
    server.reply(Reply::json(200, fixture("openai/chat_text.json")));
    let router = router_with(
        &format!(
            "api_key = \"${{AZURE_KEY}}\"\nbase_url = \"{}\"\nprovider = {{ kind = \"openai\", azure_api_version = \"2024-10-21\" }}",
            server.url()
        ),
        "prod-gpt4o",
        &key,
    );
    ask(&router, ChatRequest::user("hi")).await.unwrap();
    let sent = server.single_request();
    assert_eq!(
        sent.path_and_query(),
        "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(sent.header("api-key"), Some("secret-AZURE_KEY"));
}

#[tokio::test]
async fn anthropic_settings_set_the_version_and_the_default_max_tokens() {
    let server = RecordingServer::start([]).await;
    server.reply(Reply::json(200, fixture("anthropic/message_text.json")));
    let router = router_with(
        &format!(
            "api_key = \"${{ANTHROPIC_KEY}}\"\nbase_url = \"{}\"\nprovider = {{ kind = \"anthropic\", api_version = \"2026-10-21\", default_max_tokens = 777 }}",
            server.url()
        ),
        "claude-sonnet-4-5",
        &key,
    );
    let request = ChatRequest::user("hi").params(SamplingParams::new().temperature(0.5));
    ask(&router, request).await.unwrap();
    let sent = server.single_request();
    assert_eq!(sent.header("anthropic-version"), Some("2026-10-21"));
    assert_eq!(sent.header("x-api-key"), Some("secret-ANTHROPIC_KEY"));
    assert_eq!(sent.body["max_tokens"], 777);
    // 2026-10-21 removed temperature.
    assert!(sent.body.get("temperature").is_none(), "{}", sent.body);
}

#[tokio::test]
async fn a_gemini_account_calls_generate_content_with_its_key() {
    let server = RecordingServer::start([]).await;
    server.reply(Reply::json(200, fixture("gemini/text.json")));
    let router = router_with(
        &format!(
            "api_key = \"${{GEMINI_KEY}}\"\nbase_url = \"{}\"\nprovider = {{ kind = \"gemini\", timeouts = {{ total = \"5s\" }} }}",
            server.url()
        ),
        "gemini-2.5-flash",
        &key,
    );
    ask(&router, ChatRequest::user("hi")).await.unwrap();
    let sent = server.single_request();
    assert_eq!(sent.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(sent.header("x-goog-api-key"), Some("secret-GEMINI_KEY"));
}

#[tokio::test(start_paused = true)]
async fn a_policy_retry_tries_the_same_target_again_after_its_backoff() {
    let text = r#"
[[accounts]]
name = "main"
provider = { kind = "sim", reply = "back", outages = [{ from = "0s", until = "150ms" }] }

[[models]]
name = "m"
targets = [{ account = "main", model = "x" }]

[[policies]]
name = "p"
route = ["m"]
retry = { max_retries = 2, base_delay = "100ms", max_delay = "1s", jitter = "none" }
"#;
    let config = RouterConfig::from_str_format(text, Format::Toml).unwrap();
    let router = Router::from_config(&config).unwrap();
    let started = tokio::time::Instant::now();
    let response = ask(&router, ChatRequest::user("hi")).await.unwrap();
    assert_eq!(response.content, "back");
    // Fails at 0 ms and at 100 ms, answers at 300 ms (waits of 100 ms, then 200 ms).
    assert_eq!(response.attempts.len(), 3);
    assert_eq!(started.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn retry_on_sets_the_retries_of_one_failure_kind() {
    // Down for the first 150 ms with server errors. `retry` alone allows no retry;
    // retry_on allows two of server errors, and the first, 200 ms later, is answered.
    let text = r#"
[[accounts]]
name = "main"
provider = { kind = "sim", reply = "back", outages = [{ from = "0s", until = "150ms" }] }

[[models]]
name = "m"
targets = [{ account = "main", model = "x" }]

[[policies]]
name = "p"
route = ["m"]
retry = { max_retries = 0, base_delay = "200ms", jitter = "none" }
retry_on = { server_error = 2 }
"#;
    let config = RouterConfig::from_str_format(text, Format::Toml).unwrap();
    let router = Router::from_config(&config).unwrap();
    let response = ask(&router, ChatRequest::user("hi")).await.unwrap();
    assert_eq!(response.content, "back");
    assert_eq!(response.attempts.len(), 2, "{:?}", response.attempts);
}

#[tokio::test(start_paused = true)]
async fn a_hedged_policy_races_the_next_target_when_the_first_is_slow() {
    let text = r#"
[[accounts]]
name = "slow"
provider = { kind = "sim", reply = "slow", latency = "5s" }

[[accounts]]
name = "quick"
provider = { kind = "sim", reply = "quick", latency = "10ms" }

[[models]]
name = "m"
targets = [{ account = "slow", model = "x" }, { account = "quick", model = "x" }]

[[policies]]
name = "p"
route = ["m"]
hedge = { after = "100ms" }
"#;
    let config = RouterConfig::from_str_format(text, Format::Toml).unwrap();
    let router = Router::from_config(&config).unwrap();
    let started = tokio::time::Instant::now();
    let response = ask(&router, ChatRequest::user("hi")).await.unwrap();
    assert_eq!(response.content, "quick");
    assert_eq!(started.elapsed(), Duration::from_millis(110));
}

#[tokio::test(start_paused = true)]
async fn a_policy_deadline_ends_a_slow_request() {
    let text = r#"
[[accounts]]
name = "main"
provider = { kind = "sim", latency = "1s" }

[[models]]
name = "m"
targets = [{ account = "main", model = "x" }]

[[policies]]
name = "p"
route = ["m"]
timeouts = { request = "300ms" }
"#;
    let config = RouterConfig::from_str_format(text, Format::Toml).unwrap();
    let router = Router::from_config(&config).unwrap();
    let error = ask(&router, ChatRequest::user("hi")).await.unwrap_err();
    assert!(
        matches!(error, Error::DeadlineExceeded { deadline, .. } if deadline == Duration::from_millis(300)),
        "{error}"
    );
}

const LIMITED: &str = r#"
[[accounts]]
name = "main"
provider = { kind = "sim" }
limits = { rpm = 1 }

[[models]]
name = "m"
targets = [{ account = "main", model = "x" }]

[[policies]]
name = "p"
route = ["m"]
"#;

#[tokio::test(start_paused = true)]
async fn a_rate_limited_request_waits_up_to_the_queue_time_for_capacity() {
    let config = RouterConfig::from_str_format(LIMITED, Format::Toml).unwrap();
    let router = Router::from_config(&config).unwrap();
    ask(&router, ChatRequest::user("one")).await.unwrap();
    let error = ask(&router, ChatRequest::user("two")).await.unwrap_err();
    assert!(matches!(error, Error::RateLimited { .. }), "{error}");

    let queued = format!("queue_time = \"61s\"\n{LIMITED}");
    let config = RouterConfig::from_str_format(&queued, Format::Toml).unwrap();
    let router = Router::from_config(&config).unwrap();
    ask(&router, ChatRequest::user("one")).await.unwrap();
    let started = tokio::time::Instant::now();
    ask(&router, ChatRequest::user("two")).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_secs(59) && waited <= Duration::from_secs(61),
        "{waited:?}"
    );
}

/// One sim account spending $0.60 a call against a $1 budget alerting at 50%.
fn budgeted(extra: &str) -> String {
    format!(
        r#"{extra}
[[accounts]]
name = "main"
provider = {{ kind = "sim", usage = {{ input_tokens = 600000, output_tokens = 0 }} }}
budget = {{ monthly_usd = 1.0, thresholds = [50] }}
pricing = {{ "x" = {{ input = 1.0, output = 0.0 }} }}

[[models]]
name = "m"
targets = [{{ account = "main", model = "x" }}]

[[policies]]
name = "p"
route = ["m"]
"#
    )
}

/// Waits (bounded) until `done` holds.
async fn eventually(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 5 s");
}

#[tokio::test]
async fn a_crossed_budget_threshold_is_posted_to_the_configured_webhook() {
    let server = RecordingServer::start([]).await;
    server.reply(Reply::json(200, "{}"));
    let hook = format!("{}/hooks/budget", server.url());
    let text = budgeted(
        "alerts = [{ kind = \"webhook\", url = \"${HOOK}\", headers = { authorization = \"Bearer ${HOOK_TOKEN}\" } }]",
    );
    let config = RouterConfig::from_str_format(&text, Format::Toml).unwrap();
    let env = |name: &str| match name {
        "HOOK" => Some(hook.clone()),
        _ => Some("hook-secret".to_owned()),
    };
    let router = Router::from_config_with_env(&config, &env).unwrap();
    ask(&router, ChatRequest::user("hi")).await.unwrap();

    eventually(|| !server.requests().is_empty()).await;
    let sent = server.single_request();
    assert_eq!(sent.path, "/hooks/budget");
    assert_eq!(sent.header("authorization"), Some("Bearer hook-secret"));
    assert_eq!(sent.body["account"], "main");
    assert_eq!(sent.body["threshold_percent"], 50);
    assert_eq!(sent.body["spend_usd"], 0.6);
}

fn spent(router: &Router) -> f64 {
    router.accounts()[0]
        .budget
        .as_ref()
        .map_or(0.0, |b| b.spent.dollars())
}

#[tokio::test]
async fn a_file_state_store_keeps_spend_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.json");
    let text = budgeted(&format!(
        "state_store = {{ file = {:?}, flush_every = \"20ms\" }}",
        file.display().to_string()
    ));
    let config = RouterConfig::from_str_format(&text, Format::Toml).unwrap();
    {
        let router = Router::from_config(&config).unwrap();
        router.sync_state().await.unwrap();
        ask(&router, ChatRequest::user("hi")).await.unwrap();
        assert_eq!(spent(&router), 0.6);
        router.sync_state().await.unwrap();
        eventually(|| std::fs::read_to_string(&file).is_ok_and(|t| t.contains("600000000"))).await;
    }
    let restarted = Router::from_config(&config).unwrap();
    assert_eq!(spent(&restarted), 0.0);
    restarted.sync_state().await.unwrap();
    assert_eq!(spent(&restarted), 0.6);
}

#[tokio::test]
async fn a_reload_that_keeps_the_state_store_keeps_the_spend_it_holds() {
    let text = budgeted("state_store = \"memory\"");
    let config = RouterConfig::from_str_format(&text, Format::Toml).unwrap();
    let router = Router::from_config(&config).unwrap();
    ask(&router, ChatRequest::user("hi")).await.unwrap();
    router.sync_state().await.unwrap();

    // New thresholds make a new budget ledger, which learns the spend from the store.
    let retuned = text.replace("thresholds = [50]", "thresholds = [90]");
    let config = RouterConfig::from_str_format(&retuned, Format::Toml).unwrap();
    router.reload_config(&config).unwrap();
    assert_eq!(spent(&router), 0.0);
    router.sync_state().await.unwrap();
    assert_eq!(spent(&router), 0.6);

    // Without a store, a new ledger has nothing to learn from.
    let storeless = retuned.replace("state_store = \"memory\"", "");
    let storeless = storeless.replace("thresholds = [90]", "thresholds = [95]");
    let config = RouterConfig::from_str_format(&storeless, Format::Toml).unwrap();
    router.reload_config(&config).unwrap();
    router.sync_state().await.unwrap();
    assert_eq!(spent(&router), 0.0);
}

#[test]
fn background_work_outside_a_runtime_is_a_located_problem() {
    let text = budgeted(
        "state_store = { file = \"never-opened.json\" }\n\n[health]\nprobe_interval = \"30s\"\n",
    );
    let config = RouterConfig::from_str_format(&text, Format::Toml).unwrap();
    let problems: Vec<String> = Router::from_config(&config)
        .unwrap_err()
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "state_store: a file store flushes from a background task, which needs a Tokio runtime: build the router inside one (line 1, column 15)"
        ]
    );

    let text = budgeted("[health]\nprobe_interval = \"30s\"\n");
    let config = RouterConfig::from_str_format(&text, Format::Toml).unwrap();
    let problems: Vec<String> = Router::from_config(&config)
        .unwrap_err()
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "health.probe_interval: background probes need a Tokio runtime: build the router inside one (line 2, column 18)"
        ]
    );
}
