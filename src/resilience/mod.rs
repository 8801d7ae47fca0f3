//! Resilience: circuit breakers, retries with backoff, deadlines, account health and
//! hedging.
//!
//! Each mechanism is a self-contained piece with lock-free hot paths, and every reading
//! takes `now` (a [`tokio::time::Instant`]), so a paused test clock drives them all:
//! - [`CircuitBreaker`] per policy and target, configured by [`BreakerConfig`];
//! - [`RetryPolicy`] for retries on the same target, and [`Timeouts`] / [`Deadline`]
//!   for a request's overall deadline and each attempt's timeout;
//! - [`HealthTracker`] per account, configured by [`HealthConfig`], fed by real calls
//!   and by optional probes, with latency figures from a [`LatencyTracker`];
//! - [`HedgePolicy`] for when to start a second, parallel attempt;
//! - rejected credentials (HTTP 401/403): the account leaves rotation and is probed
//!   again with [`CredentialsBackoff`].

mod breaker;
mod credentials;
mod deadline;
mod error;
mod health;
mod hedge;
mod latency;
mod probe;
mod retry;
#[cfg(test)]
mod test_support;
mod window;

pub use breaker::{BreakerConfig, BreakerPermit, BreakerSnapshot, BreakerState, CircuitBreaker};
pub(crate) use credentials::{Credentials, CredentialsProbe, Rejection};
pub use credentials::{CredentialsAlert, CredentialsBackoff, CredentialsStatus};
pub use deadline::{Deadline, TimedOut, Timeouts};
pub use error::ResilienceConfigError;
pub use health::{HealthConfig, HealthSnapshot, HealthStatus, HealthTracker};
pub use hedge::{HEDGE_MIN_SAMPLES, HedgePolicy};
pub use latency::{LatencySnapshot, LatencyTracker};
pub use retry::{Jitter, RetryPolicy};
