//! Retries on the same target: how many, and how long to wait before each.

use std::time::Duration;

use super::error::ResilienceConfigError;
use crate::rng;

/// How a policy retries a target that failed with a provider fault, before falling back
/// to the next candidate.
///
/// Waits grow exponentially: `base_delay * 2^retry`, capped at `max_delay`, spread by
/// [`Jitter`] so that many callers hit by the same outage do not retry in lockstep. A
/// provider's own retry-after, when it gives one, replaces the computed wait.
///
/// The defaults: 2 retries, waits from 250 ms up to 4 s with full jitter, a retry-after of
/// up to 30 s honoured. [`RetryPolicy::none`] never retries.
///
/// ```
/// use std::time::Duration;
/// use routewise::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::default()
///     .max_retries(3)
///     .backoff(Duration::from_millis(100), Duration::from_secs(2))
///     .jitter(Jitter::None);
/// assert_eq!(policy.backoff_delay(0), Duration::from_millis(100));
/// assert_eq!(policy.backoff_delay(2), Duration::from_millis(400));
/// assert_eq!(policy.backoff_delay(9), Duration::from_secs(2));
///
/// // The provider asked for 1 s and 5 s are left: wait 1 s, then retry.
/// let left = Some(Duration::from_secs(5));
/// assert_eq!(policy.next_delay(0, Some(Duration::from_secs(1)), left), Some(Duration::from_secs(1)));
/// // It asked for 8 s: not worth it, fall back now.
/// assert_eq!(policy.next_delay(0, Some(Duration::from_secs(8)), left), None);
/// // Three retries made: no more.
/// assert_eq!(policy.next_delay(3, None, None), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct RetryPolicy {
    /// Retries on the same target after its first attempt (0: never retry).
    pub max_retries: u32,
    /// The wait before the first retry, doubled for each retry after.
    pub base_delay: Duration,
    /// The longest computed wait.
    pub max_delay: Duration,
    /// How waits are spread.
    pub jitter: Jitter,
    /// The longest retry-after from a provider that is honoured; a longer one means
    /// falling back at once instead of waiting.
    pub max_retry_after: Duration,
}

/// How a computed wait `d` is spread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly `d`.
    None,
    /// Anywhere in `0..=d` (spreads retries the most).
    #[default]
    Full,
    /// Anywhere in `d/2..=d` (spread, but never much sooner than `d`).
    Equal,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            jitter: Jitter::Full,
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries: a failed target is left for the next candidate.
    pub fn none() -> Self {
        Self::default().max_retries(0)
    }

    /// Sets how many retries follow a target's first attempt.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the first wait and the longest computed wait.
    pub fn backoff(mut self, base_delay: Duration, max_delay: Duration) -> Self {
        self.base_delay = base_delay;
        self.max_delay = max_delay;
        self
    }

    /// Sets how waits are spread.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the longest provider retry-after that is honoured.
    pub fn max_retry_after(mut self, longest: Duration) -> Self {
        self.max_retry_after = longest;
        self
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ResilienceConfigError> {
        if self.base_delay > self.max_delay {
            return Err(ResilienceConfigError::new(
                "base_delay",
                format!(
                    "must not exceed max_delay ({:?} > {:?})",
                    self.base_delay, self.max_delay
                ),
            ));
        }
        Ok(())
    }

    /// The wait before retry number `retry` (0 for the first retry), jittered.
    pub fn backoff_delay(&self, retry: u32) -> Duration {
        let factor = 2u32.checked_pow(retry).unwrap_or(u32::MAX);
        let delay = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        match self.jitter {
            Jitter::None => delay,
            Jitter::Full => Duration::from_nanos(rng::up_to(nanos)),
            Jitter::Equal => Duration::from_nanos(nanos - nanos / 2 + rng::up_to(nanos / 2)),
        }
    }

    /// How long to wait before retry number `retry` (0 for the first), or `None` to stop
    /// retrying this target and fall back.
    ///
    /// `retry_after` is the provider's own request ([`ProviderError::retry_after`]); it
    /// replaces the computed backoff when it is no longer than
    /// [`max_retry_after`](Self::max_retry_after). `remaining` is the time left before the
    /// request's deadline (`None`: no deadline); a wait that would use it all up is not
    /// worth making. The caller decides whether the failure is worth a retry at all
    /// (typically only provider faults, [`ErrorKind::is_provider_fault`]).
    ///
    /// [`ProviderError::retry_after`]: crate::ProviderError::retry_after
    /// [`ErrorKind::is_provider_fault`]: crate::ErrorKind::is_provider_fault
    pub fn next_delay(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        remaining: Option<Duration>,
    ) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        let delay = match retry_after {
            Some(asked) if asked > self.max_retry_after => return None,
            Some(asked) => asked,
            None => self.backoff_delay(retry),
        };
        match remaining {
            Some(left) if delay >= left => None,
            _ => Some(delay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy::default()
            .max_retries(10)
            .backoff(ms(100), ms(3_000))
            .jitter(jitter)
    }

    #[test]
    fn backoff_doubles_until_the_cap() {
        let p = policy(Jitter::None);
        let delays: Vec<_> = (0..7).map(|r| p.backoff_delay(r)).collect();
        assert_eq!(
            delays,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1_600),
                ms(3_000),
                ms(3_000)
            ]
        );
        assert_eq!(p.backoff_delay(u32::MAX), ms(3_000), "no overflow");
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_exponential_delay() {
        let p = policy(Jitter::Full);
        for retry in 0..8 {
            let ceiling = policy(Jitter::None).backoff_delay(retry);
            let draws: Vec<_> = (0..500).map(|_| p.backoff_delay(retry)).collect();
            assert!(draws.iter().all(|d| *d <= ceiling), "retry {retry}");
            assert!(
                draws.iter().any(|d| *d < ceiling / 2) && draws.iter().any(|d| *d > ceiling / 2),
                "retry {retry}: draws should spread over the whole range"
            );
        }
    }

    #[test]
    fn equal_jitter_stays_within_half_and_the_exponential_delay() {
        let p = policy(Jitter::Equal);
        for retry in 0..8 {
            let ceiling = policy(Jitter::None).backoff_delay(retry);
            for _ in 0..500 {
                let d = p.backoff_delay(retry);
                assert!(d >= ceiling / 2 && d <= ceiling, "retry {retry}: {d:?}");
            }
        }
    }

    #[test]
    fn jittered_delays_still_grow_on_average() {
        let p = policy(Jitter::Full);
        let mean = |retry| (0..2_000).map(|_| p.backoff_delay(retry)).sum::<Duration>() / 2_000;
        let (first, third) = (mean(0), mean(2));
        // Means of U(0, 100 ms) and U(0, 400 ms): 50 ms and 200 ms.
        assert!(first > ms(40) && first < ms(60), "{first:?}");
        assert!(third > ms(170) && third < ms(230), "{third:?}");
    }

    #[test]
    fn stops_after_max_retries() {
        let p = policy(Jitter::None).max_retries(2);
        assert!(p.next_delay(0, None, None).is_some());
        assert!(p.next_delay(1, None, None).is_some());
        assert_eq!(p.next_delay(2, None, None), None);
        assert_eq!(RetryPolicy::none().next_delay(0, None, None), None);
    }

    #[test]
    fn retry_after_is_honoured_when_shorter_than_the_remaining_deadline() {
        let p = policy(Jitter::None);
        assert_eq!(
            p.next_delay(0, Some(ms(1_500)), Some(ms(2_000))),
            Some(ms(1_500))
        );
        assert_eq!(p.next_delay(0, Some(ms(1_500)), None), Some(ms(1_500)));
        assert_eq!(
            p.next_delay(0, Some(ms(5)), None),
            Some(ms(5)),
            "shorter than the backoff too"
        );
    }

    #[test]
    fn retry_after_is_refused_when_it_would_outlast_the_deadline() {
        let p = policy(Jitter::None);
        assert_eq!(p.next_delay(0, Some(ms(2_500)), Some(ms(2_000))), None);
        assert_eq!(p.next_delay(0, Some(ms(2_000)), Some(ms(2_000))), None);
    }

    #[test]
    fn retry_after_beyond_the_policy_limit_falls_back() {
        let p = policy(Jitter::None).max_retry_after(Duration::from_secs(10));
        assert_eq!(p.next_delay(0, Some(Duration::from_secs(11)), None), None);
        assert_eq!(
            p.next_delay(0, Some(Duration::from_secs(10)), None),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn a_backoff_that_outlasts_the_deadline_falls_back() {
        let p = policy(Jitter::None);
        assert_eq!(p.next_delay(2, None, Some(ms(400))), None);
        assert_eq!(p.next_delay(2, None, Some(ms(401))), Some(ms(400)));
    }

    #[test]
    fn base_above_max_is_reported() {
        let err = RetryPolicy::default()
            .backoff(ms(500), ms(100))
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), "base_delay");
        assert_eq!(RetryPolicy::default().validate(), Ok(()));
    }
}
