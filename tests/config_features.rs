//! Everything the builder expresses beyond models and policies, declared in a config:
//! provider adapters and their settings, account limits, budgets and prices, breakers,
//! retries, timeouts, health, queueing, state stores and alerts. Each loads in every
//! format, builds the router the builder builds, and does what it says at run time.
#![cfg(all(feature = "toml", feature = "yaml", feature = "json"))]

use std::sync::Arc;
use std::time::Duration;

use routewise::budget::{TracingSink, WebhookSink};
use routewise::config::{Format, RouterConfig};
use routewise::provider::HttpTimeouts;
use routewise::provider::anthropic::{Anthropic, ApiVersion};
use routewise::provider::openai::MaxTokensField;
use routewise::sim::SimProvider;
use routewise::{
    BreakerConfig, Budget, Capabilities, ChatRequest, ErrorKind, Gemini, HealthConfig, HedgePolicy,
    Jitter, LogicalModel, MemoryStore, OpenAi, Policy, Price, PricingTable, ProviderAccount,
    Purpose, RateLimits, RetryPolicy, Router, RouterBuilder, StepType, StreamRecovery, Target,
    Timeouts, Usd,
};

const HOOK_URL: &str = "http://127.0.0.1:9/hooks/budget";

/// The variables [`CONFIG_TOML`] reads.
fn env(name: &str) -> Option<String> {
    match name {
        "HOOK_URL" => Some(HOOK_URL.to_owned()),
        other => Some(format!("secret-{other}")),
    }
}

const CONFIG_TOML: &str = r#"
queue_time = "750ms"
state_store = "memory"
breaker_defaults = { failure_threshold = false, failure_rate = 0.4, min_calls = 8, window = "20s", recovery = "5s", half_open_trials = 2 }
health = { window = "30s", min_samples = 4, max_error_rate = 0.3, max_p95_latency = "2s", unavailable_after_probe_failures = 2, probe_timeout = "3s", ewma_alpha = 0.5 }
alerts = [
  { kind = "tracing" },
  { kind = "webhook", url = "${HOOK_URL}", headers = { authorization = "Bearer ${HOOK_TOKEN}" }, timeout = "3s" },
]

[[accounts]]
name = "openai"
provider = { kind = "openai", system_name = "gateway", max_tokens_field = "max_completion_tokens", stream_usage = false, timeouts = { connect = "2s", read = "20s", total = "1m" } }
api_key = "${OPENAI_KEY}"
base_url = "http://127.0.0.1:9/v1"
limits = { rpm = 100, tpm = 50000, models = { "gpt-4o" = { rpm = 10 } } }
budget = { monthly_usd = 50.0, thresholds = [25, 75] }
pricing = { "house-model" = { input = 1.0, output = 2.0, reasoning = 4.0 } }

[[accounts]]
name = "azure"
provider = { kind = "openai", azure_api_version = "2024-10-21", timeouts = { read = "off", total = "off" } }
api_key = "${AZURE_KEY}"
base_url = "http://127.0.0.1:9"

[[accounts]]
name = "anthropic"
provider = { kind = "anthropic", api_version = "2026-10-21", default_max_tokens = 1024, timeouts = { read = "15s" } }
api_key = "${ANTHROPIC_KEY}"
budget = { monthly_usd = 10.0, thresholds = [], window = { start = "2025-01-06T00:00:00Z", length = "7d" } }

[[accounts]]
name = "gemini"
provider = { kind = "gemini", timeouts = { total = "45s" } }
api_key = "${GEMINI_KEY}"

[[accounts]]
name = "sim"
provider = { kind = "sim" }

[[models]]
name = "smart"
capabilities = ["streaming", "tools"]
targets = [
  { account = "openai", model = "gpt-4o" },
  { account = "openai", model = "house-model" },
  { account = "azure", model = "my-deployment", price = { input = 0.5, output = 1.5, cached_input = 0.25, cache_write = 0.6 } },
  { account = "anthropic", model = "claude-sonnet-4-5" },
  { account = "gemini", model = "gemini-2.5-flash" },
  { account = "sim", model = "unpriced" },
]

[[models]]
name = "long"
capabilities = ["streaming", "tools"]
targets = [{ account = "gemini", model = "gemini-2.5-pro" }]

[[policies]]
name = "cheap-first"
priority = 10
match = { purposes = ["classification"] }
route = ["smart"]
cheapest_first = true
breaker = { failure_threshold = 2, recovery = "1s", failure_threshold_by_kind = { rate_limited = 1, timeout = 4 } }
retry = { max_retries = 3, base_delay = "10ms", max_delay = "80ms", jitter = "none", max_retry_after = "2s" }
retry_on = { server_error = 5, rate_limited = 0 }
timeouts = { request = "5s", attempt = "1s" }
hedge = { after = "2s" }

[[policies]]
name = "no-breakers"
priority = 5
match = { tags = ["fragile"] }
route = ["smart"]
breaker = false
retry = {}

[[policies]]
name = "default"
route = ["smart"]
breaker = true
timeouts = { attempt = "30s" }
hedge = { observed_p95 = { floor = "500ms", cap = "10s" } }
larger_context = ["long"]
stream_recovery = "continue"
"#;

const CONFIG_YAML: &str = r#"
queue_time: 750ms
state_store: memory
breaker_defaults: { failure_threshold: false, failure_rate: 0.4, min_calls: 8, window: 20s, recovery: 5s, half_open_trials: 2 }
health: { window: 30s, min_samples: 4, max_error_rate: 0.3, max_p95_latency: 2s, unavailable_after_probe_failures: 2, probe_timeout: 3s, ewma_alpha: 0.5 }
alerts:
  - kind: tracing
  - { kind: webhook, url: "${HOOK_URL}", headers: { authorization: "Bearer ${HOOK_TOKEN}" }, timeout: 3s }
accounts:
  - name: openai
    provider: { kind: openai, system_name: gateway, max_tokens_field: max_completion_tokens, stream_usage: false, timeouts: { connect: 2s, read: 20s, total: 1m } }
    api_key: ${OPENAI_KEY}
    base_url: http://127.0.0.1:9/v1
    limits: { rpm: 100, tpm: 50000, models: { gpt-4o: { rpm: 10 } } }
    budget: { monthly_usd: 50.0, thresholds: [25, 75] }
    pricing: { house-model: { input: 1.0, output: 2.0, reasoning: 4.0 } }
  - { name: azure, provider: { kind: openai, azure_api_version: "2024-10-21", timeouts: { read: off, total: off } }, api_key: "${AZURE_KEY}", base_url: "http://127.0.0.1:9" }
  - name: anthropic
    provider: { kind: anthropic, api_version: "2026-10-21", default_max_tokens: 1024, timeouts: { read: 15s } }
    api_key: ${ANTHROPIC_KEY}
    budget: { monthly_usd: 10.0, thresholds: [], window: { start: "2025-01-06T00:00:00Z", length: 7d } }
  - { name: gemini, provider: { kind: gemini, timeouts: { total: 45s } }, api_key: "${GEMINI_KEY}" }
  - { name: sim, provider: { kind: sim } }
models:
  - name: smart
    capabilities: [streaming, tools]
    targets:
      - { account: openai, model: gpt-4o }
      - { account: openai, model: house-model }
      - { account: azure, model: my-deployment, price: { input: 0.5, output: 1.5, cached_input: 0.25, cache_write: 0.6 } }
      - { account: anthropic, model: claude-sonnet-4-5 }
      - { account: gemini, model: gemini-2.5-flash }
      - { account: sim, model: unpriced }
  - { name: long, capabilities: [streaming, tools], targets: [{ account: gemini, model: gemini-2.5-pro }] }
policies:
  - name: cheap-first
    priority: 10
    match: { purposes: [classification] }
    route: [smart]
    cheapest_first: true
    breaker: { failure_threshold: 2, recovery: 1s, failure_threshold_by_kind: { timeout: 4, rate_limited: 1 } }
    retry: { max_retries: 3, base_delay: 10ms, max_delay: 80ms, jitter: none, max_retry_after: 2s }
    retry_on: { server_error: 5, rate_limited: 0 }
    timeouts: { request: 5s, attempt: 1s }
    hedge: { after: 2s }
  - { name: no-breakers, priority: 5, match: { tags: [fragile] }, route: [smart], breaker: false, retry: {} }
  - { name: default, route: [smart], breaker: true, timeouts: { attempt: 30s }, hedge: { observed_p95: { floor: 500ms, cap: 10s } }, larger_context: [long], stream_recovery: continue }
"#;

/// [`CONFIG_TOML`] in JSON, converted value for value.
fn config_json() -> String {
    let value: serde_json::Value = toml::from_str(CONFIG_TOML).unwrap();
    serde_json::to_string_pretty(&value).unwrap()
}

fn dollars(amount: f64) -> Usd {
    Usd::from_dollars(amount).unwrap()
}

/// The router of [`CONFIG_TOML`], built in code.
fn built_in_code() -> RouterBuilder {
    let secs = Duration::from_secs;
    let millis = Duration::from_millis;
    let breaker_defaults = BreakerConfig::default()
        .failure_threshold(None)
        .failure_rate(0.4, 8)
        .window(secs(20))
        .recovery(secs(5))
        .half_open_trials(2);
    let openai = OpenAi::new()
        .with_provider_name("gateway")
        .max_tokens_field(MaxTokensField::MaxCompletionTokens)
        .stream_usage(false)
        .timeouts(
            HttpTimeouts::default()
                .connect(secs(2))
                .read(secs(20))
                .total(secs(60)),
        );
    let anthropic = Anthropic::new()
        .api_version(ApiVersion::V2026_10_21)
        .default_max_tokens(1024)
        .timeouts(HttpTimeouts::default().read(secs(15)));
    let weekly = routewise::budget::BudgetWindow::Fixed {
        start: std::time::UNIX_EPOCH + secs(1_736_121_600),
        length: secs(7 * 86_400),
    };
    let webhook = WebhookSink::new(HOOK_URL)
        .unwrap()
        .header("authorization", "Bearer secret-HOOK_TOKEN")
        .timeout(secs(3));
    Router::builder()
        .queue_time(millis(750))
        .state_store(Arc::new(MemoryStore::new()))
        .breaker_defaults(breaker_defaults)
        .health(
            HealthConfig::default()
                .window(secs(30))
                .min_samples(4)
                .max_error_rate(0.3)
                .max_p95_latency(secs(2))
                .unavailable_after_probe_failures(2)
                .probe_timeout(secs(3))
                .ewma_alpha(0.5),
        )
        .alert_sink(Arc::new(TracingSink))
        .alert_sink(Arc::new(webhook))
        .account(
            ProviderAccount::new("openai", openai)
                .api_key("secret-OPENAI_KEY")
                .base_url("http://127.0.0.1:9/v1")
                .limits(
                    RateLimits::new()
                        .rpm(100)
                        .tpm(50_000)
                        .model("gpt-4o", RateLimits::new().rpm(10)),
                )
                .budget(Budget::monthly_usd(50.0).thresholds([25, 75]))
                .pricing(PricingTable::defaults().with_price(
                    "house-model",
                    Price::per_million(dollars(1.0), dollars(2.0)).reasoning(dollars(4.0)),
                )),
        )
        .account(
            ProviderAccount::new(
                "azure",
                OpenAi::azure("2024-10-21")
                    .timeouts(HttpTimeouts::default().without_read().without_total()),
            )
            .api_key("secret-AZURE_KEY")
            .base_url("http://127.0.0.1:9"),
        )
        .account(
            ProviderAccount::new("anthropic", anthropic)
                .api_key("secret-ANTHROPIC_KEY")
                .budget(Budget::monthly_usd(10.0).thresholds([]).window(weekly)),
        )
        .account(
            ProviderAccount::new(
                "gemini",
                Gemini::with_timeouts(HttpTimeouts::default().total(secs(45))),
            )
            .api_key("secret-GEMINI_KEY"),
        )
        .account(ProviderAccount::new("sim", SimProvider::new()))
        .model(
            LogicalModel::new("smart")
                .capabilities(Capabilities::STREAMING | Capabilities::TOOLS)
                .target(Target::new("openai", "gpt-4o"))
                .target(Target::new("openai", "house-model"))
                .target(
                    Target::new("azure", "my-deployment").price(
                        Price::per_million(dollars(0.5), dollars(1.5))
                            .cached_input(dollars(0.25))
                            .cache_write(dollars(0.6)),
                    ),
                )
                .target(Target::new("anthropic", "claude-sonnet-4-5"))
                .target(Target::new("gemini", "gemini-2.5-flash"))
                .target(Target::new("sim", "unpriced")),
        )
        .model(
            LogicalModel::new("long")
                .capabilities(Capabilities::STREAMING | Capabilities::TOOLS)
                .target(Target::new("gemini", "gemini-2.5-pro")),
        )
        .policy(
            Policy::new("cheap-first")
                .priority(10)
                .purposes([Purpose::Classification])
                .route(["smart"])
                .cheapest_first()
                .breaker(
                    BreakerConfig::default()
                        .failure_threshold(2)
                        .recovery(secs(1))
                        .failure_threshold_for(ErrorKind::RateLimited, 1)
                        .failure_threshold_for(ErrorKind::Timeout, 4),
                )
                .retry(
                    RetryPolicy::default()
                        .max_retries(3)
                        .backoff(millis(10), millis(80))
                        .jitter(Jitter::None)
                        .max_retry_after(secs(2)),
                )
                .retry_on(ErrorKind::RateLimited, 0)
                .retry_on(ErrorKind::ServerError, 5)
                .timeouts(Timeouts::new().request(secs(5)).attempt(secs(1)))
                .hedge(HedgePolicy::After(secs(2))),
        )
        .policy(
            Policy::new("no-breakers")
                .priority(5)
                .tags(["fragile"])
                .route(["smart"])
                .without_breaker()
                .retry(RetryPolicy::default()),
        )
        .policy(
            Policy::new("default")
                .route(["smart"])
                .timeouts(Timeouts::new().attempt(secs(30)))
                .hedge(HedgePolicy::observed_p95(millis(500), secs(10)))
                .larger_context(["long"])
                .stream_recovery(StreamRecovery::Continue),
        )
}

fn every_format() -> Vec<(Format, RouterConfig)> {
    [
        (Format::Toml, CONFIG_TOML.to_owned()),
        (Format::Yaml, CONFIG_YAML.to_owned()),
        (Format::Json, config_json()),
    ]
    .into_iter()
    .map(|(format, text)| {
        let config = RouterConfig::from_str_format(&text, format)
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        (format, config)
    })
    .collect()
}

#[test]
fn every_section_loads_in_every_format_and_says_the_same() {
    let configs = every_format();
    for (format, config) in &configs {
        assert_eq!(config, &configs[0].1, "{format} differs from TOML");
    }
    let toml = &configs[0].1;
    assert_eq!(toml.alerts.len(), 2);
    assert!(toml.breakers, "left out, breakers stay on");
    assert_eq!(toml.queue_time, Some(Duration::from_millis(750)));
}

#[test]
fn a_config_holds_exactly_the_settings_the_builder_holds() {
    let expected = format!("{:?}", built_in_code());
    for (format, config) in every_format() {
        let builder = config.to_builder_with_env(&env).unwrap();
        assert_eq!(format!("{builder:?}"), expected, "{format}");
    }
}

fn json(value: impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

fn sample_requests() -> Vec<(StepType, Purpose, ChatRequest)> {
    vec![
        (StepType::Inference, Purpose::Chat, ChatRequest::user("hi")),
        (
            StepType::Extraction,
            Purpose::Classification,
            ChatRequest::user("label it"),
        ),
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("careful").tag("fragile"),
        ),
    ]
}

#[tokio::test]
async fn builder_and_config_routers_explain_account_and_count_alike() {
    let from_code = built_in_code().build().unwrap();
    for (format, config) in every_format() {
        let from_config = Router::from_config_with_env(&config, &env).unwrap();
        for (step, purpose, request) in sample_requests() {
            let expected = from_code.explain(step.clone(), purpose.clone(), &request);
            let actual = from_config.explain(step, purpose, &request);
            assert_eq!(actual.to_string(), expected.to_string(), "{format}");
        }
        assert_eq!(
            json(from_config.accounts()),
            json(from_code.accounts()),
            "{format}"
        );
        assert_eq!(
            json(from_config.stats().breakers),
            json(from_code.stats().breakers),
            "{format}"
        );
    }
}

#[test]
fn prices_from_targets_account_pricing_and_shipped_defaults_order_cheapest_first() {
    let config = RouterConfig::from_str_format(CONFIG_TOML, Format::Toml).unwrap();
    let router = Router::from_config_with_env(&config, &env).unwrap();
    let plan = router.explain(
        StepType::Extraction,
        Purpose::Classification,
        &ChatRequest::user("label it"),
    );
    let order: Vec<String> = plan
        .candidates
        .iter()
        .map(|t| t.account.to_string() + "/" + &t.provider_model)
        .collect();
    // Worst case per million in and out: $0.60 + $1.50 (target price), $0.30 + $2.50
    // (shipped), $1 + $4 (account pricing: reasoning is dearest), $2.50 + $10, $3.75 +
    // $15, then the unpriced one.
    assert_eq!(
        order,
        [
            "azure/my-deployment",
            "gemini/gemini-2.5-flash",
            "openai/house-model",
            "openai/gpt-4o",
            "anthropic/claude-sonnet-4-5",
            "sim/unpriced",
        ]
    );
}

#[test]
fn breakers_follow_the_router_default_unless_a_policy_turns_them_off() {
    let config = RouterConfig::from_str_format(CONFIG_TOML, Format::Toml).unwrap();
    let router = Router::from_config_with_env(&config, &env).unwrap();
    let per_policy = |name: &str| {
        router
            .stats()
            .breakers
            .iter()
            .filter(|b| &*b.policy == name)
            .count()
    };
    assert_eq!(per_policy("cheap-first"), 6);
    assert_eq!(per_policy("no-breakers"), 0);
    assert_eq!(
        per_policy("default"),
        7,
        "six route targets and the larger-context one"
    );

    let without: String = CONFIG_TOML
        .lines()
        .map(|line| {
            if line.starts_with("breaker_defaults") {
                "breakers = false\n".to_owned()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let config = RouterConfig::from_str_format(&without, Format::Toml).unwrap();
    let router = Router::from_config_with_env(&config, &env).unwrap();
    let policies: Vec<String> = router
        .stats()
        .breakers
        .iter()
        .map(|b| b.policy.to_string())
        .collect();
    assert!(policies.iter().all(|p| p == "cheap-first"), "{policies:?}");
}
