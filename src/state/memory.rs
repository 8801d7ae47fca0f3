//! [`MemoryStore`]: state for one process, gone when it exits.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::table::Table;
use super::{ReservationId, StateError, StateKey, StateStore};

/// The default [`StateStore`]: everything in memory, nothing survives a restart.
///
/// Each operation takes one short lock. Reservations expire by the tokio clock, so a
/// paused test clock drives them. A cheap-to-clone handle: clones share the state.
///
/// ```
/// use routewise::state::{MemoryStore, StateKey, StateStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let key = StateKey::new("requests");
/// store.increment(&key, 2).await?;
/// assert_eq!(store.get(&key).await?, 2);
/// # Ok::<(), routewise::state::StateError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    table: Arc<Mutex<Table>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn with_values(values: BTreeMap<StateKey, u64>) -> Self {
        Self {
            table: Arc::new(Mutex::new(Table::with_values(values))),
        }
    }

    /// Runs `f` on the durable values, under the lock.
    pub(super) fn read_values<T>(&self, f: impl FnOnce(&BTreeMap<StateKey, u64>) -> T) -> T {
        f(&self.table().values)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Table updates cannot panic halfway, so a poisoned lock still guards valid state.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn get(&self, key: &StateKey) -> Result<u64, StateError> {
        Ok(self.table().get(key))
    }

    async fn increment(&self, key: &StateKey, delta: u64) -> Result<u64, StateError> {
        Ok(self.table().increment(key, delta))
    }

    async fn fetch_or(&self, key: &StateKey, bits: u64) -> Result<u64, StateError> {
        Ok(self.table().fetch_or(key, bits))
    }

    async fn try_reserve(
        &self,
        key: &StateKey,
        amount: u64,
        limit: u64,
        ttl: Duration,
    ) -> Result<Option<ReservationId>, StateError> {
        Ok(self
            .table()
            .try_reserve(key, amount, limit, ttl, Instant::now()))
    }

    async fn commit(
        &self,
        key: &StateKey,
        reservation: ReservationId,
        actual: u64,
    ) -> Result<u64, StateError> {
        let mut table = self.table();
        table.end(key, reservation);
        Ok(table.increment(key, actual))
    }

    async fn cancel(&self, key: &StateKey, reservation: ReservationId) -> Result<(), StateError> {
        self.table().end(key, reservation);
        Ok(())
    }

    async fn flush(&self) -> Result<(), StateError> {
        Ok(())
    }
}
