//! Marks one instance leaves on an account for the whole fleet, whether or not the
//! account is metered: 429 cool-downs of the account or of one of its provider models,
//! and rejected credentials. Written when a call sees a 429 or a 401/403 (off the
//! request path), read before each admission of a shared account.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::RedisState;
use crate::state::StateError;
use crate::types::millis;

/// Sets a mark for a while, extending one already there and never shortening it.
/// KEYS: 1 the mark. ARGV: 1 its length in ms, 2 its value.
static MARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local ms = tonumber(ARGV[1])
         if redis.call('PTTL', KEYS[1]) < ms then
           redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
         end
         return 0",
    )
});

/// What the fleet's marks say about one provider model of an account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FleetMarks {
    /// What is left of the whole account's cool-down.
    pub(crate) account_cool_down: Option<Duration>,
    /// What is left of the model's own cool-down.
    pub(crate) model_cool_down: Option<Duration>,
    /// Rejected credentials: their fingerprint and the time until their probe is due.
    pub(crate) credentials_rejected: Option<(u64, Duration)>,
}

/// The keys [`RedisState::fleet_marks`] reads.
pub(crate) struct MarkKeys<'k> {
    pub(crate) account_cool_down: &'k str,
    pub(crate) model_cool_down: &'k str,
    pub(crate) credentials: &'k str,
}

impl RedisState {
    /// Sets the mark at `key` to `value` for `wait` (or longer, if it is already set).
    pub(crate) async fn set_mark(
        &self,
        key: &str,
        value: u64,
        wait: Duration,
    ) -> Result<(), StateError> {
        let mut invocation = MARK.prepare_invoke();
        invocation
            .key(key)
            .arg(millis::saturating(wait).max(1))
            .arg(value);
        self.run("set mark", |mut connection| async move {
            invocation.invoke_async::<i64>(&mut connection).await
        })
        .await
        .map(drop)
    }

    /// Removes the mark at `key`.
    pub(crate) async fn clear_mark(&self, key: &str) -> Result<(), StateError> {
        let mut command = redis::cmd("DEL");
        command.arg(key);
        self.run("clear mark", |mut connection| async move {
            command.query_async::<i64>(&mut connection).await
        })
        .await
        .map(drop)
    }

    /// Reads an account's marks, in one round trip.
    pub(crate) async fn fleet_marks(&self, keys: &MarkKeys<'_>) -> Result<FleetMarks, StateError> {
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("PTTL")
            .arg(keys.account_cool_down)
            .cmd("PTTL")
            .arg(keys.model_cool_down)
            .cmd("GET")
            .arg(keys.credentials)
            .cmd("PTTL")
            .arg(keys.credentials);
        type Reply = (i64, i64, Option<u64>, i64);
        let (account, model, fingerprint, credentials): Reply = self
            .run("read marks", |mut connection| async move {
                pipeline.query_async(&mut connection).await
            })
            .await?;
        let left = |ms: i64| {
            u64::try_from(ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
        };
        Ok(FleetMarks {
            account_cool_down: left(account),
            model_cool_down: left(model),
            credentials_rejected: fingerprint.zip(left(credentials)),
        })
    }
}
