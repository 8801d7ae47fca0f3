//! Recorded streams replay through the router's streaming path: they need a
//! streaming-capable model, and a stream its caller dropped is dropped again, as late.

#![cfg(feature = "replay")]

use std::time::Duration;

use futures::StreamExt;
use routewise::replay::{AttemptStatus, Behaviours, Recorder, Replay, Traffic, TrafficRecord};
use routewise::sim::SimProvider;
use routewise::{
    Capabilities, ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, RouterBuilder,
    StepType, StreamEvent, Target,
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
