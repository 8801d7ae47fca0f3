//! Secret hygiene: a unique API key and header value planted in every account never show
//! up anywhere a person or a log collector could read them: errors of every kind (their
//! `Display`, `Debug` and sources), responses, the `Debug`, `Display` and serialized forms
//! of every public type, configuration errors, and everything `tracing` (and `log`)
//! emits at TRACE level while all of that happens. The upstreams echo the secrets back in
//! error bodies, malformed bodies and stream error events, as real providers sometimes do.
//!
//! Every secret carries the marker `LEAKCHECK`, so a secret cut in half is caught too.

mod support;

use std::error::Error as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use routewise::provider::anthropic::Anthropic;
use routewise::resilience::CredentialsBackoff;
use routewise::{
    AttemptOutcome, Capabilities, ChatRequest, Error, ErrorKind, Gemini, LogicalModel, OpenAi,
    Policy, ProviderAccount, Purpose, RetryPolicy, RouteOptions, Router, StepType, Target,
    Timeouts,
};
use support::wire_server::{RecordingServer, Reply, refused_url};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const MARKER: &str = "LEAKCHECK";

/// Each account's name, key, header value and target model.
const ACCOUNTS: [(&str, &str, &str, &str); 3] = [
    (
        "openai",
        "sk-proj-LEAKCHECK-openai-7c1e9a40",
        "hdr-LEAKCHECK-openai-55d2e8",
        "gpt-4o",
    ),
    (
        "anthropic",
        "sk-ant-api03-LEAKCHECK-anthropic-3b8f",
        "hdr-LEAKCHECK-anthropic-91aa07",
        "claude-sonnet-4-5",
    ),
    (
        "gemini",
        "AIzaSy-LEAKCHECK-gemini-0d4c7f",
        "hdr-LEAKCHECK-gemini-6e0713",
        "gemini-2.5-flash",
    ),
];

/// Fails if `text` shows any part of a secret.
fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(MARKER), "{what} shows a secret: {text}");
}

/// An error's `Display`, `Debug` and every source's `Display`.
fn assert_error_clean(what: &str, error: &Error) {
    assert_clean(what, &error.to_string());
    assert_clean(what, &format!("{error:?}"));
    let mut source = error.source();
    while let Some(cause) = source {
        assert_clean(what, &cause.to_string());
        source = cause.source();
    }
}

fn account(name: &str, base: &str) -> ProviderAccount {
    let (_, key, header, _) = ACCOUNTS.iter().find(|a| a.0 == name).unwrap();
    let account = match name {
        "openai" => ProviderAccount::new(name, OpenAi::new()).base_url(format!("{base}/v1")),
        "anthropic" => ProviderAccount::new(name, Anthropic::new()).base_url(base),
        _ => ProviderAccount::new(name, Gemini::new()).base_url(base),
    };
    account.api_key(*key).header("x-team-token", *header)
}

/// A router with one target per provider, each on its own scripted upstream; no retries,
/// no breakers.
fn router(bases: &[String]) -> Router {
    let mut builder = Router::builder();
    let mut model = LogicalModel::new("m").capabilities(Capabilities::STREAMING);
    for ((name, _, _, provider_model), base) in ACCOUNTS.iter().zip(bases) {
        builder = builder.account(account(name, base));
        model = model.target(Target::new(*name, *provider_model));
    }
    builder
        .credentials_backoff(CredentialsBackoff::new(
            Duration::from_millis(20),
            Duration::from_millis(20),
        ))
        .model(model)
        .policy(
            Policy::new("default")
                .route(["m"])
                .retry(RetryPolicy::none())
                .without_breaker()
                .timeouts(Timeouts::new().attempt(Duration::from_secs(10))),
        )
        .build()
        .unwrap()
}

/// The error bodies, in each provider's shape, echoing the key and the header value.
fn echo(name: &str, kind: &str) -> String {
    let (_, key, header, _) = ACCOUNTS.iter().find(|a| a.0 == name).unwrap();
    let message = format!("rejected key {key} with token {header}");
    match name {
        "openai" => format!(r#"{{"error":{{"message":"{message}","type":"{kind}","code":null}}}}"#),
        "anthropic" => {
            format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}}}}"#)
        }
        _ => format!(r#"{{"error":{{"message":"{message}","status":"{kind}"}}}}"#),
    }
}

/// The error type in OpenAI's and Anthropic's words, or Gemini's status.
fn gemini_or<'a>(name: &str, kind: &'a str, status: &'a str) -> &'a str {
    if name == "gemini" { status } else { kind }
}

/// A stream whose first event is an error echoing the secrets.
fn stream_error(name: &str) -> String {
    match name {
        "openai" => format!("data: {}\n\n", echo(name, "server_error")),
        "anthropic" => format!("event: error\ndata: {}\n\n", echo(name, "overloaded_error")),
        _ => format!("data: {}\n\n", echo(name, "UNAVAILABLE")),
    }
}

/// What each upstream answers, in order: an auth failure, an invalid request, a 429, a
/// malformed 200 quoting the key, a hang past the timeout, then a stream with an error.
fn script(name: &str) -> Vec<Reply> {
    let (_, key, _, _) = ACCOUNTS.iter().find(|a| a.0 == name).unwrap();
    vec![
        Reply::json(
            401,
            echo(
                name,
                gemini_or(name, "authentication_error", "UNAUTHENTICATED"),
            ),
        ),
        Reply::json(
            400,
            echo(
                name,
                gemini_or(name, "invalid_request_error", "INVALID_ARGUMENT"),
            ),
        ),
        Reply::json(
            429,
            echo(
                name,
                gemini_or(name, "rate_limit_error", "RESOURCE_EXHAUSTED"),
            ),
        )
        .header("retry-after", "1"),
        Reply::json(
            200,
            format!(r#"{{"id":"{key}","choices":[{{"message":{{"content":"{key}"#),
        ),
        Reply::hang(),
        Reply::sse(stream_error(name)),
    ]
}

fn pinned(name: &str) -> ChatRequest {
    ChatRequest::user("hello").options(RouteOptions::new().pin_target("m", name))
}

#[tokio::test]
async fn every_error_path_of_every_adapter_keeps_the_secrets_out() {
    let logs = capture();
    let mut servers = Vec::new();
    for (name, ..) in ACCOUNTS {
        servers.push(RecordingServer::start(script(name)).await);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.url().to_owned()).collect();
    let router = router(&bases);

    let steps = [
        ("auth failure", ErrorKind::Auth),
        ("invalid request", ErrorKind::InvalidRequest),
        ("429", ErrorKind::RateLimited),
        ("malformed body", ErrorKind::MalformedResponse),
        ("timeout", ErrorKind::Timeout),
    ];
    for (name, ..) in ACCOUNTS {
        for (step, kind) in steps {
            let mut request = pinned(name);
            if kind == ErrorKind::Timeout {
                request = request.options(
                    RouteOptions::new()
                        .pin_target("m", name)
                        .deadline(Duration::from_millis(300)),
                );
            }
            let error = router
                .complete(StepType::Inference, Purpose::Chat, request)
                .await
                .expect_err(step);
            let last = error.attempts().last().map(|a| match &a.outcome {
                AttemptOutcome::Failed { error } => error.kind(),
                other => panic!("{step} did not fail: {other:?}"),
            });
            assert_eq!(last, Some(kind), "{name} {step}: {error:?}");
            assert_error_clean(&format!("{name} {step}"), &error);
            if kind == ErrorKind::Auth {
                // The provider's message is kept, with the secrets cut out of it.
                assert!(format!("{error:?}").contains("[REDACTED]"), "{error:?}");
            }
            if kind == ErrorKind::Auth {
                // The rejected key takes the account out of rotation until a probe after
                // the backoff (20 ms here): wait it out, so the next step reaches the server.
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            if kind == ErrorKind::RateLimited {
                // The 429 cools the target down for its retry-after (1 s): wait it out,
                // so the next step reaches the server.
                tokio::time::sleep(Duration::from_millis(1_050)).await;
            }
        }
        let mut stream = router
            .stream(StepType::Inference, Purpose::Chat, pinned(name))
            .await;
        let error = match &mut stream {
            Err(error) => error,
            Ok(events) => &mut events.next().await.unwrap().expect_err("a stream error"),
        };
        assert_error_clean(&format!("{name} stream error"), error);
    }
    // The upstreams did get the secrets: they are hidden, not missing.
    let first = &servers[0].requests()[0];
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {}", ACCOUNTS[0].1).as_str())
    );

    let unreachable = Router::builder()
        .account(account("openai", &refused_url().await))
        .model(LogicalModel::new("m").target(Target::new("openai", "gpt-4o")))
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    let error = unreachable
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap_err();
    assert_error_clean("connection refused", &error);

    let logs = logs.lock().unwrap();
    assert!(
        logs.contains("routewise.attempt"),
        "the capture saw the router's spans"
    );
    assert_clean("tracing and log output", &logs);
}

/// Found by fuzzing: serde_json's message for a value of the wrong type quotes the value,
/// so a body (or stream event) that echoed the key in the wrong place leaked it through
/// the malformed-response error of the OpenAI and Anthropic adapters.
#[tokio::test]
async fn a_malformed_answer_that_quotes_a_secret_is_redacted() {
    for (name, key, _, _) in ACCOUNTS {
        let (body, event) = match name {
            "openai" => (
                format!(r#"{{"choices":"{key}"}}"#),
                format!("data: {{\"choices\":\"{key}\"}}\n\n"),
            ),
            "anthropic" => (
                format!(r#"{{"content":"{key}"}}"#),
                format!(
                    "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":\"{key}\"}}\n\n"
                ),
            ),
            _ => (
                format!(r#"{{"candidates":"{key}"}}"#),
                format!("data: {{\"candidates\":\"{key}\"}}\n\n"),
            ),
        };
        let server = RecordingServer::start([Reply::json(200, body), Reply::sse(event)]).await;
        let bases = vec![
            server.url().to_owned(),
            server.url().to_owned(),
            server.url().to_owned(),
        ];
        let router = router(&bases);
        let error = router
            .complete(StepType::Inference, Purpose::Chat, pinned(name))
            .await
            .unwrap_err();
        assert_error_clean(&format!("{name} malformed body"), &error);
        assert!(format!("{error:?}").contains("[REDACTED]"), "{error:?}");
        let error = match router
            .stream(StepType::Inference, Purpose::Chat, pinned(name))
            .await
        {
            Err(error) => error,
            Ok(mut events) => events.next().await.unwrap().unwrap_err(),
        };
        assert_error_clean(&format!("{name} malformed stream event"), &error);
    }
}

#[tokio::test]
async fn invalid_account_settings_fail_without_showing_the_secret() {
    let logs = capture();
    let server = RecordingServer::start([]).await;
    let broken_header = ProviderAccount::new("openai", OpenAi::new())
        .base_url(server.base("/v1"))
        .api_key("sk-LEAKCHECK-fine-key-1")
        .header("x-team-token", "LEAKCHECK-value\nwith a line break");
    let broken_key = ProviderAccount::new("anthropic", Anthropic::new())
        .base_url(server.url().to_owned())
        .api_key("sk-ant-LEAKCHECK\r\nbroken");
    let router = Router::builder()
        .account(broken_header)
        .account(broken_key)
        .model(
            LogicalModel::new("m")
                .target(Target::new("openai", "gpt-4o"))
                .target(Target::new("anthropic", "claude-sonnet-4-5")),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    for name in ["openai", "anthropic"] {
        let error = router
            .complete(StepType::Inference, Purpose::Chat, pinned(name))
            .await
            .unwrap_err();
        assert_error_clean(name, &error);
    }
    assert!(server.requests().is_empty(), "nothing was sent");

    // A configuration the builder refuses: every problem named, no secret shown.
    let refused = Router::builder()
        .account(account("openai", "http://127.0.0.1:9"))
        .account(account("openai", "http://127.0.0.1:9"))
        .model(LogicalModel::new("m").target(Target::new("nobody", "x")))
        .policy(Policy::new("default").route(["m", "missing"]))
        .build()
        .unwrap_err();
    assert!(refused.problems().len() >= 2, "{refused}");
    assert_clean("config error", &refused.to_string());
    assert_clean("config error", &format!("{refused:?}"));
    assert_clean("tracing and log output", &logs.lock().unwrap());
}

#[tokio::test]
async fn debug_display_and_serialized_forms_of_public_types_keep_the_secrets_out() {
    let logs = capture();
    let server = RecordingServer::start([Reply::json(
        200,
        support::wire_server::fixture("openai/chat_text.json"),
    )])
    .await;
    let bases = vec![
        server.url().to_owned(),
        server.url().to_owned(),
        server.url().to_owned(),
    ];
    let router = router(&bases);
    let response = router
        .complete(StepType::Inference, Purpose::Chat, pinned("openai"))
        .await
        .unwrap();
    let stream = router
        .stream(StepType::Inference, Purpose::Chat, pinned("anthropic"))
        .await;

    let mut forms = vec![
        format!("{router:?}"),
        format!("{response:?}"),
        format!("{stream:?}"),
        format!("{:?}", router.stats()),
        router.stats().to_string(),
        serde_json::to_string(&router.stats()).unwrap(),
        format!("{:?}", router.accounts()),
        serde_json::to_string(&router.accounts()).unwrap(),
    ];
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &pinned("gemini"));
    forms.push(format!("{explanation:?}"));
    forms.push(explanation.to_string());
    for (name, key, header, _) in ACCOUNTS {
        let account = account(name, "http://127.0.0.1:9");
        forms.push(format!("{account:?}"));
        forms.push(format!("{:?}", account.info()));
        forms.push(format!("{:?}", account.info().api_key()));
        forms.push(format!("{:?}", account.info().headers()));
        forms.push(format!("{:?}", routewise::SecretString::new(key)));
        forms.push(format!("{:?}", routewise::SecretString::new(header)));
    }
    let builder = Router::builder().account(account("gemini", "http://127.0.0.1:9"));
    forms.push(format!("{builder:?}"));
    forms.push(format!(
        "{:?}",
        (OpenAi::new(), Anthropic::new(), Gemini::new())
    ));
    for form in &forms {
        assert_clean("a public type's text form", form);
    }
    assert_clean("tracing and log output", &logs.lock().unwrap());
}

/// Installs (once per test binary) a `tracing` subscriber and a `log` logger that record
/// everything, at every level, from every crate, as text.
fn capture() -> Arc<Mutex<String>> {
    static CAPTURED: OnceLock<Arc<Mutex<String>>> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let text = Arc::new(Mutex::new(String::new()));
            tracing::subscriber::set_global_default(Capture {
                text: text.clone(),
                next_id: Default::default(),
            })
            .expect("no other subscriber in this test binary");
            // Lives as long as the test binary, as a logger must.
            log::set_logger(Box::leak(Box::new(Capture {
                text: text.clone(),
                next_id: Default::default(),
            })))
            .expect("no other logger in this test binary");
            log::set_max_level(log::LevelFilter::Trace);
            text
        })
        .clone()
}

struct Capture {
    text: Arc<Mutex<String>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Capture {
    fn write(&self, line: String) {
        let mut text = self.text.lock().unwrap();
        text.push_str(&line);
        text.push('\n');
    }
}

/// Formats every field as `name=value`.
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        self.write(fields.0);
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Id::from_u64(id + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = Fields("record".to_owned());
        values.record(&mut fields);
        self.write(fields.0);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(format!("event {}", event.metadata().target()));
        event.record(&mut fields);
        self.write(fields.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.write(format!("log {} {}", record.target(), record.args()));
    }

    fn flush(&self) {}
}

/// The SigV4 signer traces the canonical request, which holds the session token: those
/// events must never reach the application's subscriber, and no error may show a key.
#[cfg(feature = "bedrock")]
#[tokio::test]
async fn bedrock_signing_and_its_errors_keep_the_aws_credentials_out_of_traces() {
    use support::bedrock as aws;
    let logs = capture();
    let server = RecordingServer::start([Reply::json(
        403,
        format!("{{\"message\":\"token {} rejected\"}}", aws::SESSION_TOKEN),
    )
    .header("x-amzn-errortype", "UnrecognizedClientException")])
    .await;
    let error = aws::complete(
        &aws::bedrock(),
        &aws::account(server.url()),
        &aws::shape("plain"),
    )
    .await
    .unwrap_err();
    let shown = format!("{error} {error:?}");
    let logs = logs.lock().unwrap().clone();
    for secret in aws::SECRETS {
        assert!(!shown.contains(secret), "error: {shown}");
        assert!(!logs.contains(secret), "a credential reached the traces");
    }
    assert!(
        !logs.contains("canonical_request"),
        "the signer's own traces were emitted"
    );
}
