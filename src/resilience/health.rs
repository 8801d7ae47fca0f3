//! Health of a provider account, kept continuously from real calls and optional probes.
//!
//! Recording is a few atomic increments; reading ([`HealthTracker::status`]) changes
//! nothing and, while no failed or slow call is in the window, is two atomic loads, so a
//! planner can ask for every candidate of every request. The recording methods also
//! notice when the verdict flips and emit a `tracing` event.

mod config;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

pub use self::config::HealthConfig;
use super::error::ResilienceConfigError;
use super::latency::{LatencySnapshot, LatencyTracker};
use super::window::RollingWindow;

const SUCCEEDED: usize = 0;
const FAILED: usize = 1;
/// Successful calls slower than the latency ceiling.
const SLOW: usize = 2;

const NO_PROBE: u8 = 0;
const PROBE_OK: u8 = 1;
const PROBE_FAILED: u8 = 2;

/// The health of one provider account.
///
/// Feed it every call the account served ([`record`](Self::record)) and, optionally, the
/// results of probes ([`record_probe`](Self::record_probe), or run
/// [`probe_loop`](Self::probe_loop)). Ask it [`is_healthy`](Self::is_healthy) when
/// ordering candidates: unhealthy accounts go last but are still tried.
///
/// ```
/// use std::time::Duration;
/// use routewise::{HealthConfig, HealthTracker};
/// use tokio::time::Instant;
///
/// let health = HealthTracker::new("openai-main", HealthConfig::default().min_samples(4))?;
/// let now = Instant::now();
/// for ok in [true, false, false, false] {
///     health.record(ok, Duration::from_millis(300), now);
/// }
/// assert!(!health.is_healthy(now), "3 failures in 4 calls is above the 50% limit");
/// assert!(health.status(now).error_rate_exceeded);
///
/// // Once those calls leave the 60 s window, the account is healthy again.
/// assert!(health.is_healthy(now + Duration::from_secs(60)));
/// # Ok::<(), routewise::ResilienceConfigError>(())
/// ```
pub struct HealthTracker {
    name: Arc<str>,
    config: HealthConfig,
    outcomes: RollingWindow<3>,
    /// The window position from which no failed or slow call recorded so far is counted
    /// any more; zero while none was ever recorded. Before it, the verdict needs the
    /// window's totals; from it on, the calls in the window are all fine ones, which no
    /// threshold can find fault with, so reading it is the common, cheap case.
    troubled_until: AtomicU64,
    latency: LatencyTracker,
    consecutive_probe_failures: AtomicU32,
    last_probe: AtomicU8,
    /// The verdict last reported in a `tracing` event.
    reported_healthy: AtomicBool,
}

/// Why an account is unhealthy, if it is. Serializes as its three flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HealthStatus {
    /// More calls failed in the window than [`HealthConfig::max_error_rate`] allows.
    pub error_rate_exceeded: bool,
    /// The window's p95 latency is above [`HealthConfig::max_p95_latency`].
    pub latency_exceeded: bool,
    /// The last probes all failed.
    pub unavailable: bool,
}

impl HealthStatus {
    /// Whether nothing is wrong.
    pub fn is_healthy(self) -> bool {
        !(self.error_rate_exceeded || self.latency_exceeded || self.unavailable)
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_healthy() {
            return f.write_str("healthy");
        }
        let reasons = [
            (self.error_rate_exceeded, "error rate above the limit"),
            (self.latency_exceeded, "p95 latency above the ceiling"),
            (self.unavailable, "probes failing"),
        ];
        f.write_str("unhealthy: ")?;
        let mut first = true;
        for (_, reason) in reasons.iter().filter(|(on, _)| *on) {
            if !first {
                f.write_str(", ")?;
            }
            f.write_str(reason)?;
            first = false;
        }
        Ok(())
    }
}

/// Every health figure of an account at a point in time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HealthSnapshot {
    /// The verdict.
    pub healthy: bool,
    /// The reasons behind it.
    pub status: HealthStatus,
    /// Calls in the rolling window.
    pub calls: u64,
    /// Failed calls in the rolling window.
    pub failures: u64,
    /// Failed calls over calls in the window, once there are any.
    pub error_rate: Option<f64>,
    /// Latency of successful calls.
    pub latency: LatencySnapshot,
    /// Probes failed in a row, up to now.
    pub consecutive_probe_failures: u32,
    /// How the last probe went, if one ran.
    pub last_probe_ok: Option<bool>,
}

impl HealthTracker {
    /// A tracker for the account `name` (the label of its `tracing` events), healthy until
    /// calls or probes say otherwise.
    pub fn new(
        name: impl Into<Arc<str>>,
        config: HealthConfig,
    ) -> Result<Self, ResilienceConfigError> {
        config.validate()?;
        Ok(Self {
            name: name.into(),
            outcomes: RollingWindow::new(config.window, Instant::now()),
            troubled_until: AtomicU64::new(0),
            latency: LatencyTracker::new(config.window, config.ewma_alpha)?,
            config,
            consecutive_probe_failures: AtomicU32::new(0),
            last_probe: AtomicU8::new(NO_PROBE),
            reported_healthy: AtomicBool::new(true),
        })
    }

    /// The account name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The settings.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Latency of the account's successful calls.
    pub fn latency(&self) -> &LatencyTracker {
        &self.latency
    }

    /// Records a call that finished at `now` after `latency`.
    ///
    /// Count provider faults ([`ErrorKind::is_provider_fault`]) as failures; a request the
    /// provider rightly refused says nothing about the account, so leave it out. Only
    /// successful calls feed the latency figures, and a success also ends an unavailable
    /// spell: the account evidently answers.
    ///
    /// [`ErrorKind::is_provider_fault`]: crate::ErrorKind::is_provider_fault
    pub fn record(&self, success: bool, latency: Duration, now: Instant) {
        if success {
            self.outcomes.add(now, SUCCEEDED);
            self.latency.record(latency, now);
            if self
                .config
                .max_p95_latency
                .is_some_and(|ceiling| latency > ceiling)
            {
                self.add_trouble(now, SLOW);
            }
            self.consecutive_probe_failures.store(0, Relaxed);
        } else {
            self.add_trouble(now, FAILED);
        }
        self.refresh(now);
    }

    /// Counts a failed or slow call, and keeps the verdict on the window's totals until
    /// it has slid past it.
    fn add_trouble(&self, now: Instant, counter: usize) {
        let position = self.outcomes.position(now);
        self.troubled_until
            .fetch_max(RollingWindow::<3>::forgets_after(position), Relaxed);
        self.outcomes.add(now, counter);
    }

    /// Records a probe that finished at `now`.
    pub fn record_probe(&self, ok: bool, now: Instant) {
        if ok {
            self.consecutive_probe_failures.store(0, Relaxed);
            self.last_probe.store(PROBE_OK, Relaxed);
        } else {
            self.consecutive_probe_failures.fetch_add(1, Relaxed);
            self.last_probe.store(PROBE_FAILED, Relaxed);
        }
        self.refresh(now);
    }

    /// Why the account is unhealthy at `now`, if it is. Changes nothing.
    pub fn status(&self, now: Instant) -> HealthStatus {
        let troubled_until = self.troubled_until.load(Relaxed);
        if troubled_until == 0 || self.outcomes.position(now) >= troubled_until {
            // No failed or slow call in the window: what `judge` finds with both at zero.
            return HealthStatus {
                unavailable: self.unavailable(),
                ..HealthStatus::default()
            };
        }
        let [succeeded, failed, slow] = self.outcomes.totals(now);
        self.judge(succeeded, failed, slow)
    }

    /// Whether the account is healthy at `now`. Changes nothing.
    pub fn is_healthy(&self, now: Instant) -> bool {
        self.status(now).is_healthy()
    }

    /// Judges the account at `now` and emits a `tracing` event if the verdict changed
    /// since the last one reported. Recording calls and probes does this already; call it
    /// to report a recovery that came from the window sliding, with no new call.
    pub fn refresh(&self, now: Instant) -> HealthStatus {
        let status = self.status(now);
        let healthy = status.is_healthy();
        if self.reported_healthy.swap(healthy, Relaxed) != healthy {
            if healthy {
                tracing::info!(routewise.account = %self.name, "account healthy again");
            } else {
                tracing::warn!(
                    routewise.account = %self.name,
                    error_rate_exceeded = status.error_rate_exceeded,
                    latency_exceeded = status.latency_exceeded,
                    unavailable = status.unavailable,
                    "account unhealthy"
                );
            }
        }
        status
    }

    /// Every figure at `now`.
    pub fn snapshot(&self, now: Instant) -> HealthSnapshot {
        let [succeeded, failed, slow] = self.outcomes.totals(now);
        let status = self.judge(succeeded, failed, slow);
        let calls = succeeded + failed;
        HealthSnapshot {
            healthy: status.is_healthy(),
            status,
            calls,
            failures: failed,
            error_rate: (calls > 0).then(|| failed as f64 / calls as f64),
            latency: self.latency.snapshot(now),
            consecutive_probe_failures: self.consecutive_probe_failures.load(Relaxed),
            last_probe_ok: match self.last_probe.load(Relaxed) {
                PROBE_OK => Some(true),
                PROBE_FAILED => Some(false),
                _ => None,
            },
        }
    }

    fn judge(&self, succeeded: u64, failed: u64, slow: u64) -> HealthStatus {
        let min = u64::from(self.config.min_samples);
        let calls = succeeded + failed;
        HealthStatus {
            error_rate_exceeded: calls >= min
                && failed as f64 > self.config.max_error_rate * calls as f64,
            // More than 5% of calls above the ceiling is a p95 above it.
            latency_exceeded: succeeded >= min && slow * 20 > succeeded,
            unavailable: self.unavailable(),
        }
    }

    /// Whether the last probes all failed.
    fn unavailable(&self) -> bool {
        self.consecutive_probe_failures.load(Relaxed)
            >= self.config.unavailable_after_probe_failures
    }
}

impl fmt::Debug for HealthTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthTracker")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
