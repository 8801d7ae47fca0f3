//! A cheap, lock-free source of random numbers for retry jitter and load balancing.
//!
//! Both only have to spread choices apart, not resist prediction, so a per-thread
//! xorshift64* seeded from the standard library's hash keys is enough and costs a few
//! instructions, with no shared state to contend on.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// A fresh non-zero seed: `RandomState` keys are random per process and differ per call.
fn seed() -> u64 {
    RandomState::new().hash_one(0x5EED_u64) | 1
}

/// The next pseudo-random 64-bit value of this thread's generator.
pub(crate) fn next_u64() -> u64 {
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A uniform draw from `0..=bound`.
pub(crate) fn up_to(bound: u64) -> u64 {
    let wide = u128::from(next_u64()) * (u128::from(bound) + 1);
    // The high half of a 64x64 product is below `bound + 1`, so it fits in a u64.
    u64::try_from(wide >> 64).unwrap_or(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_within_the_bound_and_cover_it() {
        let mut seen = [false; 5];
        for _ in 0..1_000 {
            let x = up_to(4);
            assert!(x <= 4);
            seen[x as usize] = true;
        }
        assert_eq!(
            seen, [true; 5],
            "every value of 0..=4 should come up in 1,000 draws"
        );
    }

    #[test]
    fn zero_bound_always_draws_zero() {
        assert!((0..100).all(|_| up_to(0) == 0));
    }
}
