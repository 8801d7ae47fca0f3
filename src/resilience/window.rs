//! Event counts over a sliding time window, kept in atomics.
//!
//! The window is cut into [`BUCKETS`] slots of equal width, reused round-robin as time
//! moves on. Every counter cell carries the time slot it counts for (its *stamp*) in the
//! same atomic word as its count, so a cell left over from an earlier pass is recognised
//! and restarted by whoever touches it next: no reset sweep, no lock, and no count lost
//! to a race between a reset and an increment.
//!
//! A reading covers the current (partial) slot and the `BUCKETS - 1` before it, so it
//! spans between nine tenths of the window and the whole window.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

/// Slots per window: the window slides in steps of a tenth of its length.
pub(crate) const BUCKETS: u64 = 10;

/// The shortest window accepted, so each slot is at least a millisecond wide.
pub(crate) const MIN_WINDOW: Duration = Duration::from_millis(10);

const STAMP_BITS: u32 = 40;
const STAMP_MASK: u64 = (1 << STAMP_BITS) - 1;
const COUNT_BITS: u32 = 64 - STAMP_BITS;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

/// `K` counters (for example successes and failures) over a sliding window.
pub(crate) struct RollingWindow<const K: usize> {
    origin: Instant,
    slot_nanos: u64,
    slots: Box<[[StampedCount; K]]>,
}

/// One counter of one slot: `stamp << 24 | count`. A stamp of 40 bits wraps only after
/// 2^40 slots (35 years of millisecond slots), a count of 24 bits saturates at 16.7
/// million events per slot.
#[derive(Default)]
struct StampedCount(AtomicU64);

impl<const K: usize> RollingWindow<K> {
    /// A window of `length` (at least [`MIN_WINDOW`]; configs check that) whose time
    /// starts at `origin`.
    pub(crate) fn new(length: Duration, origin: Instant) -> Self {
        let nanos = u64::try_from(length.as_nanos()).unwrap_or(u64::MAX);
        Self {
            origin,
            slot_nanos: (nanos / BUCKETS).max(1),
            slots: (0..BUCKETS)
                .map(|_| std::array::from_fn(|_| StampedCount::default()))
                .collect(),
        }
    }

    /// The time slot `now` falls in, counted from the origin without wrapping.
    pub(crate) fn position(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        let elapsed = u64::try_from(elapsed).unwrap_or(u64::MAX);
        elapsed / self.slot_nanos
    }

    /// The first [`position`](Self::position) whose reading no longer counts events added
    /// at `position`: the window has slid past their slot.
    pub(crate) fn forgets_after(position: u64) -> u64 {
        position.saturating_add(BUCKETS)
    }

    /// The time slot `now` falls in (wrapping at 40 bits).
    fn stamp(&self, now: Instant) -> u64 {
        self.position(now) & STAMP_MASK
    }

    fn slot(&self, stamp: u64) -> &[StampedCount; K] {
        // `stamp % BUCKETS` is below the slot count, which is BUCKETS.
        &self.slots[(stamp % BUCKETS) as usize]
    }

    /// Counts one event on counter `counter` at `now`.
    pub(crate) fn add(&self, now: Instant, counter: usize) {
        let stamp = self.stamp(now);
        if let Some(cell) = self.slot(stamp).get(counter) {
            cell.add(stamp);
        }
    }

    /// Every counter's total over the window ending at `now`.
    pub(crate) fn totals(&self, now: Instant) -> [u64; K] {
        let stamp = self.stamp(now);
        let mut totals = [0; K];
        for slot in &self.slots {
            for (total, cell) in totals.iter_mut().zip(slot) {
                *total += cell.count_at(stamp);
            }
        }
        totals
    }

    /// Forgets every event.
    pub(crate) fn clear(&self) {
        for cell in self.slots.iter().flatten() {
            cell.0.store(0, Relaxed);
        }
    }
}

impl StampedCount {
    fn add(&self, stamp: u64) {
        let mut word = self.0.load(Relaxed);
        loop {
            let (cell_stamp, count) = (word >> COUNT_BITS, word & COUNT_MAX);
            // A cell stamped later than `stamp` belongs to a caller whose clock read a
            // moment later; counting into it keeps the event rather than wiping theirs.
            let next = if age(stamp, cell_stamp) <= 0 {
                word & !COUNT_MAX | (count + 1).min(COUNT_MAX)
            } else {
                stamp << COUNT_BITS | 1
            };
            match self.0.compare_exchange_weak(word, next, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// The count, if the cell's slot is within the window ending in slot `stamp`.
    fn count_at(&self, stamp: u64) -> u64 {
        let word = self.0.load(Relaxed);
        let age = age(stamp, word >> COUNT_BITS);
        let window = BUCKETS as i64;
        if age > -window && age < window {
            word & COUNT_MAX
        } else {
            0
        }
    }
}

/// How many slots `then` lies before `now`, negative when it lies after, on the 40-bit
/// wrapping clock.
fn age(now: u64, then: u64) -> i64 {
    let diff = now.wrapping_sub(then) & STAMP_MASK;
    // Sign-extend the 40-bit difference.
    ((diff << COUNT_BITS) as i64) >> COUNT_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUCCESS: usize = 0;
    const FAILURE: usize = 1;

    fn window() -> (RollingWindow<2>, Instant) {
        let origin = Instant::now();
        (RollingWindow::new(Duration::from_secs(10), origin), origin)
    }

    #[test]
    fn counts_events_per_counter() {
        let (w, t0) = window();
        for _ in 0..3 {
            w.add(t0, SUCCESS);
        }
        w.add(t0 + Duration::from_secs(4), FAILURE);
        assert_eq!(w.totals(t0 + Duration::from_secs(5)), [3, 1]);
    }

    #[test]
    fn events_leave_the_window_a_slot_at_a_time() {
        let (w, t0) = window();
        w.add(t0, FAILURE);
        w.add(t0 + Duration::from_secs(5), FAILURE);
        assert_eq!(w.totals(t0 + Duration::from_millis(9_999)), [0, 2]);
        // At 10 s the slot of t0 is reused: only the event at 5 s is left.
        assert_eq!(w.totals(t0 + Duration::from_secs(10)), [0, 1]);
        assert_eq!(w.totals(t0 + Duration::from_secs(15)), [0, 0]);
    }

    #[test]
    fn an_event_is_forgotten_exactly_at_the_position_forgets_after_names() {
        let (w, t0) = window();
        let at = t0 + Duration::from_millis(3_500);
        w.add(at, FAILURE);
        let forgotten = RollingWindow::<2>::forgets_after(w.position(at));
        let slot = Duration::from_secs(1);
        let first_forgetting = t0 + slot * u32::try_from(forgotten).unwrap();
        assert_eq!(w.totals(first_forgetting - Duration::from_nanos(1)), [0, 1]);
        assert_eq!(w.position(first_forgetting), forgotten);
        assert_eq!(w.totals(first_forgetting), [0, 0]);
    }

    #[test]
    fn a_reused_slot_starts_from_zero() {
        let (w, t0) = window();
        for _ in 0..5 {
            w.add(t0, FAILURE);
        }
        let later = t0 + Duration::from_secs(20);
        w.add(later, FAILURE);
        assert_eq!(w.totals(later), [0, 1]);
    }

    #[test]
    fn an_event_read_with_an_older_clock_never_wipes_newer_counts() {
        let (w, t0) = window();
        // 13 s and 3 s share a slot; the late caller's event joins the newer count.
        let newer = t0 + Duration::from_secs(13);
        w.add(newer, SUCCESS);
        w.add(t0 + Duration::from_secs(3), SUCCESS);
        assert_eq!(w.totals(newer), [2, 0]);
    }

    #[test]
    fn clear_forgets_everything() {
        let (w, t0) = window();
        w.add(t0, SUCCESS);
        w.add(t0, FAILURE);
        w.clear();
        assert_eq!(w.totals(t0), [0, 0]);
    }

    #[test]
    fn ages_wrap_around_the_stamp_clock() {
        assert_eq!(age(5, 3), 2);
        assert_eq!(age(3, 5), -2);
        assert_eq!(age(1, STAMP_MASK), 2);
        assert_eq!(age(STAMP_MASK, 1), -2);
    }

    #[test]
    fn concurrent_adds_are_all_counted() {
        let (w, t0) = window();
        std::thread::scope(|s| {
            for t in 0..8 {
                let w = &w;
                s.spawn(move || {
                    for _ in 0..1_000 {
                        w.add(t0, t % 2);
                    }
                });
            }
        });
        assert_eq!(w.totals(t0), [4_000, 4_000]);
    }
}
