//! Streamed requests are recorded like completed ones: when the stream ends, when it
//! cannot be opened, and when the caller drops it first.

mod support;

use std::time::Duration;

use futures::StreamExt;
use routewise::replay::{AttemptStatus, Recorder};
use routewise::sim::{SimProvider, SimStep};
use routewise::{
    Capabilities, Capability, ChatStream, ErrorKind, Purpose, Router, StepType, StreamEvent, Usage,
};
use support::traffic::{secret_request, temp_recorder, two_targets, written};

fn router(recorder: &Recorder, primary: SimProvider, backup: SimProvider) -> Router {
    two_targets(recorder, Capabilities::STREAMING, primary, backup)
}

async fn open(router: &Router) -> Result<ChatStream, routewise::Error> {
    router
        .stream(
            StepType::Inference,
            Purpose::Summarization,
            secret_request(),
        )
        .await
}

#[tokio::test(start_paused = true)]
async fn a_stream_is_recorded_with_the_same_fields_when_it_ends() {
    let (_dir, recorder) = temp_recorder(|r| r);
    let primary = SimProvider::new().script([SimStep::Fail(ErrorKind::ServerError)]);
    let backup = SimProvider::new()
        .reply("one two three")
        .usage(Usage::new(30, 7))
        .latency(Duration::from_millis(40));
    let router = router(&recorder, primary, backup);
    let mut stream = open(&router).await.unwrap();
    let mut done = None;
    while let Some(event) = stream.next().await {
        if let StreamEvent::Done(response) = event.unwrap() {
            done = Some(response);
        }
    }
    assert!(done.is_some());

    let records = written(&recorder);
    let [record] = &records[..] else {
        panic!("one record expected: {records:?}");
    };
    assert_eq!(record.step, StepType::Inference);
    assert_eq!(record.purpose, Purpose::Summarization);
    assert_eq!(record.model.as_deref(), Some("main"));
    assert_eq!(record.tags, ["tenant-a"]);
    assert!(record.needs.contains(Capability::Streaming));
    assert_eq!(record.max_output_tokens, Some(50));
    assert!(record.input_tokens > 5);
    assert_eq!(record.policy.as_deref(), Some("default"));
    assert!(record.succeeded() && record.fell_back());
    assert!(record.latency() >= Duration::from_millis(40));
    let [failed, answered] = &record.attempts[..] else {
        panic!("two attempts expected: {:?}", record.attempts);
    };
    assert_eq!(
        (&*failed.account, failed.outcome, failed.error),
        (
            "primary",
            AttemptStatus::Failed,
            Some(ErrorKind::ServerError)
        )
    );
    assert_eq!(answered.target_label(), "main/backup/big-v2");
    assert_eq!(answered.usage, Some(Usage::new(30, 7)));
    let cost = answered.cost_usd.unwrap();
    assert!((cost - (30.0 + 7.0 * 2.0) / 1e6).abs() < 1e-9, "{cost}");
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_cannot_open_is_recorded_with_its_error() {
    let (_dir, recorder) = temp_recorder(|r| r);
    let router = router(
        &recorder,
        SimProvider::new().always_fail(),
        SimProvider::new().always_fail(),
    );
    let error = open(&router).await.unwrap_err();
    assert!(matches!(error, routewise::Error::AllTargetsFailed { .. }));

    let records = written(&recorder);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, "all_targets_failed");
    let accounts: Vec<&str> = records[0].attempts.iter().map(|a| &*a.account).collect();
    assert_eq!(accounts, ["primary", "backup"]);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_breaks_after_content_is_recorded_with_the_interruption() {
    let (_dir, recorder) = temp_recorder(|r| r);
    let primary = SimProvider::new()
        .reply("a b c d")
        .script([SimStep::FailMidStream {
            after_chunks: 2,
            kind: ErrorKind::Connection,
        }]);
    let router = router(&recorder, primary, SimProvider::new());
    let mut stream = open(&router).await.unwrap();
    let mut last = None;
    while let Some(event) = stream.next().await {
        last = Some(event);
    }
    assert!(matches!(
        last,
        Some(Err(routewise::Error::StreamInterrupted { .. }))
    ));

    let records = written(&recorder);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, "stream_interrupted");
    assert_eq!(records[0].attempts[0].error, Some(ErrorKind::Connection));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_stream_is_recorded_as_cancelled_with_the_call_in_flight() {
    let (_dir, recorder) = temp_recorder(|r| r);
    let primary = SimProvider::new()
        .reply("a b c d")
        .chunk_delay(Duration::from_millis(10));
    let router = router(&recorder, primary, SimProvider::new());
    let mut stream = open(&router).await.unwrap();
    stream.next().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(25)).await;
    drop(stream);

    let records = written(&recorder);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record.outcome, "cancelled");
    assert!(!record.succeeded());
    assert_eq!(record.policy.as_deref(), Some("default"));
    let [call] = &record.attempts[..] else {
        panic!("one call expected: {:?}", record.attempts);
    };
    assert_eq!(call.target_label(), "main/primary/big-v1");
    assert_eq!(call.outcome, AttemptStatus::Cancelled);
    assert!(call.latency() >= Duration::from_millis(25), "{call:?}");
}
