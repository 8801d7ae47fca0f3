//! Errors that teach: every problem of a config at once, each under its document path,
//! with a "did you mean" for near misses and the line and column where the format keeps
//! them; unknown keys are errors; secrets come from the environment and never show.
#![cfg(all(feature = "toml", feature = "yaml", feature = "json"))]

use routewise::config::{Format, LoadError, RouterConfig};
use routewise::{ConfigError, Location, Router};

/// The problems of loading `text` and building a router from it (secrets through `env`).
fn problems_with(text: &str, format: Format, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let error = match RouterConfig::from_str_format(text, format) {
        Ok(config) => {
            Router::from_config_with_env(&config, env).expect_err("config should be invalid")
        }
        Err(LoadError::Invalid(error)) => error,
        Err(other) => panic!("unexpected load error: {other}"),
    };
    error.problems().iter().map(ToString::to_string).collect()
}

fn problems(text: &str, format: Format) -> Vec<String> {
    problems_with(text, format, &|_| None)
}

const VALID_TAIL: &str = r#"
[[accounts]]
name = "main"
provider = { kind = "sim" }

[[models]]
name = "gpt5-mini"
targets = [{ account = "main", model = "m" }]
"#;

#[test]
fn an_unknown_model_names_its_document_path_line_and_closest_name() {
    let text = format!(
        "{VALID_TAIL}
[[policies]]
name = \"a\"
route = [\"gpt5-mini\"]

[[policies]]
name = \"b\"
route = [\"gpt5-mini\"]

[[policies]]
name = \"chat\"
route = [\"gpt-5-mini\"]
"
    );
    assert_eq!(
        problems(&text, Format::Toml),
        [
            "policies[2].route[0]: unknown logical model `gpt-5-mini`; did you mean `gpt5-mini`? (line 20, column 10)"
        ]
    );
}

#[test]
fn every_problem_between_sections_is_reported_at_once() {
    let text = r#"
[[accounts]]
name = "main"
provider = { kind = "sim", failure_rate = 1.5 }
api_key = "${MAIN_KEY}"

[[accounts]]
name = "main"
provider = { kind = "sim" }

[[models]]
name = "fast"
defaults = { temperature = 3.0 }
targets = [{ account = "mian", model = "m" }]

[[models]]
name = "empty"

[[policies]]
name = "p"
route = [{ model = "fast", account = "other" }, "fsat"]
fallback = { max_attempts = 0 }

[[policies]]
name = "q"
requires = ["vision"]
route = ["fast"]
"#;
    assert_eq!(
        problems(text, Format::Toml),
        [
            "accounts[0].provider.failure_rate: must be within 0.0..=1.0, got 1.5 (line 4, column 43)",
            "accounts[0].api_key: environment variable `MAIN_KEY` is not set (line 5, column 11)",
            "accounts[1]: is declared more than once (line 7, column 1)",
            "models[0].defaults.temperature: must be within 0.0..=2.0, got 3 (line 13, column 28)",
            "models[0].targets[0].account: unknown account `mian`; did you mean `main`? (line 14, column 24)",
            "models[1]: has no targets (line 16, column 1)",
            "policies[0].fallback.max_attempts: must be at least 1 (line 22, column 29)",
            "policies[0].route[0].account: unknown account `other` (line 21, column 38)",
            "policies[0].route[1]: unknown logical model `fsat`; did you mean `fast`? (line 21, column 49)",
            "policies[1].route[0]: logical model `fast` lacks vision, which the policy requires (line 27, column 10)",
        ]
    );
}

#[test]
fn yaml_and_json_report_the_same_problems_by_path() {
    let yaml = "
accounts: [{ name: main, provider: { kind: sim } }]
models: [{ name: fast, targets: [{ account: main, model: m }] }]
policies: [{ name: p, route: [fsat] }]
";
    let json = r#"{ "accounts": [{ "name": "main", "provider": { "kind": "sim" } }],
      "models": [{ "name": "fast", "targets": [{ "account": "main", "model": "m" }] }],
      "policies": [{ "name": "p", "route": ["fsat"] }] }"#;
    let expected = ["policies[0].route[0]: unknown logical model `fsat`; did you mean `fast`?"];
    assert_eq!(problems(yaml, Format::Yaml), expected);
    assert_eq!(problems(json, Format::Json), expected);
}

#[test]
fn unknown_keys_are_errors_in_every_format_with_their_line() {
    let cases = [
        (
            Format::Toml,
            "[[policies]]\nname = \"p\"\nrout = [\"m\"]\n",
            (3, 1),
        ),
        (
            Format::Yaml,
            "policies:\n  - name: p\n    rout: [m]\n",
            (3, 5),
        ),
        (
            Format::Json,
            "{\"policies\": [\n  {\"name\": \"p\", \"rout\": [\"m\"]}]}",
            (2, 22),
        ),
    ];
    for (format, text, (line, column)) in cases {
        let Err(LoadError::Invalid(error)) = RouterConfig::from_str_format(text, format) else {
            panic!("{format}: an unknown key must be rejected");
        };
        let [problem] = error.problems() else {
            panic!("{format}: {error}")
        };
        assert_eq!(problem.path, "policies[0].rout", "{format}");
        assert_eq!(
            problem.message,
            "unknown field `rout`, expected one of `name`, `priority`, `match`, `route`, `requires`, `fallback`, `breaker`, `retry`, `retry_on`, `timeouts`, `hedge`, `cheapest_first`, `larger_context`, `stream_recovery`; did you mean `route`?",
            "{format}"
        );
        assert_eq!(
            problem.location,
            Some(Location { line, column }),
            "{format}"
        );
    }
}

#[test]
fn unknown_keys_deep_inside_are_errors_too() {
    let cases = [
        (
            "[[accounts]]\nname = \"a\"\nprovider = { kind = \"sim\", rply = \"x\" }\n",
            "accounts[0].provider",
            "unknown field `rply`",
        ),
        (
            "[[models]]\nname = \"m\"\ntargets = [{ acount = \"a\", model = \"x\" }]\n",
            "models[0].targets[0].acount",
            "did you mean `account`?",
        ),
        (
            "[[models]]\nname = \"m\"\ndefaults = { temprature = 0.1 }\n",
            "models[0].defaults.temprature",
            "did you mean `temperature`?",
        ),
        (
            "[[policies]]\nname = \"p\"\nmatch = { purpose = [\"chat\"] }\n",
            "policies[0].match.purpose",
            "did you mean `purposes`?",
        ),
        (
            "[[policies]]\nname = \"p\"\nfallback = { max_attempt = 2 }\n",
            "policies[0].fallback.max_attempt",
            "did you mean `max_attempts`?",
        ),
        (
            "[[policies]]\nname = \"p\"\nroute = [{ model = \"m\", acount = \"a\" }]\n",
            "policies[0].route[0].acount",
            "did you mean `account`?",
        ),
        (
            "[[accounts]]\nname = \"a\"\nprovider = { kind = \"sim\" }\napi_key = { env = \"K\", default = \"x\" }\n",
            "accounts[0].api_key.default",
            "unknown field `default`",
        ),
        (
            "[[polices]]\nname = \"p\"\n",
            "polices",
            "did you mean `policies`?",
        ),
    ];
    for (text, path, message) in cases {
        let problems = problems(text, Format::Toml);
        assert!(
            problems.len() == 1
                && problems[0].starts_with(&format!("{path}: "))
                && problems[0].contains(message),
            "{text}\n{problems:?}"
        );
    }
}

#[test]
fn unknown_provider_kinds_name_the_closest_kind_and_where_it_is() {
    let problems = problems(
        "[[accounts]]\nname = \"a\"\nprovider = { kind = \"simm\" }\n",
        Format::Toml,
    );
    assert!(
        problems.contains(
            &"accounts[0].provider.kind: unknown provider kind `simm`; did you mean `sim`? (line 3, column 21)"
                .to_owned()
        ),
        "{problems:?}"
    );
    let problems = problems_of("[[accounts]]\nname = \"a\"\nprovider = { kind = \"in-house\" }\n");
    assert!(
        problems[0].starts_with(
            "accounts[0].provider.kind: unknown provider kind `in-house`; the kinds are `openai`, `anthropic`, `gemini`, `vertex`, `sim`, and kinds of your own are registered with `RouterConfig::with_provider_kinds`"
        ),
        "{problems:?}"
    );
}

fn problems_of(text: &str) -> Vec<String> {
    problems(text, Format::Toml)
}

#[test]
fn wrong_values_name_what_was_expected() {
    let cases = [
        (
            "[[accounts]]\nname = \"a\"\nprovider = { kind = \"sim\", latency = \"5\" }\n",
            "accounts[0].provider: `5` needs a unit: ms, s, m, h or d (as in \"250ms\" or \"1m30s\") (line 3, column 12)",
        ),
        (
            "[[policies]]\nname = \"p\"\nroute = [3]\n",
            "policies[0].route[0]: invalid type: integer `3`, expected a logical model's name or a table { model = \"...\", account = \"...\" } (line 3, column 10)",
        ),
        (
            "[[policies]]\nname = \"p\"\nfallback = { on = [\"rate_limitd\"] }\n",
            "policies[0].fallback.on[0]: unknown variant `rate_limitd`, expected one of `timeout`, `connection`, `rate_limited`, `server_error`, `overloaded`, `auth`, `invalid_request`, `not_found`, `content_filtered`, `context_length_exceeded`, `malformed_response`, `declined`, `unsupported_parameter`; did you mean `rate_limited`? (line 3, column 20)",
        ),
        (
            "[[models]]\nname = \"m\"\nbalance = \"round-robin\"\n",
            "models[0].balance: unknown variant `round-robin`, expected one of `ordered`, `round_robin`, `weighted_random`, `least_in_flight`, `peak_ewma`, `headroom`; did you mean `round_robin`? (line 3, column 11)",
        ),
        (
            "[[accounts]]\nname = \"a\"\n",
            "accounts[0]: missing field `provider` (line 1, column 1)",
        ),
        (
            "[[policies]]\nname = \"p\"\ntimeouts = { request = 500 }\n",
            "policies[0].timeouts.request: invalid type: integer `500`, expected a duration such as \"500ms\" (units ms, s, m, h, d) (line 3, column 24)",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(problems(text, Format::Toml), [expected], "{text}");
    }
}

#[test]
fn syntax_errors_give_line_and_column_in_every_format() {
    let cases = [
        (
            Format::Toml,
            "[[policies]\nname = \"a\"\n",
            Location {
                line: 1,
                column: 12,
            },
        ),
        (
            Format::Yaml,
            "policies:\n  - name: a\n   route: [x]\n",
            Location { line: 3, column: 4 },
        ),
        (
            Format::Json,
            "{\"policies\": [\n{\"name\": \"a\",, }]}",
            Location {
                line: 2,
                column: 14,
            },
        ),
    ];
    for (format, text, location) in cases {
        let Err(LoadError::Invalid(error)) = RouterConfig::from_str_format(text, format) else {
            panic!("{format}: must not parse");
        };
        assert_eq!(
            error.problems()[0].location,
            Some(location),
            "{format}: {error}"
        );
    }
}

#[test]
fn a_missing_variable_names_itself_and_every_place_it_is_used() {
    let text = r#"
[[accounts]]
name = "openai"
provider = { kind = "sim" }
api_key = "${OPENAI_API_KEY}"

[[accounts]]
name = "gateway"
provider = { kind = "sim" }
api_key = { env = "GATEWAY_KEY" }
headers = { authorization = "Bearer ${GATEWAY_TOKEN}", "x-tenant" = "${TENANT}" }
"#;
    let found = problems_with(text, Format::Toml, &|name| {
        (name == "TENANT").then(|| "t1".into())
    });
    assert_eq!(
        found[..3],
        [
            "accounts[0].api_key: environment variable `OPENAI_API_KEY` is not set (line 5, column 11)",
            "accounts[1].api_key: environment variable `GATEWAY_KEY` is not set (line 10, column 11)",
            "accounts[1].headers.authorization: environment variable `GATEWAY_TOKEN` is not set (line 11, column 29)",
        ]
    );
}

#[test]
fn a_key_written_into_the_file_is_rejected_without_being_shown() {
    let text =
        "[[accounts]]\nname = \"a\"\nprovider = { kind = \"sim\" }\napi_key = \"sk-live-abc123\"\n";
    let config = RouterConfig::from_str_format(text, Format::Toml).unwrap();
    let error = Router::from_config_with_env(&config, &|_| None).unwrap_err();
    let shown = format!("{error} {error:?} {config:?}");
    assert!(!shown.contains("sk-live-abc123"), "{shown}");
    assert!(
        error
            .to_string()
            .contains("accounts[0].api_key: an API key must not be written into the file"),
        "{error}"
    );
}

#[test]
fn resolved_secrets_never_show_in_debug_output() {
    let text = "[[accounts]]\nname = \"a\"\nprovider = { kind = \"sim\" }\napi_key = \"${KEY}\"\nheaders = { \"x-token\" = \"literal-token-xyz\" }\n";
    let config = RouterConfig::from_str_format(text, Format::Toml).unwrap();
    let builder = config
        .to_builder_with_env(&|_| Some("sk-from-env-999".into()))
        .unwrap();
    let shown = format!("{config:?} {builder:?}");
    assert!(!shown.contains("sk-from-env-999"), "{shown}");
    assert!(!shown.contains("literal-token-xyz"), "{shown}");
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let err = RouterConfig::from_path(&missing).unwrap_err();
    assert!(matches!(err, LoadError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.toml"), "{err}");

    let unknown = dir.path().join("routewise.ini");
    std::fs::write(&unknown, "").unwrap();
    let err = RouterConfig::from_path(&unknown).unwrap_err();
    assert!(matches!(err, LoadError::UnknownFormat { .. }), "{err}");

    let invalid = dir.path().join("routewise.toml");
    std::fs::write(&invalid, "[[policies]]\nname = \"p\"\nroute = [\"m\"]\n").unwrap();
    let config = RouterConfig::from_path(&invalid).unwrap();
    let err: ConfigError = Router::from_config(&config).unwrap_err();
    assert_eq!(err.file(), Some(invalid.display().to_string().as_str()));
    assert!(
        err.to_string().starts_with(&format!(
            "invalid router configuration in `{}` (1 problem)\n  - policies[0].route[0]: unknown logical model `m` (line 3, column 10)",
            invalid.display()
        )),
        "{err}"
    );
}

#[test]
fn a_secret_typed_into_the_wrong_field_is_not_echoed_in_any_format() {
    let secret = "sk-live-0123456789abcdef";
    let cases = [
        (
            format!(
                "[[accounts]]\nname = \"a\"\nprovider = {{ kind = \"sim\" }}\nlimits = {{ rpm = \"{secret}\" }}\n"
            ),
            Format::Toml,
        ),
        (
            format!(
                "accounts:\n  - name: a\n    provider: {{ kind: sim }}\n    limits: {{ rpm: \"{secret}\" }}\n"
            ),
            Format::Yaml,
        ),
        (
            format!(
                r#"{{"accounts": [{{"name": "a", "provider": {{"kind": "sim"}}, "limits": {{"rpm": "{secret}"}}}}]}}"#
            ),
            Format::Json,
        ),
    ];
    for (text, format) in cases {
        let found = problems(&text, format);
        let shown = found.join("\n");
        assert!(!shown.contains(secret), "{format:?}: {shown}");
        assert!(
            shown.contains("accounts[0].limits.rpm: invalid type: a string, expected u32"),
            "{format:?}: {shown}"
        );
    }
}
