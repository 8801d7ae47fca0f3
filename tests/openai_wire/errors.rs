//! HTTP errors: every status and OpenAI error body maps to the right [`ErrorKind`], keeps
//! the provider's message, carries retry-after, and never shows a secret.

use std::time::Duration;

use routewise::provider::openai::OpenAi;
use routewise::{ErrorKind, ProviderAccount, ProviderError};

use super::support::openai_cases::case;
use super::support::wire::assert_secret_free;
use super::support::wire_server::{RecordingServer, Reply, fixture};
use super::{HEADER_SECRET, KEY, SECRETS, account_at, complete};

/// One scripted failure and what it must become.
struct Expect {
    reply: Reply,
    kind: ErrorKind,
    status: Option<u16>,
    retry_after: Option<Duration>,
    message: &'static str,
}

fn expect(reply: Reply, kind: ErrorKind, status: u16, message: &'static str) -> Expect {
    Expect {
        reply,
        kind,
        status: Some(status),
        retry_after: None,
        message,
    }
}

fn error_reply(status: u16, name: &str) -> Reply {
    Reply::json(status, fixture(&format!("openai/error_{name}.json")))
}

async fn fail_with(openai: &OpenAi, reply: Reply) -> ProviderError {
    let server = RecordingServer::start([reply]).await;
    complete(openai, &account_at(&server), &case("plain"))
        .await
        .unwrap_err()
}

async fn check(cases: Vec<Expect>) {
    let openai = OpenAi::new();
    for expected in cases {
        let error = fail_with(&openai, expected.reply.clone()).await;
        let label = format!("{:?}", expected.reply);
        assert_eq!(error.kind(), expected.kind, "{label}: {error}");
        assert_eq!(error.status(), expected.status, "{label}");
        assert_eq!(error.retry_after(), expected.retry_after, "{label}");
        assert!(
            error.message().contains(expected.message),
            "{label}: `{error}` lacks `{}`",
            expected.message
        );
        assert_secret_free(&error, &SECRETS);
    }
}

#[tokio::test]
async fn rate_limits_carry_the_wait_from_any_retry_header() {
    let limited = || error_reply(429, "rate_limit");
    let with_wait = |reply: Reply, wait| Expect {
        retry_after: Some(wait),
        ..expect(
            reply,
            ErrorKind::RateLimited,
            429,
            "Rate limit reached for gpt-4o",
        )
    };
    check(vec![
        with_wait(
            limited().header("retry-after-ms", "1500"),
            Duration::from_millis(1500),
        ),
        with_wait(
            limited().header("retry-after", "20"),
            Duration::from_secs(20),
        ),
        with_wait(
            limited()
                .header("x-ratelimit-reset-requests", "6m0s")
                .header("x-ratelimit-reset-tokens", "2.094s"),
            Duration::from_millis(2094),
        ),
        expect(
            limited(),
            ErrorKind::RateLimited,
            429,
            "code rate_limit_exceeded",
        ),
        expect(
            error_reply(429, "insufficient_quota"),
            ErrorKind::RateLimited,
            429,
            "You exceeded your current quota",
        ),
    ])
    .await;
}

#[tokio::test]
async fn auth_failures_are_auth_errors() {
    check(vec![
        expect(
            error_reply(401, "invalid_api_key"),
            ErrorKind::Auth,
            401,
            "Incorrect API key provided",
        ),
        expect(
            error_reply(403, "region_forbidden"),
            ErrorKind::Auth,
            403,
            "Country, region, or territory not supported",
        ),
    ])
    .await;
}

#[tokio::test]
async fn request_errors_are_classified_by_code_and_message() {
    check(vec![
        expect(
            error_reply(400, "unknown_parameter"),
            ErrorKind::InvalidRequest,
            400,
            "Unrecognized request argument supplied: max_tokns",
        ),
        expect(
            error_reply(400, "unsupported_max_tokens"),
            ErrorKind::UnsupportedParameter,
            400,
            "param max_tokens",
        ),
        expect(
            error_reply(400, "context_length_exceeded"),
            ErrorKind::ContextLengthExceeded,
            400,
            "maximum context length is 128000 tokens",
        ),
        expect(
            error_reply(400, "context_length_message"),
            ErrorKind::ContextLengthExceeded,
            400,
            "maximum context length is 8192 tokens",
        ),
        expect(
            Reply::raw(
                413,
                "text/html",
                "<html><body>413 Request Entity Too Large</body></html>",
            ),
            ErrorKind::ContextLengthExceeded,
            413,
            "413 Request Entity Too Large",
        ),
        expect(
            error_reply(400, "content_policy_violation"),
            ErrorKind::ContentFiltered,
            400,
            "rejected as a result of our safety system",
        ),
        expect(
            error_reply(404, "model_not_found"),
            ErrorKind::NotFound,
            404,
            "The model `gpt-5-turbo` does not exist",
        ),
    ])
    .await;
}

#[tokio::test]
async fn server_failures_are_server_errors_or_overloaded() {
    check(vec![
        expect(
            error_reply(500, "server_error"),
            ErrorKind::ServerError,
            500,
            "The server had an error",
        ),
        expect(
            Reply::raw(
                502,
                "text/html",
                "<html><head><title>502 Bad Gateway</title></head></html>",
            ),
            ErrorKind::ServerError,
            502,
            "502 Bad Gateway",
        ),
        expect(
            Reply::raw(504, "text/plain", ""),
            ErrorKind::ServerError,
            504,
            "Gateway Timeout",
        ),
        Expect {
            retry_after: Some(Duration::from_secs(1)),
            ..expect(
                error_reply(503, "overloaded").header("retry-after", "1"),
                ErrorKind::Overloaded,
                503,
                "The engine is currently overloaded",
            )
        },
    ])
    .await;
}

#[tokio::test]
async fn compatible_servers_error_shapes_are_understood() {
    check(vec![
        // vLLM: `code` is the status as a number and the message names the context limit.
        expect(
            Reply::json(400, r#"{"object":"error","message":"This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.","type":"BadRequestError","param":null,"code":400}"#),
            ErrorKind::ContextLengthExceeded,
            400,
            "maximum context length is 8192 tokens",
        ),
        // Ollama: `error` is a bare string.
        expect(
            Reply::json(404, r#"{"error":"model \"llama9\" not found, try pulling it first"}"#),
            ErrorKind::NotFound,
            404,
            "model \"llama9\" not found",
        ),
        // Azure: content filtering is code `content_filter`.
        expect(
            Reply::json(400, r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400}}"#),
            ErrorKind::ContentFiltered,
            400,
            "content management policy",
        ),
        // FastAPI-style servers answer `{"detail": ...}`.
        expect(
            Reply::json(422, r#"{"detail":[{"loc":["body","messages"],"msg":"field required"}]}"#),
            ErrorKind::InvalidRequest,
            422,
            "field required",
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_content_filter_finish_is_content_filtered() {
    let error = fail_with(
        &OpenAi::new(),
        Reply::json(200, fixture("openai/chat_content_filter.json")),
    )
    .await;
    assert_eq!(error.kind(), ErrorKind::ContentFiltered);
    assert!(error.message().contains("content_filter"), "{error}");
}

#[tokio::test]
async fn bodies_that_are_not_chat_completions_are_malformed() {
    let openai = OpenAi::new();
    for body in [
        "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"message\":",
        "<html>not json</html>",
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[]}",
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\"}]}}]}",
    ] {
        let error = fail_with(&openai, Reply::json(200, body)).await;
        assert_eq!(
            error.kind(),
            ErrorKind::MalformedResponse,
            "{body}: {error}"
        );
        assert_eq!(error.status(), None);
    }
}

#[tokio::test]
async fn secrets_echoed_by_the_provider_are_redacted() {
    let echo = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY} (header {HEADER_SECRET})","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#
    );
    let server = RecordingServer::start([Reply::json(401, echo)]).await;
    let account = ProviderAccount::new("openai-test", OpenAi::new())
        .api_key(KEY)
        .base_url(server.base("/v1"))
        .header("x-gateway-token", HEADER_SECRET);
    let error = complete(&OpenAi::new(), account.info(), &case("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert!(
        error
            .message()
            .contains("Incorrect API key provided: [REDACTED] (header [REDACTED])"),
        "{error}"
    );
    assert_secret_free(&error, &SECRETS);
    assert!(!format!("{account:?}").contains(KEY));
}
