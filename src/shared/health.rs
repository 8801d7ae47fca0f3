//! [`FleetHealth`]: an account's outcomes and latency summed over every instance.

use std::collections::HashMap;
use std::time::Duration;

use super::keys;
use super::state::RedisState;
use crate::state::StateError;

/// One account's attempts over the last minute, as every instance recorded them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct FleetHealth {
    /// Attempts that succeeded.
    pub successes: u64,
    /// Attempts that failed with a provider fault.
    pub faults: u64,
    /// Mean latency of those attempts.
    pub mean_latency: Duration,
}

impl FleetHealth {
    /// Faults over attempts, 0 with no attempts.
    pub fn error_rate(&self) -> f64 {
        let total = self.successes + self.faults;
        if total == 0 {
            0.0
        } else {
            self.faults as f64 / total as f64
        }
    }
}

/// Buckets summed: six of ten seconds.
const BUCKETS: u64 = 6;
const BUCKET_MS: u64 = 10_000;

impl RedisState {
    /// `account`'s successes, faults and mean latency over the last minute, summed over
    /// every instance sharing this state.
    pub async fn fleet_health(&self, account: &str) -> Result<FleetHealth, StateError> {
        let key = keys::health(&self.inner.prefix, account);
        let (fields, [seconds, micros]): (HashMap<String, u64>, [u64; 2]) = self
            .run("fleet health", |mut connection| async move {
                redis::pipe()
                    .cmd("HGETALL")
                    .arg(&key)
                    .cmd("TIME")
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let now_bucket = (seconds * 1_000 + micros / 1_000) / BUCKET_MS;
        let mut health = FleetHealth::default();
        let mut latency_us = 0u64;
        for (field, value) in fields {
            let Some((bucket, kind)) = field.split_once(':') else {
                continue;
            };
            let Ok(bucket) = bucket.parse::<u64>() else {
                continue;
            };
            if bucket + BUCKETS <= now_bucket {
                continue;
            }
            match kind {
                "ok" => health.successes += value,
                "fault" => health.faults += value,
                "us" => latency_us += value,
                _ => {}
            }
        }
        let attempts = health.successes + health.faults;
        if let Some(mean) = latency_us.checked_div(attempts) {
            health.mean_latency = Duration::from_micros(mean);
        }
        Ok(health)
    }
}
