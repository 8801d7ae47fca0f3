//! Errors in the provider, account, resilience, state and alert sections: every problem
//! at once under its document path (with line and column in TOML), shape errors with a
//! "did you mean", and secrets never quoted.
#![cfg(all(feature = "toml", feature = "yaml"))]

use routewise::config::{Format, LoadError, RouterConfig};
use routewise::{ConfigError, Router};

fn build_error(text: &str, format: Format) -> ConfigError {
    let config = RouterConfig::from_str_format(text, format).unwrap_or_else(|e| panic!("{e}"));
    Router::from_config_with_env(&config, &|name| Some(format!("value-of-{name}")))
        .expect_err("config should be invalid")
}

fn problems(text: &str, format: Format) -> Vec<String> {
    let error = build_error(text, format);
    error.problems().iter().map(ToString::to_string).collect()
}

fn load_problem(text: &str) -> String {
    match RouterConfig::from_str_format(text, Format::Toml) {
        Err(LoadError::Invalid(error)) => error.problems()[0].to_string(),
        other => panic!("expected a load error, got {other:?}"),
    }
}

const EVERY_RANGE_PROBLEM: &str = r#"
breakers = false
breaker_defaults = { failure_rate = 1.5 }
health = { max_error_rate = 0.0, window = "0s" }
alerts = [{ kind = "webhook", url = "not a url ${TOKEN}", timeout = "0s" }]

[[accounts]]
name = "ok"
provider = { kind = "sim" }

[[accounts]]
name = "busy"
provider = { kind = "openai", azure_api_version = " ", timeouts = { read = "0s" } }
limits = { rpm = 0, tpm = 100, models = { "gpt-4o" = { tpm = 0 } } }
budget = { monthly_usd = -5.0 }
pricing = { "house-model" = { input = -1.0, output = 2.0 } }

[[accounts]]
name = "claude"
provider = { kind = "anthropic", default_max_tokens = 0 }
budget = { monthly_usd = 10.0, thresholds = [50, 2000] }

[[accounts]]
name = "gemini"
provider = { kind = "gemini" }
budget = { monthly_usd = 10.0 }

[[models]]
name = "m"
targets = [
  { account = "gemini", model = "mystery-model" },
  { account = "ok", model = "x", price = { input = 1.0, output = -0.5 } },
]

[[policies]]
name = "p"
route = ["m"]
breaker = { half_open_trials = 0 }
retry = { base_delay = "2s", max_delay = "1s" }
retry_on = { auth = 2 }
timeouts = { request = "0s" }
hedge = { observed_p95 = { floor = "2s", cap = "1s" } }
"#;

#[test]
fn every_range_problem_is_reported_at_once_under_its_path_and_line() {
    assert_eq!(
        problems(EVERY_RANGE_PROBLEM, Format::Toml),
        [
            "breakers: is false, so `breaker_defaults` would never apply; remove one of them (line 2, column 12)",
            "accounts[1].provider.azure_api_version: must not be empty; Azure needs an api-version such as \"2024-10-21\" (line 13, column 51)",
            "accounts[1].provider.timeouts.read: must be greater than zero (line 13, column 76)",
            "accounts[1].limits.rpm: must be at least 1 (leave it out for no limit) (line 14, column 18)",
            "accounts[1].limits.models[\"gpt-4o\"].tpm: must be at least 1 (leave it out for no limit) (line 14, column 62)",
            "accounts[1].budget.monthly_usd: budget limit must be a positive amount of US dollars, got -5 (line 15, column 26)",
            "accounts[1].pricing[\"house-model\"].input: must be a non-negative amount of US dollars, got -1 (line 16, column 39)",
            "accounts[2].provider.default_max_tokens: must be at least 1 (line 20, column 55)",
            "accounts[2].budget.thresholds[1]: budget alert threshold must be within 1..=1000 percent, got 2000 (line 21, column 50)",
            "models[0].targets[1].price.output: must be a non-negative amount of US dollars, got -0.5 (line 32, column 66)",
            "policies[0].hedge.observed_p95.floor: must not exceed cap (2s > 1s) (line 42, column 36)",
            "alerts[0].timeout: must be greater than zero (line 5, column 69)",
            "alerts[0].url: is not an http(s) URL with a host, such as \"https://hooks.example.com/budget\" (line 5, column 37)",
            // Found when the router is compiled; the paths are the same.
            "health.window: must be at least 10ms (got 0ns) (line 4, column 43)",
            "models[0].targets[0].price: no price known for model `mystery-model`, and account `gemini` has a budget: set Target::price or the account's pricing (line 31, column 3)",
            "policies[0].retry.base_delay: must not exceed max_delay (2s > 1s) (line 39, column 24)",
            "policies[0].retry_on.auth: authentication failed is never retried on the same target (line 40, column 21)",
            "policies[0].timeouts.request: must be greater than zero (line 41, column 24)",
            "policies[0].breaker.half_open_trials: must be between 1 and 65535 (got 0) (line 38, column 32)",
        ]
    );
}

#[test]
fn yaml_names_the_same_paths() {
    let yaml = r#"
breakers: false
breaker_defaults: { failure_rate: 1.5 }
accounts:
  - { name: ok, provider: { kind: sim } }
  - name: busy
    provider: { kind: sim }
    limits: { rpm: 0, models: { gpt-4o: { tpm: 0 } } }
    budget: { monthly_usd: 10, window: { start: "2025-01-06T00:00:00Z", length: 0s } }
models: [{ name: m, targets: [{ account: ok, model: x }] }]
policies:
  - { name: p, route: [m], retry: { base_delay: 2s, max_delay: 1s } }
  - { name: q, route: [m], hedge: { after: 1s, observed_p95: { floor: 1s, cap: 2s } } }
"#;
    assert_eq!(
        problems(yaml, Format::Yaml),
        [
            "breakers: is false, so `breaker_defaults` would never apply; remove one of them",
            "accounts[1].limits.rpm: must be at least 1 (leave it out for no limit)",
            "accounts[1].limits.models[\"gpt-4o\"].tpm: must be at least 1 (leave it out for no limit)",
            "accounts[1].budget.window.length: a fixed budget window must last at least one second",
            "policies[1].hedge: set `after` or `observed_p95`, not both",
            "policies[0].retry.base_delay: must not exceed max_delay (2s > 1s)",
        ]
    );
}

#[test]
fn a_router_default_breaker_problem_is_named_under_breaker_defaults() {
    let text = r#"
breaker_defaults = { failure_threshold = false }

[[accounts]]
name = "a"
provider = { kind = "sim" }

[[models]]
name = "m"
targets = [{ account = "a", model = "x" }]

[[policies]]
name = "p"
route = ["m"]
"#;
    assert_eq!(
        problems(text, Format::Toml),
        [
            "breaker_defaults.failure_threshold: and failure_rate are both unset; the breaker could never open (line 2, column 42)"
        ]
    );
}

#[test]
fn an_adapter_connect_timeout_cannot_be_off_though_read_and_total_can() {
    let text = r#"
[[accounts]]
name = "a"
provider = { kind = "openai", timeouts = { connect = "off", read = "off", total = "off" } }

[[models]]
name = "m"
targets = [{ account = "a", model = "x" }]

[[policies]]
name = "p"
route = ["m"]
"#;
    assert_eq!(
        problems(text, Format::Toml),
        [
            "accounts[0].provider.timeouts.connect: cannot be \"off\" (only read and total can); give a duration such as \"10s\" (line 4, column 54)"
        ]
    );
}

#[test]
fn a_webhook_url_is_never_quoted_in_an_error() {
    let error = build_error(EVERY_RANGE_PROBLEM, Format::Toml);
    let text = format!("{error} {error:?}");
    assert!(!text.contains("not a url"), "{text}");
    assert!(!text.contains("value-of-TOKEN"), "{text}");
}

#[test]
fn shape_errors_name_the_path_and_the_closest_name() {
    let cases = [
        (
            "[[accounts]]\nname = \"a\"\nprovider = { kind = \"openai\", max_tokens_feild = \"max_tokens\" }\n",
            "did you mean `max_tokens_field`?",
        ),
        (
            "[[accounts]]\nname = \"a\"\nprovider = { kind = \"anthropic\", api_version = \"2024-01-01\" }\n",
            "unknown variant `2024-01-01`, expected `2023-06-01` or `2026-10-21`",
        ),
        (
            "[[accounts]]\nname = \"a\"\nprovider = { kind = \"sim\" }\nlimits = { rpm = 10, models = { \"x\" = { models = {} } } }\n",
            "accounts[0].limits.models.x.models: unknown field `models`, expected `rpm` or `tpm`",
        ),
        (
            "[[accounts]]\nname = \"a\"\nprovider = { kind = \"sim\" }\nbudget = { monthly_usd = 5, window = \"monthly\" }\n",
            "accounts[0].budget.window: unknown budget window `monthly`; write \"calendar_month\"",
        ),
        (
            "[[accounts]]\nname = \"a\"\nprovider = { kind = \"sim\" }\nbudget = { monthly_usd = 5, window = { start = \"January\", length = \"7d\" } }\n",
            "is not an RFC 3339 timestamp such as \"2025-01-06T00:00:00Z\"",
        ),
        (
            "state_store = \"disk\"\n",
            "state_store: unknown state store `disk`; write \"memory\" or { file = \"state.json\" }",
        ),
        (
            "state_store = { file = \"s.json\", flush = \"5s\" }\n",
            "unknown field `flush`, expected `file` or `flush_every`",
        ),
        (
            "[[accounts]]\nname = \"a\"\nprovider = { kind = \"openai\", timeouts = { total = \"never\" } }\n",
            // Paths inside a provider table end at the table: serde reads it whole to find
            // its `kind` first.
            "accounts[0].provider: unknown duration unit `never`; use ms, s, m, h or d",
        ),
        (
            "queue_time = \"5 parsecs\"\n",
            "queue_time: unknown duration unit `parsecs`; use ms, s, m, h or d",
        ),
        (
            "alerts = [{ kind = \"webhok\", url = \"x\" }]\n",
            "alerts[0].kind: unknown variant `webhok`, expected `tracing` or `webhook`; did you mean `webhook`?",
        ),
        (
            "alerts = [{ kind = \"tracing\", url = \"x\" }]\n",
            "alerts[0]: unknown field `url`, there are no fields",
        ),
        (
            "[[policies]]\nname = \"p\"\nretry = { jitter = \"fulll\" }\n",
            "policies[0].retry.jitter: unknown variant `fulll`, expected one of `none`, `full`, `equal`; did you mean `full`?",
        ),
        (
            "[[policies]]\nname = \"p\"\nbreaker = \"off\"\n",
            "policies[0].breaker: invalid type: a string, expected false (no breakers), true (the router's defaults) or a table of breaker settings",
        ),
        (
            "breaker_defaults = { failure_threshold = true }\n",
            "breaker_defaults.failure_threshold: invalid value: boolean `true`, expected a number of faults, or false for no count criterion",
        ),
        (
            "[[policies]]\nname = \"p\"\nretry_on = { server_eror = 2 }\n",
            "policies[0].retry_on: unknown variant `server_eror`",
        ),
        (
            "[[policies]]\nname = \"p\"\nhedge = { after = \"1s\", delay = \"2s\" }\n",
            "policies[0].hedge.delay: unknown field `delay`, expected `after` or `observed_p95`",
        ),
        (
            "[health]\nprobe_every = \"30s\"\n",
            "health.probe_every: unknown field `probe_every`",
        ),
    ];
    for (text, expected) in cases {
        let problem = load_problem(text);
        assert!(
            problem.contains(expected),
            "{problem}\n  should contain: {expected}"
        );
    }
}
