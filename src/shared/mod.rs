//! State shared by every router instance through Redis (feature `redis`): rate limits,
//! spend and budget alerts, 429 cool-downs, circuit breakers and health.
//!
//! Ten replicas that each enforce "RPM 100" alone send 1,000 requests a minute to a
//! provider whose limit is 100, and each one's budget ledger sees a tenth of the spend.
//! With a [`RedisState`] given to
//! [`RouterBuilder::shared_state`](crate::RouterBuilder::shared_state), they enforce one
//! limit and one budget together:
//!
//! - **Limits and budget**: each attempt is admitted by one Lua script that checks the
//!   account's breaker, 429 cool-down, RPM/TPM windows (account and provider model) and
//!   budget, and reserves them all at once, or nothing. After the call, a second script
//!   settles to the actual tokens and cost, off the request path.
//! - **Alerts** fire once per threshold across the fleet: the settle script sets the
//!   threshold's bit and only the instance that set it sends the alert.
//! - **429 cool-downs**: a provider's retry-after, seen by one instance, pauses the
//!   account (or, where the provider limits per model, the account × model) for all of
//!   them, metered or not: each admission of a shared account reads the fleet's marks.
//! - **Breakers**: an instance whose breaker opens publishes it; the others skip the
//!   target until recovery, and the half-open trials are bounded across the fleet.
//! - **Health**: every attempt's outcome and latency add to per-account ten-second
//!   buckets; [`RedisState::fleet_health`] sums the last minute.
//! - **Usage**: [`RedisState::fleet_usage`] reads an account's requests and tokens in the
//!   current rate window, its spend, the dollars reserved in flight and any cool-down,
//!   over every instance; [`Router::fleet_accounts`](crate::Router::fleet_accounts) reads
//!   them for every account of a router. [`Router::accounts`](crate::Router::accounts)
//!   shows only this instance's view: its local windows (which count while Redis is
//!   away) and the spend as of its own last settlement.
//! - **Quotas** of your own callers (a gateway's client keys, tenants):
//!   [`SharedQuota`] admits and settles their RPM and budget by the same scripts.
//!
//! Crashes: a budget reservation whose holder dies expires after
//! [`reservation_ttl`](RedisStateBuilder::reservation_ttl); a rate-limit slot leaves the
//! window after the window's length, as every request's does; a half-open trial after
//! the reservation ttl.
//!
//! Redis faults: see [`FailMode`]. Every call has a short timeout, a failure marks Redis
//! down for a retry interval, and spend settled while Redis was away is written back
//! when it answers again.

mod admission;
mod clock;
mod health;
mod keys;
mod lease;
mod marks;
mod outage;
mod quota;
mod scripts;
mod state;
mod store;
mod url;
mod usage;
mod write_back;

pub(crate) use admission::{
    Admitted, Ask, BreakerKey, BreakerVerdict, Settle, WindowLimits, WindowsSeen,
};
pub use health::FleetHealth;
pub(crate) use keys::AccountKeys;
pub use lease::Lease;
pub(crate) use marks::MarkKeys;
pub use quota::{QuotaGrant, QuotaRefusal, SharedQuota};
pub use state::{FailMode, RedisState, RedisStateBuilder};
pub use usage::FleetUsage;
