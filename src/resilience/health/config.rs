//! When an account counts as unhealthy, and how it is probed.

use std::time::Duration;

use crate::resilience::error::{ResilienceConfigError, check_fraction, check_nonzero};
use crate::resilience::window::MIN_WINDOW;

/// Settings of a [`HealthTracker`](crate::HealthTracker): the thresholds past which an
/// account is unhealthy, and its optional probes.
///
/// An account is **unhealthy** while any of these holds:
/// - **error rate**: the rolling [`window`](Self::window) holds at least
///   [`min_samples`](Self::min_samples) calls and more than
///   [`max_error_rate`](Self::max_error_rate) of them failed;
/// - **latency** (only with [`max_p95_latency`](Self::max_p95_latency) set): the window
///   holds at least `min_samples` successful calls and more than 5% of them took longer
///   than the ceiling, that is, their p95 is above it;
/// - **unavailable**: the last
///   [`unavailable_after_probe_failures`](Self::unavailable_after_probe_failures) probes
///   all failed (a successful probe or call ends that).
///
/// As calls leave the window, an account that stopped failing becomes healthy again.
///
/// The defaults: a 60 s window, at least 10 calls, unhealthy above a 50% error rate, no
/// latency ceiling, no probes (when enabled: unavailable after 3 failed probes, each given
/// 10 s), moving-average weight 0.2.
///
/// ```
/// use std::time::Duration;
/// use routewise::HealthConfig;
///
/// let config = HealthConfig::default()
///     .max_error_rate(0.25)
///     .max_p95_latency(Duration::from_secs(20))
///     .probe_every(Duration::from_secs(30));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct HealthConfig {
    /// How far back calls count (the window slides in tenths; at least 10 ms).
    pub window: Duration,
    /// Calls the window must hold before the error rate and latency are judged.
    pub min_samples: u32,
    /// The highest share of failed calls a healthy account has, in `(0, 1]`.
    pub max_error_rate: f64,
    /// The highest p95 latency of successful calls a healthy account has (`None`: latency
    /// never makes an account unhealthy).
    pub max_p95_latency: Option<Duration>,
    /// Consecutive failed probes after which the account is unavailable.
    pub unavailable_after_probe_failures: u32,
    /// How often to probe the account (`None`: no probes).
    pub probe_interval: Option<Duration>,
    /// How long a probe may take before it counts as failed.
    pub probe_timeout: Duration,
    /// The weight of each new call in the latency moving average, in `(0, 1]`.
    pub ewma_alpha: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            min_samples: 10,
            max_error_rate: 0.5,
            max_p95_latency: None,
            unavailable_after_probe_failures: 3,
            probe_interval: None,
            probe_timeout: Duration::from_secs(10),
            ewma_alpha: 0.2,
        }
    }
}

impl HealthConfig {
    /// Sets how far back calls count.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets how many calls the window needs before judging.
    pub fn min_samples(mut self, calls: u32) -> Self {
        self.min_samples = calls;
        self
    }

    /// Sets the highest error rate of a healthy account.
    pub fn max_error_rate(mut self, rate: f64) -> Self {
        self.max_error_rate = rate;
        self
    }

    /// Sets the highest p95 latency of a healthy account.
    pub fn max_p95_latency(mut self, ceiling: Duration) -> Self {
        self.max_p95_latency = Some(ceiling);
        self
    }

    /// Probes the account every `interval`.
    pub fn probe_every(mut self, interval: Duration) -> Self {
        self.probe_interval = Some(interval);
        self
    }

    /// Sets how long a probe may take.
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Sets how many consecutive failed probes make the account unavailable.
    pub fn unavailable_after_probe_failures(mut self, probes: u32) -> Self {
        self.unavailable_after_probe_failures = probes;
        self
    }

    /// Sets the weight of each new call in the latency moving average.
    pub fn ewma_alpha(mut self, alpha: f64) -> Self {
        self.ewma_alpha = alpha;
        self
    }

    /// Checks every setting, returning the first out of range.
    pub fn validate(&self) -> Result<(), ResilienceConfigError> {
        if self.window < MIN_WINDOW {
            return Err(ResilienceConfigError::new(
                "window",
                format!("must be at least {MIN_WINDOW:?} (got {:?})", self.window),
            ));
        }
        if self.min_samples == 0 {
            return Err(ResilienceConfigError::new(
                "min_samples",
                "must be at least 1",
            ));
        }
        check_fraction("max_error_rate", self.max_error_rate)?;
        if let Some(ceiling) = self.max_p95_latency {
            check_nonzero("max_p95_latency", ceiling)?;
        }
        if self.unavailable_after_probe_failures == 0 {
            return Err(ResilienceConfigError::new(
                "unavailable_after_probe_failures",
                "must be at least 1",
            ));
        }
        if let Some(interval) = self.probe_interval {
            check_nonzero("probe_interval", interval)?;
        }
        check_nonzero("probe_timeout", self.probe_timeout)?;
        check_fraction("ewma_alpha", self.ewma_alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(config: HealthConfig) -> &'static str {
        config.validate().unwrap_err().field()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(HealthConfig::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_setting_is_named() {
        let base = HealthConfig::default;
        assert_eq!(field_of(base().window(Duration::ZERO)), "window");
        assert_eq!(field_of(base().min_samples(0)), "min_samples");
        assert_eq!(field_of(base().max_error_rate(0.0)), "max_error_rate");
        assert_eq!(field_of(base().max_error_rate(1.1)), "max_error_rate");
        assert_eq!(
            field_of(base().max_p95_latency(Duration::ZERO)),
            "max_p95_latency"
        );
        assert_eq!(
            field_of(base().unavailable_after_probe_failures(0)),
            "unavailable_after_probe_failures"
        );
        assert_eq!(
            field_of(base().probe_every(Duration::ZERO)),
            "probe_interval"
        );
        assert_eq!(
            field_of(base().probe_timeout(Duration::ZERO)),
            "probe_timeout"
        );
        assert_eq!(field_of(base().ewma_alpha(2.0)), "ewma_alpha");
    }
}
