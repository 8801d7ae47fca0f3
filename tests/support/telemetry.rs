//! A router whose every request falls back once, for telemetry tests.

use std::time::Duration;

use futures::StreamExt;
use routewise::sim::{SimProvider, SimStep};
use routewise::{
    Capabilities, ChatRequest, ErrorKind, LogicalModel, Policy, ProviderAccount, Purpose, Router,
    SamplingParams, StepType, StreamEvent, Target, Usage,
};

/// A router whose primary fails twice (once at once, once mid-stream before any content),
/// and whose backup answers after 20 ms with fixed usage.
pub fn router() -> Router {
    let down = SimProvider::new()
        .latency(Duration::from_millis(10))
        .script([
            SimStep::Fail(ErrorKind::ServerError),
            SimStep::FailMidStream {
                after_chunks: 0,
                kind: ErrorKind::ServerError,
            },
        ]);
    let up = SimProvider::new()
        .reply("one two")
        .latency(Duration::from_millis(20))
        .usage(Usage::new(7, 3));
    Router::builder()
        .account(ProviderAccount::new("down", down))
        .account(ProviderAccount::new("up", up))
        .model(
            LogicalModel::new("m")
                .capabilities(Capabilities::STREAMING)
                .defaults(SamplingParams::new().temperature(0.5).max_tokens(64))
                .target(Target::new("down", "down-model"))
                .target(Target::new("up", "up-model")),
        )
        .policy(Policy::new("chat").purposes([Purpose::Chat]).route(["m"]))
        .build()
        .unwrap()
}

/// One completion and one stream, each falling back once.
pub async fn complete_then_stream(router: &Router) {
    let answer = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(answer.fallbacks(), 1);
    let mut stream = router
        .stream(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    let mut done = false;
    while let Some(event) = stream.next().await {
        done |= matches!(event.unwrap(), StreamEvent::Done(_));
    }
    assert!(done);
}

pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}
