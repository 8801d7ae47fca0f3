//! Gemini's error statuses, broken answers and transport failures, each as the error kind
//! routing needs, with Gemini's message kept and the key kept out.

use std::time::Duration;

use routewise::provider::HttpTimeouts;
use routewise::provider::gemini::Gemini;
use routewise::{
    ChatRequest, ErrorKind, Provider, ProviderAccount, ProviderError, ProviderRequest,
    ProviderResponse, SamplingParams,
};
use serde_json::{Value, json};

use crate::support::gemini::{API_KEY, account, account_at, check, error_reply, fixture, ok_reply};
use crate::support::wire::assert_secret_free;
use crate::support::wire_server::{End, Hangup, RecordingServer, Reply, raw_server, refused_url};
use crate::{MODEL, complete};

fn fixture_message(name: &str) -> String {
    let body: Value = serde_json::from_str(&fixture(&format!("errors/{name}.json"))).unwrap();
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// A `complete` call of a plain "hello" through `account`.
async fn call_on(
    gemini: &Gemini,
    account: &ProviderAccount,
) -> Result<ProviderResponse, ProviderError> {
    let chat = ChatRequest::user("hello");
    let defaults = SamplingParams::default();
    gemini
        .complete(ProviderRequest::new(
            MODEL,
            account.info(),
            &chat,
            &defaults,
        ))
        .await
}

/// The error of a call through `account`, checked to be free of the key.
async fn complete_on(gemini: &Gemini, account: &ProviderAccount) -> ProviderError {
    let error = call_on(gemini, account).await.unwrap_err();
    assert_secret_free(&error, &[API_KEY]);
    error
}

#[tokio::test]
async fn every_gemini_error_status_maps_to_its_kind_and_keeps_the_message() {
    let cases = [
        (400, "invalid_argument", ErrorKind::InvalidRequest),
        (400, "context_too_long", ErrorKind::ContextLengthExceeded),
        (400, "api_key_invalid", ErrorKind::Auth),
        (400, "failed_precondition", ErrorKind::Auth),
        (401, "unauthenticated", ErrorKind::Auth),
        (403, "permission_denied", ErrorKind::Auth),
        (404, "not_found", ErrorKind::NotFound),
        (429, "resource_exhausted", ErrorKind::RateLimited),
        (500, "internal", ErrorKind::ServerError),
        (503, "unavailable", ErrorKind::Overloaded),
        (504, "deadline_exceeded", ErrorKind::Timeout),
    ];
    let server = RecordingServer::start(
        cases
            .iter()
            .map(|(status, name, _)| error_reply(*status, name)),
    )
    .await;

    for (status, name, kind) in cases {
        let error = complete(&server, &ChatRequest::user("hello"))
            .await
            .unwrap_err();

        assert_eq!(error.kind(), kind, "{name}");
        assert_eq!(error.status(), Some(status), "{name}");
        assert!(
            error.message().ends_with(&fixture_message(name)),
            "{name}: {error}"
        );
        assert_secret_free(&error, &[API_KEY]);
    }
    check(&server);
}

#[tokio::test]
async fn a_rate_limit_waits_for_retry_info_or_the_retry_after_header() {
    let server = RecordingServer::start([
        error_reply(429, "resource_exhausted"),
        error_reply(429, "resource_exhausted").header("retry-after", "7"),
    ])
    .await;

    let from_detail = complete(&server, &ChatRequest::user("a"))
        .await
        .unwrap_err();
    let from_header = complete(&server, &ChatRequest::user("b"))
        .await
        .unwrap_err();

    assert_eq!(from_detail.retry_after(), Some(Duration::from_secs(43)));
    assert_eq!(from_header.retry_after(), Some(Duration::from_secs(7)));
    check(&server);
}

#[tokio::test]
async fn an_api_key_echoed_in_an_error_is_redacted() {
    let body = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
        "message": format!("API key not valid: {API_KEY}. Please pass a valid API key.")}});
    let server = RecordingServer::start([Reply::json(400, body.to_string())]).await;

    let error = complete_on(&Gemini::new(), &account(&server, "google")).await;

    assert!(
        error.message().contains("API key not valid: [REDACTED]."),
        "{error}"
    );
    check(&server);
}

#[tokio::test]
async fn bodies_that_are_not_gemini_json_are_malformed_responses() {
    let truncated = fixture("text.json")[..120].to_owned();
    let server = RecordingServer::start([
        Reply::json(200, "<html><body>Service Unavailable</body></html>").unchecked(),
        Reply::json(200, truncated).unchecked(),
        Reply::json(200, r#"{"candidates": "none"}"#).unchecked(),
    ])
    .await;

    for _ in 0..3 {
        let error = complete_on(&Gemini::new(), &account(&server, "google")).await;
        assert_eq!(error.kind(), ErrorKind::MalformedResponse, "{error}");
    }
    check(&server);
}

#[tokio::test]
async fn an_error_status_with_a_proxy_page_follows_the_http_status() {
    let server =
        RecordingServer::start([
            Reply::json(502, "<html><title>502 Bad Gateway</title></html>").unchecked(),
        ])
        .await;

    let error = complete_on(&Gemini::new(), &account(&server, "google")).await;

    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert_eq!(error.status(), Some(502));
    assert!(error.message().contains("502 Bad Gateway"), "{error}");
    check(&server);
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_a_connection_error() {
    let url = raw_server(Vec::new(), Hangup::Close).await;
    let account = account_at(url);

    let error = complete_on(&Gemini::new(), &account).await;

    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
}

#[tokio::test]
async fn a_body_cut_short_by_the_connection_is_a_connection_error() {
    let body = fixture("text.json");
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body.as_bytes()[..body.len() / 2]);
    let url = raw_server(answer, Hangup::Close).await;
    let account = account_at(url);

    let error = complete_on(&Gemini::new(), &account).await;

    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error() {
    let account = account_at(refused_url().await);

    let error = complete_on(&Gemini::new(), &account).await;

    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_hits_the_first_byte_timeout() {
    let server = RecordingServer::start([Reply::hang()]).await;
    let gemini = Gemini::with_timeouts(HttpTimeouts::default().read(Duration::from_secs(5)));

    let error = complete_on(&gemini, &account(&server, "google")).await;

    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    check(&server);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_ends_hits_the_total_timeout() {
    let server = RecordingServer::start([Reply::json(200, "").then(End::Stall)]).await;
    let gemini = Gemini::with_timeouts(
        HttpTimeouts::default()
            .read(Duration::from_secs(3600))
            .total(Duration::from_secs(30)),
    );

    let error = complete_on(&gemini, &account(&server, "google")).await;

    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    check(&server);
}

// Real delays, unlike the paused-clock timeouts above: where the call should succeed
// with a timer still on, a paused clock could jump to that timer while the client waits
// for real socket I/O, before the server has even begun its delay.
const SHORT: Duration = Duration::from_millis(300);
/// How long a late server waits before answering: well past [`SHORT`].
const LATE: Duration = Duration::from_millis(700);

/// A late answer times out under `on` and arrives under `off`, the same settings with
/// that timeout turned off.
async fn times_out_then_arrives(on: HttpTimeouts, off: HttpTimeouts) {
    let late = ok_reply("text.json").after(LATE);
    let server = RecordingServer::start([late.clone(), late]).await;

    let error = complete_on(&Gemini::with_timeouts(on), &account(&server, "google")).await;
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");

    let response = call_on(&Gemini::with_timeouts(off), &account(&server, "google"))
        .await
        .unwrap();
    assert_eq!(response.content, "Oslo is the capital of Norway.");
    check(&server);
}

#[tokio::test]
async fn a_late_answer_times_out_on_a_short_total_and_arrives_with_the_total_timeout_off() {
    let timeouts = HttpTimeouts::default().total(SHORT);
    times_out_then_arrives(timeouts, timeouts.without_total()).await;
}

#[tokio::test]
async fn a_late_first_byte_times_out_on_a_short_read_and_arrives_with_the_read_timeout_off() {
    let timeouts = HttpTimeouts::default().read(SHORT);
    times_out_then_arrives(timeouts, timeouts.without_read()).await;
}

// With both timeouts off the client sets no timer once connected, so the paused clock
// can only jump to the server's hour; a timer left on would fire first.
#[tokio::test(start_paused = true)]
async fn with_read_and_total_off_no_timer_ends_a_call_an_hour_late() {
    let hour = Duration::from_secs(3600);
    let server = RecordingServer::start([
        ok_reply("text.json").after(hour),
        ok_reply("models.json").after(hour),
    ])
    .await;
    let gemini = Gemini::with_timeouts(HttpTimeouts::default().without_read().without_total());
    let account = account(&server, "google");

    let response = call_on(&gemini, &account).await.unwrap();
    assert_eq!(response.content, "Oslo is the capital of Norway.");
    gemini.health_check(account.info()).await.unwrap();
    check(&server);
}
