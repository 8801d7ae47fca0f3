//! A `RouterConfig` generated in code, covering every section and variant, is written as
//! TOML, YAML and JSON and read back equal; the router built from what was read back
//! plans every request as the original's does. API keys are written as the `${NAME}`
//! references they are, and a literal key is refused.
#![cfg(all(feature = "toml", feature = "yaml", feature = "json"))]

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use routewise::config::{
    AccountConfig, AdapterTimeout, AlertSinkConfig, AnthropicSettings, AnthropicVersion,
    BreakerSettings, BudgetConfig, BudgetWindowConfig, CustomProvider, FailModeConfig,
    FailureThreshold, Format, GeminiSettings, HealthSettings, HedgeBounds, HedgeSettings,
    HttpTimeoutSettings, JitterSetting, LeaseConfig, ModelConfig, ModelRateLimits, OpenAiSettings,
    PolicyBreaker, PolicyConfig, PriceConfig, ProviderConfig, ProviderKinds, RateLimitsConfig,
    RetrySettings, RouterConfig, SecretValue, SharedStateConfig, SimOutage, SimSettings, SimUsage,
    StateStoreConfig, TargetConfig, TimeoutSettings, TokenLimitField, VertexSettings,
    WebhookSettings,
};
use routewise::provider::openai::Preset;
use routewise::provider::profile::ModelRules;
use routewise::sim::SimProvider;
use routewise::{
    Balance, Capability, ChatRequest, ContextWindow, ErrorKind, ParameterPolicy, Purpose,
    RouteStep, Router, SamplingParams, StepType, StreamRecovery,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The `echo` kind, registered in code: a simulated provider that answers `greeting`.
fn kinds() -> ProviderKinds {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Echo {
        greeting: String,
    }
    ProviderKinds::new().register("echo", |settings: Echo| {
        Ok(SimProvider::new().reply(settings.greeting))
    })
}

fn timeouts() -> HttpTimeoutSettings {
    let mut timeouts = HttpTimeoutSettings::default();
    timeouts.connect = Some(AdapterTimeout::After(secs(5)));
    timeouts.read = Some(AdapterTimeout::Off);
    timeouts.total = Some(AdapterTimeout::After(secs(150)));
    timeouts
}

/// One account of every built-in kind (Bedrock with its feature) and one of a kind
/// registered in code.
fn providers() -> Vec<(&'static str, ProviderConfig)> {
    let mut openai = OpenAiSettings::default();
    openai.system_name = Some("in-house".into());
    openai.max_tokens_field = Some(TokenLimitField::MaxCompletionTokens);
    openai.stream_usage = Some(false);
    openai.timeouts = timeouts();
    let mut groq = OpenAiSettings::default();
    groq.preset = Some(Preset::Groq);
    let mut azure = OpenAiSettings::default();
    azure.azure_api_version = Some("2024-10-21".into());
    let mut anthropic = AnthropicSettings::default();
    anthropic.api_version = Some(AnthropicVersion::V2026_10_21);
    anthropic.default_max_tokens = Some(2048);
    let mut gemini = GeminiSettings::default();
    gemini.timeouts.read = Some(AdapterTimeout::After(ms(1500)));
    let mut vertex = VertexSettings::default();
    vertex.project = "acme-prod".into();
    vertex.location = "us-east5".into();
    vertex.metadata_url = Some("http://127.0.0.1:9".into());
    vertex.default_max_tokens = Some(1024);
    let mut sim = SimSettings::default();
    sim.system = Some("sim-lab".into());
    sim.reply = Some("hello".into());
    sim.latency = Some(ms(40));
    sim.chunk_delay = Some(ms(5));
    sim.failure_rate = Some(0.25);
    sim.failure_kind = Some(ErrorKind::Overloaded);
    sim.seed = Some(7);
    sim.usage = Some(SimUsage {
        input_tokens: 3,
        output_tokens: 5,
    });
    sim.outages = vec![SimOutage {
        from: secs(3600),
        until: secs(3690),
    }];
    let mut echo = serde_json::Map::new();
    echo.insert("greeting".into(), "hi there".into());
    let mut providers = vec![
        ("openai", ProviderConfig::OpenAi(openai)),
        ("groq", ProviderConfig::OpenAi(groq)),
        ("azure", ProviderConfig::OpenAi(azure)),
        ("anthropic", ProviderConfig::Anthropic(anthropic)),
        ("gemini", ProviderConfig::Gemini(gemini)),
        ("sim", ProviderConfig::Sim(sim)),
        (
            "echo",
            ProviderConfig::Custom(CustomProvider::new("echo", echo)),
        ),
    ];
    if cfg!(feature = "vertex") {
        providers.push(("vertex", ProviderConfig::Vertex(vertex)));
    }
    #[cfg(feature = "bedrock")]
    {
        let mut bedrock = routewise::config::BedrockSettings::default();
        bedrock.region = Some("eu-west-1".into());
        bedrock.credentials = Some(routewise::config::BedrockCredentials::Environment);
        providers.push(("bedrock", ProviderConfig::Bedrock(bedrock)));
    }
    providers
}

fn accounts() -> Vec<AccountConfig> {
    providers()
        .into_iter()
        .map(|(name, provider)| {
            let mut account = AccountConfig::new(name, provider);
            account.api_key = Some(SecretValue::env(format!("{}_KEY", name.to_uppercase())));
            account
        })
        .chain([main_account()])
        .collect()
}

/// An account with every account-level setting.
fn main_account() -> AccountConfig {
    let mut account = AccountConfig::new("main", ProviderConfig::OpenAi(Default::default()));
    account.api_key = Some(SecretValue::template("${MAIN_KEY}").unwrap());
    account.base_url = Some("http://127.0.0.1:9/v1".into());
    account.headers = BTreeMap::from([
        ("x-team".into(), SecretValue::literal("search $5")),
        (
            "authorization".into(),
            SecretValue::template("Bearer ${GW_TOKEN}").unwrap(),
        ),
    ]);
    let mut limits = RateLimitsConfig::default();
    limits.rpm = Some(500);
    limits.tpm = Some(200_000);
    let mut per_model = ModelRateLimits::default();
    per_model.rpm = Some(100);
    limits.models.insert("gpt-4o".into(), per_model);
    account.limits = Some(limits);
    let mut budget = BudgetConfig::monthly_usd(40.0);
    budget.thresholds = Some(vec![50, 100]);
    budget.window = BudgetWindowConfig::Fixed {
        start: UNIX_EPOCH + secs(1_736_121_600),
        length: secs(7 * 86_400),
    };
    account.budget = Some(budget);
    let mut price = PriceConfig::new(3.0, 12.0);
    price.cached_input = Some(1.5);
    account.pricing.insert("my-finetune".into(), price);
    account.profiles.insert(
        "my-finetune".into(),
        ModelRules::new().unsupported(["seed"]),
    );
    account
}

fn models() -> Vec<ModelConfig> {
    let mut primary = ModelConfig::new("primary-llm");
    primary.capabilities = [Capability::Streaming, Capability::Tools]
        .into_iter()
        .collect();
    primary.defaults = SamplingParams::new().temperature(0.2).max_tokens(512);
    primary.balance = Balance::Headroom;
    primary.parameter_policy = Some(ParameterPolicy::Strict);
    for (i, (name, _)) in providers().into_iter().enumerate() {
        let mut target = TargetConfig::new(name, format!("{name}-model"));
        target.weight = Some(u32::try_from(i).unwrap() + 1);
        target.tier = u32::try_from(i % 2).unwrap();
        primary.targets.push(target);
    }
    let mut full = TargetConfig::new("main", "my-finetune");
    full.capabilities = Some(Capability::Streaming.into());
    full.context_window = Some(ContextWindow::new(32_000, 4_000));
    full.price = Some(PriceConfig::new(0.1, 0.4));
    full.profile = Some(ModelRules::new().json_with_tools(false));
    let mut breaker = BreakerSettings::default();
    breaker.failure_threshold = Some(FailureThreshold::Faults(2));
    breaker.recovery = Some(secs(5));
    full.breaker = Some(breaker);
    let mut backup = ModelConfig::new("backup-llm");
    backup.capabilities = Capability::Streaming.into();
    backup.targets.push(full);
    let mut long = ModelConfig::new("long-llm");
    long.capabilities = Capability::Streaming.into();
    long.targets
        .push(TargetConfig::new("anthropic", "claude-long"));
    vec![primary, backup, long]
}

fn policies() -> Vec<PolicyConfig> {
    let mut chat = PolicyConfig::new("chat");
    chat.priority = 10;
    chat.matcher.step_types = vec![StepType::Inference];
    chat.matcher.purposes = vec![Purpose::Chat, Purpose::custom("translation")];
    chat.matcher.tags = vec!["beta".into()];
    chat.route = vec![
        RouteStep::model("primary-llm"),
        RouteStep::target("backup-llm", "main"),
    ];
    chat.requires = Capability::Streaming.into();
    chat.fallback.on = [ErrorKind::RateLimited, ErrorKind::Timeout]
        .into_iter()
        .collect();
    chat.fallback.max_attempts = Some(3);
    let mut breaker = BreakerSettings::default();
    breaker.failure_threshold = Some(FailureThreshold::Off);
    breaker.failure_rate = Some(0.5);
    breaker.min_calls = Some(20);
    breaker.window = Some(secs(90));
    breaker.half_open_trials = Some(2);
    breaker.failure_threshold_by_kind = vec![(ErrorKind::RateLimited, 1)];
    chat.breaker = PolicyBreaker::Custom(breaker);
    let mut retry = RetrySettings::default();
    retry.max_retries = Some(2);
    retry.base_delay = Some(ms(100));
    retry.max_delay = Some(secs(2));
    retry.jitter = Some(JitterSetting::Equal);
    retry.max_retry_after = Some(secs(10));
    chat.retry = Some(retry);
    chat.retry_on = vec![(ErrorKind::RateLimited, 0), (ErrorKind::ServerError, 5)];
    let mut timeouts = TimeoutSettings::default();
    timeouts.request = Some(secs(30));
    timeouts.attempt = Some(secs(10));
    chat.timeouts = timeouts;
    let mut hedge = HedgeSettings::default();
    hedge.after = Some(secs(2));
    chat.hedge = Some(hedge);
    chat.cheapest_first = true;
    chat.larger_context = vec!["long-llm".into()];
    chat.stream_recovery = StreamRecovery::Continue;

    let mut batch = PolicyConfig::new("batch");
    batch.route = vec![RouteStep::model("backup-llm")];
    batch.breaker = PolicyBreaker::Off;
    let mut adaptive = HedgeSettings::default();
    adaptive.observed_p95 = Some(HedgeBounds::new(ms(500), secs(10)));
    batch.hedge = Some(adaptive);
    let mut fallback = PolicyConfig::new("default");
    fallback.priority = -1;
    fallback.route = vec![RouteStep::model("primary-llm")];
    vec![chat, batch, fallback]
}

/// Every section, every variant that can sit beside the others.
fn everything(state_file: &std::path::Path) -> RouterConfig {
    let mut config = RouterConfig::default();
    config.schema_ref = Some("./routewise.schema.json".into());
    config.accounts = accounts();
    config.models = models();
    config.policies = policies();
    let mut defaults = BreakerSettings::default();
    defaults.failure_threshold = Some(FailureThreshold::Faults(3));
    config.breaker_defaults = Some(defaults);
    let mut health = HealthSettings::default();
    health.window = Some(secs(120));
    health.min_samples = Some(5);
    health.max_error_rate = Some(0.25);
    health.max_p95_latency = Some(secs(20));
    health.unavailable_after_probe_failures = Some(4);
    health.probe_timeout = Some(secs(3));
    health.ewma_alpha = Some(0.5);
    config.health = health;
    config.queue_time = Some(ms(1500));
    config.parameter_policy = Some(ParameterPolicy::Adapt);
    config.state_store = Some(StateStoreConfig::File {
        file: state_file.to_owned(),
        flush_every: secs(5),
    });
    let mut shared =
        SharedStateConfig::new(SecretValue::template("redis://${REDIS_HOST}:6379").unwrap());
    shared.prefix = Some("app:routewise".into());
    shared.fail_mode = FailModeConfig::Closed;
    shared.timeout = Some(ms(100));
    shared.retry_interval = Some(secs(1));
    shared.reservation_ttl = Some(secs(600));
    let mut lease = LeaseConfig::new(20);
    lease.tokens = 40_000;
    lease.usd = 0.5;
    lease.ttl = Some(secs(1));
    shared.lease = Some(lease);
    config.shared_state = Some(shared);
    let mut webhook = WebhookSettings::new(SecretValue::env("ALERT_URL"));
    webhook.headers.insert(
        "authorization".into(),
        SecretValue::template("Bearer ${ALERT_TOKEN}").unwrap(),
    );
    webhook.timeout = Some(secs(5));
    config.alerts = vec![
        AlertSinkConfig::Tracing {},
        AlertSinkConfig::Webhook(webhook),
    ];
    config
}

fn write(config: &RouterConfig, format: Format) -> String {
    match format {
        Format::Toml => toml::to_string(config).unwrap(),
        Format::Yaml => yaml_serde::to_string(config).unwrap(),
        _ => serde_json::to_string_pretty(config).unwrap(),
    }
}

fn env(name: &str) -> Option<String> {
    Some(match name {
        "REDIS_HOST" => "127.0.0.1".into(),
        "ALERT_URL" => "http://127.0.0.1:9/alerts".into(),
        other => format!("value-of-{other}"),
    })
}

/// What the router plans for a few requests, as data.
fn plans(router: &Router) -> Vec<serde_json::Value> {
    let tagged = ChatRequest::user("hi").tag("beta");
    [
        (StepType::Inference, Purpose::Chat, tagged),
        (StepType::Inference, Purpose::Chat, ChatRequest::user("hi")),
        (
            StepType::Extraction,
            Purpose::custom("translation"),
            ChatRequest::user("hi"),
        ),
    ]
    .iter()
    .map(|(step, purpose, request)| {
        serde_json::to_value(router.explain(step, purpose, request)).unwrap()
    })
    .collect()
}

#[tokio::test]
async fn a_config_generated_in_code_reads_back_equal_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let original = everything(&dir.path().join("state.json"));
    let mut buildable = original.clone();
    // Shared state takes the place of the state store; built without it, so no Redis is needed.
    buildable.shared_state = None;
    let expected = plans(
        &buildable
            .clone()
            .with_provider_kinds(kinds())
            .to_builder_with_env(&env)
            .unwrap()
            .build()
            .unwrap(),
    );
    for format in [Format::Toml, Format::Yaml, Format::Json] {
        let text = write(&original, format);
        let read = RouterConfig::from_str_format(&text, format)
            .unwrap_or_else(|e| panic!("{format}: {e}\n{text}"));
        assert_eq!(read, original, "{format}");
        // Written again, it is the same text: nothing is lost or reordered.
        assert_eq!(write(&read, format), text, "{format}");

        let mut read = read.with_provider_kinds(kinds());
        read.shared_state = None;
        let router = read.to_builder_with_env(&env).unwrap().build().unwrap();
        assert_eq!(plans(&router), expected, "{format}");
    }
}

#[test]
fn secrets_are_written_as_references_and_a_literal_key_is_refused() {
    let mut config = RouterConfig::default();
    let mut account = AccountConfig::new("main", ProviderConfig::Sim(SimSettings::default()));
    account.api_key = Some(SecretValue::env("MAIN_KEY"));
    account.headers.insert(
        "authorization".into(),
        SecretValue::template("Bearer ${TOKEN}").unwrap(),
    );
    config.accounts = vec![account];
    let text = toml::to_string(&config).unwrap();
    assert!(text.contains(r#"api_key = "${MAIN_KEY}""#), "{text}");
    assert!(
        text.contains(r#"authorization = "Bearer ${TOKEN}""#),
        "{text}"
    );

    config.accounts[0].api_key = Some(SecretValue::literal("sk-live-123"));
    for written in [
        toml::to_string(&config).map_err(|e| e.to_string()),
        serde_json::to_string(&config).map_err(|e| e.to_string()),
        yaml_serde::to_string(&config).map_err(|e| e.to_string()),
    ] {
        let error = written.unwrap_err();
        assert!(error.contains("environment variable reference"), "{error}");
        assert!(!error.contains("sk-live-123"), "{error}");
    }
}

#[test]
fn options_left_unset_are_left_out_of_every_format() {
    let mut config = RouterConfig::default();
    config.accounts = vec![AccountConfig::new(
        "main",
        ProviderConfig::Sim(SimSettings::default()),
    )];
    for format in [Format::Yaml, Format::Json] {
        let text = write(&config, format);
        assert!(!text.contains("null"), "{format}:\n{text}");
        assert!(!text.contains("api_key"), "{format}:\n{text}");
        let read = RouterConfig::from_str_format(&text, format).unwrap();
        assert_eq!(read, config, "{format}");
    }
}
