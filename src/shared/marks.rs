//! Marks one instance leaves on an account for the whole fleet, whether or not the
//! account is metered: 429 cool-downs of the account or of one of its provider models.
//! Written when a call sees a 429 (off the request path), read before each admission of
//! a shared account.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::RedisState;
use crate::state::StateError;
use crate::types::millis;

/// Sets a cool-down mark, extending one already there and never shortening it.
/// KEYS: 1 the mark. ARGV: 1 its length in ms.
static COOL_DOWN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local ms = tonumber(ARGV[1])
         if redis.call('PTTL', KEYS[1]) < ms then
           redis.call('SET', KEYS[1], '1', 'PX', ms)
         end
         return 0",
    )
});

/// What the fleet's marks say about one provider model of an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FleetMarks {
    /// What is left of the whole account's cool-down.
    pub(crate) account_cool_down: Option<Duration>,
    /// What is left of the model's own cool-down.
    pub(crate) model_cool_down: Option<Duration>,
}

impl RedisState {
    /// Marks `key` (an account's or a model's cool-down key) as cooling down for `wait`.
    pub(crate) async fn mark_cool_down(&self, key: &str, wait: Duration) -> Result<(), StateError> {
        let mut invocation = COOL_DOWN.prepare_invoke();
        invocation.key(key).arg(millis::saturating(wait).max(1));
        self.run("cool down", |mut connection| async move {
            invocation.invoke_async::<i64>(&mut connection).await
        })
        .await
        .map(drop)
    }

    /// Reads the cool-downs at `account_key` and `model_key`, in one round trip.
    pub(crate) async fn fleet_marks(
        &self,
        account_key: &str,
        model_key: &str,
    ) -> Result<FleetMarks, StateError> {
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("PTTL")
            .arg(account_key)
            .cmd("PTTL")
            .arg(model_key);
        let (account, model): (i64, i64) = self
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
        })
    }
}
