//! Time limits on a request: an overall deadline across every attempt, and a timeout on
//! each attempt.

use std::future::IntoFuture;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{ResilienceConfigError, check_nonzero};
use crate::provider::{ErrorKind, ProviderError};

/// A policy's time limits (both unset by default: no limit).
///
/// ```
/// use std::time::Duration;
/// use routewise::Timeouts;
/// use tokio::time::Instant;
///
/// let timeouts = Timeouts::new()
///     .request(Duration::from_secs(30))
///     .attempt(Duration::from_secs(10));
/// let start = Instant::now();
/// let deadline = timeouts.start(start);
/// assert_eq!(deadline.remaining(start + Duration::from_secs(25)), Some(Duration::from_secs(5)));
/// // Late in the request, the deadline cuts an attempt's timeout short.
/// assert_eq!(
///     deadline.attempt_end(start + Duration::from_secs(25)),
///     Some(start + Duration::from_secs(30))
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct Timeouts {
    /// The most a request may take, every attempt and wait between them included.
    pub request: Option<Duration>,
    /// The most one attempt may take.
    pub attempt: Option<Duration>,
}

impl Timeouts {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the overall deadline of a request.
    pub fn request(mut self, limit: Duration) -> Self {
        self.request = Some(limit);
        self
    }

    /// Sets the timeout of each attempt.
    pub fn attempt(mut self, limit: Duration) -> Self {
        self.attempt = Some(limit);
        self
    }

    /// Checks that no limit is zero.
    pub fn validate(&self) -> Result<(), ResilienceConfigError> {
        if let Some(limit) = self.request {
            check_nonzero("request", limit)?;
        }
        if let Some(limit) = self.attempt {
            check_nonzero("attempt", limit)?;
        }
        Ok(())
    }

    /// The deadline of a request starting at `now`.
    pub fn start(&self, now: Instant) -> Deadline {
        Deadline {
            end: self.request.map(|limit| now + limit),
            request: self.request,
            attempt: self.attempt,
        }
    }
}

/// The time limits of one request in flight, from [`Timeouts::start`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    end: Option<Instant>,
    request: Option<Duration>,
    attempt: Option<Duration>,
}

/// A time limit ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimedOut {
    /// The attempt took longer than its timeout.
    #[error("no answer within the attempt timeout of {0:?}")]
    Attempt(Duration),
    /// The request's overall deadline passed.
    #[error("the request deadline of {0:?} passed")]
    Request(Duration),
}

/// A timeout is the provider's failure to answer in time: [`ErrorKind::Timeout`].
impl From<TimedOut> for ProviderError {
    fn from(timed_out: TimedOut) -> Self {
        ProviderError::new(ErrorKind::Timeout, timed_out.to_string())
    }
}

impl Deadline {
    /// When the request must be done, if it has a deadline.
    pub fn end(&self) -> Option<Instant> {
        self.end
    }

    /// Time left at `now` (zero once passed), or `None` without a deadline.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.end.map(|end| end.saturating_duration_since(now))
    }

    /// Whether the deadline has passed at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.end.is_some_and(|end| now >= end)
    }

    /// When an attempt starting at `now` must be done: its timeout or the request's
    /// deadline, whichever comes first (`None`: no limit).
    pub fn attempt_end(&self, now: Instant) -> Option<Instant> {
        let attempt_end = self.attempt.map(|limit| now + limit);
        match (attempt_end, self.end) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }

    /// Runs one attempt within its time limit, starting now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use routewise::{ErrorKind, ProviderError, TimedOut, Timeouts};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let deadline = Timeouts::new().attempt(Duration::from_secs(1)).start(tokio::time::Instant::now());
    /// let slow = tokio::time::sleep(Duration::from_secs(5));
    /// let err = deadline.run(slow).await.unwrap_err();
    /// assert_eq!(err, TimedOut::Attempt(Duration::from_secs(1)));
    /// assert_eq!(ProviderError::from(err).kind(), ErrorKind::Timeout);
    /// # }
    /// ```
    pub async fn run<F: IntoFuture>(&self, attempt: F) -> Result<F::Output, TimedOut> {
        self.run_from(Instant::now(), attempt).await
    }

    /// [`Deadline::run`] for an attempt that started at `now`, a reading the caller took
    /// (so the clock is not read twice).
    pub(crate) async fn run_from<F: IntoFuture>(
        &self,
        now: Instant,
        attempt: F,
    ) -> Result<F::Output, TimedOut> {
        let Some(end) = self.attempt_end(now) else {
            return Ok(attempt.await);
        };
        tokio::time::timeout_at(end, attempt)
            .await
            .map_err(|_| match (self.end, self.request) {
                (Some(request_end), Some(limit)) if request_end <= end => TimedOut::Request(limit),
                _ => TimedOut::Attempt(self.attempt.unwrap_or_default()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{advance, sleep};

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn without_limits_nothing_times_out() {
        let deadline = Timeouts::new().start(Instant::now());
        assert_eq!(deadline.remaining(Instant::now()), None);
        assert_eq!(deadline.attempt_end(Instant::now()), None);
        assert_eq!(deadline.run(sleep(secs(3_600))).await, Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_ends_at_its_timeout() {
        let deadline = Timeouts::new()
            .request(secs(30))
            .attempt(secs(10))
            .start(Instant::now());
        let started = Instant::now();
        let result = deadline.run(sleep(secs(11))).await;
        assert_eq!(result, Err(TimedOut::Attempt(secs(10))));
        assert_eq!(Instant::now() - started, secs(10));
        assert_eq!(deadline.run(sleep(secs(9))).await, Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn the_request_deadline_cuts_the_last_attempt_short() {
        let deadline = Timeouts::new()
            .request(secs(30))
            .attempt(secs(10))
            .start(Instant::now());
        advance(secs(25)).await;
        let started = Instant::now();
        let result = deadline.run(sleep(secs(8))).await;
        assert_eq!(result, Err(TimedOut::Request(secs(30))));
        assert_eq!(Instant::now() - started, secs(5));
        assert!(deadline.is_expired(Instant::now()));
        assert_eq!(deadline.remaining(Instant::now()), Some(Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_deadline_an_attempt_that_waits_fails_at_once() {
        let deadline = Timeouts::new().request(secs(1)).start(Instant::now());
        advance(secs(2)).await;
        let started = Instant::now();
        let result = deadline.run(sleep(secs(1))).await;
        assert_eq!(result, Err(TimedOut::Request(secs(1))));
        assert_eq!(Instant::now(), started, "no time spent");
        // An attempt that is ready at once still wins: the timer only matters if it waits.
        assert_eq!(deadline.run(async { "answered" }).await, Ok("answered"));
    }

    #[test]
    fn timeouts_become_provider_timeouts() {
        let err = ProviderError::from(TimedOut::Attempt(secs(10)));
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(
            err.to_string(),
            "timed out: no answer within the attempt timeout of 10s"
        );
    }

    #[test]
    fn zero_limits_are_reported() {
        let err = Timeouts::new()
            .attempt(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), "attempt");
        let err = Timeouts::new()
            .request(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), "request");
    }
}
