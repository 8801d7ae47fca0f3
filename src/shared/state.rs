//! [`RedisState`]: the connection, its settings and how it behaves when Redis fails.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use super::clock::RedisClock;
use super::lease::Lease;
use super::outage::Outage;
use super::scripts::Scripts;
use super::url::RedactedUrl;
use super::write_back::WriteBacks;
use crate::state::StateError;

/// What the router does while Redis does not answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailMode {
    /// Keep routing on this instance's own limits and budget ledger, log a warning, and
    /// write the spend settled meanwhile to Redis once it answers again. While Redis is
    /// down each instance enforces the full limits on its own, so the fleet together may
    /// send up to instances × limit.
    #[default]
    Open,
    /// Refuse every target whose account is metered (limits or budget) or whose breaker
    /// is shared, with [`SkipReason::SharedStateUnavailable`](crate::SkipReason), until
    /// Redis answers again.
    Closed,
}

/// Limits, spend, 429 cool-downs, breaker state and health shared by every router
/// instance through one Redis server.
///
/// Give it to [`RouterBuilder::shared_state`](crate::RouterBuilder::shared_state). Each
/// attempt then costs one Redis round trip (a script that checks the breaker, the
/// cool-down, the rate limits and the budget, and reserves them together) and one more
/// after it, off the request path, that settles to the actual usage. With
/// [`lease`](RedisStateBuilder::lease) most attempts cost none.
///
/// Every call has a short [`timeout`](RedisStateBuilder::timeout); a failure marks Redis
/// down for the [`retry_interval`](RedisStateBuilder::retry_interval), during which the
/// [`FailMode`] applies without waiting on Redis at all. Keys live under a
/// [`prefix`](RedisStateBuilder::prefix), each account's in one Redis Cluster hash slot.
///
/// It is also a [`StateStore`](crate::state::StateStore), which the budget ledgers sync
/// through. A cheap-to-clone handle.
///
/// ```no_run
/// use std::time::Duration;
/// use routewise::shared::{FailMode, RedisState};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let shared = RedisState::builder("redis://127.0.0.1:6379")
///     .prefix("myapp:routewise")
///     .timeout(Duration::from_millis(50))
///     .fail_mode(FailMode::Open)
///     .build()?;
/// shared.ping().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) connection: ConnectionManager,
    /// Kept for `Debug` only, shown through [`RedactedUrl`].
    url: String,
    pub(crate) prefix: String,
    pub(crate) fail_mode: FailMode,
    pub(crate) timeout: Duration,
    pub(crate) retry_interval: Duration,
    pub(crate) reservation_ttl: Duration,
    pub(crate) rate_window: Duration,
    pub(crate) lease: Option<Lease>,
    pub(crate) scripts: Scripts,
    pub(crate) outage: Outage,
    pub(crate) write_backs: WriteBacks,
    pub(crate) clock: RedisClock,
}

/// The reason of a call not made because Redis is marked down after an earlier failure:
/// unlike a timeout, it certainly did not run.
#[derive(Debug)]
pub(crate) struct MarkedDown;

impl fmt::Display for MarkedDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("marked down after an earlier failure")
    }
}

impl std::error::Error for MarkedDown {}

/// Whether a failed call may still have run in Redis (it timed out, or its connection
/// broke after sending it), so that what it did must be undone or must not be done twice.
pub(crate) fn may_have_run(error: &StateError) -> bool {
    match error {
        StateError::Unavailable { reason, .. } => !reason.is::<MarkedDown>(),
        _ => true,
    }
}

impl RedisState {
    /// Settings for a shared state at `url` (`redis://host:port/db`, with
    /// `redis://:password@host` for a password).
    pub fn builder(url: impl Into<String>) -> RedisStateBuilder {
        RedisStateBuilder {
            url: url.into(),
            prefix: "routewise".to_owned(),
            fail_mode: FailMode::Open,
            timeout: Duration::from_millis(100),
            retry_interval: Duration::from_secs(1),
            reservation_ttl: Duration::from_secs(600),
            rate_window: Duration::from_secs(60),
            lease: None,
        }
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// What the router does while Redis does not answer.
    pub fn fail_mode(&self) -> FailMode {
        self.inner.fail_mode
    }

    /// The lease settings, in lease mode.
    pub fn lease(&self) -> Option<&Lease> {
        self.inner.lease.as_ref()
    }

    /// Whether Redis answered the last call (or none was made yet).
    pub fn is_available(&self) -> bool {
        self.inner.outage.is_up(Instant::now())
    }

    /// Asks Redis for a `PONG`, within the timeout.
    pub async fn ping(&self) -> Result<(), StateError> {
        self.run("PING", |mut connection| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }

    /// Runs one Redis operation within the timeout and keeps the outage state: while
    /// Redis is marked down, fails at once without calling it.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        operation: &'static str,
        call: F,
    ) -> Result<T, StateError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let inner = &self.inner;
        if !inner.outage.is_up(Instant::now()) {
            return Err(StateError::Unavailable {
                operation,
                reason: Box::new(MarkedDown),
            });
        }
        let result = tokio::time::timeout(inner.timeout, call(inner.connection.clone())).await;
        let error: Box<dyn std::error::Error + Send + Sync> = match result {
            Ok(Ok(value)) => {
                if inner.outage.answered() {
                    tracing::info!(prefix = %inner.prefix, "Redis answers again; shared state resumes");
                }
                return Ok(value);
            }
            Ok(Err(error)) => Box::new(error),
            Err(elapsed) => Box::new(elapsed),
        };
        if inner.outage.failed(Instant::now(), inner.retry_interval) {
            tracing::warn!(
                prefix = %inner.prefix,
                fail_mode = ?inner.fail_mode,
                %error,
                "Redis does not answer; shared state is unavailable"
            );
        }
        Err(StateError::Unavailable {
            operation,
            reason: error,
        })
    }
}

impl fmt::Debug for RedisState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisState")
            .field("url", &RedactedUrl(&self.inner.url))
            .field("prefix", &self.inner.prefix)
            .field("fail_mode", &self.inner.fail_mode)
            .field("timeout", &self.inner.timeout)
            .field("lease", &self.inner.lease)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`RedisState`], from [`RedisState::builder`]. Its `Debug` output shows
/// the URL with its credentials redacted.
#[derive(Clone)]
#[must_use = "call .build() to connect"]
pub struct RedisStateBuilder {
    url: String,
    prefix: String,
    fail_mode: FailMode,
    timeout: Duration,
    retry_interval: Duration,
    reservation_ttl: Duration,
    rate_window: Duration,
    lease: Option<Lease>,
}

impl fmt::Debug for RedisStateBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStateBuilder")
            .field("url", &RedactedUrl(&self.url))
            .field("prefix", &self.prefix)
            .field("fail_mode", &self.fail_mode)
            .field("timeout", &self.timeout)
            .field("retry_interval", &self.retry_interval)
            .field("reservation_ttl", &self.reservation_ttl)
            .field("rate_window", &self.rate_window)
            .field("lease", &self.lease)
            .finish()
    }
}

impl RedisStateBuilder {
    /// The prefix of every key (default `routewise`). Routers that share state must use
    /// the same prefix; separate fleets (or tests) on one server use different ones.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// What to do while Redis does not answer (default [`FailMode::Open`]).
    pub fn fail_mode(mut self, mode: FailMode) -> Self {
        self.fail_mode = mode;
        self
    }

    /// How long one Redis call (connecting included) may take before it counts as failed
    /// (default 100 ms). It bounds what a dead or stalled Redis adds to a request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long Redis is left alone after a failed call before it is tried again (default
    /// 1 s). Meanwhile the fail mode applies at no cost.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// How long a budget reservation of an instance that stopped answering (it crashed,
    /// or lost Redis) keeps counting before it expires (default 10 minutes). Make it
    /// longer than your longest request. Rate-limit reservations need no such bound: they
    /// leave the window a minute after they were granted, as any request does.
    pub fn reservation_ttl(mut self, ttl: Duration) -> Self {
        self.reservation_ttl = ttl;
        self
    }

    /// The length of the rate-limit window (default 60 s, the minute that providers'
    /// RPM and TPM limits count). Shorter windows are for tests.
    pub fn rate_window(mut self, window: Duration) -> Self {
        self.rate_window = window;
        self
    }

    /// Serves most requests from blocks of capacity taken from Redis ahead of need:
    /// see [`Lease`] for the trade-off and its bound.
    pub fn lease(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The shared state. Connects lazily, on first use (so a router starts even while
    /// Redis is down, and follows its fail mode until Redis answers). Must be called
    /// inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StateError::InvalidSetting`] for a URL that is not a Redis URL, a timeout,
    /// window or lease of zero, or a call outside a Tokio runtime.
    pub fn build(self) -> Result<RedisState, StateError> {
        let invalid = |problem: String| StateError::InvalidSetting { problem };
        for (name, value) in [
            ("timeout", self.timeout),
            ("reservation_ttl", self.reservation_ttl),
            ("rate_window", self.rate_window),
        ] {
            if value.is_zero() {
                return Err(invalid(format!("{name} must be greater than zero")));
            }
        }
        if let Some(lease) = &self.lease {
            lease.validate().map_err(invalid)?;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            // The connection manager spawns its task at once.
            return Err(invalid(
                "the Redis connection runs on Tokio: build it inside a runtime".into(),
            ));
        }
        let client = redis::Client::open(self.url.as_str()).map_err(|error| {
            invalid(format!(
                "{} is not a Redis URL: {error}",
                RedactedUrl(&self.url)
            ))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(self.retry_interval);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|error| invalid(format!("cannot set up the connection: {error}")))?;
        Ok(RedisState {
            inner: Arc::new(Inner {
                connection,
                url: self.url,
                prefix: self.prefix,
                fail_mode: self.fail_mode,
                timeout: self.timeout,
                retry_interval: self.retry_interval,
                reservation_ttl: self.reservation_ttl,
                rate_window: self.rate_window,
                lease: self.lease,
                scripts: Scripts::new(),
                outage: Outage::new(),
                write_backs: WriteBacks::default(),
                clock: RedisClock::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(result: Result<RedisState, StateError>) -> String {
        match result {
            Err(StateError::InvalidSetting { problem }) => problem,
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn building_outside_a_runtime_is_an_error_not_a_panic() {
        let built = RedisState::builder("redis://127.0.0.1:6379").build();
        assert!(problem(built).contains("runtime"));
    }

    #[tokio::test]
    async fn settings_that_cannot_work_are_refused_with_what_is_wrong() {
        let not_redis = RedisState::builder("http://example.com").build();
        assert!(problem(not_redis).contains("not a Redis URL"));
        let no_timeout = RedisState::builder("redis://127.0.0.1").timeout(Duration::ZERO);
        assert!(problem(no_timeout.build()).contains("timeout"));
        let empty_lease = RedisState::builder("redis://127.0.0.1").lease(Lease::requests(0));
        assert!(problem(empty_lease.build()).contains("lease"));
    }

    #[tokio::test]
    async fn a_redis_password_never_shows_in_debug_output_or_errors() {
        let builder = RedisState::builder("redis://:hunter2@cache.internal:6379");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("cache.internal"), "{shown}");
        let state = builder.build().unwrap();
        assert!(!format!("{state:?}").contains("hunter2"));

        let refused = RedisState::builder("http://admin:hunter2@example.com").build();
        let problem = problem(refused);
        assert!(!problem.contains("hunter2"), "{problem}");
        assert!(problem.contains("example.com"), "{problem}");
    }
}
