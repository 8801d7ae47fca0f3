//! With the `metrics` feature, every request, attempt, fallback, latency, time to first
//! chunk and token count is reported through the `metrics` facade, under the names and
//! labels `routewise::metrics` documents.
#![cfg(feature = "metrics")]

mod support;

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use routewise::metrics as m;
use routewise::{ChatRequest, Purpose, StepType};
use support::telemetry::{complete_then_stream, paused_runtime, router};

type Entry = (
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
);

/// The value of metric `name` with exactly these labels.
fn value<'a>(snapshot: &'a [Entry], name: &str, labels: &[(&str, &str)]) -> &'a DebugValue {
    let sorted = |mut pairs: Vec<(String, String)>| {
        pairs.sort();
        pairs
    };
    let wanted = sorted(
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    let found: Vec<&Entry> = snapshot
        .iter()
        .filter(|(key, ..)| {
            let have = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            key.key().name() == name && sorted(have) == wanted
        })
        .collect();
    match found[..] {
        [(_, _, _, value)] => value,
        _ => panic!("{name} {labels:?}: found {found:#?}"),
    }
}

fn histogram(values: &[f64]) -> DebugValue {
    DebugValue::Histogram(values.iter().map(|v| (*v).into()).collect())
}

/// The labels of an attempt on `account` (serving `model`) under policy `chat`, plus `extra`.
fn attempt(account: &str, model: &str, extra: Option<(&str, &str)>) -> Vec<(String, String)> {
    [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "sim"),
        ("gen_ai.request.model", model),
        ("routewise.policy", "chat"),
        ("routewise.logical_model", "m"),
        ("routewise.account", account),
    ]
    .into_iter()
    .chain(extra)
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn requests_attempts_latencies_and_tokens_are_reported() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        m::describe();
        paused_runtime().block_on(async {
            let router = router();
            complete_then_stream(&router).await;
            let unmatched = router
                .complete(
                    StepType::Inference,
                    Purpose::Summarization,
                    ChatRequest::user("x"),
                )
                .await;
            assert!(unmatched.is_err());
            // Dropped 5 ms into a 10 ms answer: cancelled.
            let dropped = tokio::time::timeout(
                Duration::from_millis(5),
                router.complete(StepType::Inference, Purpose::Chat, ChatRequest::user("x")),
            )
            .await;
            assert!(dropped.is_err());
        });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let get = |name, labels: &[(&str, &str)]| value(&snapshot, name, labels);
    let get_attempt = |name, labels: Vec<(String, String)>| {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        value(&snapshot, name, &labels)
    };

    let success = [
        ("routewise.policy", "chat"),
        ("routewise.outcome", "success"),
    ];
    assert_eq!(get(m::REQUESTS, &success), &DebugValue::Counter(2));
    assert_eq!(
        get(m::REQUEST_DURATION, &success),
        &histogram(&[0.03, 0.03])
    );
    let unmatched = [
        ("routewise.policy", ""),
        ("routewise.outcome", "no_matching_policy"),
    ];
    assert_eq!(get(m::REQUESTS, &unmatched), &DebugValue::Counter(1));
    let cancelled = [
        ("routewise.policy", "chat"),
        ("routewise.outcome", "cancelled"),
    ];
    assert_eq!(get(m::REQUESTS, &cancelled), &DebugValue::Counter(1));
    assert_eq!(
        get(m::FALLBACKS, &[("routewise.policy", "chat")]),
        &DebugValue::Counter(2)
    );

    let failed = Some(("routewise.outcome", "server_error"));
    assert_eq!(
        get_attempt(m::ATTEMPTS, attempt("down", "down-model", failed)),
        &DebugValue::Counter(2)
    );
    let succeeded = Some(("routewise.outcome", "success"));
    assert_eq!(
        get_attempt(m::ATTEMPTS, attempt("up", "up-model", succeeded)),
        &DebugValue::Counter(2)
    );
    let error_type = Some(("error.type", "server_error"));
    assert_eq!(
        get_attempt(
            m::OPERATION_DURATION,
            attempt("down", "down-model", error_type)
        ),
        &histogram(&[0.01, 0.01])
    );
    assert_eq!(
        get_attempt(m::OPERATION_DURATION, attempt("up", "up-model", None)),
        &histogram(&[0.02, 0.02])
    );
    assert_eq!(
        get_attempt(m::TIME_TO_FIRST_CHUNK, attempt("up", "up-model", None)),
        &histogram(&[0.02])
    );
    let input = Some(("gen_ai.token.type", "input"));
    assert_eq!(
        get_attempt(m::TOKEN_USAGE, attempt("up", "up-model", input)),
        &histogram(&[7.0, 7.0])
    );
    let output = Some(("gen_ai.token.type", "output"));
    assert_eq!(
        get_attempt(m::TOKEN_USAGE, attempt("up", "up-model", output)),
        &histogram(&[3.0, 3.0])
    );
    let units: Vec<_> = snapshot
        .iter()
        .filter(|(key, ..)| key.key().name() == m::OPERATION_DURATION)
        .map(|(_, unit, ..)| *unit)
        .collect();
    assert!(
        units.iter().all(|u| *u == Some(metrics::Unit::Seconds)),
        "{units:?}"
    );
}

/// The router keeps metric keys, not a recorder's handles: a recorder installed after the
/// router was built and had reported into none receives what follows, and a second one
/// receives only what happened while it was current.
#[test]
fn a_recorder_installed_late_receives_what_follows() {
    let runtime = paused_runtime();
    let router = router();
    // No recorder yet: both failures of the primary and two answers of the backup.
    runtime.block_on(complete_then_stream(&router));
    let chat = || async {
        router
            .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("x"))
            .await
            .unwrap()
    };
    let first = DebuggingRecorder::new();
    let first_snapshots = first.snapshotter();
    metrics::with_local_recorder(&first, || runtime.block_on(chat()));
    let second = DebuggingRecorder::new();
    let second_snapshots = second.snapshotter();
    metrics::with_local_recorder(&second, || {
        runtime.block_on(async {
            chat().await;
            chat().await;
        })
    });

    let success = [
        ("routewise.policy", "chat"),
        ("routewise.outcome", "success"),
    ];
    // The primary's script is spent: it answers now, after its 10 ms.
    let answered = attempt("down", "down-model", Some(("routewise.outcome", "success")));
    let answered: Vec<(&str, &str)> = answered.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    let duration = attempt("down", "down-model", None);
    let duration: Vec<(&str, &str)> = duration.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    for (snapshot, requests) in [
        (first_snapshots.snapshot().into_vec(), 1),
        (second_snapshots.snapshot().into_vec(), 2),
    ] {
        assert_eq!(
            value(&snapshot, m::REQUESTS, &success),
            &DebugValue::Counter(requests)
        );
        assert_eq!(
            value(&snapshot, m::ATTEMPTS, &answered),
            &DebugValue::Counter(requests)
        );
        assert_eq!(
            value(&snapshot, m::OPERATION_DURATION, &duration),
            &histogram(&vec![0.01; requests as usize])
        );
        assert!(
            snapshot.iter().all(|(key, ..)| key
                .key()
                .labels()
                .all(|l| l.value() != "up" && l.value() != "server_error")),
            "only what followed the recorder's installation: {snapshot:#?}"
        );
    }
}
