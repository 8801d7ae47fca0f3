//! The [`StateStore`] trait: where spend and counters live, so they outlive the process.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use super::{StateKey, WriteId};

/// Durable counters, bit sets and expiring reservations, keyed by [`StateKey`].
///
/// Every operation is a single atomic step on the store, so several processes can share
/// one store (a later Redis store maps them to `INCRBY`, a bit-or script, and reservations
/// with a TTL) without losing updates. Values are `u64`; a counter that was never written
/// reads 0.
///
/// Implementations must be cheap to share (`Arc<dyn StateStore>`), must not block the
/// async runtime (do file or network I/O off it), and may buffer writes until
/// [`flush`](Self::flush), documenting what a crash loses.
///
/// ```
/// use std::time::Duration;
/// use routewise::state::{MemoryStore, StateKey, StateStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let spend = StateKey::spend("main", "2025-01");
/// assert_eq!(store.increment(&spend, 250).await?, 250);
///
/// // Reserve 700 of a limit of 1,000: 250 spent + 700 fits; another 100 does not.
/// let held = store.try_reserve(&spend, 700, 1_000, Duration::from_secs(60)).await?.unwrap();
/// assert!(store.try_reserve(&spend, 100, 1_000, Duration::from_secs(60)).await?.is_none());
/// assert_eq!(store.commit(&spend, held, 400).await?, 650);
/// # Ok::<(), routewise::state::StateError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// The counter at `key` (0 when never written).
    async fn get(&self, key: &StateKey) -> Result<u64, StateError>;

    /// Adds `delta` to the counter at `key` and returns the new value (saturating at
    /// `u64::MAX`). An increment of 0 reads the value.
    async fn increment(&self, key: &StateKey, delta: u64) -> Result<u64, StateError>;

    /// [`increment`](Self::increment), applied once per `write`: sending the same write
    /// again (because its answer never came) adds nothing and returns the counter. The
    /// default forwards to `increment`, which is right for a store whose calls cannot
    /// end without an answer (memory, file); a remote store remembers the ids.
    async fn increment_once(
        &self,
        key: &StateKey,
        delta: u64,
        write: WriteId,
    ) -> Result<u64, StateError> {
        let _ = write;
        self.increment(key, delta).await
    }

    /// Sets the bits of `bits` in the bit set at `key` and returns the whole set after.
    async fn fetch_or(&self, key: &StateKey, bits: u64) -> Result<u64, StateError>;

    /// Holds `amount` against `limit` for at most `ttl`: granted only if the counter at
    /// `key`, plus every live reservation on it, plus `amount` stays within `limit`.
    /// `None` when it does not fit. A reservation neither committed nor cancelled within
    /// `ttl` expires (its holder is presumed dead).
    async fn try_reserve(
        &self,
        key: &StateKey,
        amount: u64,
        limit: u64,
        ttl: Duration,
    ) -> Result<Option<ReservationId>, StateError>;

    /// Ends a reservation and adds `actual` to the counter, returning the new value. The
    /// amount is added even if the reservation had already expired.
    async fn commit(
        &self,
        key: &StateKey,
        reservation: ReservationId,
        actual: u64,
    ) -> Result<u64, StateError>;

    /// Ends a reservation without adding anything.
    async fn cancel(&self, key: &StateKey, reservation: ReservationId) -> Result<(), StateError>;

    /// Makes every update made so far durable. A no-op for stores that are not durable
    /// or that write through.
    async fn flush(&self) -> Result<(), StateError>;
}

/// A reservation held in a [`StateStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReservationId(pub u64);

/// A [`StateStore`] operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing the store's file failed.
    #[error("state file {}: {operation} failed", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done, such as `rename`.
        operation: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store's file holds something that is not a state file. It is left untouched
    /// rather than replaced, so no spend is silently reset.
    #[error("state file {} is not a valid routewise state file", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A shared store (Redis) failed or did not answer within its timeout. Nothing is
    /// lost: what could not be written stays with the caller for the next attempt.
    #[error("shared state store: {operation} failed: {reason}")]
    Unavailable {
        /// The operation, such as `admit` or `INCRBY`.
        operation: &'static str,
        /// What went wrong.
        #[source]
        reason: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A store setting cannot work, such as a URL that is not a Redis URL.
    #[error("state store setting: {problem}")]
    InvalidSetting {
        /// What is wrong.
        problem: String,
    },
    /// The store's file was written by a newer version of routewise.
    #[error("state file {} has format version {version}, which this build cannot read", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_store_is_object_safe() {
        fn takes(_: &dyn StateStore) {}
        let _ = takes;
        let _: Option<std::sync::Arc<dyn StateStore>> = None;
    }
}
