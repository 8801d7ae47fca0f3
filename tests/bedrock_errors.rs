//! How the Bedrock adapter fails, against a local server: every error shape of the
//! Converse operations, retry delays, credentials kept out of errors, and a `Router`
//! falling back from a throttled Bedrock target, with the calls counted at the servers.
#![cfg(feature = "bedrock")]

mod support;

use std::time::Duration;

use routewise::provider::bedrock::{AwsCredentials, Bedrock, CredentialSource};
use routewise::{
    AttemptOutcome, ErrorKind, ProviderAccount, ProviderError, Purpose, SamplingParams, StepType,
};
use support::bedrock::{self as aws, MODEL, SECRETS, bedrock, fixture, shape};
use support::wire::{assert_secret_free, fallback_router};
use support::wire_server::{RecordingServer, Reply};

/// An error answer the way Bedrock sends one: the type in `x-amzn-ErrorType`, the
/// message in the body.
fn aws_error(status: u16, error_type: &str, message: &str) -> Reply {
    Reply::json(
        status,
        serde_json::json!({ "message": message }).to_string(),
    )
    .header(
        "x-amzn-errortype",
        format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
    )
}

/// The errors of a `complete` call and of a `stream` call each answered with `reply`, and
/// how many calls the server saw.
async fn errors_for(reply: Reply) -> (ProviderError, ProviderError, usize) {
    let server = RecordingServer::start([reply.clone(), reply]).await;
    let account = aws::account(server.url());
    let complete = aws::complete(&bedrock(), &account, &shape("plain"))
        .await
        .unwrap_err();
    let (_, stream) = aws::stream(&bedrock(), &account, &shape("plain")).await;
    (
        complete,
        stream.expect("the stream fails"),
        server.requests().len(),
    )
}

#[tokio::test]
async fn every_bedrock_error_shape_is_classified_with_its_message() {
    let cases = [
        (
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
            ErrorKind::RateLimited,
        ),
        (
            400,
            "ServiceQuotaExceededException",
            "Your request exceeds the service quota.",
            ErrorKind::RateLimited,
        ),
        (
            503,
            "ServiceUnavailableException",
            "The service is unavailable. Try again later.",
            ErrorKind::Overloaded,
        ),
        (
            429,
            "ModelNotReadyException",
            "The model is not ready to serve inference requests.",
            ErrorKind::Overloaded,
        ),
        (
            408,
            "ModelTimeoutException",
            "The request took too long to process.",
            ErrorKind::Timeout,
        ),
        (
            400,
            "ValidationException",
            "Input is too long for requested model.",
            ErrorKind::ContextLengthExceeded,
        ),
        (
            400,
            "ValidationException",
            "prompt is too long: 210000 tokens > 200000 maximum",
            ErrorKind::ContextLengthExceeded,
        ),
        (
            400,
            "ValidationException",
            "The model returned the following errors: messages: field required",
            ErrorKind::InvalidRequest,
        ),
        (
            400,
            "ValidationException",
            "This model does not support the stopSequences field.",
            ErrorKind::UnsupportedParameter,
        ),
        (
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            ErrorKind::Auth,
        ),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            ErrorKind::Auth,
        ),
        (
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
            ErrorKind::Auth,
        ),
        (
            403,
            "ExpiredTokenException",
            "The security token included in the request is expired",
            ErrorKind::Auth,
        ),
        (
            404,
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier.",
            ErrorKind::NotFound,
        ),
        (
            500,
            "InternalServerException",
            "An internal server error occurred.",
            ErrorKind::ServerError,
        ),
        (
            424,
            "ModelErrorException",
            "The model produced an error.",
            ErrorKind::ServerError,
        ),
    ];
    for (status, error_type, message, kind) in cases {
        let (complete, stream, calls) = errors_for(aws_error(status, error_type, message)).await;
        assert_eq!(calls, 2, "{error_type}");
        for error in [complete, stream] {
            assert_eq!(error.kind(), kind, "{error_type} ({message}): {error}");
            assert_eq!(error.status(), Some(status));
            assert_eq!(error.message(), format!("{error_type}: {message}"));
        }
    }
}

#[tokio::test]
async fn a_retry_after_header_becomes_the_retry_delay() {
    let (complete, stream, _) = errors_for(
        aws_error(429, "ThrottlingException", "Rate exceeded").header("retry-after", "7"),
    )
    .await;
    for error in [complete, stream] {
        assert_eq!(error.kind(), ErrorKind::RateLimited);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    }
    let (complete, _, _) = errors_for(aws_error(429, "ThrottlingException", "Rate exceeded")).await;
    assert_eq!(complete.retry_after(), None);
}

#[tokio::test]
async fn a_type_only_in_the_body_and_a_body_that_is_not_bedrocks_still_classify() {
    let body_type = Reply::json(
        400,
        r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"Malformed input request"}"#,
    );
    let (error, _, _) = errors_for(body_type).await;
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert_eq!(
        error.message(),
        "ValidationException: Malformed input request"
    );
    let (error, _, _) = errors_for(Reply::raw(502, "text/html", "<html>Bad Gateway</html>")).await;
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert!(error.message().contains("not a Bedrock error"), "{error}");
}

#[tokio::test]
async fn credentials_never_show_in_errors_even_when_the_server_echoes_them() {
    let echo = format!(
        "The security token {} for {} is invalid; secret {}",
        aws::SESSION_TOKEN,
        aws::ACCESS_KEY_ID,
        aws::SECRET_ACCESS_KEY
    );
    let (complete, stream, _) =
        errors_for(aws_error(403, "UnrecognizedClientException", &echo)).await;
    for error in [complete, stream] {
        assert_eq!(error.kind(), ErrorKind::Auth);
        assert_secret_free(&error, &SECRETS);
        assert!(error.message().contains("[REDACTED]"), "{error}");
    }
    let shown = format!("{:?}", bedrock());
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[tokio::test]
async fn missing_credentials_fail_the_call_as_auth_without_calling() {
    let server = RecordingServer::start([]).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = Bedrock::new()
        .region("us-east-1")
        .credentials(CredentialSource::Profile(format!(
            "absent-{}",
            dir.path().display()
        )));
    let error = aws::complete(&missing, &aws::account(server.url()), &shape("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert!(error.message().contains("AWS profile `absent-"), "{error}");
    assert!(server.requests().is_empty());
}

fn router(throttled: &RecordingServer, healthy: &RecordingServer) -> routewise::Router {
    let account = |name: &str, server: &RecordingServer| {
        let keys = AwsCredentials::new(aws::ACCESS_KEY_ID, aws::SECRET_ACCESS_KEY)
            .session_token(aws::SESSION_TOKEN);
        ProviderAccount::new(
            name,
            Bedrock::new()
                .region(aws::REGION)
                .credentials(CredentialSource::Static(keys)),
        )
        .base_url(server.url())
    };
    fallback_router(
        (account("bedrock-us", throttled), MODEL),
        (
            account("bedrock-eu", healthy),
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        SamplingParams::new().max_tokens(256),
    )
}

#[tokio::test]
async fn the_router_falls_back_from_a_throttled_bedrock_region_to_the_next() {
    let throttled =
        RecordingServer::start([aws_error(429, "ThrottlingException", "Rate exceeded")]).await;
    let healthy = RecordingServer::start([Reply::json(200, fixture("converse_text.json"))]).await;
    let response = router(&throttled, &healthy)
        .complete(StepType::Inference, Purpose::Chat, shape("plain"))
        .await
        .unwrap();
    assert_eq!(response.content, "Hello! How can I help you today?");
    assert_eq!(&*response.served_by.account, "bedrock-eu");
    let AttemptOutcome::Failed { error } = &response.attempts[0].outcome else {
        panic!("the first attempt failed: {:?}", response.attempts[0]);
    };
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(throttled.requests().len(), 1);
    let served = healthy.single_request();
    assert_eq!(
        served.path,
        "/model/eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    assert_eq!(served.body["inferenceConfig"]["maxTokens"], 256);
}
