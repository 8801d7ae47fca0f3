//! The recorder under many routing threads: every kept record arrives once with its own
//! fields, and a full batch drops exactly the records it cannot hold.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use routewise::replay::{Recorder, Traffic};
use routewise::sim::SimProvider;
use routewise::{Capabilities, ChatRequest, Purpose, Router, StepType};
use support::traffic::{temp_recorder, two_targets};

fn router(recorder: &Recorder) -> Router {
    two_targets(
        recorder,
        Capabilities::NONE,
        SimProvider::new(),
        SimProvider::new(),
    )
}

/// `tasks` spawned tasks routing `each` requests, every one tagged with its own name.
async fn route_tagged(router: &Router, tasks: usize, each: usize) -> BTreeSet<String> {
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let router = router.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    let request = ChatRequest::user("hi").tag(format!("{task}-{i}"));
                    router
                        .complete(StepType::Inference, Purpose::Chat, request)
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    (0..tasks)
        .flat_map(|task| (0..each).map(move |i| format!("{task}-{i}")))
        .collect()
}

async fn flush(recorder: &Recorder) {
    let recorder = recorder.clone();
    tokio::task::spawn_blocking(move || recorder.flush())
        .await
        .unwrap()
        .unwrap();
}

/// The tag of every record in the file, each once.
fn recorded_tags(recorder: &Recorder) -> BTreeSet<String> {
    let traffic = Traffic::read(recorder.path()).unwrap();
    let tags: Vec<String> = traffic
        .records()
        .iter()
        .map(|record| record.tags.concat())
        .collect();
    let unique: BTreeSet<String> = tags.iter().cloned().collect();
    assert_eq!(unique.len(), tags.len(), "a record was written twice");
    unique
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_on_many_threads_lose_no_record_and_mix_up_no_fields() {
    // A writer waking often, so that drains run while the tasks record.
    let (_dir, recorder) = temp_recorder(|r| r.flush_every(Duration::from_millis(1)));
    let router = router(&recorder);
    let sent = route_tagged(&router, 64, 40).await;
    flush(&recorder).await;

    assert_eq!(recorder.dropped(), 0);
    assert_eq!(recorder.written(), 64 * 40);
    assert_eq!(recorded_tags(&recorder), sent);
    let traffic = Traffic::read(recorder.path()).unwrap();
    for record in traffic.records() {
        assert!(record.succeeded());
        assert_eq!(record.model.as_deref(), None);
        let [attempt] = &record.attempts[..] else {
            panic!("one attempt expected: {record:?}");
        };
        assert_eq!(attempt.target_label(), "main/primary/big-v1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_batches_on_many_threads_count_every_record_they_drop() {
    // Five records a batch and a writer that sleeps for an hour: most records are
    // dropped, and each is either written once or counted as dropped.
    let (_dir, recorder) = temp_recorder(|r| r.capacity(5).flush_every(Duration::from_secs(3_600)));
    flush(&recorder).await;
    let router = router(&recorder);
    let sent = route_tagged(&router, 32, 10).await;
    flush(&recorder).await;

    assert_eq!(recorder.written() + recorder.dropped(), 320);
    assert!(recorder.dropped() > 0);
    let kept = recorded_tags(&recorder);
    assert_eq!(kept.len() as u64, recorder.written());
    assert!(kept.is_subset(&sent));
}

#[tokio::test]
async fn a_full_batch_keeps_the_first_records_in_order_and_counts_the_rest() {
    let (_dir, recorder) =
        temp_recorder(|r| r.capacity(10).flush_every(Duration::from_secs(3_600)));
    // The writer's first drain is behind us: it takes nothing more until the next flush
    // (or, rarely, once more right away, when a wake-up reached it while it was busy).
    flush(&recorder).await;
    let router = router(&recorder);
    for i in 0..25 {
        let request = ChatRequest::user("hi").tag(format!("{i:02}"));
        router
            .complete(StepType::Inference, Purpose::Chat, request)
            .await
            .unwrap();
    }
    flush(&recorder).await;

    assert_eq!(recorder.written() + recorder.dropped(), 25);
    assert!(recorder.written() >= 10, "written {}", recorder.written());
    let traffic = Traffic::read(recorder.path()).unwrap();
    let tags: Vec<String> = traffic.records().iter().map(|r| r.tags.concat()).collect();
    assert_eq!(tags.len() as u64, recorder.written());
    assert_eq!(
        tags[..10],
        (0..10).map(|i| format!("{i:02}")).collect::<Vec<_>>()
    );
    assert!(tags.is_sorted(), "{tags:?}");
}
