//! The in-memory state every built-in store keeps: counters and bit sets by key, and
//! live reservations.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::{ReservationId, StateKey};

#[derive(Debug, Default)]
pub(super) struct Table {
    /// Counters and bit sets (the durable part).
    pub(super) values: BTreeMap<StateKey, u64>,
    /// Live reservations by key; never persisted, since they expire anyway.
    reservations: HashMap<StateKey, Vec<Held>>,
    next_reservation: u64,
}

#[derive(Debug)]
struct Held {
    id: ReservationId,
    amount: u64,
    expires_at: Instant,
}

impl Table {
    pub(super) fn with_values(values: BTreeMap<StateKey, u64>) -> Self {
        Self {
            values,
            ..Self::default()
        }
    }

    pub(super) fn get(&self, key: &StateKey) -> u64 {
        self.values.get(key).copied().unwrap_or(0)
    }

    pub(super) fn increment(&mut self, key: &StateKey, delta: u64) -> u64 {
        if delta == 0 {
            return self.get(key);
        }
        let value = self.values.entry(key.clone()).or_insert(0);
        *value = value.saturating_add(delta);
        *value
    }

    pub(super) fn fetch_or(&mut self, key: &StateKey, bits: u64) -> u64 {
        if bits == 0 {
            return self.get(key);
        }
        let value = self.values.entry(key.clone()).or_insert(0);
        *value |= bits;
        *value
    }

    pub(super) fn try_reserve(
        &mut self,
        key: &StateKey,
        amount: u64,
        limit: u64,
        ttl: Duration,
        now: Instant,
    ) -> Option<ReservationId> {
        let base = self.get(key);
        let held = self.reservations.entry(key.clone()).or_default();
        held.retain(|h| h.expires_at > now);
        let total = held
            .iter()
            .fold(base, |sum, h| sum.saturating_add(h.amount))
            .saturating_add(amount);
        if total > limit {
            return None;
        }
        let id = ReservationId(self.next_reservation);
        self.next_reservation += 1;
        held.push(Held {
            id,
            amount,
            expires_at: now + ttl,
        });
        Some(id)
    }

    /// Removes a reservation; whether it was still there does not matter to callers.
    pub(super) fn end(&mut self, key: &StateKey, id: ReservationId) {
        if let Some(held) = self.reservations.get_mut(key) {
            held.retain(|h| h.id != id);
            if held.is_empty() {
                self.reservations.remove(key);
            }
        }
    }
}
