//! How the Anthropic adapter fails, against a local server: every error class, rate-limit
//! delays, broken and malformed answers, timeouts, secrets kept out of errors, and a
//! `Router` falling back from an overloaded Anthropic target.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use routewise::provider::HttpTimeouts;
use routewise::provider::anthropic::Anthropic;
use routewise::{
    AccountInfo, AttemptOutcome, ErrorKind, Provider, ProviderAccount, ProviderError, Purpose,
    Router, SamplingParams, StepType,
};
use support::anthropic::{self as claude, API_KEY, HEADER_SECRET, MODEL, SECRETS, fixture, shape};
use support::wire::{assert_secret_free, collect_routed, fallback_router};
use support::wire_server::{End, Hangup, RecordingServer, Reply, raw_server, refused_url};

async fn server() -> (RecordingServer, AccountInfo) {
    let server = RecordingServer::start([]).await;
    let account = claude::account(server.url());
    (server, account)
}

/// The error of a `complete` call answered with `reply`, and of a `stream` call answered
/// the same way.
async fn errors_for(anthropic: &Anthropic, reply: Reply) -> (ProviderError, ProviderError) {
    let (server, account) = server().await;
    server.reply(reply.clone()).reply(reply);
    let complete = claude::complete(anthropic, &account, &shape("plain"))
        .await
        .unwrap_err();
    let (_, stream) = claude::stream(anthropic, &account, &shape("plain")).await;
    (complete, stream.expect("the stream fails"))
}

#[tokio::test]
async fn every_error_class_is_classified_with_the_providers_message() {
    let anthropic = Anthropic::new();
    let cases = [
        ("error_invalid_request.json", 400, ErrorKind::InvalidRequest),
        (
            "error_prompt_too_long.json",
            400,
            ErrorKind::ContextLengthExceeded,
        ),
        ("error_authentication.json", 401, ErrorKind::Auth),
        ("error_billing.json", 402, ErrorKind::Auth),
        ("error_permission.json", 403, ErrorKind::Auth),
        ("error_not_found.json", 404, ErrorKind::NotFound),
        (
            "error_request_too_large.json",
            413,
            ErrorKind::ContextLengthExceeded,
        ),
        ("error_rate_limit.json", 429, ErrorKind::RateLimited),
        ("error_api.json", 500, ErrorKind::ServerError),
        ("error_timeout.json", 504, ErrorKind::Timeout),
        ("error_overloaded.json", 529, ErrorKind::Overloaded),
    ];
    for (name, status, kind) in cases {
        let body: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
        let expected = format!(
            "{}: {}",
            body["error"]["type"].as_str().unwrap(),
            body["error"]["message"].as_str().unwrap()
        );
        let (complete, stream) = errors_for(&anthropic, Reply::json(status, fixture(name))).await;
        for error in [complete, stream] {
            assert_eq!(error.kind(), kind, "{name}");
            assert_eq!(error.status(), Some(status), "{name}");
            assert_eq!(error.message(), expected, "{name}");
        }
    }
}

/// `at` as an RFC 3339 UTC timestamp (civil-from-days, Howard Hinnant's algorithm).
fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[tokio::test]
async fn rate_limits_say_when_to_retry_from_retry_after_or_the_reset_headers() {
    let anthropic = Anthropic::new();
    let (error, _) = errors_for(
        &anthropic,
        Reply::json(429, fixture("error_rate_limit.json")).header("retry-after", "17"),
    )
    .await;
    assert_eq!(error.retry_after(), Some(Duration::from_secs(17)));

    let now = SystemTime::now();
    let reply = Reply::json(429, fixture("error_rate_limit.json"))
        .header("anthropic-ratelimit-requests-remaining", "49")
        .header(
            "anthropic-ratelimit-requests-reset",
            rfc3339(now + Duration::from_secs(2)),
        )
        .header("anthropic-ratelimit-input-tokens-remaining", "0")
        .header(
            "anthropic-ratelimit-input-tokens-reset",
            rfc3339(now + Duration::from_secs(30)),
        );
    let (complete, stream) = errors_for(&anthropic, reply).await;
    for error in [complete, stream] {
        let after = error.retry_after().expect("a delay from the reset headers");
        assert!(
            (Duration::from_secs(27)..=Duration::from_secs(30)).contains(&after),
            "the exhausted input-token limit resets in about 30 s, got {after:?}"
        );
    }
}

#[tokio::test]
async fn error_bodies_that_are_not_anthropic_errors_keep_the_status_kind() {
    let anthropic = Anthropic::new();
    let (error, _) = errors_for(
        &anthropic,
        Reply::raw(502, "text/html", "<html>502 Bad Gateway</html>"),
    )
    .await;
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert_eq!(error.status(), Some(502));
    assert!(error.message().contains("502 Bad Gateway"), "{error}");
}

#[tokio::test]
async fn success_bodies_that_are_not_messages_are_malformed_responses() {
    let anthropic = Anthropic::new();
    let text = fixture("message_text.json");
    for body in [&text[..text.len() / 2], "{\"type\": \"message\"}", "OK"] {
        let (server, account) = server().await;
        server.reply(Reply::json(200, body));
        let error = claude::complete(&anthropic, &account, &shape("plain"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::MalformedResponse, "{body}");
    }
}

#[tokio::test]
async fn refused_reset_and_broken_connections_are_connection_errors() {
    let anthropic = Anthropic::new();
    let closing = raw_server(Vec::new(), Hangup::Close).await;
    for base_url in [refused_url().await, closing] {
        let account = claude::account(&base_url);
        let error = claude::complete(&anthropic, &account, &shape("plain"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Connection, "{base_url}: {error}");
    }
    let text = fixture("message_text.json");
    let (complete, _) =
        errors_for(&anthropic, Reply::json(200, &text[..40]).then(End::Break)).await;
    assert_eq!(complete.kind(), ErrorKind::Connection, "{complete}");
    let stream_text = fixture("stream_text.sse");
    let (server, account) = server().await;
    let after_the_text = &stream_text[..stream_text.find("event: content_block_stop").unwrap()];
    server.reply(Reply::sse(after_the_text).then(End::Break));
    let (events, error) = claude::stream(&anthropic, &account, &shape("plain")).await;
    // The server drops what it had not flushed when it breaks the connection; what did
    // arrive was delivered before the error.
    assert!(!events.is_empty(), "text before the break arrives");
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out_on_the_first_byte() {
    let (server, account) = server().await;
    server.reply(Reply::hang()).reply(Reply::hang());
    let anthropic = Anthropic::new().timeouts(HttpTimeouts::default().read(Duration::from_secs(5)));
    let error = claude::complete(&anthropic, &account, &shape("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    let (_, error) = claude::stream(&anthropic, &account, &shape("plain")).await;
    assert_eq!(error.unwrap().kind(), ErrorKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_ends_hits_the_total_timeout() {
    let (server, account) = server().await;
    let text = fixture("message_text.json");
    server.reply(Reply::json(200, &text[..40]).then(End::Stall));
    let timeouts = HttpTimeouts::default()
        .read(Duration::from_secs(3600))
        .total(Duration::from_secs(30));
    let started = tokio::time::Instant::now();
    let error = claude::complete(
        &Anthropic::new().timeouts(timeouts),
        &account,
        &shape("plain"),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(started.elapsed() < Duration::from_secs(3600));
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
    let (server, account) = server().await;
    let late = Reply::json(200, fixture("message_text.json")).after(LATE);
    server.reply(late.clone()).reply(late);

    let error = claude::complete(&Anthropic::new().timeouts(on), &account, &shape("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");

    let response = claude::complete(&Anthropic::new().timeouts(off), &account, &shape("plain"))
        .await
        .unwrap();
    assert_eq!(response.content, "Hello! How can I help you today?");
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
    let (server, account) = server().await;
    let hour = Duration::from_secs(3600);
    server
        .reply(Reply::json(200, fixture("message_text.json")).after(hour))
        .reply(Reply::json(200, fixture("models_list.json")).after(hour));
    let anthropic =
        Anthropic::new().timeouts(HttpTimeouts::default().without_read().without_total());

    let response = claude::complete(&anthropic, &account, &shape("plain"))
        .await
        .unwrap();
    assert_eq!(response.content, "Hello! How can I help you today?");
    anthropic.health_check(&account).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_stalls_times_out_between_chunks() {
    let (server, account) = server().await;
    let text = fixture("stream_text.sse");
    let before_stop = &text[..text.find("event: message_stop").unwrap()];
    server.reply(Reply::sse(before_stop).then(End::Stall));
    let anthropic = Anthropic::new().timeouts(HttpTimeouts::default().read(Duration::from_secs(5)));
    let (events, error) = claude::stream(&anthropic, &account, &shape("plain")).await;
    assert!(!events.is_empty());
    assert_eq!(error.unwrap().kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn the_api_key_and_header_secrets_never_appear_in_errors() {
    let anthropic = Anthropic::new();
    let mut errors = Vec::new();
    let echo = fixture("error_authentication_echo.json").replace("$API_KEY", API_KEY);
    let (complete, stream) = errors_for(&anthropic, Reply::json(401, echo)).await;
    assert_eq!(
        complete.message(),
        "authentication_error: invalid x-api-key: [REDACTED]"
    );
    errors.extend([complete, stream]);
    let echo = format!("upstream rejected key {API_KEY} and token {HEADER_SECRET}");
    let (complete, stream) = errors_for(&anthropic, Reply::raw(500, "text/plain", echo)).await;
    assert!(complete.message().contains("[REDACTED]"), "{complete}");
    errors.extend([complete, stream]);
    let (complete, stream) = errors_for(
        &anthropic,
        Reply::json(529, fixture("error_overloaded.json")),
    )
    .await;
    errors.extend([complete, stream]);
    let account = claude::account(&refused_url().await);
    errors.push(
        claude::complete(&anthropic, &account, &shape("plain"))
            .await
            .unwrap_err(),
    );
    for error in errors {
        assert_secret_free(&error, &SECRETS);
    }
}

fn router(busy: &RecordingServer, healthy: &RecordingServer) -> Router {
    let anthropic = Anthropic::new();
    let account = |name: &str, server: &RecordingServer| {
        ProviderAccount::new(name.to_owned(), anthropic.clone())
            .api_key(API_KEY)
            .base_url(server.url())
    };
    fallback_router(
        (account("claude-busy", busy), MODEL),
        (account("claude-backup", healthy), "claude-haiku-4-5"),
        SamplingParams::new().max_tokens(256),
    )
}

#[tokio::test]
async fn the_router_falls_back_from_an_overloaded_anthropic_target_to_the_next() {
    let busy = RecordingServer::start([]).await;
    let healthy = RecordingServer::start([]).await;
    busy.reply(Reply::json(529, fixture("error_overloaded.json")));
    healthy.reply(Reply::json(200, fixture("message_text.json")));
    let router = router(&busy, &healthy);
    let response = router
        .complete(StepType::Inference, Purpose::Chat, shape("plain"))
        .await
        .unwrap();
    assert_eq!(response.content, "Hello! How can I help you today?");
    assert_eq!(&*response.served_by.account, "claude-backup");
    assert_eq!(response.usage.cached_input_tokens, 2048);
    let AttemptOutcome::Failed { error } = &response.attempts[0].outcome else {
        panic!("the first attempt failed");
    };
    assert_eq!(error.kind(), ErrorKind::Overloaded);
    assert_eq!(response.fallbacks(), 1);
    let first = busy.single_request().body;
    assert_eq!(
        (first["model"].as_str(), first["max_tokens"].as_u64()),
        (Some(MODEL), Some(256))
    );
    assert_eq!(healthy.single_request().body["model"], "claude-haiku-4-5");
}

#[tokio::test]
async fn a_routed_stream_falls_back_from_an_overloaded_anthropic_target() {
    let busy = RecordingServer::start([]).await;
    let healthy = RecordingServer::start([]).await;
    busy.reply(Reply::json(529, fixture("error_overloaded.json")));
    healthy.reply(Reply::sse(fixture("stream_text.sse")));
    let router = router(&busy, &healthy);
    let stream = router
        .stream(StepType::Inference, Purpose::Chat, shape("plain"))
        .await
        .unwrap();
    let (text, done) = collect_routed(stream).await;
    assert_eq!(text, "Hello, world! é😀");
    assert_eq!(&*done.served_by.account, "claude-backup");
    assert_eq!(done.usage.output_tokens, 15);
    assert_eq!(done.fallbacks(), 1);
    assert_eq!(healthy.single_request().body["stream"], true);
}
