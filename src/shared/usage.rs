//! [`FleetUsage`]: an account's rate-window use, spend, reservations and cool-down,
//! summed over every instance.

use std::time::Duration;

use serde::Serialize;

use super::keys::UsageKeys;
use super::state::RedisState;
use crate::budget::Usd;
use crate::state::StateError;
use crate::types::millis;

/// One account's use of its shared limits and budget, as every instance together left it
/// in Redis, read at one instant of the Redis server's clock.
///
/// Counts what admission counts, where an instance's own view ([`Router::accounts`])
/// holds local windows that count only while Redis is away, and the spend as of its own
/// last settlement.
///
/// [`Router::accounts`]: crate::Router::accounts
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FleetUsage {
    /// The account's name.
    pub account: String,
    /// Requests granted in the current rate window (the last
    /// [`rate_window`](super::RedisStateBuilder::rate_window)): every attempt admitted,
    /// failed ones included; an attempt cancelled before it ended leaves the window. In
    /// lease mode, a leased block counts whole until it is settled to what was taken
    /// from it. Only accounts with an RPM or TPM limit keep this window; for others it
    /// is 0.
    pub requests: u64,
    /// Tokens in the current rate window: the reservation of a call in flight, the
    /// actual usage of one settled. Kept under the same conditions as `requests`.
    pub tokens: u64,
    /// The budget window asked about, such as `2025-01`; `None` when none was.
    pub budget_window: Option<String>,
    /// Spend settled in that budget window, by every instance and earlier runs; `None`
    /// when no budget window was asked about.
    #[serde(rename = "spent_usd")]
    pub spent: Option<Usd>,
    /// Worst-case costs held against the budget by calls in flight on every instance
    /// (and, in lease mode, by blocks not yet settled). A reservation whose holder died
    /// stops counting after [`reservation_ttl`](super::RedisStateBuilder::reservation_ttl).
    #[serde(rename = "reserved_usd")]
    pub reserved: Usd,
    /// Milliseconds left of a 429 cool-down pausing the account fleet-wide, if one is in
    /// force.
    pub cooldown_ms: Option<u64>,
}

impl FleetUsage {
    /// What is left of the cool-down, if one is in force.
    pub fn cooldown(&self) -> Option<Duration> {
        self.cooldown_ms.map(Duration::from_millis)
    }
}

impl RedisState {
    /// `account`'s requests and tokens in the current rate window, its spend in
    /// `budget_window` (a budget window's label, such as `2025-01`), the dollars
    /// reserved by calls in flight and the remaining 429 cool-down, summed over every
    /// instance sharing this state.
    ///
    /// One round trip, timed by the Redis server's clock; it writes nothing, so a state
    /// built on a replica's URL (with the same prefix and
    /// [`rate_window`](super::RedisStateBuilder::rate_window)) can serve it too.
    /// [`Router::fleet_accounts`](crate::Router::fleet_accounts) reads every account
    /// of a router with its current budget window.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`] when Redis does not answer within the timeout, or
    /// while it is marked down after an earlier failure.
    ///
    /// ```no_run
    /// use routewise::shared::RedisState;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let shared = RedisState::builder("redis://127.0.0.1:6379")
    ///     .prefix("myapp:routewise")
    ///     .build()?;
    /// let usage = shared.fleet_usage("openai-main", Some("2025-01")).await?;
    /// println!(
    ///     "{} requests and {} tokens this minute, {} spent, {} in flight",
    ///     usage.requests,
    ///     usage.tokens,
    ///     usage.spent.unwrap_or_default(),
    ///     usage.reserved,
    /// );
    /// # Ok(()) }
    /// ```
    pub async fn fleet_usage(
        &self,
        account: &str,
        budget_window: Option<&str>,
    ) -> Result<FleetUsage, StateError> {
        let inner = &self.inner;
        let keys = UsageKeys::new(&inner.prefix, account, budget_window);
        let mut invocation = inner.scripts.usage.prepare_invoke();
        invocation
            .key(&keys.cooldown)
            .key(&keys.window[0])
            .key(&keys.window[1])
            .key(&keys.spend)
            .key(&keys.budget_held[0])
            .key(&keys.budget_held[1])
            .arg(millis::saturating(inner.rate_window));
        let (requests, tokens, spent, reserved, cooldown_ms): (u64, u64, u64, u64, u64) = self
            .run("fleet usage", |mut connection| async move {
                invocation.invoke_async(&mut connection).await
            })
            .await?;
        Ok(FleetUsage {
            account: account.to_owned(),
            requests,
            tokens,
            budget_window: budget_window.map(str::to_owned),
            spent: budget_window.map(|_| Usd::from_nanos(spent)),
            reserved: Usd::from_nanos(reserved),
            cooldown_ms: (cooldown_ms > 0).then_some(cooldown_ms),
        })
    }
}
