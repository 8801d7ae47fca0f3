//! Hot reload from a config file: a changed file is applied atomically with stats kept, an
//! invalid one is rejected and the running configuration stays, dropping the watcher stops
//! it, and reloading under load loses no request.
#![cfg(feature = "toml")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use routewise::config::{Format, ReloadEvent, RouterConfig};
use routewise::{ChatRequest, Purpose, Router, StepType};

fn config_text(reply: &str, route: &str) -> String {
    format!(
        r#"
[[accounts]]
name = "a"
provider = {{ kind = "sim", reply = "{reply}" }}

[[models]]
name = "m"
targets = [{{ account = "a", model = "x" }}]

[[policies]]
name = "default"
route = ["{route}"]
"#
    )
}

async fn ask(router: &Router) -> String {
    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap()
        .content
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

const INTERVAL: Duration = Duration::from_millis(50);
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn a_changed_file_is_applied_and_stats_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    write(&path, &config_text("v1", "m"));
    let router = Router::from_config(&RouterConfig::from_path(&path).unwrap()).unwrap();
    let mut watcher = router.watch_config_every(&path, INTERVAL).unwrap();
    assert_eq!(ask(&router).await, "v1");

    write(&path, &config_text("version two", "m"));
    let event = tokio::time::timeout(PATIENCE, watcher.changed())
        .await
        .unwrap();
    assert!(matches!(event, Some(ReloadEvent::Applied)), "{event:?}");
    assert_eq!(ask(&router).await, "version two");
    assert_eq!(router.stats().policy("default").unwrap().matched, 2);
}

#[tokio::test(start_paused = true)]
async fn an_invalid_file_is_rejected_with_its_problems_and_the_running_config_stays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    write(&path, &config_text("v1", "m"));
    let router = Router::from_config(&RouterConfig::from_path(&path).unwrap()).unwrap();
    let mut watcher = router.watch_config_every(&path, INTERVAL).unwrap();

    write(&path, &config_text("v2", "mm"));
    let event = tokio::time::timeout(PATIENCE, watcher.changed())
        .await
        .unwrap();
    let Some(ReloadEvent::Rejected(error)) = event else {
        panic!("expected a rejection, got {event:?}");
    };
    let message = error.to_string();
    assert!(
        message.contains("policies[0].route[0]: unknown logical model `mm`; did you mean `m`? (line 12, column 10)"),
        "{message}"
    );
    assert!(message.contains("routewise.toml"), "{message}");
    assert_eq!(ask(&router).await, "v1");

    // A broken file is not retried until it changes; the fix is then applied.
    write(&path, "[[policies]\n");
    let event = tokio::time::timeout(PATIENCE, watcher.changed())
        .await
        .unwrap();
    assert!(matches!(event, Some(ReloadEvent::Rejected(_))), "{event:?}");
    write(&path, &config_text("fixed", "m"));
    let event = tokio::time::timeout(PATIENCE, watcher.changed())
        .await
        .unwrap();
    assert!(matches!(event, Some(ReloadEvent::Applied)), "{event:?}");
    assert_eq!(ask(&router).await, "fixed");
}

#[tokio::test(start_paused = true)]
async fn rewriting_the_same_content_does_not_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    let text = config_text("v1", "m");
    write(&path, &text);
    let router = Router::from_config(&RouterConfig::from_path(&path).unwrap()).unwrap();
    let mut watcher = router.watch_config_every(&path, INTERVAL).unwrap();

    write(&path, &text);
    let waited = tokio::time::timeout(INTERVAL * 20, watcher.changed()).await;
    assert!(
        waited.is_err(),
        "no reload attempt expected, got {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_watcher_stops_reloading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    write(&path, &config_text("v1", "m"));
    let router = Router::from_config(&RouterConfig::from_path(&path).unwrap()).unwrap();
    let watcher = router.watch_config_every(&path, INTERVAL).unwrap();
    drop(watcher);

    write(&path, &config_text("v2 should not load", "m"));
    tokio::time::sleep(INTERVAL * 20).await;
    assert_eq!(ask(&router).await, "v1");
}

#[tokio::test]
async fn watching_a_file_that_cannot_be_read_fails_at_once() {
    let router = Router::from_config(
        &RouterConfig::from_str_format(&config_text("v1", "m"), Format::Toml).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = router
        .watch_config(dir.path().join("missing.toml"))
        .unwrap_err();
    assert!(err.to_string().contains("missing.toml"), "{err}");
    let err = router
        .watch_config(dir.path().join("config.ini"))
        .unwrap_err();
    assert!(err.to_string().contains("cannot tell the format"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloading_a_config_under_load_loses_no_request() {
    let config = |reply: &str| {
        RouterConfig::from_str_format(&config_text(reply, "m"), Format::Toml).unwrap()
    };
    let router = Router::from_config(&config("v0")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (router, stop) = (router.clone(), stop.clone());
            tokio::spawn(async move {
                let mut served = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let answer = ask(&router).await;
                    assert!(answer.starts_with('v'), "{answer}");
                    served += 1;
                    tokio::task::yield_now().await;
                }
                served
            })
        })
        .collect();
    for round in 1..=200 {
        router.reload_config(&config(&format!("v{round}"))).unwrap();
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut served = 0;
    for worker in workers {
        served += worker.await.unwrap();
    }

    assert!(served > 0, "the workers ran while the config was reloaded");
    let stats = router.stats();
    let policy = stats.policy("default").unwrap();
    assert_eq!(policy.matched, served, "every request is counted once");
    assert_eq!((policy.succeeded, policy.failed), (served, 0));
    assert_eq!(ask(&router).await, "v200");
}
