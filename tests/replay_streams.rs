//! Recorded streams replay through the router's streaming path: they need a
//! streaming-capable model, a stream its caller dropped is dropped again, as late, and
//! streams that broke mid-way break as often and are recovered as the policy says.

#![cfg(feature = "replay")]

use std::time::Duration;

use futures::StreamExt;
use routewise::replay::{AttemptStatus, Behaviours, Recorder, Replay, Traffic, TrafficRecord};
use routewise::sim::{SimProvider, SimStep};
use routewise::{
    Capabilities, ChatRequest, ErrorKind, LogicalModel, Policy, ProviderAccount, Purpose,
    RouterBuilder, StepType, StreamEvent, StreamRecovery, Target,
};

/// A route whose first model cannot stream: completions go to it, streams pass it over
/// for `main`, whose answers take 100 ms to open and 50 ms a word.
fn config() -> RouterBuilder {
    let streaming = SimProvider::new()
        .reply("one two three four")
        .latency(Duration::from_millis(100))
        .chunk_delay(Duration::from_millis(50));
    RouterBuilder::new()
        .account(ProviderAccount::new("plain", SimProvider::new()))
        .account(ProviderAccount::new("streaming", streaming))
        .model(LogicalModel::new("fast").target(Target::new("plain", "fast-v1")))
        .model(
            LogicalModel::new("main")
                .capabilities(Capabilities::STREAMING)
                .target(Target::new("streaming", "main-v1")),
        )
        .policy(Policy::new("default").route(["fast", "main"]))
}

/// Ten completions, fourteen streams read to the end and six dropped after their first
/// word, a second apart.
async fn record(recorder: Recorder) {
    let router = config().recorder(recorder).build().unwrap();
    for i in 0..30 {
        let request = ChatRequest::user("hello there");
        if i % 3 == 0 {
            router
                .complete(StepType::Inference, Purpose::Chat, request)
                .await
                .unwrap();
        } else {
            let mut stream = router
                .stream(StepType::Inference, Purpose::Chat, request)
                .await
                .unwrap();
            let dropped_early = i % 3 == 1 && i < 18;
            while let Some(event) = stream.next().await {
                if dropped_early || matches!(event.unwrap(), StreamEvent::Done(_)) {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn served(records: &[TrafficRecord], streamed: bool) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.needs.covers(Capabilities::STREAMING) == streamed)
        .filter_map(|r| r.served_by().map(|a| a.target_label()))
        .collect()
}

fn cancelled(records: &[TrafficRecord]) -> usize {
    records.iter().filter(|r| r.outcome == "cancelled").count()
}

#[tokio::test(start_paused = true)]
async fn recorded_streams_replay_as_streams_and_dropped_ones_are_dropped_again() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::builder(dir.path().join("t.jsonl"))
        .start()
        .unwrap();
    record(recorder.clone()).await;
    recorder.flush().unwrap();
    let traffic = Traffic::read(recorder.path()).unwrap();
    let recorded = traffic.records();
    assert_eq!(recorded.len(), 30);
    assert_eq!(cancelled(recorded), 6);
    assert_eq!(served(recorded, true).len(), 14);

    let replay = Replay::new(traffic.clone(), Behaviours::fit(&traffic));
    let run = tokio::task::spawn_blocking(move || replay.run(config()))
        .await
        .unwrap()
        .unwrap();
    let replayed = run.records();

    // Through `complete`, streams would have gone to `fast` like the completions.
    assert_eq!(served(replayed, false), vec!["fast/plain/fast-v1"; 10]);
    assert_eq!(served(replayed, true), vec!["main/streaming/main-v1"; 14]);
    assert_eq!(cancelled(replayed), 6);
    for dropped in replayed.iter().filter(|r| r.outcome == "cancelled") {
        let [call] = &dropped.attempts[..] else {
            panic!("the call in flight expected: {dropped:?}");
        };
        assert_eq!(call.target_label(), "main/streaming/main-v1");
        assert_eq!(call.outcome, AttemptStatus::Cancelled);
        assert_eq!(dropped.policy.as_deref(), Some("default"));
    }
    let stats = run.router().stats();
    let policy = stats.policy("default").unwrap();
    assert_eq!(
        (policy.matched, policy.succeeded, policy.cancelled),
        (30, 24, 6)
    );
    assert_eq!(stats.target("main", "streaming").unwrap().succeeded, 14);
}

/// `main` on `primary`, whose every fourth stream breaks after its first word, then on
/// `backup`; the policy continues broken streams.
fn recovering() -> RouterBuilder {
    let breaks = (0..200).map(|i| {
        if i % 4 == 0 {
            SimStep::FailMidStream {
                after_chunks: 1,
                kind: ErrorKind::Connection,
            }
        } else {
            SimStep::Reply
        }
    });
    let primary = SimProvider::new()
        .reply("one two three four")
        .chunk_delay(Duration::from_millis(20))
        .script(breaks);
    RouterBuilder::new()
        .account(ProviderAccount::new("primary", primary))
        .account(ProviderAccount::new("backup", SimProvider::new()))
        .model(
            LogicalModel::new("main")
                .capabilities(Capabilities::STREAMING)
                .target(Target::new("primary", "main-v1"))
                .target(Target::new("backup", "main-v1")),
        )
        .policy(
            Policy::new("default")
                .route(["main"])
                .stream_recovery(StreamRecovery::Continue),
        )
}

/// Requests answered after a stream broke mid-way, and by whom.
fn recovered(records: &[TrafficRecord]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.attempts.iter().any(|a| a.mid_stream))
        .filter_map(|r| r.served_by().map(|a| a.target_label()))
        .collect()
}

/// The primary's streams that broke mid-way, and those it opened.
fn breaks_on_primary(records: &[TrafficRecord]) -> (usize, usize) {
    let calls = records.iter().flat_map(|r| &r.attempts);
    let primary: Vec<_> = calls.filter(|a| &*a.account == "primary").collect();
    let breaks = primary.iter().filter(|a| a.mid_stream).count();
    let answered = primary
        .iter()
        .filter(|a| a.outcome == AttemptStatus::Success)
        .count();
    (breaks, breaks + answered)
}

#[tokio::test(start_paused = true)]
async fn streams_that_broke_mid_way_break_as_often_in_a_replay_and_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::builder(dir.path().join("t.jsonl"))
        .start()
        .unwrap();
    let router = recovering().recorder(recorder.clone()).build().unwrap();
    for _ in 0..200 {
        let request = ChatRequest::user("hello there");
        let mut stream = router
            .stream(StepType::Inference, Purpose::Chat, request)
            .await
            .unwrap();
        while let Some(event) = stream.next().await {
            event.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    recorder.flush().unwrap();
    let traffic = Traffic::read(recorder.path()).unwrap();
    let recorded = recovered(traffic.records());
    // Once a few broke, the primary's health moves most streams to the backup first.
    assert!(recorded.len() >= 15, "{recorded:?}");
    assert!(recorded.iter().all(|t| t == "main/backup/main-v1"));
    let fitted = Behaviours::fit(&traffic);
    let primary = fitted.target("primary", "main-v1").unwrap();
    assert_eq!(primary.stream_breaks.len(), 1);
    let (breaks, opened) = breaks_on_primary(traffic.records());
    assert_eq!(breaks, recorded.len());
    assert!((primary.stream_breaks[0].rate - breaks as f64 / opened as f64).abs() < 1e-9);
    assert!(primary.error_rates.is_empty(), "{:?}", primary.error_rates);

    let primary_rate = primary.stream_breaks[0].rate;
    let replay = Replay::new(traffic.clone(), fitted);
    let run = tokio::task::spawn_blocking(move || replay.run(recovering()))
        .await
        .unwrap()
        .unwrap();
    let replayed = recovered(run.records());
    // The replay's primary breaks its streams at the fitted rate: within three standard
    // deviations of a binomial draw over the streams it opened.
    let (breaks, opened) = breaks_on_primary(run.records());
    assert_eq!(breaks, replayed.len());
    let rate = primary_rate;
    let expected = rate * opened as f64;
    let spread = 3.0 * (expected * (1.0 - rate)).sqrt();
    assert!(
        (breaks as f64 - expected).abs() <= spread && breaks > 0,
        "{breaks} breaks of {opened} streams at {rate}"
    );
    assert!(replayed.iter().all(|t| t == "main/backup/main-v1"));
    assert_eq!(run.summary().answered, 200);
}
