//! Config files: the shipped examples load, every format says the same, and a router built
//! from a config explains every request exactly as the same router built in code.
#![cfg(all(feature = "toml", feature = "yaml", feature = "json"))]

use std::path::Path;

use routewise::config::{Format, RouterConfig};
use routewise::sim::SimProvider;
use routewise::{
    Balance, Capabilities, ChatRequest, ContentPart, ContextWindow, ErrorKind, ErrorKindSet,
    LogicalModel, Message, Policy, ProviderAccount, Purpose, ResponseFormat, RouteOptions,
    RouteStep, Router, RouterBuilder, SamplingParams, StepType, Target, Tool,
};

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// Stand-ins for the variables the examples read.
fn demo_env(name: &str) -> Option<String> {
    match name {
        "ROUTEWISE_ALERT_WEBHOOK_URL" => Some("http://127.0.0.1:9/alerts".to_owned()),
        "ROUTEWISE_DEMO_KEY"
        | "ROUTEWISE_GATEWAY_TOKEN"
        | "OPENAI_API_KEY"
        | "AZURE_OPENAI_API_KEY"
        | "ANTHROPIC_API_KEY"
        | "GEMINI_API_KEY" => Some(format!("value-of-{name}")),
        _ => None,
    }
}

#[test]
fn every_shipped_example_config_loads_and_builds() {
    for name in ["routewise.toml", "routewise.yaml"] {
        let config = RouterConfig::from_path(example(name)).unwrap_or_else(|e| panic!("{e}"));
        Router::from_config_with_env(&config, &demo_env).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_yaml_example_says_exactly_what_the_toml_example_says() {
    let toml = RouterConfig::from_path(example("routewise.toml")).unwrap();
    let yaml = RouterConfig::from_path(example("routewise.yaml")).unwrap();
    assert_eq!(toml, yaml);
    assert_eq!(toml.accounts.len(), 9);
    assert_eq!(toml.models.len(), 4);
    assert_eq!(toml.policies.len(), 6);
    assert_eq!(toml.alerts.len(), 2);
    assert!(toml.breaker_defaults.is_some() && toml.state_store.is_some());
}

#[test]
fn the_example_routes_as_its_comments_say() {
    let config = RouterConfig::from_path(example("routewise.toml")).unwrap();
    let router = Router::from_config_with_env(&config, &demo_env).unwrap();
    let explain = |step: StepType, purpose: &str, request: ChatRequest| {
        router.explain(step, Purpose::from(purpose), &request)
    };

    let tenant = explain(
        StepType::Inference,
        "chat",
        ChatRequest::user("hi").tag("tenant-a"),
    );
    assert_eq!(tenant.policy.as_deref(), Some("tenant-a-chat"));
    assert_eq!(
        tenant.candidates[0].to_string(),
        "primary-llm/anthropic-main/claude-sonnet-4-5"
    );

    let support = explain(StepType::ToolCall, "support", ChatRequest::user("hi"));
    assert_eq!(support.policy.as_deref(), Some("chat"));

    // The echo target lacks JSON mode, so a JSON request skips it.
    let json = explain(
        StepType::Extraction,
        "classification",
        ChatRequest::user("hi").response_format(ResponseFormat::JsonObject),
    );
    assert_eq!(json.policy.as_deref(), Some("classification"));
    assert!(
        json.skipped
            .iter()
            .any(|s| s.target.to_string() == "fast-llm/local/echo-v1"),
        "{json}"
    );
}

/// The router of [`CONFIG_TOML`], built in code.
fn built_in_code() -> RouterBuilder {
    Router::builder()
        .account(
            ProviderAccount::new("main", SimProvider::new().reply("hi"))
                .api_key("k")
                .base_url("http://127.0.0.1:9/v1")
                .header("x-team", "search"),
        )
        .account(ProviderAccount::new("backup", SimProvider::new()))
        .account(ProviderAccount::new("cheap", SimProvider::new()))
        .model(
            LogicalModel::new("big")
                .capabilities(Capabilities::STREAMING | Capabilities::TOOLS | Capabilities::VISION)
                .defaults(SamplingParams::new().temperature(0.2).max_tokens(800))
                .target(Target::new("main", "gpt-4o"))
                .target(
                    Target::new("backup", "my-model")
                        .context_window(ContextWindow::new(4_000, 1_000))
                        .capabilities(Capabilities::STREAMING | Capabilities::TOOLS),
                ),
        )
        .model(
            LogicalModel::new("small")
                .capabilities(Capabilities::JSON_MODE | Capabilities::STREAMING)
                .balance(Balance::RoundRobin)
                .target(Target::new("main", "gpt-4o-mini").tier(1))
                .target(Target::new("cheap", "small-v1").weight(3))
                .target(Target::new("backup", "small-v1")),
        )
        .policy(
            Policy::new("extract")
                .priority(20)
                .step_types([StepType::Extraction])
                .purposes([Purpose::Classification, Purpose::custom("triage")])
                .route(["small", "big"])
                .max_attempts(2),
        )
        .policy(
            Policy::new("pinned")
                .priority(10)
                .for_models(["small"])
                .tags(["tenant-a"])
                .then(RouteStep::target("small", "backup"))
                .then(RouteStep::model("big"))
                .requires(Capabilities::STREAMING)
                .fallback_on_kinds(ErrorKindSet::EMPTY.with(ErrorKind::Timeout)),
        )
        .policy(
            Policy::new("default")
                .route(["big"])
                .fallback_on(ErrorKind::Auth),
        )
}

const CONFIG_TOML: &str = r#"
[[accounts]]
name = "main"
provider = { kind = "sim", reply = "hi" }
api_key = "${MAIN_KEY}"
base_url = "http://127.0.0.1:9/v1"
headers = { x-team = "search" }

[[accounts]]
name = "backup"
provider = { kind = "sim" }

[[accounts]]
name = "cheap"
provider = { kind = "sim" }

[[models]]
name = "big"
capabilities = ["streaming", "tools", "vision"]
defaults = { temperature = 0.2, max_tokens = 800 }
targets = [
  { account = "main", model = "gpt-4o" },
  { account = "backup", model = "my-model", context_window = { context = 4000, max_output = 1000 }, capabilities = ["streaming", "tools"] },
]

[[models]]
name = "small"
capabilities = ["json_mode", "streaming"]
balance = "round_robin"
targets = [
  { account = "main", model = "gpt-4o-mini", tier = 1 },
  { account = "cheap", model = "small-v1", weight = 3 },
  { account = "backup", model = "small-v1" },
]

[[policies]]
name = "extract"
priority = 20
match = { step_types = ["extraction"], purposes = ["classification", "triage"] }
route = ["small", "big"]
fallback = { max_attempts = 2 }

[[policies]]
name = "pinned"
priority = 10
match = { models = ["small"], tags = ["tenant-a"] }
route = [{ model = "small", account = "backup" }, "big"]
requires = ["streaming"]
fallback = { on = ["timeout"] }

[[policies]]
name = "default"
route = ["big"]
fallback = { on = ["timeout", "connection", "rate_limited", "server_error", "overloaded", "malformed_response", "not_found", "context_length_exceeded", "auth"] }
"#;

const CONFIG_YAML: &str = r#"
accounts:
  - { name: main, provider: { kind: sim, reply: hi }, api_key: "${MAIN_KEY}", base_url: "http://127.0.0.1:9/v1", headers: { x-team: search } }
  - { name: backup, provider: { kind: sim } }
  - { name: cheap, provider: { kind: sim } }
models:
  - name: big
    capabilities: [streaming, tools, vision]
    defaults: { temperature: 0.2, max_tokens: 800 }
    targets:
      - { account: main, model: gpt-4o }
      - { account: backup, model: my-model, context_window: { context: 4000, max_output: 1000 }, capabilities: [streaming, tools] }
  - name: small
    capabilities: [json_mode, streaming]
    balance: round_robin
    targets:
      - { account: main, model: gpt-4o-mini, tier: 1 }
      - { account: cheap, model: small-v1, weight: 3 }
      - { account: backup, model: small-v1 }
policies:
  - { name: extract, priority: 20, match: { step_types: [extraction], purposes: [classification, triage] }, route: [small, big], fallback: { max_attempts: 2 } }
  - name: pinned
    priority: 10
    match: { models: [small], tags: [tenant-a] }
    route: [{ model: small, account: backup }, big]
    requires: [streaming]
    fallback: { on: [timeout] }
  - name: default
    route: [big]
    fallback: { on: [timeout, connection, rate_limited, server_error, overloaded, malformed_response, not_found, context_length_exceeded, auth] }
"#;

const CONFIG_JSON: &str = r#"{
  "$schema": "../routewise.schema.json",
  "accounts": [
    { "name": "main", "provider": { "kind": "sim", "reply": "hi" }, "api_key": { "env": "MAIN_KEY" },
      "base_url": "http://127.0.0.1:9/v1", "headers": { "x-team": "search" } },
    { "name": "backup", "provider": { "kind": "sim" } },
    { "name": "cheap", "provider": { "kind": "sim" } }
  ],
  "models": [
    { "name": "big", "capabilities": ["streaming", "tools", "vision"],
      "defaults": { "temperature": 0.2, "max_tokens": 800 },
      "targets": [
        { "account": "main", "model": "gpt-4o" },
        { "account": "backup", "model": "my-model", "context_window": { "context": 4000, "max_output": 1000 },
          "capabilities": ["streaming", "tools"] }
      ] },
    { "name": "small", "capabilities": ["json_mode", "streaming"], "balance": "round_robin",
      "targets": [
        { "account": "main", "model": "gpt-4o-mini", "tier": 1 },
        { "account": "cheap", "model": "small-v1", "weight": 3 },
        { "account": "backup", "model": "small-v1" }
      ] }
  ],
  "policies": [
    { "name": "extract", "priority": 20,
      "match": { "step_types": ["extraction"], "purposes": ["classification", "triage"] },
      "route": ["small", "big"], "fallback": { "max_attempts": 2 } },
    { "name": "pinned", "priority": 10, "match": { "models": ["small"], "tags": ["tenant-a"] },
      "route": [{ "model": "small", "account": "backup" }, "big"], "requires": ["streaming"],
      "fallback": { "on": ["timeout"] } },
    { "name": "default", "route": ["big"],
      "fallback": { "on": ["timeout", "connection", "rate_limited", "server_error", "overloaded",
                           "malformed_response", "not_found", "context_length_exceeded", "auth"] } }
  ]
}"#;

/// Requests that exercise every part of the configuration: matching on each criterion,
/// capabilities of models and targets, context windows, pinned steps and overrides.
fn sample_requests() -> Vec<(StepType, Purpose, ChatRequest)> {
    let image = Message::user_parts([
        ContentPart::text("what is this?"),
        ContentPart::image_url("http://127.0.0.1/cat.png"),
    ]);
    let tool = Tool::new("lookup", serde_json::json!({ "type": "object" }));
    let long = ChatRequest::user("word ".repeat(4_000));
    vec![
        (StepType::Inference, Purpose::Chat, ChatRequest::user("hi")),
        (
            StepType::Extraction,
            Purpose::Classification,
            ChatRequest::user("label it"),
        ),
        (
            StepType::Extraction,
            Purpose::custom("triage"),
            ChatRequest::user("triage it"),
        ),
        (
            StepType::Extraction,
            Purpose::Classification,
            ChatRequest::user("as json").response_format(ResponseFormat::JsonObject),
        ),
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("pinned").model("small").tag("tenant-a"),
        ),
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("no tag").model("small"),
        ),
        (
            StepType::ToolCall,
            Purpose::Chat,
            ChatRequest::new().message(image),
        ),
        (
            StepType::ToolCall,
            Purpose::Chat,
            ChatRequest::user("call it").tool(tool),
        ),
        (StepType::Inference, Purpose::Summarization, long),
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("override").options(
                RouteOptions::new()
                    .pin_target("small", "main")
                    .extra_fallback("big"),
            ),
        ),
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("bad").options(RouteOptions::new().pin_model("nope")),
        ),
    ]
}

#[test]
fn a_config_in_any_format_builds_the_router_the_builder_builds() {
    let from_code = built_in_code().build().unwrap();
    let env = |name: &str| (name == "MAIN_KEY").then(|| "k".to_owned());
    for (text, format) in [
        (CONFIG_TOML, Format::Toml),
        (CONFIG_YAML, Format::Yaml),
        (CONFIG_JSON, Format::Json),
    ] {
        let config = RouterConfig::from_str_format(text, format).unwrap_or_else(|e| panic!("{e}"));
        let from_config = Router::from_config_with_env(&config, &env).unwrap();
        for (step, purpose, request) in sample_requests() {
            let expected = from_code.explain(step.clone(), purpose.clone(), &request);
            let actual = from_config.explain(step, purpose, &request);
            assert_eq!(actual.to_string(), expected.to_string(), "{format}");
            assert_eq!(
                serde_json::to_value(&actual).unwrap(),
                serde_json::to_value(&expected).unwrap(),
                "{format}"
            );
        }
    }
}

#[tokio::test]
async fn a_config_router_serves_with_its_secrets_and_settings() {
    let config = RouterConfig::from_str_format(CONFIG_TOML, Format::Toml).unwrap();
    let router = Router::from_config_with_env(&config, &|_| Some("secret".to_owned())).unwrap();
    let response = router
        .complete(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("hello"),
        )
        .await
        .unwrap();
    assert_eq!(response.content, "hi");
    assert_eq!(response.served_by.to_string(), "big/main/gpt-4o");
}
