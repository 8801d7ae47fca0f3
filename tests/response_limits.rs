//! Answers and prompts too large to be real: a non-streamed body is read up to
//! `HttpTimeouts::max_body_bytes` and no further, and one that goes past it is a
//! malformed response that falls back, whether the server declares its length or sends
//! it in chunks; a large prompt is planned (and its tokens counted) off the async
//! worker threads.

mod support;

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use async_trait::async_trait;

use routewise::provider::openai::OpenAi;
use routewise::provider::{HttpTimeouts, ProviderRequest};
use routewise::{
    AttemptOutcome, ChatRequest, ContextWindow, ErrorKind, LogicalModel, Policy, Provider,
    ProviderAccount, ProviderError, ProviderResponse, Purpose, Router, SamplingParams, StepType,
    Target, Usage,
};
use support::requests::say_hi;
use support::wire::fallback_router;
use support::wire_server::{RecordingServer, Reply, fixture};

const LIMIT: usize = 64 * 1024;

/// A well-formed OpenAI answer whose text is `bytes` long.
fn answer_of(bytes: usize) -> String {
    let mut answer: serde_json::Value =
        serde_json::from_str(&fixture("openai/chat_text.json")).unwrap();
    answer["choices"][0]["message"]["content"] = "x".repeat(bytes).into();
    answer.to_string()
}

fn capped(server: &RecordingServer, name: &str) -> ProviderAccount {
    let http = HttpTimeouts::default().max_body_bytes(LIMIT);
    ProviderAccount::new(name.to_owned(), OpenAi::new().timeouts(http))
        .api_key("sk-cap-test-77a1")
        .base_url(server.base("/v1"))
}

async fn complete_direct(server: &RecordingServer) -> routewise::ProviderError {
    let account = capped(server, "a");
    let openai = OpenAi::new().timeouts(HttpTimeouts::default().max_body_bytes(LIMIT));
    say_hi(&openai, account.info(), "gpt-4o").await.unwrap_err()
}

#[tokio::test]
async fn a_declared_body_past_the_limit_is_refused_before_it_is_read() {
    let server =
        RecordingServer::start([Reply::json(200, answer_of(1024 * 1024)).unchecked()]).await;
    let error = complete_direct(&server).await;
    assert_eq!(error.kind(), ErrorKind::MalformedResponse, "{error}");
    assert!(error.message().contains("65536-byte limit"), "{error}");
}

#[tokio::test]
async fn a_chunked_body_past_the_limit_stops_being_read_at_the_limit() {
    let reply = Reply::json(200, answer_of(1024 * 1024))
        .in_pieces(16 * 1024)
        .unchecked();
    let server = RecordingServer::start([reply]).await;
    let error = complete_direct(&server).await;
    assert_eq!(error.kind(), ErrorKind::MalformedResponse, "{error}");
}

#[tokio::test]
async fn an_answer_within_the_limit_is_read_whole_in_one_piece_or_many() {
    let text_bytes = LIMIT / 2;
    let server = RecordingServer::start([
        Reply::json(200, answer_of(text_bytes)),
        Reply::json(200, answer_of(text_bytes)).in_pieces(4 * 1024),
    ])
    .await;
    let account = capped(&server, "a");
    let request = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    let openai = OpenAi::new().timeouts(HttpTimeouts::default().max_body_bytes(LIMIT));
    for _ in 0..2 {
        let answer = openai
            .complete(ProviderRequest::new(
                "gpt-4o",
                account.info(),
                &request,
                &defaults,
            ))
            .await
            .unwrap();
        assert_eq!(answer.content.len(), text_bytes);
    }
}

#[tokio::test]
async fn an_oversized_answer_falls_back_to_the_next_target() {
    let runaway = RecordingServer::start([Reply::json(200, answer_of(1024 * 1024))
        .in_pieces(16 * 1024)
        .unchecked()])
    .await;
    let healthy =
        RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let router = fallback_router(
        (capped(&runaway, "runaway"), "gpt-4o"),
        (capped(&healthy, "healthy"), "gpt-4o"),
        SamplingParams::default(),
    );
    let response = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(response.served_by.account.as_ref(), "healthy");
    match &response.attempts[0].outcome {
        AttemptOutcome::Failed { error } => {
            assert_eq!(error.kind(), ErrorKind::MalformedResponse, "{error}");
        }
        other => panic!("expected the first attempt to fail, got {other:?}"),
    }
}

/// Answers at once, and notes the thread the planner asks it for a token estimate on.
#[derive(Clone, Default)]
struct ThreadSpy {
    estimated_on: Arc<Mutex<Vec<ThreadId>>>,
}

#[async_trait]
impl Provider for ThreadSpy {
    fn provider_name(&self) -> &str {
        "spy"
    }

    async fn complete(
        &self,
        _request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        Ok(ProviderResponse::text("ok", Usage::new(1, 1)))
    }

    fn estimate_input_tokens(&self, request: &ProviderRequest<'_>) -> u32 {
        self.estimated_on
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        request.estimate_input_tokens()
    }
}

/// The thread the request's plan ran on.
async fn planned_on(prompt: String) -> ThreadId {
    let spy = ThreadSpy::default();
    let router = Router::builder()
        .account(ProviderAccount::new("a", spy.clone()))
        .model(
            LogicalModel::new("m")
                .target(Target::new("a", "m").context_window(ContextWindow::new(2_000_000, 1_000))),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    router
        .complete(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user(prompt),
        )
        .await
        .unwrap();
    let threads = spy.estimated_on.lock().unwrap();
    assert_eq!(threads.len(), 1);
    threads[0]
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_prompt_is_planned_off_the_async_worker_and_a_small_one_on_it() {
    let worker = std::thread::current().id();
    assert_eq!(planned_on("hi".to_owned()).await, worker);
    // About 75,000 tokens by the estimate: tokenizing it would hold the worker.
    let large = "word ".repeat(60 * 1024);
    assert_ne!(planned_on(large).await, worker);
}
