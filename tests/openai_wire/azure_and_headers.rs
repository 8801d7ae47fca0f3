//! Azure OpenAI, account headers, compatible endpoints without keys, and health checks.

use routewise::provider::openai::OpenAi;
use routewise::{ErrorKind, Provider, ProviderAccount};

use super::support::openai_cases::case;
use super::support::wire::{assert_secret_free, text_of};
use super::support::wire_server::{RecordingServer, Reply, fixture};
use super::{HEADER_SECRET, KEY, SECRETS, account, account_at, complete, stream};

#[tokio::test]
async fn azure_calls_the_deployment_with_api_version_and_an_api_key_header() {
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/chat_text.json")),
        Reply::sse(fixture("openai/stream_text.sse")),
    ])
    .await;
    let azure = OpenAi::azure("2024-10-21");
    let resource = account(server.url());
    let mut request = case("plain");
    request.model = "prod-gpt4o";
    let response = complete(&azure, &resource, &request).await.unwrap();
    let (events, error) = stream(&azure, &resource, &request).await;
    assert!(error.is_none(), "{error:?}");

    assert_eq!(response.content, "Hello! How can I assist you today?");
    assert_eq!(text_of(&events), "Hello! How can I help you today?");
    for sent in server.requests() {
        assert_eq!(sent.path, "/openai/deployments/prod-gpt4o/chat/completions");
        assert_eq!(sent.query.as_deref(), Some("api-version=2024-10-21"));
        assert_eq!(sent.header("api-key"), Some(KEY));
        assert!(sent.headers.get("authorization").is_none());
        assert_eq!(sent.body["model"], "prod-gpt4o");
    }
    assert_eq!(azure.provider_name(), "az.ai.openai");
}

#[tokio::test]
async fn account_headers_are_sent_and_can_replace_the_auth_header() {
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/chat_text.json")),
        Reply::json(200, fixture("openai/chat_text.json")),
    ])
    .await;
    let org = ProviderAccount::new("openai-org", OpenAi::new())
        .api_key(KEY)
        .base_url(server.base("/v1"))
        .header("OpenAI-Organization", "org-abc123")
        .header("x-gateway-token", HEADER_SECRET);
    complete(&OpenAi::new(), org.info(), &case("plain"))
        .await
        .unwrap();
    let entra = ProviderAccount::new("azure-entra", OpenAi::new())
        .base_url(server.url())
        .header("Authorization", "Bearer entra-id-token");
    complete(&OpenAi::azure("2024-10-21"), entra.info(), &case("plain"))
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(
        requests[0].header("openai-organization"),
        Some("org-abc123")
    );
    assert_eq!(requests[0].header("x-gateway-token"), Some(HEADER_SECRET));
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer entra-id-token")
    );
    assert!(requests[1].headers.get("api-key").is_none());
}

#[tokio::test]
async fn a_keyless_compatible_server_gets_no_auth_header() {
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let ollama = ProviderAccount::new("ollama", OpenAi::new()).base_url(server.base("/v1"));
    let mut request = case("plain");
    request.model = "llama3.2";
    complete(&OpenAi::new(), ollama.info(), &request)
        .await
        .unwrap();
    let sent = server.single_request();
    assert!(sent.headers.get("authorization").is_none());
    assert_eq!(sent.body["model"], "llama3.2");
}

#[tokio::test]
async fn health_checks_list_models() {
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/models.json")),
        Reply::json(200, fixture("openai/models.json")),
        Reply::json(401, fixture("openai/error_invalid_api_key.json")),
    ])
    .await;
    OpenAi::new()
        .health_check(&account_at(&server))
        .await
        .unwrap();
    OpenAi::azure("2024-10-21")
        .health_check(&account(server.url()))
        .await
        .unwrap();
    let error = OpenAi::new()
        .health_check(&account_at(&server))
        .await
        .unwrap_err();

    let requests = server.requests();
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/v1/models");
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(requests[1].path, "/openai/models");
    assert_eq!(requests[1].query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(requests[1].header("api-key"), Some(KEY));
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert_eq!(error.status(), Some(401));
    assert_secret_free(&error, &SECRETS);
}

#[tokio::test]
async fn azure_without_a_base_url_fails_without_calling_anything() {
    let nowhere = ProviderAccount::new("azure-eu", OpenAi::new()).api_key(KEY);
    let error = complete(&OpenAi::azure("2024-10-21"), nowhere.info(), &case("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert!(
        error
            .message()
            .contains("account `azure-eu` has no base url"),
        "{error}"
    );
    assert_secret_free(&error, &SECRETS);
}
