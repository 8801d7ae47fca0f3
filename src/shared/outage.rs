//! Whether Redis is answering, so a dead server costs one timeout per retry interval
//! rather than one per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Lock-free: one atomic read on the hot path.
#[derive(Debug)]
pub(crate) struct Outage {
    origin: Instant,
    /// Nanoseconds after `origin` before which Redis is not tried; 0 when it is up.
    down_until: AtomicU64,
    /// Failures seen, for the warning's rate limiting and for tests.
    failures: AtomicU64,
}

impl Outage {
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
            down_until: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether to try Redis now.
    pub(crate) fn is_up(&self, now: Instant) -> bool {
        let until = self.down_until.load(Ordering::Acquire);
        until == 0 || self.nanos(now) >= until
    }

    /// Records a failed call: Redis is skipped for `retry_interval`. Returns whether it
    /// was up before (the first failure of an outage, worth a warning).
    pub(crate) fn failed(&self, now: Instant, retry_interval: Duration) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let until = self.nanos(now + retry_interval).max(1);
        self.down_until.swap(until, Ordering::AcqRel) == 0
    }

    /// Records a call that succeeded. Returns whether Redis was down before.
    pub(crate) fn answered(&self) -> bool {
        self.down_until.load(Ordering::Acquire) != 0
            && self.down_until.swap(0, Ordering::AcqRel) != 0
    }
}
