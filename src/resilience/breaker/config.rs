//! When a circuit breaker opens and how it recovers.

use std::time::Duration;

use crate::provider::ErrorKind;
use crate::resilience::error::{ResilienceConfigError, check_fraction, check_nonzero};
use crate::resilience::window::MIN_WINDOW;

/// Settings of a [`CircuitBreaker`](crate::CircuitBreaker).
///
/// The breaker counts calls and provider faults over a rolling [`window`](Self::window)
/// and opens when either configured criterion is met:
/// - **count**: at least [`failure_threshold`](Self::failure_threshold) faults in the
///   window;
/// - **rate**: at least [`min_calls`](Self::min_calls) calls in the window, of which the
///   share of faults reaches [`failure_rate`](Self::failure_rate);
/// - **count per kind**: at least the kind's own threshold of faults of one
///   [`ErrorKind`] in the window ([`failure_threshold_for`](Self::failure_threshold_for)),
///   so one 429 can open the breaker while five 500s are tolerated.
///
/// A fault of a kind with a threshold of its own counts towards that threshold instead of
/// [`failure_threshold`](Self::failure_threshold), and towards the rate like every fault.
///
/// Once open it refuses calls for [`recovery`](Self::recovery), then lets
/// [`half_open_trials`](Self::half_open_trials) trial calls through: as many successes
/// close it, any fault opens it again for another recovery period.
///
/// The defaults: open after 5 faults within 60 s, no rate criterion (20 calls minimum
/// once one is set), no per-kind threshold, recover after 30 s with 1 trial.
///
/// ```
/// use std::time::Duration;
/// use routewise::BreakerConfig;
///
/// // Open when half the calls of the last 30 s failed (once there were 20), or 10 failed.
/// let config = BreakerConfig::default()
///     .failure_threshold(10)
///     .failure_rate(0.5, 20)
///     .window(Duration::from_secs(30))
///     .recovery(Duration::from_secs(15))
///     .half_open_trials(3);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct BreakerConfig {
    /// Faults within the window that open the breaker (`None`: no count criterion).
    pub failure_threshold: Option<u32>,
    /// Share of faulty calls within the window that opens the breaker, in `(0, 1]`
    /// (`None`: no rate criterion).
    pub failure_rate: Option<f64>,
    /// Calls the window must hold before the rate criterion applies.
    pub min_calls: u32,
    /// How far back calls are counted. The window slides in steps of a tenth of its
    /// length; at least 10 ms.
    pub window: Duration,
    /// How long the breaker stays open before it lets trial calls through.
    pub recovery: Duration,
    /// Trial calls let through once recovery is due; that many successes close the
    /// breaker. At most 65,535.
    pub half_open_trials: u32,
    /// Faults of one kind within the window that open the breaker, per kind that has a
    /// threshold of its own, in kind order (empty: none). Only provider faults
    /// ([`ErrorKind::is_provider_fault`]) can be listed: no other kind counts.
    pub failure_thresholds_by_kind: Vec<(ErrorKind, u32)>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: Some(5),
            failure_rate: None,
            min_calls: 20,
            window: Duration::from_secs(60),
            recovery: Duration::from_secs(30),
            half_open_trials: 1,
            failure_thresholds_by_kind: Vec::new(),
        }
    }
}

impl BreakerConfig {
    /// Sets the count criterion: faults within the window that open the breaker (`None`
    /// turns it off, leaving the rate criterion).
    pub fn failure_threshold(mut self, faults: impl Into<Option<u32>>) -> Self {
        self.failure_threshold = faults.into();
        self
    }

    /// Gives faults of `kind` a threshold of their own: `faults` of them within the window
    /// open the breaker, and they no longer count towards
    /// [`failure_threshold`](Self::failure_threshold) (they still count towards the rate).
    ///
    /// ```
    /// use routewise::{BreakerConfig, ErrorKind};
    ///
    /// // One 429 opens the breaker; five faults of any other kind do.
    /// let config = BreakerConfig::default()
    ///     .failure_threshold(5)
    ///     .failure_threshold_for(ErrorKind::RateLimited, 1);
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn failure_threshold_for(mut self, kind: ErrorKind, faults: u32) -> Self {
        self.failure_thresholds_by_kind.retain(|(k, _)| *k != kind);
        self.failure_thresholds_by_kind.push((kind, faults));
        // In kind order, so equal settings compare equal however they were given.
        self.failure_thresholds_by_kind
            .sort_by_key(|(kind, _)| *kind as u8);
        self
    }

    /// Sets the rate criterion: the breaker opens when the window holds at least
    /// `min_calls` calls and the share of faults among them reaches `rate`.
    pub fn failure_rate(mut self, rate: f64, min_calls: u32) -> Self {
        self.failure_rate = Some(rate);
        self.min_calls = min_calls;
        self
    }

    /// Sets how far back calls are counted.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets how long the breaker stays open before trial calls.
    pub fn recovery(mut self, recovery: Duration) -> Self {
        self.recovery = recovery;
        self
    }

    /// Sets how many trial calls a recovering breaker lets through.
    pub fn half_open_trials(mut self, trials: u32) -> Self {
        self.half_open_trials = trials;
        self
    }

    /// Checks every setting, returning the first out of range.
    pub fn validate(&self) -> Result<(), ResilienceConfigError> {
        if self.failure_threshold.is_none()
            && self.failure_rate.is_none()
            && self.failure_thresholds_by_kind.is_empty()
        {
            return Err(ResilienceConfigError::new(
                "failure_threshold",
                "and failure_rate are both unset; the breaker could never open",
            ));
        }
        for (kind, faults) in &self.failure_thresholds_by_kind {
            if !kind.is_provider_fault() {
                return Err(ResilienceConfigError::new(
                    "failure_threshold_by_kind",
                    format!(
                        "names `{kind}`, which is not a provider fault and never counts against a breaker"
                    ),
                ));
            }
            if *faults == 0 {
                return Err(ResilienceConfigError::new(
                    "failure_threshold_by_kind",
                    format!("must be at least 1 for `{kind}`"),
                ));
            }
        }
        if self.failure_threshold == Some(0) {
            return Err(ResilienceConfigError::new(
                "failure_threshold",
                "must be at least 1",
            ));
        }
        if let Some(rate) = self.failure_rate {
            check_fraction("failure_rate", rate)?;
            if self.min_calls == 0 {
                return Err(ResilienceConfigError::new(
                    "min_calls",
                    "must be at least 1",
                ));
            }
        }
        if self.window < MIN_WINDOW {
            return Err(ResilienceConfigError::new(
                "window",
                format!("must be at least {MIN_WINDOW:?} (got {:?})", self.window),
            ));
        }
        check_nonzero("recovery", self.recovery)?;
        if !(1..=u32::from(u16::MAX)).contains(&self.half_open_trials) {
            return Err(ResilienceConfigError::new(
                "half_open_trials",
                format!(
                    "must be between 1 and 65535 (got {})",
                    self.half_open_trials
                ),
            ));
        }
        Ok(())
    }

    /// Whether `faults` out of `calls` in the window open the breaker.
    pub(crate) fn trips(&self, faults: u64, calls: u64) -> bool {
        self.trips_counting(faults, faults, calls)
    }

    /// Whether the window opens the breaker, when `counted` of its `faults` count towards
    /// [`failure_threshold`](Self::failure_threshold) (the others have thresholds of
    /// their own, checked apart).
    pub(crate) fn trips_counting(&self, counted: u64, faults: u64, calls: u64) -> bool {
        let by_count = self
            .failure_threshold
            .is_some_and(|threshold| counted >= u64::from(threshold));
        let by_rate = self.failure_rate.is_some_and(|rate| {
            calls >= u64::from(self.min_calls) && faults as f64 >= rate * calls as f64
        });
        by_count || by_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(config: BreakerConfig) -> &'static str {
        config.validate().unwrap_err().field()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(BreakerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_setting_is_named() {
        let base = BreakerConfig::default;
        assert_eq!(
            field_of(base().failure_threshold(None)),
            "failure_threshold"
        );
        assert_eq!(field_of(base().failure_threshold(0)), "failure_threshold");
        assert_eq!(field_of(base().failure_rate(0.0, 10)), "failure_rate");
        assert_eq!(field_of(base().failure_rate(f64::NAN, 10)), "failure_rate");
        assert_eq!(field_of(base().failure_rate(0.5, 0)), "min_calls");
        assert_eq!(field_of(base().window(Duration::from_millis(9))), "window");
        assert_eq!(field_of(base().recovery(Duration::ZERO)), "recovery");
        assert_eq!(field_of(base().half_open_trials(0)), "half_open_trials");
        assert_eq!(
            field_of(base().half_open_trials(70_000)),
            "half_open_trials"
        );
        assert_eq!(
            field_of(base().failure_threshold_for(ErrorKind::RateLimited, 0)),
            "failure_threshold_by_kind"
        );
        assert_eq!(
            field_of(base().failure_threshold_for(ErrorKind::Auth, 1)),
            "failure_threshold_by_kind"
        );
    }

    #[test]
    fn a_per_kind_threshold_alone_is_enough_and_a_later_one_replaces_an_earlier() {
        let config = BreakerConfig::default()
            .failure_threshold(None)
            .failure_threshold_for(ErrorKind::Timeout, 3)
            .failure_threshold_for(ErrorKind::Timeout, 2);
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.failure_thresholds_by_kind, [(ErrorKind::Timeout, 2)]);
    }

    #[test]
    fn rate_alone_is_enough() {
        let config = BreakerConfig::default()
            .failure_threshold(None)
            .failure_rate(0.5, 4);
        assert_eq!(config.validate(), Ok(()));
        assert!(!config.trips(3, 3), "below min_calls");
        assert!(config.trips(2, 4));
        assert!(!config.trips(1, 4));
    }

    #[test]
    fn either_criterion_trips() {
        let config = BreakerConfig::default()
            .failure_threshold(5)
            .failure_rate(0.5, 100);
        assert!(config.trips(5, 1_000), "count met, rate not");
        assert!(!config.trips(4, 1_000));
        let config = config.failure_threshold(60);
        assert!(config.trips(50, 100), "rate met, count not");
        assert!(!config.trips(49, 98), "rate met, min_calls not");
    }
}
