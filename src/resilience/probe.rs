//! Active health probes: call [`Provider::health_check`] every so often and record how
//! it went, so an account that stopped answering is noticed without real traffic.

use std::future::Future;
use std::sync::{Arc, Weak};

use tokio::time::{Instant, MissedTickBehavior};

use super::health::HealthTracker;
use crate::account::AccountInfo;
use crate::provider::Provider;
use crate::types::millis;

impl HealthTracker {
    /// Probes the account once, waiting at most
    /// [`probe_timeout`](crate::HealthConfig::probe_timeout), records the result and
    /// returns whether the probe succeeded.
    pub async fn probe_once(&self, provider: &dyn Provider, account: &AccountInfo) -> bool {
        let outcome =
            tokio::time::timeout(self.config().probe_timeout, provider.health_check(account)).await;
        let ok = match outcome {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::debug!(routewise.account = %self.name(), %error, "health probe failed");
                false
            }
            Err(_) => {
                tracing::debug!(
                    routewise.account = %self.name(),
                    timeout_ms = millis::saturating(self.config().probe_timeout),
                    "health probe timed out"
                );
                false
            }
        };
        self.record_probe(ok, Instant::now());
        ok
    }

    /// The probe loop for this account: every
    /// [`probe_interval`](crate::HealthConfig::probe_interval), one
    /// [`probe_once`](Self::probe_once). Spawn it on a runtime; it ends when the tracker is
    /// dropped (it holds only a weak reference), at once if no interval is configured,
    /// and when its task is aborted.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use routewise::{AccountInfo, HealthConfig, HealthTracker};
    /// use routewise::sim::SimProvider;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let config = HealthConfig::default().probe_every(Duration::from_secs(30));
    /// let health = Arc::new(HealthTracker::new("sim", config).unwrap());
    /// let probes = tokio::spawn(health.probe_loop(Arc::new(SimProvider::new()), AccountInfo::new("sim")));
    ///
    /// tokio::time::sleep(Duration::from_secs(31)).await;
    /// assert_eq!(health.snapshot(tokio::time::Instant::now()).last_probe_ok, Some(true));
    /// probes.abort();
    /// # }
    /// ```
    pub fn probe_loop(
        self: &Arc<Self>,
        provider: Arc<dyn Provider>,
        account: AccountInfo,
    ) -> impl Future<Output = ()> + Send + 'static {
        let tracker = Arc::downgrade(self);
        let interval = self.config().probe_interval;
        async move {
            let Some(interval) = interval else { return };
            let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(tracker) = Weak::upgrade(&tracker) else {
                    return;
                };
                tracker.probe_once(provider.as_ref(), &account).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;
    use tokio::time::sleep;

    use super::*;
    use crate::HealthConfig;
    use crate::provider::{ErrorKind, ProviderError, ProviderRequest, ProviderResponse};
    use crate::resilience::test_support::EventLog;
    use crate::sim::SimProvider;

    /// A provider whose health check hangs; only the probe timeout ends it.
    struct Unresponsive;

    #[async_trait]
    impl Provider for Unresponsive {
        fn provider_name(&self) -> &str {
            "unresponsive"
        }

        async fn complete(
            &self,
            _: ProviderRequest<'_>,
        ) -> Result<ProviderResponse, ProviderError> {
            Err(ProviderError::new(ErrorKind::Connection, "unreachable"))
        }

        async fn health_check(&self, _: &AccountInfo) -> Result<(), ProviderError> {
            std::future::pending().await
        }
    }

    fn tracker(config: HealthConfig) -> Arc<HealthTracker> {
        Arc::new(HealthTracker::new("sim-main", config).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probes_mark_the_account_unavailable_and_a_good_one_clears_it() {
        let (log, _guard) = EventLog::install();
        let health = tracker(HealthConfig::default().unavailable_after_probe_failures(3));
        let sim = SimProvider::new();
        let account = AccountInfo::new("sim-main");
        sim.set_down(true);
        for expected_available in [true, true, false] {
            assert!(!health.probe_once(&sim, &account).await);
            assert_eq!(
                !health.status(Instant::now()).unavailable,
                expected_available
            );
        }
        assert_eq!(log.matching("account unhealthy").len(), 1);
        assert!(log.matching("account unhealthy")[0].contains("unavailable=true"));

        sim.set_down(false);
        assert!(health.probe_once(&sim, &account).await);
        assert!(health.is_healthy(Instant::now()));
        assert_eq!(log.matching("account healthy again").len(), 1);
        let snapshot = health.snapshot(Instant::now());
        assert_eq!(snapshot.consecutive_probe_failures, 0);
        assert_eq!(snapshot.last_probe_ok, Some(true));
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_hangs_fails_at_its_timeout() {
        let health = tracker(
            HealthConfig::default()
                .probe_timeout(Duration::from_secs(5))
                .unavailable_after_probe_failures(1),
        );
        let started = Instant::now();
        assert!(
            !health
                .probe_once(&Unresponsive, &AccountInfo::new("x"))
                .await
        );
        assert_eq!(Instant::now() - started, Duration::from_secs(5));
        assert!(health.status(Instant::now()).unavailable);
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_probes_every_interval() {
        let health = tracker(
            HealthConfig::default()
                .probe_every(Duration::from_secs(10))
                .unavailable_after_probe_failures(2),
        );
        let sim = SimProvider::new();
        sim.set_down(true);
        let task = tokio::spawn(health.probe_loop(Arc::new(sim.clone()), AccountInfo::new("s")));
        sleep(Duration::from_secs(9)).await;
        assert_eq!(
            health.snapshot(Instant::now()).last_probe_ok,
            None,
            "not yet"
        );
        sleep(Duration::from_secs(2)).await;
        assert_eq!(
            health.snapshot(Instant::now()).consecutive_probe_failures,
            1
        );
        sleep(Duration::from_secs(10)).await;
        assert!(
            health.status(Instant::now()).unavailable,
            "two probes failed"
        );
        sim.set_down(false);
        sleep(Duration::from_secs(10)).await;
        assert!(health.is_healthy(Instant::now()));
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_ends_with_its_tracker_or_without_an_interval() {
        let health = tracker(HealthConfig::default().probe_every(Duration::from_secs(1)));
        let task =
            tokio::spawn(health.probe_loop(Arc::new(SimProvider::new()), AccountInfo::new("s")));
        drop(health);
        sleep(Duration::from_secs(2)).await;
        assert!(task.is_finished());

        let health = tracker(HealthConfig::default());
        let loop_without_interval =
            health.probe_loop(Arc::new(SimProvider::new()), AccountInfo::new("s"));
        tokio::time::timeout(Duration::from_millis(1), loop_without_interval)
            .await
            .expect("returns at once");
    }
}
