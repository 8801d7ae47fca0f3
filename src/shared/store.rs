//! [`RedisState`] as a [`StateStore`]: counters, bit sets and expiring reservations in
//! Redis, each operation one atomic command or script.

use std::time::Duration;

use async_trait::async_trait;

use super::keys::{applied_key, reservation_keys, state_key};
use super::state::RedisState;
use crate::state::{ReservationId, StateError, StateKey, StateStore, WriteId};
use crate::types::millis;

impl RedisState {
    async fn store_script(
        &self,
        key: &StateKey,
        operation: &str,
        args: &[u128],
    ) -> Result<i64, StateError> {
        let redis_key = state_key(&self.inner.prefix, key);
        let [held, amounts] = reservation_keys(&redis_key);
        let mut invocation = self.inner.scripts.store.key(&redis_key);
        invocation
            .key(&held)
            .key(&amounts)
            .key(applied_key(&redis_key))
            .arg(operation);
        for arg in args {
            invocation.arg(arg);
        }
        self.run("state store script", |mut connection| async move {
            invocation.invoke_async(&mut connection).await
        })
        .await
    }
}

/// Redis answers integers as `i64`; counters are never negative.
fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[async_trait]
impl StateStore for RedisState {
    async fn get(&self, key: &StateKey) -> Result<u64, StateError> {
        let redis_key = state_key(&self.inner.prefix, key);
        let value: Option<u64> = self
            .run("GET", |mut connection| async move {
                redis::cmd("GET")
                    .arg(&redis_key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(value.unwrap_or(0))
    }

    async fn increment(&self, key: &StateKey, delta: u64) -> Result<u64, StateError> {
        let redis_key = state_key(&self.inner.prefix, key);
        // Redis counters are signed 64-bit; no real spend comes near the limit.
        let delta = i64::try_from(delta).unwrap_or(i64::MAX);
        let value: i64 = self
            .run("INCRBY", |mut connection| async move {
                redis::cmd("INCRBY")
                    .arg(&redis_key)
                    .arg(delta)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(unsigned(value))
    }

    async fn increment_once(
        &self,
        key: &StateKey,
        delta: u64,
        write: WriteId,
    ) -> Result<u64, StateError> {
        let remembered = millis::saturating(self.inner.reservation_ttl);
        let args = [u128::from(delta), write.get(), u128::from(remembered)];
        let value = self.store_script(key, "add_once", &args).await?;
        Ok(unsigned(value))
    }

    async fn fetch_or(&self, key: &StateKey, bits: u64) -> Result<u64, StateError> {
        // Lua's bit library works on 32 bits, which holds every alert threshold set.
        let bits = bits & u64::from(u32::MAX);
        let value = self.store_script(key, "fetch_or", &[bits.into()]).await?;
        Ok(unsigned(value))
    }

    async fn try_reserve(
        &self,
        key: &StateKey,
        amount: u64,
        limit: u64,
        ttl: Duration,
    ) -> Result<Option<ReservationId>, StateError> {
        let id = self
            .store_script(
                key,
                "reserve",
                &[amount.into(), limit.into(), millis::saturating(ttl).into()],
            )
            .await?;
        Ok(u64::try_from(id).ok().map(ReservationId))
    }

    async fn commit(
        &self,
        key: &StateKey,
        reservation: ReservationId,
        actual: u64,
    ) -> Result<u64, StateError> {
        let value = self
            .store_script(key, "commit", &[reservation.0.into(), actual.into()])
            .await?;
        Ok(unsigned(value))
    }

    async fn cancel(&self, key: &StateKey, reservation: ReservationId) -> Result<(), StateError> {
        self.store_script(key, "cancel", &[reservation.0.into()])
            .await?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StateError> {
        // Every operation above is written through.
        Ok(())
    }
}
