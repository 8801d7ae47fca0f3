//! [`WriteId`]: what makes a write safe to send twice.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Names one write to a [`StateStore`](super::StateStore) so that the store applies it
/// once, however often it is sent.
///
/// A write whose answer never came (a timeout, a dropped connection, a server that
/// stalled and then resumed) may or may not have been applied; sending it again under
/// the same id is safe with a store that remembers ids
/// ([`increment_once`](super::StateStore::increment_once)). Ids are unique across
/// processes: a random tag drawn once per process, and a counter.
///
/// ```
/// use routewise::state::WriteId;
///
/// assert_ne!(WriteId::fresh(), WriteId::fresh());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteId(u128);

impl WriteId {
    /// An id no other write of any process has.
    pub fn fresh() -> Self {
        static TAG: OnceLock<u64> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let tag = *TAG.get_or_init(|| crate::rng::next_u64() | 1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self((u128::from(tag) << 64) | u128::from(n))
    }

    /// The id as one number, as it is sent to a store.
    pub fn get(self) -> u128 {
        self.0
    }
}

impl fmt::Debug for WriteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteId({:032x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::WriteId;

    #[test]
    fn ids_differ_and_never_read_zero() {
        let ids: std::collections::HashSet<u128> =
            (0..1000).map(|_| WriteId::fresh().get()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&0));
    }
}
