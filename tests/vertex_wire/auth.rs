//! Tokens: fetched once and shared, refreshed when one expires mid-run, single-flight
//! under concurrency, from every kind of source; a refused refresh takes the account out
//! of rotation; keys and tokens never show.

use std::sync::Arc;
use std::time::Duration;

use routewise::provider::vertex::{GoogleCredentials, Vertex};
use routewise::resilience::CredentialsBackoff;
use routewise::{
    ChatRequest, ErrorKind, LogicalModel, Policy, Provider, ProviderAccount, ProviderRequest,
    Purpose, Router, SamplingParams, StepType, Target,
};
use serde_json::json;

use super::{CLAUDE, GEMINI, complete_at};
use crate::support::vertex::{
    PROJECT, TokenServer, account, account_with, assert_signed_grant, private_key_pem,
};
use crate::support::wire::assert_secret_free;
use crate::support::wire_server::{RecordingServer, Reply, fixture};

fn gemini_ok() -> Reply {
    Reply::json(200, fixture("gemini/text.json"))
}

#[tokio::test]
async fn one_token_serves_every_call_until_it_nears_expiry_then_one_new_one_is_fetched() {
    let api = RecordingServer::start((0..4).map(|_| gemini_ok())).await;
    let tokens = TokenServer::start().await;
    let account = account(&api, &tokens, "vertex");
    let vertex = Vertex::new(PROJECT, "us-east5", tokens.service_account());
    let chat = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    let call = || {
        vertex.complete(ProviderRequest::new(
            GEMINI,
            account.info(),
            &chat,
            &defaults,
        ))
    };
    call().await.unwrap();
    call().await.unwrap();
    // The hour-long token is now 56 minutes old: inside the five minutes before expiry.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(56 * 60)).await;
    tokio::time::resume();
    call().await.unwrap();
    call().await.unwrap();

    let sent: Vec<Option<String>> = api
        .requests()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        sent,
        [
            "Bearer tok-1",
            "Bearer tok-1",
            "Bearer tok-2",
            "Bearer tok-2"
        ]
        .map(|t| Some(t.to_owned()))
    );
    assert_eq!(
        tokens.requests().len(),
        2,
        "two token requests for four calls"
    );
    for grant in tokens.requests() {
        assert_signed_grant(&grant, &tokens.token_url());
    }
}

#[tokio::test]
async fn concurrent_first_calls_share_one_token_request() {
    let api = RecordingServer::start((0..8).map(|_| gemini_ok())).await;
    let tokens = TokenServer::start().await;
    let account = Arc::new(account(&api, &tokens, "vertex"));
    let vertex = Vertex::new(PROJECT, "us-east5", tokens.service_account());
    let calls = (0..8).map(|_| {
        let (vertex, account) = (vertex.clone(), account.clone());
        tokio::spawn(async move {
            let chat = ChatRequest::user("hi");
            let defaults = SamplingParams::default();
            vertex
                .complete(ProviderRequest::new(
                    GEMINI,
                    account.info(),
                    &chat,
                    &defaults,
                ))
                .await
                .map(drop)
        })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert_eq!(api.requests().len(), 8);
    assert_eq!(tokens.requests().len(), 1);
}

#[tokio::test]
async fn a_token_the_api_refuses_is_dropped_and_the_next_call_fetches_another() {
    let unauthenticated = json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."}});
    let api =
        RecordingServer::start([Reply::json(401, unauthenticated.to_string()), gemini_ok()]).await;
    let tokens = TokenServer::start().await;
    let chat = ChatRequest::user("hi");
    let vertex = Vertex::new(PROJECT, "us-east5", tokens.service_account());
    let account = account(&api, &tokens, "vertex");
    let defaults = SamplingParams::default();
    let error = vertex
        .complete(ProviderRequest::new(
            GEMINI,
            account.info(),
            &chat,
            &defaults,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert_eq!(error.status(), Some(401));
    vertex
        .complete(ProviderRequest::new(
            GEMINI,
            account.info(),
            &chat,
            &defaults,
        ))
        .await
        .unwrap();
    let sent: Vec<_> = api
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["Bearer tok-1", "Bearer tok-2"]);
}

#[tokio::test]
async fn a_refused_refresh_puts_the_account_in_the_credentials_rejected_state() {
    let vertex_api = RecordingServer::start([]).await;
    let spare_api = RecordingServer::start((0..4).map(|_| gemini_ok())).await;
    let tokens = TokenServer::start().await;
    tokens.script(
        400,
        json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
    );
    let spare = ProviderAccount::new("spare", routewise::Gemini::new())
        .api_key("AIza-spare-key-0123456789")
        .base_url(spare_api.url());
    let router = Router::builder()
        .credentials_backoff(CredentialsBackoff::new(
            Duration::from_secs(600),
            Duration::from_secs(3600),
        ))
        .account(account(&vertex_api, &tokens, "vertex"))
        .account(spare)
        .model(
            LogicalModel::new("m")
                .target(Target::new("vertex", GEMINI))
                .target(Target::new("spare", GEMINI)),
        )
        .policy(Policy::new("p").route(["m"]).fallback_on(ErrorKind::Auth))
        .build()
        .unwrap();
    for _ in 0..3 {
        let response = router
            .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
            .await
            .unwrap();
        assert_eq!(&*response.served_by.account, "spare");
    }
    assert_eq!(
        tokens.requests().len(),
        1,
        "the refused account is not tried again"
    );
    assert!(
        vertex_api.requests().is_empty(),
        "no call went out without a token"
    );
    let status = router
        .accounts()
        .into_iter()
        .find(|a| a.name == "vertex")
        .unwrap();
    let rejected = status.credentials_rejected.expect("credentials rejected");
    assert_eq!(rejected.backoff_ms, 600_000);
    assert_eq!(router.stats().credentials_rejected, ["vertex"]);
}

#[tokio::test]
async fn token_endpoint_failures_are_classified_and_keep_keys_and_tokens_out() {
    let pem = private_key_pem();
    let key_line = pem.lines().nth(1).unwrap().to_owned();
    let cases = [
        (
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
            ErrorKind::Auth,
        ),
        (
            401,
            json!({"error": "unauthorized_client"}),
            ErrorKind::Auth,
        ),
        (
            403,
            json!({"error": "access_denied", "error_description": "account disabled"}),
            ErrorKind::Auth,
        ),
        (
            429,
            json!({"error": "rate_limit_exceeded"}),
            ErrorKind::RateLimited,
        ),
        (
            500,
            json!({"error": "internal_failure"}),
            ErrorKind::ServerError,
        ),
        (
            503,
            json!({"error": "temporarily_unavailable"}),
            ErrorKind::ServerError,
        ),
    ];
    for (status, body, kind) in cases {
        let api = RecordingServer::start([]).await;
        let tokens = TokenServer::start().await;
        tokens.script(status, body.clone());
        let error = complete_at(&api, &tokens, CLAUDE, &ChatRequest::user("hi"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{status}: {error}");
        assert_eq!(error.status(), Some(status));
        assert!(error.message().contains("account `vertex`"), "{error}");
        assert!(
            error.message().contains(body["error"].as_str().unwrap()),
            "{error}"
        );
        assert_secret_free(&error, &[&key_line, "tok-"]);
        assert!(api.requests().is_empty());
    }
}

#[tokio::test]
async fn an_unreachable_or_garbled_token_endpoint_is_transient_not_a_rejection() {
    let api = RecordingServer::start([]).await;
    let refused = crate::support::wire_server::refused_url().await;
    let credentials = GoogleCredentials::from_json(&crate::support::vertex::key_file())
        .unwrap()
        .token_url(format!("{refused}/token"));
    let account = account_with(&api, credentials.clone(), "vertex");
    let vertex = Vertex::new(PROJECT, "us-east5", credentials);
    let chat = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    let error = vertex
        .complete(ProviderRequest::new(
            GEMINI,
            account.info(),
            &chat,
            &defaults,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    assert!(error.message().contains("token endpoint"), "{error}");

    let tokens = TokenServer::start().await;
    tokens.script(200, json!({"token_type": "Bearer"}));
    let error = complete_at(&api, &tokens, GEMINI, &chat).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MalformedResponse, "{error}");
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn the_metadata_server_is_asked_with_its_flavor_header() {
    let api = RecordingServer::start([gemini_ok()]).await;
    let metadata = TokenServer::start().await;
    let credentials = GoogleCredentials::metadata_server_at(metadata.url());
    let account = account_with(&api, credentials.clone(), "vertex");
    let vertex = Vertex::new(PROJECT, "us-east5", credentials);
    let chat = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    vertex
        .complete(ProviderRequest::new(
            GEMINI,
            account.info(),
            &chat,
            &defaults,
        ))
        .await
        .unwrap();
    let [asked] = metadata.requests().try_into().unwrap();
    assert_eq!(asked.method, axum::http::Method::GET);
    assert_eq!(
        asked.path,
        "/computeMetadata/v1/instance/service-accounts/default/token"
    );
    assert_eq!(asked.headers["metadata-flavor"], "Google");
    assert_eq!(
        api.single_request().header("authorization"),
        Some("Bearer tok-1")
    );
}

#[tokio::test]
async fn gcloud_user_credentials_trade_their_refresh_token() {
    let api = RecordingServer::start([gemini_ok()]).await;
    let tokens = TokenServer::start().await;
    let file = json!({"type": "authorized_user", "client_id": "764086051850-x.apps.googleusercontent.com",
        "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": "1//0refresh-token/with+odd=chars",
        "quota_project_id": "routewise-tests"});
    let credentials = GoogleCredentials::from_json(&file.to_string())
        .unwrap()
        .token_url(tokens.token_url());
    assert_eq!(credentials.project_id(), Some("routewise-tests"));
    let debug = format!("{credentials:?}");
    assert!(
        !debug.contains("d-FL95Q19q7MQmFpd7hHD0Ty") && !debug.contains("1//0refresh"),
        "{debug}"
    );
    let account = account_with(&api, credentials.clone(), "vertex");
    let chat = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    Vertex::new(PROJECT, "us-east5", credentials)
        .complete(ProviderRequest::new(
            GEMINI,
            account.info(),
            &chat,
            &defaults,
        ))
        .await
        .unwrap();
    let [grant] = tokens.requests().try_into().unwrap();
    assert_eq!(grant.field("grant_type"), Some("refresh_token"));
    assert_eq!(
        grant.field("refresh_token"),
        Some("1//0refresh-token/with+odd=chars")
    );
    assert_eq!(
        grant.field("client_secret"),
        Some("d-FL95Q19q7MQmFpd7hHD0Ty")
    );
}

#[test]
fn service_account_keys_never_show_in_debug_or_errors() {
    let pem = private_key_pem();
    let key_line = pem.lines().nth(1).unwrap();
    let credentials = GoogleCredentials::from_json(&crate::support::vertex::key_file()).unwrap();
    let debug = format!("{credentials:?}");
    assert!(
        debug.contains("router@routewise-tests.iam.gserviceaccount.com"),
        "{debug}"
    );
    assert!(
        !debug.contains(key_line) && !debug.contains("PRIVATE KEY"),
        "{debug}"
    );
    let vertex = format!("{:?}", Vertex::new(PROJECT, "us-east5", credentials));
    assert!(!vertex.contains(key_line), "{vertex}");

    let mut broken: serde_json::Value =
        serde_json::from_str(&crate::support::vertex::key_file()).unwrap();
    let mangled = pem.replace(key_line, &key_line[..20]);
    broken["private_key"] = mangled.clone().into();
    let error = GoogleCredentials::from_json(&broken.to_string()).unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("private key"), "{shown}");
    assert!(!shown.contains(&key_line[..20]), "{shown}");
}

#[test]
fn credentials_files_of_other_types_say_what_is_supported() {
    let error = GoogleCredentials::from_json(r#"{"type": "external_account"}"#).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`external_account` are not supported"),
        "{error}"
    );
    let error = GoogleCredentials::from_file("/nonexistent/vertex-key.json").unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/vertex-key.json"),
        "{error}"
    );
}
