//! Routing depth through the HTTP adapters against local wire-format servers: stream
//! recovery across providers, silent fallback before the first token, context-length
//! errors and larger-context models.

mod support;

use routewise::provider::anthropic::Anthropic;
use routewise::provider::openai::OpenAi;
use routewise::{
    AttemptOutcome, CONTINUE_PROMPT, Capabilities, ChatRequest, ChatResponse, Error, ErrorKind,
    LogicalModel, Policy, ProviderAccount, Purpose, RetryPolicy, RouteOptions, Router, StepType,
    StreamRecovery, Target, Usage,
};
use serde_json::json;

use support::gemini::{account as gemini, sse_reply as gemini_sse};
use support::wire::collect_routed;
use support::wire_server::{RecordingServer, Reply, fixture};

const OPENAI_KEY: &str = "sk-depth-test-0b7c5e1a";
const ANTHROPIC_KEY: &str = "sk-ant-depth-test-9d2f4c";

fn openai(server: &RecordingServer, name: &str) -> ProviderAccount {
    ProviderAccount::new(name.to_owned(), OpenAi::new())
        .api_key(OPENAI_KEY)
        .base_url(server.base("/v1"))
}

fn claude(server: &RecordingServer, name: &str) -> ProviderAccount {
    ProviderAccount::new(name.to_owned(), Anthropic::new())
        .api_key(ANTHROPIC_KEY)
        .base_url(server.url())
}

/// Logical model `llm` with one target per account (its provider model beside it), and
/// `policy` routing to it.
fn router(targets: Vec<(ProviderAccount, &str)>, policy: Policy) -> Router {
    let mut model = LogicalModel::new("llm").capabilities(Capabilities::STREAMING);
    let mut builder = Router::builder();
    for (account, provider_model) in targets {
        model = model.target(Target::new(account.name(), provider_model));
        builder = builder.account(account);
    }
    builder.model(model).policy(policy).build().unwrap()
}

fn recovering() -> Policy {
    Policy::new("chat")
        .route(["llm"])
        .stream_recovery(StreamRecovery::Continue)
}

async fn stream(router: &Router, request: ChatRequest) -> routewise::ChatStream {
    router
        .stream(StepType::Inference, Purpose::Chat, request)
        .await
        .unwrap()
}

/// An Anthropic stream answering `text`, with 31 input and 3 output tokens.
fn anthropic_text_stream(text: &str) -> Reply {
    let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}});
    Reply::sse(format!(
        "event: message_start\ndata: {}\n\n\
         event: content_block_start\ndata: {}\n\n\
         event: content_block_delta\ndata: {delta}\n\n\
         event: content_block_stop\ndata: {}\n\n\
         event: message_delta\ndata: {}\n\n\
         event: message_stop\ndata: {}\n\n",
        json!({"type": "message_start", "message": {"id": "msg_01Continue", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 31, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 3}}),
        json!({"type": "message_stop"}),
    ))
}

/// The usage of the interrupted attempt plus `last`: what a recovered stream reports.
fn summed(done: &ChatResponse, last: Usage) -> Usage {
    let mut total = done.recoveries[0].interrupted_usage;
    total.add(&last);
    total
}

#[tokio::test]
async fn an_openai_stream_that_breaks_is_continued_by_anthropic_with_the_partial_answer_prefilled()
{
    let broken = RecordingServer::start([Reply::sse(fixture("openai/stream_error.sse"))]).await;
    let backup = RecordingServer::start([anthropic_text_stream(" 42.")]).await;
    let router = router(
        vec![
            (openai(&broken, "openai-main"), "gpt-4o"),
            (claude(&backup, "claude-backup"), "claude-sonnet-4-6"),
        ],
        recovering(),
    );

    let (text, done) =
        collect_routed(stream(&router, ChatRequest::user("The answer?")).await).await;

    assert_eq!(text, "The answer is 42.");
    assert_eq!(done.content, text);
    assert_eq!(&*done.served_by.account, "claude-backup");
    let recovered = &done.recoveries[0];
    assert_eq!(&*recovered.interrupted.account, "openai-main");
    assert_eq!(recovered.chars_sent, "The answer is".len());
    assert_eq!(recovered.interrupted_usage.output_tokens, 4);
    assert_eq!(done.usage, summed(&done, Usage::new(31, 3)));
    let AttemptOutcome::Failed { error } = &done.attempts[0].outcome else {
        panic!("the OpenAI attempt failed");
    };
    assert_eq!(error.kind(), ErrorKind::ServerError);

    let sent = backup.single_request();
    let messages = sent.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"][0]["text"], "The answer is");
    assert_eq!(sent.body["stream"], true);
}

#[tokio::test]
async fn an_anthropic_stream_that_breaks_is_continued_by_openai_which_is_asked_and_repeats_itself()
{
    let broken =
        RecordingServer::start([Reply::sse(fixture("anthropic/stream_overloaded.sse"))]).await;
    let backup = RecordingServer::start([Reply::sse(fixture("openai/stream_text.sse"))]).await;
    let router = router(
        vec![
            (claude(&broken, "claude-main"), "claude-sonnet-4-6"),
            (openai(&backup, "openai-backup"), "gpt-4o"),
        ],
        recovering(),
    );

    let (text, done) = collect_routed(stream(&router, ChatRequest::user("Say hello.")).await).await;

    // The continuation started over ("Hello! ..."); the caller already had "Hel".
    assert_eq!(text, "Hello! How can I help you today?");
    assert_eq!(done.content, text);
    assert_eq!(done.recoveries[0].repeat_dropped, 3);
    assert_eq!(done.usage, summed(&done, Usage::new(19, 10)));

    let sent = backup.single_request();
    let messages = sent.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1], json!({"role": "assistant", "content": "Hel"}));
    assert_eq!(
        messages[2],
        json!({"role": "user", "content": CONTINUE_PROMPT})
    );
}

#[tokio::test]
async fn a_gemini_stream_that_breaks_is_continued_by_another_gemini_target() {
    let broken = RecordingServer::start([gemini_sse("stream_error.sse")]).await;
    let backup = RecordingServer::start([gemini_sse("stream_text.sse")]).await;
    let router = router(
        vec![
            (gemini(&broken, "gemini-main"), "gemini-2.5-pro"),
            (gemini(&backup, "gemini-backup"), "gemini-2.5-flash"),
        ],
        recovering(),
    );

    let (text, done) = collect_routed(stream(&router, ChatRequest::user("A pangram?")).await).await;

    assert_eq!(text, "The quick brown fox jumps over the lazy dog.");
    assert_eq!(done.recoveries[0].repeat_dropped, "The quick".len());
    assert_eq!(done.usage, summed(&done, Usage::new(9, 14)));
    let contents = backup.single_request().body["contents"].clone();
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(contents[1]["parts"][0]["text"], "The quick");
    assert_eq!(contents[2]["parts"][0]["text"], CONTINUE_PROMPT);
}

#[tokio::test]
async fn a_broken_http_stream_is_not_recovered_when_the_request_disables_fallbacks() {
    let broken = RecordingServer::start([Reply::sse(fixture("openai/stream_error.sse"))]).await;
    let backup = RecordingServer::start([anthropic_text_stream(" 42.")]).await;
    let router = router(
        vec![
            (openai(&broken, "openai-main"), "gpt-4o"),
            (claude(&backup, "claude-backup"), "claude-sonnet-4-6"),
        ],
        recovering(),
    );
    let request = ChatRequest::user("The answer?").options(RouteOptions::new().no_fallback());

    let mut events = stream(&router, request).await;
    let mut last = None;
    while let Some(event) = futures::StreamExt::next(&mut events).await {
        last = Some(event);
    }

    assert!(
        matches!(last, Some(Err(Error::StreamInterrupted { .. }))),
        "{last:?}"
    );
    assert!(backup.requests().is_empty());
}

#[tokio::test]
async fn an_error_before_the_first_token_never_reaches_the_caller_through_any_adapter() {
    let openai_error_first = Reply::sse(format!(
        "data: {}\n\n",
        json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}})
    ));
    let anthropic_error_first = Reply::sse(format!(
        "event: message_start\ndata: {}\n\nevent: error\ndata: {}\n\n",
        json!({"type": "message_start", "message": {"id": "msg_01Early", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    ));
    let gemini_error_first = Reply::sse(format!(
        "data: {}\n\n",
        json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}})
    ));
    let anthropic_429 = Reply::json(429, fixture("anthropic/error_rate_limit.json"));
    let openai_server = RecordingServer::start([openai_error_first]).await;
    let anthropic_server = RecordingServer::start([anthropic_error_first, anthropic_429]).await;
    let gemini_server = RecordingServer::start([gemini_error_first]).await;
    let healthy = RecordingServer::start([Reply::sse(fixture("openai/stream_text.sse"))]).await;
    // No recovery: silence before the first token does not depend on it.
    let router = router(
        vec![
            (openai(&openai_server, "openai-main"), "gpt-4o"),
            (claude(&anthropic_server, "claude-a"), "claude-sonnet-4-6"),
            (gemini(&gemini_server, "gemini-main"), "gemini-2.5-flash"),
            (
                claude(&anthropic_server, "claude-b"),
                "claude-sonnet-4-6-20250929",
            ),
            (openai(&healthy, "openai-healthy"), "gpt-4o-mini"),
        ],
        Policy::new("chat").route(["llm"]),
    );

    // `collect_routed` fails on any event but text and the end.
    let (text, done) = collect_routed(stream(&router, ChatRequest::user("Say hello.")).await).await;

    assert_eq!(text, "Hello! How can I help you today?");
    assert_eq!(&*done.served_by.account, "openai-healthy");
    let kinds: Vec<ErrorKind> = done
        .attempts
        .iter()
        .filter_map(|a| match &a.outcome {
            AttemptOutcome::Failed { error } => Some(error.kind()),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ErrorKind::ServerError,
            ErrorKind::Overloaded,
            ErrorKind::RateLimited,
            ErrorKind::RateLimited
        ]
    );
    assert!(done.recoveries.is_empty());
}

#[tokio::test]
async fn an_http_context_length_error_is_not_retried_and_reaches_the_larger_context_model() {
    let too_long = RecordingServer::start([Reply::json(
        400,
        fixture("openai/error_context_length_exceeded.json"),
    )])
    .await;
    let same_window = RecordingServer::start([]).await;
    let long_context =
        RecordingServer::start([Reply::json(200, fixture("anthropic/message_text.json"))]).await;
    let router = Router::builder()
        .account(openai(&too_long, "openai-a"))
        .account(openai(&same_window, "openai-b"))
        .account(claude(&long_context, "claude"))
        .model(
            LogicalModel::new("llm")
                .target(Target::new("openai-a", "gpt-4o"))
                .target(Target::new("openai-b", "gpt-4o")),
        )
        .model(LogicalModel::new("long").target(Target::new("claude", "claude-sonnet-4-6")))
        .policy(
            Policy::new("chat")
                .route(["llm"])
                .retry(RetryPolicy::default().max_retries(3))
                .larger_context(["long"]),
        )
        .build()
        .unwrap();

    let answer = router
        .complete(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("A very long document."),
        )
        .await
        .unwrap();

    assert_eq!(answer.content, "Hello! How can I help you today?");
    assert_eq!(&*answer.served_by.logical_model, "long");
    assert_eq!(answer.attempts.len(), 2);
    let AttemptOutcome::Failed { error } = &answer.attempts[0].outcome else {
        panic!("the first attempt failed");
    };
    assert_eq!(error.kind(), ErrorKind::ContextLengthExceeded);
    assert_eq!(too_long.requests().len(), 1, "never retried");
    assert!(
        same_window.requests().is_empty(),
        "a 128k window cannot hold what a 128k window refused"
    );
}
