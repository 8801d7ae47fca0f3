//! `kind = "bedrock"` accounts in config files: the settings a file can give, the
//! problems it reports, and a router built from a file calling a local Converse server.
#![cfg(all(feature = "bedrock", feature = "toml"))]

mod support;

use routewise::config::{Format, RouterConfig};
use routewise::{Purpose, Router, StepType};
use support::bedrock::fixture;
use support::wire_server::{RecordingServer, Reply};

fn config_text(base_url: &str, provider: &str) -> String {
    format!(
        r#"
[[accounts]]
name = "bedrock"
provider = {provider}
api_key = "${{BEDROCK_API_KEY}}"
base_url = "{base_url}"

[[models]]
name = "claude"
targets = [{{ account = "bedrock", model = "us.anthropic.claude-haiku-4-5-20251001-v1:0" }}]

[[policies]]
name = "default"
route = ["claude"]
"#
    )
}

fn env(name: &str) -> Option<String> {
    (name == "BEDROCK_API_KEY").then(|| "bedrock-api-key-from-env".to_owned())
}

#[tokio::test]
async fn a_bedrock_account_from_a_file_calls_converse_with_its_api_key() {
    let server = RecordingServer::start([Reply::json(200, fixture("converse_text.json"))]).await;
    let text = config_text(
        server.url(),
        r#"{ kind = "bedrock", region = "eu-central-1", timeouts = { read = "30s" } }"#,
    );
    let config = RouterConfig::from_str_format(&text, Format::Toml).unwrap();
    let router = Router::from_config_with_env(&config, &env).unwrap();
    let response = router
        .complete(
            StepType::Inference,
            Purpose::Chat,
            routewise::ChatRequest::user("Hi"),
        )
        .await
        .unwrap();
    assert_eq!(response.content, "Hello! How can I help you today?");
    let request = server.single_request();
    assert_eq!(
        request.path,
        "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse"
    );
    assert_eq!(
        request.header("authorization"),
        Some("Bearer bedrock-api-key-from-env")
    );
}

#[test]
fn bad_bedrock_settings_are_reported_where_they_are_written() {
    let problems = |provider: &str| -> Vec<String> {
        let text = config_text("http://127.0.0.1:9", provider);
        match RouterConfig::from_str_format(&text, Format::Toml) {
            Err(error) => vec![error.to_string()],
            Ok(config) => Router::from_config_with_env(&config, &env)
                .unwrap_err()
                .problems()
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    };
    let region = problems(r#"{ kind = "bedrock", region = "us east 1" }"#);
    assert_eq!(region.len(), 1, "{region:?}");
    assert!(
        region[0].starts_with("accounts[0].provider.region: `us east 1` is not an AWS region name"),
        "{region:?}"
    );
    let contradiction =
        problems(r#"{ kind = "bedrock", profile = "prod", credentials = "environment" }"#);
    assert!(
        contradiction[0].starts_with(
            "accounts[0].provider.credentials: `environment` and a `profile` contradict"
        ),
        "{contradiction:?}"
    );
    let misspelled = problems(r#"{ kind = "bedrock", regoin = "us-east-1" }"#);
    assert!(
        misspelled[0].contains("unknown field `regoin`"),
        "{misspelled:?}"
    );
    assert!(
        misspelled[0].contains("did you mean `region`"),
        "{misspelled:?}"
    );
}

#[test]
fn profiles_and_credential_sources_are_accepted() {
    for provider in [
        r#"{ kind = "bedrock" }"#,
        r#"{ kind = "bedrock", profile = "prod" }"#,
        r#"{ kind = "bedrock", region = "ap-southeast-2", credentials = "standard" }"#,
        r#"{ kind = "bedrock", credentials = "environment" }"#,
    ] {
        let config = RouterConfig::from_str_format(
            &config_text("http://127.0.0.1:9", provider),
            Format::Toml,
        )
        .unwrap();
        assert!(
            Router::from_config_with_env(&config, &env).is_ok(),
            "{provider}"
        );
    }
}
