//! Counters stay exact under concurrency, reloads swap configuration under load without
//! failing a request, and dropped requests are counted as cancelled.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use routewise::sim::{SimProvider, SimStep};
use routewise::{
    ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, RouterBuilder, StepType,
    Target,
};
use support::one_model;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn stats_are_exact_for_ten_thousand_concurrent_requests_across_eight_tasks() {
    let flaky = SimProvider::new().failure_rate(0.3).seed(7);
    let steady = SimProvider::new().failure_rate(0.1).seed(11);
    // Breakers and health would (rightly) stop preferring the flaky target; this test is
    // about counting, so both are set to tolerate it.
    let router = one_model(&[("flaky", &flaky), ("steady", &steady)])
        .without_breakers()
        .health(routewise::HealthConfig::default().max_error_rate(1.0))
        .build()
        .unwrap();

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move {
                let requests = (0..1_250).map(|_| {
                    router.complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
                });
                futures::future::join_all(requests).await
            })
        })
        .collect();
    let mut ok = 0u64;
    let mut failed = 0u64;
    for task in tasks {
        for result in task.await.unwrap() {
            if result.is_ok() { ok += 1 } else { failed += 1 }
        }
    }

    let stats = router.stats();
    let policy = stats.policy("default").unwrap();
    assert_eq!(policy.matched, 10_000);
    assert_eq!((policy.succeeded, policy.failed), (ok, failed));
    let flaky_stats = stats.target("m", "flaky").unwrap();
    let steady_stats = stats.target("m", "steady").unwrap();
    assert_eq!(flaky_stats.attempts, flaky.calls());
    assert_eq!(steady_stats.attempts, steady.calls());
    assert_eq!(
        flaky_stats.attempts, 10_000,
        "every request tries the primary first"
    );
    assert_eq!(
        policy.fallbacks, flaky_stats.failed,
        "each primary failure falls back once"
    );
    assert_eq!(steady_stats.succeeded, ok - flaky_stats.succeeded);
    assert_eq!(steady_stats.failed, failed);
    let rate = policy.success_rate.unwrap();
    assert!((rate - ok as f64 / 10_000.0).abs() < 1e-12);
}

fn config(reply: &str) -> RouterBuilder {
    Router::builder()
        .account(ProviderAccount::new(
            "a",
            SimProvider::new()
                .reply(reply)
                .latency(Duration::from_micros(200)),
        ))
        .model(LogicalModel::new("m").target(Target::new("a", "x")))
        .policy(Policy::new("default").route(["m"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_under_load_fails_no_request_and_keeps_surviving_stats() {
    let router = config("v0").build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (router, stop) = (router.clone(), stop.clone());
            tokio::spawn(async move {
                let mut served = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let response = router
                        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
                        .await
                        .expect("no request may fail during a reload");
                    served.push(response.content);
                }
                served
            })
        })
        .collect();
    for version in 1..=50 {
        router.reload(config(&format!("v{version}"))).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0u64;
    let mut versions = std::collections::BTreeSet::new();
    for client in clients {
        let served = client.await.unwrap();
        total += served.len() as u64;
        versions.extend(served);
    }
    assert!(
        versions.len() > 1,
        "requests saw several configurations: {versions:?}"
    );
    let stats = router.stats();
    let policy = stats.policy("default").unwrap();
    assert_eq!(policy.matched, total, "counts survive every reload");
    assert_eq!(policy.succeeded, total);
    assert_eq!(stats.target("m", "a").unwrap().attempts, total);
    let final_answer = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(final_answer.content, "v50");
}

#[tokio::test]
async fn an_invalid_reload_is_refused_and_the_running_configuration_kept() {
    let router = config("old").build().unwrap();
    let err = router
        .reload(Router::builder().policy(Policy::new("default").route(["missing"])))
        .unwrap_err();
    assert!(err.to_string().contains("unknown logical model `missing`"));
    let response = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(response.content, "old");
}

#[tokio::test]
async fn a_renamed_policy_starts_from_zero_and_the_old_name_disappears() {
    let router = config("x").build().unwrap();
    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    router
        .reload(
            Router::builder()
                .account(ProviderAccount::new("a", SimProvider::new()))
                .model(LogicalModel::new("m").target(Target::new("a", "x")))
                .policy(Policy::new("renamed").route(["m"])),
        )
        .unwrap();
    let stats = router.stats();
    assert!(stats.policy("default").is_none());
    assert_eq!(stats.policy("renamed").unwrap().matched, 0);
    assert_eq!(
        stats.target("m", "a").unwrap().attempts,
        1,
        "the target survived"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_request_is_counted_as_cancelled_not_failed() {
    let hanging = SimProvider::new().script([SimStep::Hang]);
    let router = one_model(&[("a", &hanging)]).build().unwrap();
    let call = router.complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"));
    let timed_out = tokio::time::timeout(Duration::from_secs(1), call).await;
    assert!(timed_out.is_err());
    let stats = router.stats();
    let policy = stats.policy("default").unwrap();
    assert_eq!(
        (
            policy.matched,
            policy.succeeded,
            policy.failed,
            policy.cancelled
        ),
        (1, 0, 0, 1)
    );
}
