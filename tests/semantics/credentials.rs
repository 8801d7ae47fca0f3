//! A rejected key leaves rotation: skipped by every plan with its reason, one alert per
//! transition, probed again with backoff, back after one success or a reload with new
//! credentials, and shared across instances through Redis.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use routewise::budget::{Alert, AlertError};
use routewise::resilience::{CredentialsAlert, CredentialsBackoff};
use routewise::{
    AlertSink, ChatRequest, Error, LogicalModel, Policy, Purpose, Router, RouterBuilder,
    SkipReason, StepType, Target,
};

use crate::support::upstream::{Answer, Upstream};

/// Keeps every credentials alert.
#[derive(Default)]
struct Alerts(Mutex<Vec<CredentialsAlert>>);

#[async_trait]
impl AlertSink for Alerts {
    async fn send(&self, _alert: &Alert) -> Result<(), AlertError> {
        Ok(())
    }

    async fn send_credentials_rejected(&self, alert: &CredentialsAlert) -> Result<(), AlertError> {
        self.0.lock().unwrap().push(alert.clone());
        Ok(())
    }
}

/// Account `keyed` (with `key`, at `keyed`) first, then `spare`; probes after 300 ms.
fn builder(keyed: &Upstream, key: &str, spare: &Upstream, alerts: &Arc<Alerts>) -> RouterBuilder {
    Router::builder()
        .credentials_backoff(CredentialsBackoff::new(
            Duration::from_millis(300),
            Duration::from_secs(5),
        ))
        .alert_sink(alerts.clone())
        .account(keyed.account("keyed", key))
        .account(spare.account("spare", "sk-spare"))
        .model(
            LogicalModel::new("m")
                .target(Target::new("keyed", "gpt-4o"))
                .target(Target::new("spare", "gpt-4o")),
        )
        .policy(Policy::new("p").route(["m"]))
}

async fn served_by(router: &Router) -> Result<String, Error> {
    let response = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await?;
    Ok(response.served_by.account.to_string())
}

/// Waits (a little) for spawned alert deliveries.
async fn alerts_settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn a_rejected_key_leaves_rotation_with_one_alert_until_a_probe_succeeds() {
    let keyed = Upstream::start(Answer::Status(401)).await;
    let spare = Upstream::start(Answer::Ok).await;
    let alerts = Arc::new(Alerts::default());
    let router = builder(&keyed, "sk-revoked", &spare, &alerts)
        .build()
        .unwrap();

    // The first request meets the 401; auth failures do not fall back by default.
    let error = served_by(&router).await.unwrap_err();
    assert!(matches!(error, Error::Rejected { .. }), "{error}");
    for _ in 0..5 {
        assert_eq!(served_by(&router).await.unwrap(), "spare");
    }
    assert_eq!(keyed.calls(), 1, "the rejected key is not tried again");
    alerts_settle().await;
    {
        let sent = alerts.0.lock().unwrap();
        assert_eq!(sent.len(), 1, "one alert per transition");
        assert_eq!(&*sent[0].account, "keyed");
        assert_eq!(sent[0].status, Some(401));
        assert!(!sent[0].to_string().contains("sk-revoked"));
    }
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    assert!(
        matches!(
            explanation.skipped[0].reason,
            SkipReason::CredentialsRejected { .. }
        ),
        "{explanation}"
    );
    assert!(router.accounts()[0].credentials_rejected.is_some());
    assert_eq!(router.stats().credentials_rejected, ["keyed"]);

    // The probe after the backoff is refused: the request falls back, the wait doubles.
    tokio::time::sleep(Duration::from_millis(320)).await;
    assert_eq!(served_by(&router).await.unwrap(), "spare");
    assert_eq!(keyed.calls(), 2);
    let status = router.accounts()[0].credentials_rejected.clone().unwrap();
    assert_eq!(status.backoff_ms, 600);
    assert_eq!(served_by(&router).await.unwrap(), "spare");
    assert_eq!(keyed.calls(), 2);

    // The key works again: the next probe succeeds and the account is back.
    keyed.answer(Answer::Ok);
    tokio::time::sleep(Duration::from_millis(620)).await;
    assert_eq!(served_by(&router).await.unwrap(), "keyed");
    assert_eq!(served_by(&router).await.unwrap(), "keyed");
    assert!(router.accounts()[0].credentials_rejected.is_none());
    alerts_settle().await;
    assert_eq!(alerts.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_reload_with_new_credentials_puts_the_account_back_at_once() {
    let keyed = Upstream::start(Answer::Status(401)).await;
    let spare = Upstream::start(Answer::Ok).await;
    let alerts = Arc::new(Alerts::default());
    let router = builder(&keyed, "sk-old", &spare, &alerts).build().unwrap();
    served_by(&router).await.unwrap_err();

    // Same credentials: still out.
    router
        .reload(builder(&keyed, "sk-old", &spare, &alerts))
        .unwrap();
    assert_eq!(served_by(&router).await.unwrap(), "spare");
    assert_eq!(keyed.calls(), 1);

    keyed.answer(Answer::Ok);
    router
        .reload(builder(&keyed, "sk-new", &spare, &alerts))
        .unwrap();
    assert_eq!(served_by(&router).await.unwrap(), "keyed");
    assert_eq!(keyed.keys(), ["sk-old", "sk-new"]);
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_rejection_seen_by_one_instance_keeps_the_fleet_off_the_account() {
    let keyed = Upstream::start(Answer::Status(403)).await;
    let spare = Upstream::start(Answer::Ok).await;
    let prefix = crate::support::redis::unique_prefix("credentials-fleet");
    let alerts = Arc::new(Alerts::default());
    let instance = || {
        let shared = routewise::shared::RedisState::builder(crate::support::redis::redis_url())
            .prefix(prefix.clone())
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        // Probes well after the test, however slow the first Redis round trips are.
        let backoff = CredentialsBackoff::new(Duration::from_secs(30), Duration::from_secs(60));
        builder(&keyed, "sk-revoked", &spare, &alerts)
            .credentials_backoff(backoff)
            .shared_state(shared)
            .build()
            .unwrap()
    };
    let (first, second) = (instance(), instance());
    served_by(&first).await.unwrap_err();
    let mark = format!("{prefix}:{{keyed}}:credentials");
    let waited = std::time::Instant::now();
    while !crate::cool_down::redis_has(&mark) {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "no mark at {mark}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..3 {
        assert_eq!(served_by(&second).await.unwrap(), "spare");
    }
    assert_eq!(
        keyed.calls(),
        1,
        "the other instance never sends the rejected key"
    );
    assert!(second.accounts()[0].credentials_rejected.is_some());

    // An instance whose key differs ignores the mark.
    keyed.answer(Answer::Ok);
    let shared = routewise::shared::RedisState::builder(crate::support::redis::redis_url())
        .prefix(prefix.clone())
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let fixed = builder(&keyed, "sk-rotated", &spare, &alerts)
        .shared_state(shared)
        .build()
        .unwrap();
    assert_eq!(served_by(&fixed).await.unwrap(), "keyed");
}
