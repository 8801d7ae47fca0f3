//! [`RedisClock`]: the Redis server's clock as seen from this instance.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The Redis server's clock as this instance reads it: its offset from the local wall
/// clock, learned from each admission's answer, so that an admission can carry a
/// deadline Redis judges by its own `TIME`.
#[derive(Debug, Default)]
pub(crate) struct RedisClock {
    /// Redis milliseconds minus local milliseconds; meaningful once `known`.
    offset_ms: AtomicI64,
    known: AtomicBool,
}

impl RedisClock {
    /// Learns the offset from a call sent at local `sent_ms`, answered at `received_ms`,
    /// whose script read `redis_ms`: the script ran somewhere in between, so the midpoint
    /// is off by at most half the round trip.
    pub(crate) fn learn(&self, sent_ms: i64, received_ms: i64, redis_ms: i64) {
        let midpoint = sent_ms + (received_ms - sent_ms) / 2;
        self.offset_ms.store(redis_ms - midpoint, Ordering::Relaxed);
        self.known.store(true, Ordering::Release);
    }

    /// Local milliseconds `local_ms` on the Redis clock, once the offset is known.
    pub(crate) fn to_redis(&self, local_ms: i64) -> Option<i64> {
        self.known
            .load(Ordering::Acquire)
            .then(|| local_ms + self.offset_ms.load(Ordering::Relaxed))
    }
}

/// The local wall clock in Unix milliseconds.
pub(crate) fn local_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::RedisClock;

    #[test]
    fn the_offset_is_unknown_until_learned_then_taken_from_the_round_trip_midpoint() {
        let clock = RedisClock::default();
        assert_eq!(clock.to_redis(1_000), None);
        // Sent at 1,000, answered at 1,040, the script read 5,020: offset 4,000.
        clock.learn(1_000, 1_040, 5_020);
        assert_eq!(clock.to_redis(2_000), Some(6_000));
    }
}
