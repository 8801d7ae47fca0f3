//! What Redis last reported of one shared rate window, kept for balancing by headroom
//! without a round trip of its own.

use std::sync::atomic::{AtomicU64, Ordering};

/// Tokens take the low 40 bits of the packed report, requests the high 24 (each
/// saturating): one atomic, so a reader never pairs one report's requests with
/// another's tokens.
const TOKEN_BITS: u32 = 40;
const TOKEN_MAX: u64 = (1 << TOKEN_BITS) - 1;
const REQUEST_MAX: u64 = (1 << (64 - TOKEN_BITS)) - 1;

/// The requests and tokens of one window at this instance's last admission on it, and
/// when that was.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    packed: AtomicU64,
    /// Nanoseconds after the account's origin, plus one; 0 before the first report.
    at: AtomicU64,
}

impl Seen {
    /// Records a report made `at` nanoseconds after the account's origin.
    pub(crate) fn record(&self, (requests, tokens): (u64, u64), at: u64) {
        let packed = (requests.min(REQUEST_MAX) << TOKEN_BITS) | tokens.min(TOKEN_MAX);
        self.packed.store(packed, Ordering::Relaxed);
        self.at.store(at.saturating_add(1), Ordering::Release);
    }

    /// The last report's requests and tokens, or an empty window when there is none or
    /// it is older than `window` nanoseconds at `now` (every grant it counted has left
    /// the window since).
    pub(crate) fn read(&self, now: u64, window: u64) -> (u64, u64) {
        let at = self.at.load(Ordering::Acquire);
        if at == 0 || now.saturating_sub(at - 1) >= window {
            return (0, 0);
        }
        let packed = self.packed.load(Ordering::Relaxed);
        (packed >> TOKEN_BITS, packed & TOKEN_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_counts_until_the_window_has_passed_it() {
        let seen = Seen::default();
        assert_eq!(seen.read(5, 100), (0, 0));
        seen.record((7, 1_234), 10);
        assert_eq!(seen.read(10, 100), (7, 1_234));
        assert_eq!(seen.read(109, 100), (7, 1_234));
        assert_eq!(seen.read(110, 100), (0, 0));
    }

    #[test]
    fn counts_past_the_packed_width_saturate_instead_of_spilling() {
        let seen = Seen::default();
        seen.record((u64::MAX, u64::MAX), 0);
        assert_eq!(seen.read(0, 1), (REQUEST_MAX, TOKEN_MAX));
    }
}
