//! Hedged requests: when an attempt is slower than usual, start the next candidate in
//! parallel and take whichever answers first.

use std::time::Duration;

use tokio::time::Instant;

use super::error::{ResilienceConfigError, check_nonzero};
use super::latency::LatencyTracker;

/// Calls a target needs in its latency window before its observed p95 is trusted; with
/// fewer, [`HedgePolicy::ObservedP95`] waits its cap.
pub const HEDGE_MIN_SAMPLES: u64 = 20;

/// Whether, and after how long, a policy hedges a slow attempt. Off by default: a hedge
/// costs a second call.
///
/// ```
/// use std::time::Duration;
/// use routewise::HedgePolicy;
///
/// let fixed = HedgePolicy::After(Duration::from_secs(2));
/// assert_eq!(fixed.delay_for(None), Some(Duration::from_secs(2)));
///
/// let adaptive = HedgePolicy::observed_p95(Duration::from_millis(500), Duration::from_secs(10));
/// assert_eq!(adaptive.delay_for(Some(Duration::from_secs(3))), Some(Duration::from_secs(3)));
/// assert_eq!(adaptive.delay_for(Some(Duration::from_millis(80))), Some(Duration::from_millis(500)));
/// assert_eq!(adaptive.delay_for(None), Some(Duration::from_secs(10)), "no figures yet: the cap");
///
/// assert_eq!(HedgePolicy::Off.delay_for(Some(Duration::from_secs(1))), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HedgePolicy {
    /// Never hedge.
    #[default]
    Off,
    /// Hedge an attempt that has not answered after this long.
    After(Duration),
    /// Hedge an attempt that has not answered within its target's observed p95 latency,
    /// kept within `floor..=cap` (the cap until the target has
    /// [`HEDGE_MIN_SAMPLES`] calls in its window).
    ObservedP95 {
        /// The shortest wait, however fast the target usually is.
        floor: Duration,
        /// The longest wait, and the wait while there are too few figures.
        cap: Duration,
    },
}

impl HedgePolicy {
    /// Hedges after the target's observed p95, kept within `floor..=cap`.
    pub fn observed_p95(floor: Duration, cap: Duration) -> Self {
        Self::ObservedP95 { floor, cap }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ResilienceConfigError> {
        match *self {
            HedgePolicy::Off => Ok(()),
            HedgePolicy::After(delay) => check_nonzero("hedge_delay", delay),
            HedgePolicy::ObservedP95 { floor, cap } => {
                check_nonzero("hedge_floor", floor)?;
                if floor > cap {
                    return Err(ResilienceConfigError::new(
                        "hedge_floor",
                        format!("must not exceed hedge_cap ({floor:?} > {cap:?})"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// How long to let an attempt on the target measured by `latency` run alone before
    /// hedging it, at `now`; `None` when hedging is off.
    pub fn delay(&self, latency: &LatencyTracker, now: Instant) -> Option<Duration> {
        let p95 = match self {
            HedgePolicy::ObservedP95 { .. } => {
                let histogram = latency.histogram(now);
                if histogram.samples() >= HEDGE_MIN_SAMPLES {
                    histogram.quantile(0.95)
                } else {
                    None
                }
            }
            _ => None,
        };
        self.delay_for(p95)
    }

    /// The hedge delay given a target's p95 latency (`None`: not known); `None` when
    /// hedging is off.
    pub fn delay_for(&self, p95: Option<Duration>) -> Option<Duration> {
        match *self {
            HedgePolicy::Off => None,
            HedgePolicy::After(delay) => Some(delay),
            HedgePolicy::ObservedP95 { floor, cap } => {
                Some(p95.map_or(cap, |p95| p95.clamp(floor, cap.max(floor))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn observed_p95_follows_the_target_once_it_has_enough_calls() {
        let latency = LatencyTracker::new(Duration::from_secs(60), 0.2).unwrap();
        let hedge = HedgePolicy::observed_p95(ms(100), ms(10_000));
        let now = Instant::now();
        for i in 0..(HEDGE_MIN_SAMPLES - 1) {
            latency.record(ms(1_000 + i), now);
        }
        assert_eq!(
            hedge.delay(&latency, now),
            Some(ms(10_000)),
            "too few calls"
        );
        latency.record(ms(1_000), now);
        let delay = hedge.delay(&latency, now).unwrap();
        assert!(delay > ms(875) && delay < ms(1_125), "{delay:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_delay_ignores_the_figures() {
        let latency = LatencyTracker::new(Duration::from_secs(60), 0.2).unwrap();
        for _ in 0..100 {
            latency.record(ms(5_000), Instant::now());
        }
        let hedge = HedgePolicy::After(ms(750));
        assert_eq!(hedge.delay(&latency, Instant::now()), Some(ms(750)));
        assert_eq!(HedgePolicy::Off.delay(&latency, Instant::now()), None);
    }

    #[test]
    fn the_p95_is_kept_within_floor_and_cap() {
        let hedge = HedgePolicy::observed_p95(ms(200), ms(2_000));
        assert_eq!(hedge.delay_for(Some(ms(50))), Some(ms(200)));
        assert_eq!(hedge.delay_for(Some(ms(9_000))), Some(ms(2_000)));
        assert_eq!(hedge.delay_for(Some(ms(700))), Some(ms(700)));
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            HedgePolicy::After(Duration::ZERO)
                .validate()
                .unwrap_err()
                .field(),
            "hedge_delay"
        );
        assert_eq!(
            HedgePolicy::observed_p95(ms(5), ms(1))
                .validate()
                .unwrap_err()
                .field(),
            "hedge_floor"
        );
        assert_eq!(
            HedgePolicy::observed_p95(Duration::ZERO, ms(1))
                .validate()
                .unwrap_err()
                .field(),
            "hedge_floor"
        );
        assert_eq!(HedgePolicy::default().validate(), Ok(()));
    }
}
