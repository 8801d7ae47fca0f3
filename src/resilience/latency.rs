//! Latency figures of an account or a target: an exponentially weighted moving average
//! and quantiles over a rolling window, all in atomics.
//!
//! Quantiles come from a histogram of 256 logarithmic bins per window slot: each power
//! of two of microseconds is cut in eight, so a bin is at most an eighth as wide as its
//! lower bound and a reported quantile (a bin's midpoint) is within 6.25% of the truth.
//! The bins span 1 µs to 71 minutes; slower calls land in the last bin.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::error::{ResilienceConfigError, check_fraction};
use super::window::{MIN_WINDOW, RollingWindow};

/// Sub-bins per power of two, as bits (8 sub-bins).
const SUB_BITS: u32 = 3;
/// Every power of two of a `u32` of microseconds, cut in sub-bins.
const BINS: usize = 32 << SUB_BITS;

/// Latency of calls to one account or target.
///
/// ```
/// use std::time::Duration;
/// use routewise::resilience::LatencyTracker;
/// use tokio::time::Instant;
///
/// let latency = LatencyTracker::new(Duration::from_secs(60), 0.2)?;
/// let now = Instant::now();
/// for ms in 1..=100 {
///     latency.record(Duration::from_millis(ms), now);
/// }
/// let p95 = latency.quantile(0.95, now).unwrap();
/// assert!(p95 > Duration::from_millis(85) && p95 < Duration::from_millis(105), "{p95:?}");
/// # Ok::<(), routewise::ResilienceConfigError>(())
/// ```
pub struct LatencyTracker {
    alpha: f64,
    /// The average in microseconds, as `f64` bits; NaN until the first sample.
    ewma_micros: AtomicU64,
    histogram: RollingWindow<BINS>,
}

/// Latency figures at a point in time (milliseconds; `None` without samples).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LatencySnapshot {
    /// Calls measured in the rolling window.
    pub samples: u64,
    /// Exponentially weighted moving average over every call measured.
    pub ewma_ms: Option<f64>,
    /// Median over the rolling window.
    pub p50_ms: Option<f64>,
    /// 95th percentile over the rolling window.
    pub p95_ms: Option<f64>,
    /// 99th percentile over the rolling window.
    pub p99_ms: Option<f64>,
}

impl LatencyTracker {
    /// A tracker whose quantiles cover the last `window` (at least 10 ms) and whose moving
    /// average gives each new call the weight `ewma_alpha`, in `(0, 1]`.
    pub fn new(window: Duration, ewma_alpha: f64) -> Result<Self, ResilienceConfigError> {
        if window < MIN_WINDOW {
            return Err(ResilienceConfigError::new(
                "window",
                format!("must be at least {MIN_WINDOW:?} (got {window:?})"),
            ));
        }
        check_fraction("ewma_alpha", ewma_alpha)?;
        Ok(Self {
            alpha: ewma_alpha,
            ewma_micros: AtomicU64::new(f64::NAN.to_bits()),
            histogram: RollingWindow::new(window, Instant::now()),
        })
    }

    /// Records one call that took `latency`, finished at `now`.
    pub fn record(&self, latency: Duration, now: Instant) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram.add(now, bin(micros));
        let sample = micros as f64;
        let alpha = self.alpha;
        // The closure always returns Some, so the update cannot fail.
        let _ = self.ewma_micros.fetch_update(Relaxed, Relaxed, |bits| {
            let average = f64::from_bits(bits);
            let next = if average.is_nan() {
                sample
            } else {
                average + alpha * (sample - average)
            };
            Some(next.to_bits())
        });
    }

    /// The moving average, once a call was measured.
    pub fn ewma(&self) -> Option<Duration> {
        let micros = f64::from_bits(self.ewma_micros.load(Relaxed));
        (!micros.is_nan()).then(|| Duration::from_secs_f64(micros / 1e6))
    }

    /// Calls measured in the window ending at `now`.
    pub fn samples(&self, now: Instant) -> u64 {
        self.histogram(now).samples()
    }

    /// The `q`-quantile (`0.95` for p95) over the window ending at `now`, or `None` when
    /// the window holds no call.
    pub fn quantile(&self, q: f64, now: Instant) -> Option<Duration> {
        self.histogram(now).quantile(q)
    }

    /// Every figure at `now`.
    pub fn snapshot(&self, now: Instant) -> LatencySnapshot {
        let histogram = self.histogram(now);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        LatencySnapshot {
            samples: histogram.samples(),
            ewma_ms: self.ewma().map(ms),
            p50_ms: histogram.quantile(0.50).map(ms),
            p95_ms: histogram.quantile(0.95).map(ms),
            p99_ms: histogram.quantile(0.99).map(ms),
        }
    }

    pub(crate) fn histogram(&self, now: Instant) -> Histogram {
        Histogram(self.histogram.totals(now))
    }
}

impl std::fmt::Debug for LatencyTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyTracker")
            .field("alpha", &self.alpha)
            .field("ewma", &self.ewma())
            .finish_non_exhaustive()
    }
}

/// A copy of the window's bin counts.
pub(crate) struct Histogram([u64; BINS]);

impl Histogram {
    pub(crate) fn samples(&self) -> u64 {
        self.0.iter().sum()
    }

    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        let samples = self.samples();
        if samples == 0 {
            return None;
        }
        // The rank of the q-quantile among `samples` sorted values, 1-based.
        let rank = ((q.clamp(0.0, 1.0) * samples as f64).ceil() as u64).max(1);
        let mut seen = 0;
        let index = self.0.iter().position(|count| {
            seen += count;
            seen >= rank
        })?;
        Some(Duration::from_secs_f64(midpoint(index) / 1e6))
    }
}

/// The bin of a latency in microseconds: values below 8 have a bin each; above, the
/// power of two and the next three bits pick one of eight sub-bins.
fn bin(micros: u64) -> usize {
    let micros = micros.min(u64::from(u32::MAX));
    if micros < 1 << SUB_BITS {
        return micros as usize;
    }
    let octave = 63 - micros.leading_zeros();
    let sub = (micros >> (octave - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    ((octave << SUB_BITS) as u64 + sub) as usize
}

/// The middle of a bin, in microseconds.
fn midpoint(index: usize) -> f64 {
    if index < 1 << SUB_BITS {
        return index as f64;
    }
    let octave = (index >> SUB_BITS) as u32;
    let sub = (index & ((1 << SUB_BITS) - 1)) as u64;
    let width = 1u64 << (octave - SUB_BITS);
    let lower = ((1 << SUB_BITS) + sub) * width;
    lower as f64 + width as f64 / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn tracker() -> LatencyTracker {
        LatencyTracker::new(Duration::from_secs(60), 0.1).unwrap()
    }

    #[test]
    fn bins_are_ordered_and_contain_their_values() {
        let mut last = 0;
        for micros in [
            0,
            1,
            3,
            4,
            5,
            7,
            8,
            9,
            15,
            16,
            1_000,
            65_535,
            1 << 31,
            u64::MAX,
        ] {
            let b = bin(micros);
            assert!(b >= last, "{micros} µs went back to bin {b}");
            assert!(b < BINS);
            last = b;
        }
        for micros in (4..100_000).step_by(37) {
            let mid = midpoint(bin(micros));
            let error = (mid - micros as f64).abs() / micros as f64;
            assert!(error <= 0.0625, "{micros} µs reads as {mid}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn quantiles_of_a_uniform_distribution_are_close_to_the_truth() {
        let t = tracker();
        let now = Instant::now();
        for ms_value in 1..=1_000 {
            t.record(ms(ms_value), now);
        }
        for (q, truth) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = t.quantile(q, now).unwrap().as_secs_f64() * 1e3;
            assert!(
                (got - truth).abs() / truth < 0.0625,
                "q{q}: {got} ms, truth {truth} ms"
            );
        }
        assert_eq!(t.samples(now), 1_000);
    }

    #[tokio::test(start_paused = true)]
    async fn p95_sees_a_slow_tail() {
        let t = tracker();
        let now = Instant::now();
        // 90% at 100 ms, 10% at 2 s: the p95 is in the tail.
        for i in 0..1_000 {
            t.record(if i % 10 == 0 { ms(2_000) } else { ms(100) }, now);
        }
        let p95 = t.quantile(0.95, now).unwrap();
        assert!(p95 > ms(1_875) && p95 < ms(2_125), "{p95:?}");
        let p50 = t.quantile(0.5, now).unwrap();
        assert!(p50 > ms(94) && p50 < ms(107), "{p50:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn ewma_converges_to_a_steady_latency() {
        let t = tracker();
        let now = Instant::now();
        assert_eq!(t.ewma(), None);
        t.record(ms(1_000), now);
        assert_eq!(t.ewma(), Some(ms(1_000)), "the first sample is the average");
        for _ in 0..100 {
            t.record(ms(200), now);
        }
        let ewma = t.ewma().unwrap().as_secs_f64() * 1e3;
        // 1000 + 0.9^100 * 800 ≈ 200.02 ms.
        assert!((ewma - 200.0).abs() < 0.5, "{ewma}");
    }

    #[tokio::test(start_paused = true)]
    async fn ewma_weights_recent_calls_by_alpha() {
        let t = tracker();
        let now = Instant::now();
        t.record(ms(100), now);
        t.record(ms(200), now);
        assert_eq!(t.ewma(), Some(ms(110)));
    }

    #[tokio::test(start_paused = true)]
    async fn quantiles_forget_calls_that_left_the_window() {
        let t = tracker();
        t.record(ms(5_000), Instant::now());
        tokio::time::advance(Duration::from_secs(60)).await;
        let now = Instant::now();
        assert_eq!(t.quantile(0.95, now), None);
        t.record(ms(100), now);
        let p95 = t.quantile(0.95, now).unwrap();
        assert!(p95 < ms(107), "{p95:?}");
        assert!(
            t.ewma().unwrap() > ms(4_000),
            "the average keeps its memory"
        );
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            LatencyTracker::new(Duration::from_secs(1), 0.0)
                .unwrap_err()
                .field(),
            "ewma_alpha"
        );
        assert_eq!(
            LatencyTracker::new(Duration::from_millis(1), 0.5)
                .unwrap_err()
                .field(),
            "window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn snapshot_reports_milliseconds() {
        let t = tracker();
        let now = Instant::now();
        t.record(ms(10), now);
        let snapshot = t.snapshot(now);
        assert_eq!(snapshot.samples, 1);
        assert_eq!(snapshot.ewma_ms, Some(10.0));
        let p95 = snapshot.p95_ms.unwrap();
        assert!((p95 - 10.0).abs() < 0.625, "{p95}");
        let empty = tracker().snapshot(now);
        assert_eq!(
            (empty.samples, empty.p95_ms, empty.ewma_ms),
            (0, None, None)
        );
    }
}
