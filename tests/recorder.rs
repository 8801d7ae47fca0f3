//! The traffic recorder: what a record holds (and does not), dropping instead of
//! blocking, rotation by size.

mod support;

use std::time::Duration;

use routewise::replay::{AttemptStatus, Recorder, Traffic, TrafficError};
use routewise::sim::{SimProvider, SimStep};
use routewise::{
    Capabilities, ChatRequest, ErrorKind, LogicalModel, Policy, ProviderAccount, Purpose, Router,
    StepType, Target, Tool, Usage,
};
use support::traffic::{secret_request, temp_recorder, two_targets};

fn router(recorder: Recorder, primary: SimProvider) -> Router {
    let backup = SimProvider::new().usage(Usage::new(30, 7));
    two_targets(&recorder, Capabilities::TOOLS, primary, backup)
}

fn request() -> ChatRequest {
    secret_request().tool(Tool::new("lookup", serde_json::json!({"type": "object"})))
}

#[tokio::test(start_paused = true)]
async fn a_record_holds_what_routing_needs_and_no_text() {
    let (_dir, recorder) = temp_recorder(|r| r);
    let primary = SimProvider::new().script([SimStep::RateLimited(Duration::from_secs(7))]);
    let router = router(recorder.clone(), primary);
    router
        .complete(StepType::ToolCall, Purpose::Classification, request())
        .await
        .unwrap();
    recorder.flush().unwrap();

    let text = std::fs::read_to_string(recorder.path()).unwrap();
    assert!(!text.contains("secret"), "{text}");
    assert!(!text.contains("\"messages\""), "{text}");
    let traffic = Traffic::read(recorder.path()).unwrap();
    let record = &traffic.records()[0];
    assert_eq!(record.step, StepType::ToolCall);
    assert_eq!(record.purpose, Purpose::Classification);
    assert_eq!(record.model.as_deref(), Some("main"));
    assert_eq!(record.tags, ["tenant-a"]);
    assert!(record.needs.contains(routewise::Capability::Tools));
    assert!(record.input_tokens > 5);
    assert_eq!(record.max_output_tokens, Some(50));
    assert_eq!(record.policy.as_deref(), Some("default"));
    assert!(record.succeeded());
    assert!(record.fell_back());

    let [refused, answered] = &record.attempts[..] else {
        panic!("two attempts expected: {:?}", record.attempts);
    };
    assert_eq!(&*refused.account, "primary");
    assert_eq!(refused.outcome, AttemptStatus::Failed);
    assert_eq!(refused.error, Some(ErrorKind::RateLimited));
    assert_eq!(refused.retry_after_ms, Some(7_000));
    assert_eq!(refused.usage, None);
    assert_eq!(answered.target_label(), "main/backup/big-v2");
    assert_eq!(answered.outcome, AttemptStatus::Success);
    assert_eq!(answered.usage, Some(Usage::new(30, 7)));
    let cost = answered.cost_usd.unwrap();
    assert!(
        (cost - (30.0 * 1.0 + 7.0 * 2.0) / 1e6).abs() < 1e-9,
        "{cost}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_request_is_recorded_with_its_error_code() {
    let (_dir, recorder) = temp_recorder(|r| r);
    let router = Router::builder()
        .account(ProviderAccount::new("a", SimProvider::new().always_fail()))
        .model(LogicalModel::new("m").target(Target::new("a", "x")))
        .policy(Policy::new("chat").purposes([Purpose::Chat]).route(["m"]))
        .recorder(recorder.clone())
        .build()
        .unwrap();
    let hi = || ChatRequest::user("hi");
    let _ = router
        .complete(StepType::Inference, Purpose::Chat, hi())
        .await;
    let _ = router
        .complete(StepType::Inference, Purpose::Summarization, hi())
        .await;
    recorder.flush().unwrap();

    let traffic = Traffic::read(recorder.path()).unwrap();
    let outcomes: Vec<&str> = traffic.records().iter().map(|r| &*r.outcome).collect();
    assert_eq!(outcomes, ["all_targets_failed", "no_matching_policy"]);
    assert_eq!(
        traffic.records()[0].attempts[0].error,
        Some(ErrorKind::ServerError)
    );
    assert_eq!(traffic.records()[1].policy, None);
}

#[tokio::test(start_paused = true)]
async fn text_is_recorded_only_when_asked_for() {
    let (_dir, recorder) = temp_recorder(|r| r.with_text(true));
    let router = router(recorder.clone(), SimProvider::new().reply("the answer"));
    router
        .complete(StepType::Inference, Purpose::Chat, request())
        .await
        .unwrap();
    recorder.flush().unwrap();

    let traffic = Traffic::read(recorder.path()).unwrap();
    let record = &traffic.records()[0];
    assert_eq!(record.messages.as_deref(), Some(&request().messages[..]));
    assert_eq!(record.answer.as_deref(), Some("the answer"));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_drops_records_and_counts_them_instead_of_waiting() {
    let dir = tempfile::tempdir().unwrap();
    // A one-record queue and a writer that sleeps for an hour between drains: nearly
    // every record finds the queue full.
    let recorder = Recorder::builder(dir.path().join("t.jsonl"))
        .capacity(1)
        .flush_every(Duration::from_secs(3_600))
        .start()
        .unwrap();
    let router = router(recorder.clone(), SimProvider::new());
    for _ in 0..50 {
        router
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
            .unwrap();
    }
    recorder.flush().unwrap();

    assert!(recorder.dropped() >= 40, "dropped {}", recorder.dropped());
    assert_eq!(recorder.written() + recorder.dropped(), 50);
    let traffic = Traffic::read(recorder.path()).unwrap();
    assert_eq!(traffic.len() as u64, recorder.written());
}

#[tokio::test(start_paused = true)]
async fn files_rotate_by_size_and_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let recorder = Recorder::builder(&path)
        .max_file_bytes(2_000)
        .keep_files(2)
        .start()
        .unwrap();
    let router = router(recorder.clone(), SimProvider::new());
    for _ in 0..40 {
        router
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        recorder.flush().unwrap();
    }

    let numbered = |n: usize| dir.path().join(format!("t.jsonl.{n}"));
    assert!(numbered(1).exists() && numbered(2).exists());
    assert!(!numbered(3).exists(), "only two rotated files are kept");
    let mut lines = 0;
    for file in [path.clone(), numbered(1), numbered(2)] {
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size <= 2_000, "{} is {size} bytes", file.display());
        lines += std::fs::read_to_string(&file).unwrap().lines().count();
    }
    let traffic = Traffic::read_rotated(&path).unwrap();
    assert_eq!(traffic.len(), lines);
    assert!(lines < 40, "the oldest records were rotated away");
    let times: Vec<u64> = traffic.records().iter().map(|r| r.unix_ms).collect();
    assert!(times.windows(2).all(|w| w[0] + 1_000 <= w[1]), "{times:?}");
    assert_eq!(recorder.written(), 40);
}

#[test]
fn a_bad_traffic_line_is_reported_with_its_file_and_line() {
    let text = "\n{\"unix_ms\":1,\"step\":\"inference\",\"purpose\":\"chat\",\"input_tokens\":1,\"outcome\":\"ok\",\"latency_us\":1}\n{\"unix_ms\":\"soon\"}\n";
    let error = Traffic::parse(text.as_bytes(), "traffic.jsonl").unwrap_err();
    assert!(
        matches!(error, TrafficError::Parse { line: 3, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "traffic file `traffic.jsonl`, line 3: not a traffic record; each line must be one JSON object as the recorder writes it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_routed_on_many_threads_are_all_recorded() {
    let (_dir, recorder) = temp_recorder(|r| r);
    let router = router(recorder.clone(), SimProvider::new());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    router
                        .complete(StepType::Inference, Purpose::Chat, request())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let flushing = recorder.clone();
    tokio::task::spawn_blocking(move || flushing.flush())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(recorder.written(), 400);
    assert_eq!(recorder.dropped(), 0);
    assert_eq!(Traffic::read(recorder.path()).unwrap().len(), 400);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_writes_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let recorder = Recorder::builder(&path)
        .flush_every(Duration::from_secs(3_600))
        .start()
        .unwrap();
    let router = router(recorder, SimProvider::new());
    for _ in 0..3 {
        router
            .complete(StepType::Inference, Purpose::Chat, request())
            .await
            .unwrap();
    }
    drop(router);
    assert_eq!(Traffic::read(&path).unwrap().len(), 3);
}
