//! Load balancing within a tier: per-target load figures and the orderings of
//! [`Balance`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use super::plan::Candidate;
use super::snapshot::CompiledTarget;
use crate::model::Balance;

/// Live load of one target: requests in flight and a peak-EWMA latency estimate.
#[derive(Debug, Default)]
pub(crate) struct TargetLoad {
    in_flight: AtomicU32,
    /// Microseconds; zero until the first observation.
    peak_ewma_micros: AtomicU64,
}

/// Holds one in-flight slot of a target until dropped.
pub(crate) struct InFlight(Arc<TargetLoad>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl TargetLoad {
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// Peak EWMA: a slower sample is taken at once (a target turning slow loses share
    /// immediately); faster samples pull the estimate down gradually (weight 1/4).
    pub(crate) fn observe(&self, latency: Duration) {
        let sample = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = self
            .peak_ewma_micros
            .fetch_update(Relaxed, Relaxed, |current| {
                Some(if current == 0 || sample >= current {
                    sample
                } else {
                    current - (current - sample) / 4
                })
            });
    }

    /// Expected cost of sending one more request: latency times load. Unknown latency
    /// costs nothing, so new targets get explored.
    fn cost(&self) -> u64 {
        self.peak_ewma_micros
            .load(Relaxed)
            .saturating_mul(u64::from(self.in_flight()) + 1)
    }
}

/// Orders `usable` (candidates among `targets`) by `strategy`. `cursor` is the tier's
/// round-robin position; it advances only when `advance` is set (not for `explain`).
pub(crate) fn order(
    strategy: Balance,
    usable: &mut [Candidate],
    targets: &[CompiledTarget],
    cursor: &AtomicUsize,
    advance: bool,
) {
    let n = usable.len();
    if n < 2 {
        return;
    }
    match strategy {
        Balance::Ordered => {}
        Balance::RoundRobin => {
            let start = if advance {
                cursor.fetch_add(1, Relaxed)
            } else {
                cursor.load(Relaxed)
            };
            usable.rotate_left(start % n);
        }
        Balance::WeightedRandom => {
            for i in 0..n - 1 {
                let total: u64 = usable[i..]
                    .iter()
                    .map(|c| u64::from(targets[c.target].weight))
                    .sum();
                let mut draw = random_below(total.max(1));
                let mut pick = i;
                for (j, c) in usable.iter().enumerate().skip(i) {
                    let weight = u64::from(targets[c.target].weight);
                    if draw < weight {
                        pick = j;
                        break;
                    }
                    draw -= weight;
                }
                usable.swap(i, pick);
            }
        }
        Balance::LeastInFlight => {
            shuffle(usable);
            usable.sort_by_key(|c| targets[c.target].load.in_flight());
        }
        Balance::PeakEwma => {
            let a = random_below(n as u64) as usize;
            let b = (a + 1 + random_below(n as u64 - 1) as usize) % n;
            let (cost_a, cost_b) = (
                targets[usable[a].target].load.cost(),
                targets[usable[b].target].load.cost(),
            );
            let winner = match cost_a.cmp(&cost_b) {
                std::cmp::Ordering::Less => a,
                std::cmp::Ordering::Greater => b,
                std::cmp::Ordering::Equal => {
                    if random_below(2) == 0 {
                        a
                    } else {
                        b
                    }
                }
            };
            usable.swap(0, winner);
            usable[1..].sort_by_key(|c| targets[c.target].load.cost());
        }
        // Stable: equal headrooms keep declaration order.
        Balance::Headroom => usable.sort_by_key(|c| std::cmp::Reverse(c.headroom)),
    }
}

fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = random_below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A uniform draw from `0..bound`. `bound` > 0.
fn random_below(bound: u64) -> u64 {
    crate::rng::up_to(bound - 1)
}
