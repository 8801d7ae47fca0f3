//! A Vertex AI account from a config file: `kind = "vertex"` with its key file, token
//! endpoint and base URL, and the problems a bad one reports.
#![cfg(feature = "toml")]

use routewise::config::{Format, RouterConfig};
use routewise::{ChatRequest, Purpose, Router, StepType};

use super::GEMINI;
use crate::support::vertex::{TokenServer, assert_signed_grant, model_path};
use crate::support::wire_server::{RecordingServer, Reply, fixture};

fn key_path() -> String {
    format!(
        "{}/tests/fixtures/vertex/service_account.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn config_text(provider: &str, base_url: &str) -> String {
    format!(
        r#"
        [[accounts]]
        name = "vertex"
        provider = {provider}
        base_url = "{base_url}"

        [[models]]
        name = "m"
        targets = [{{ account = "vertex", model = "{GEMINI}" }}]

        [[policies]]
        name = "default"
        route = ["m"]
        "#
    )
}

#[tokio::test]
async fn a_config_file_account_signs_with_its_key_file_and_calls_its_project() {
    let api = RecordingServer::start([Reply::json(200, fixture("gemini/text.json"))]).await;
    let tokens = TokenServer::start().await;
    let provider = format!(
        r#"{{ kind = "vertex", project = "routewise-tests", location = "us-east5", service_account_file = "{}", token_url = "{}" }}"#,
        key_path(),
        tokens.token_url()
    );
    let config =
        RouterConfig::from_str_format(&config_text(&provider, api.url()), Format::Toml).unwrap();
    let router = Router::from_config(&config).unwrap();
    let response = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(response.content, "Oslo is the capital of Norway.");
    assert_eq!(
        api.single_request().path,
        model_path("google", GEMINI, "generateContent")
    );
    let [grant] = tokens.requests().try_into().unwrap();
    assert_signed_grant(&grant, &tokens.token_url());
}

#[test]
fn bad_vertex_settings_are_reported_with_their_paths() {
    let provider = r#"{ kind = "vertex", project = "", location = "us-east5", service_account_file = "/nonexistent/key.json", metadata_server = true }"#;
    let config =
        RouterConfig::from_str_format(&config_text(provider, "http://127.0.0.1:9"), Format::Toml)
            .unwrap();
    let error = Router::from_config(&config).unwrap_err();
    let problems: Vec<String> = error.problems().iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with("accounts[0].provider.project: must not be empty"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("accounts[0].provider.service_account_file: cannot be combined"),
        "{problems:#?}"
    );
    assert!(
        problems[2].contains("/nonexistent/key.json"),
        "{problems:#?}"
    );

    let unknown = r#"{ kind = "vertex", project = "p", location = "l", region = "us" }"#;
    let error =
        RouterConfig::from_str_format(&config_text(unknown, "http://127.0.0.1:9"), Format::Toml)
            .unwrap_err();
    assert!(error.to_string().contains("region"), "{error}");
}
