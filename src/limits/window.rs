//! A sliding log of the reservations granted in the last 60 seconds, for one scope (an
//! account or one of its models).
//!
//! A log rather than a token bucket or GCRA, because the promise is "never more than the
//! limit in ANY 60-second window", which a bucket's burst breaks. The log holds one entry
//! per live reservation, so it is bounded by the requests made in one minute.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::headroom::Headroom;

/// The length of every rate limit window.
pub(super) const WINDOW: Duration = Duration::from_secs(60);

/// One granted reservation: when, and how many tokens it holds now.
#[derive(Clone, Copy, Debug)]
struct Entry {
    id: u64,
    at: Instant,
    tokens: u64,
}

/// Why a window cannot take a request now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Blocked {
    /// The requests-per-minute limit is reached until this instant.
    Requests(Instant),
    /// The tokens-per-minute limit is reached until this instant.
    Tokens(Instant),
    /// The request alone holds more tokens than the limit allows in a window.
    TooLarge { tpm: u64 },
}

#[derive(Debug)]
pub(super) struct SlidingWindow {
    rpm: Option<u32>,
    tpm: Option<u64>,
    /// Ordered by `at` and by `id` (the limiter keeps its clock monotonic).
    entries: VecDeque<Entry>,
    tokens: u64,
}

impl SlidingWindow {
    pub(super) fn new(rpm: Option<u32>, tpm: Option<u64>) -> Self {
        Self {
            rpm,
            tpm,
            entries: VecDeque::new(),
            tokens: 0,
        }
    }

    pub(super) fn rpm(&self) -> Option<u32> {
        self.rpm
    }

    pub(super) fn tpm(&self) -> Option<u64> {
        self.tpm
    }

    /// Requests in the window (after [`expire`](Self::expire)).
    pub(super) fn requests(&self) -> u32 {
        u32::try_from(self.entries.len()).unwrap_or(u32::MAX)
    }

    /// Tokens in the window (after [`expire`](Self::expire)).
    pub(super) fn tokens(&self) -> u64 {
        self.tokens
    }

    /// What one more request holding `need` tokens would leave (after
    /// [`expire`](Self::expire)).
    pub(super) fn headroom(&self, need: u64) -> Headroom {
        Headroom::of_window(
            self.rpm.map(u64::from),
            self.tpm,
            self.entries.len() as u64,
            self.tokens,
            need,
        )
    }

    /// Drops entries older than the window ending at `now`, `(now - 60 s, now]`: an entry
    /// made at `t` counts until just before `t + 60 s`.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some(front) = self.entries.front() {
            if front.at + WINDOW > now {
                break;
            }
            self.tokens -= front.tokens;
            self.entries.pop_front();
        }
    }

    /// Whether one more request holding `tokens` fits now, and if not, when it will.
    pub(super) fn admits(&self, tokens: u64) -> Result<(), Blocked> {
        let mut blocked = None;
        if let Some(rpm) = self.rpm {
            let over = (self.entries.len() + 1).saturating_sub(rpm as usize);
            if over > 0 {
                // The `over` oldest requests must leave the window first.
                let entry = self.entries[over - 1];
                blocked = Some(Blocked::Requests(entry.at + WINDOW));
            }
        }
        if let Some(tpm) = self.tpm {
            if tokens > tpm {
                return Err(Blocked::TooLarge { tpm });
            }
            let excess = (self.tokens + tokens).saturating_sub(tpm);
            if excess > 0
                && let Some(at) = self.when_tokens_free(excess)
                && blocked.is_none_or(|b| matches!(b, Blocked::Requests(r) if r < at))
            {
                blocked = Some(Blocked::Tokens(at));
            }
        }
        blocked.map_or(Ok(()), Err)
    }

    /// When the oldest entries will have taken at least `needed` tokens out of the window.
    /// `None` only when the window holds no tokens at all.
    fn when_tokens_free(&self, needed: u64) -> Option<Instant> {
        let mut freed = 0;
        let mut at = None;
        for entry in &self.entries {
            freed += entry.tokens;
            at = Some(entry.at + WINDOW);
            if freed >= needed {
                break;
            }
        }
        at
    }

    pub(super) fn push(&mut self, id: u64, at: Instant, tokens: u64) {
        self.entries.push_back(Entry { id, at, tokens });
        self.tokens += tokens;
    }

    /// Sets the tokens of a live entry; an entry already out of the window is left alone.
    pub(super) fn settle(&mut self, id: u64, tokens: u64) {
        if let Some(index) = self.find(id) {
            let entry = &mut self.entries[index];
            self.tokens = self.tokens - entry.tokens + tokens;
            entry.tokens = tokens;
        }
    }

    /// Removes a live entry, giving its request and tokens back.
    pub(super) fn remove(&mut self, id: u64) {
        if let Some(index) = self.find(id)
            && let Some(entry) = self.entries.remove(index)
        {
            self.tokens -= entry.tokens;
        }
    }

    fn find(&self, id: u64) -> Option<usize> {
        self.entries.binary_search_by_key(&id, |e| e.id).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_request_leaving_the_window_frees_the_next_slot() {
        let t0 = Instant::now();
        let mut window = SlidingWindow::new(Some(2), None);
        window.push(1, t0, 0);
        window.push(2, t0 + Duration::from_secs(10), 0);
        assert_eq!(window.admits(0), Err(Blocked::Requests(t0 + WINDOW)));
        window.expire(t0 + WINDOW - Duration::from_nanos(1));
        assert_eq!(window.requests(), 2);
        window.expire(t0 + WINDOW);
        assert_eq!(window.requests(), 1);
        assert_eq!(window.admits(0), Ok(()));
    }

    #[test]
    fn token_capacity_returns_when_enough_old_tokens_expire() {
        let t0 = Instant::now();
        let mut window = SlidingWindow::new(None, Some(100));
        window.push(1, t0, 30);
        window.push(2, t0 + Duration::from_secs(5), 30);
        window.push(3, t0 + Duration::from_secs(9), 30);
        // 90 held; 50 more needs 40 freed: the first two entries (60) must leave.
        assert_eq!(
            window.admits(50),
            Err(Blocked::Tokens(t0 + Duration::from_secs(5) + WINDOW))
        );
        assert_eq!(window.admits(10), Ok(()));
        assert_eq!(window.admits(101), Err(Blocked::TooLarge { tpm: 100 }));
    }

    #[test]
    fn the_later_of_two_blocking_limits_is_reported() {
        let t0 = Instant::now();
        let mut window = SlidingWindow::new(Some(2), Some(100));
        window.push(1, t0, 10);
        window.push(2, t0 + Duration::from_secs(20), 90);
        // rpm frees at t0+60 (first entry), tokens at t0+80 (second entry).
        assert_eq!(
            window.admits(50),
            Err(Blocked::Tokens(t0 + Duration::from_secs(20) + WINDOW))
        );
    }

    #[test]
    fn settling_and_removing_adjust_the_totals() {
        let t0 = Instant::now();
        let mut window = SlidingWindow::new(None, None);
        window.push(1, t0, 100);
        window.push(2, t0, 50);
        window.settle(1, 20);
        assert_eq!(window.tokens(), 70);
        window.remove(2);
        assert_eq!((window.requests(), window.tokens()), (1, 20));
        window.remove(2);
        window.settle(9, 1);
        assert_eq!((window.requests(), window.tokens()), (1, 20));
    }
}
