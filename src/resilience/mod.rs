//! Resilience: circuit breakers, retries with backoff, deadlines, account health and
//! hedging.
//!
//! Each mechanism is a self-contained piece with lock-free hot paths and a paused-clock
//! friendly notion of time (every reading takes `now`, a [`tokio::time::Instant`]):
//! - [`CircuitBreaker`] per policy and target, configured by [`BreakerConfig`];
//! - [`RetryPolicy`] for retries on the same target, and [`Timeouts`] / [`Deadline`]
//!   for the per-request deadline and per-attempt timeout;
//! - [`HealthTracker`] per account, configured by [`HealthConfig`], fed by traffic and
//!   by optional probes, with latency figures from a [`LatencyTracker`];
//! - [`HedgePolicy`] for when to start a second, parallel attempt.

mod breaker;
mod error;
mod rng;
#[cfg(test)]
mod test_support;
mod window;

pub use breaker::{BreakerConfig, BreakerPermit, BreakerSnapshot, BreakerState, CircuitBreaker};
pub use error::ResilienceConfigError;
