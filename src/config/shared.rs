//! [`SharedStateConfig`]: limits, spend and breakers shared through Redis, as written in
//! a config file.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use super::problems::Problems;
use super::secret::SecretValue;
use crate::router::RouterBuilder;

/// State shared by every router instance through Redis (see
/// [`RouterBuilder::shared_state`](crate::RouterBuilder::shared_state); needs the `redis`
/// feature). It takes the place of `state_store`.
///
/// ```toml
/// [shared_state]
/// redis = "${REDIS_URL}"          # or a literal URL without a password
/// prefix = "myapp:routewise"
/// fail_mode = "open"              # or "closed"
/// timeout = "100ms"
/// retry_interval = "1s"
/// reservation_ttl = "10m"
/// lease = { requests = 20, tokens = 40000, usd = 0.5, ttl = "1s" }
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct SharedStateConfig {
    /// The Redis URL, `redis://[:password@]host:port[/db]`; `${NAME}` reads an
    /// environment variable.
    pub redis: SecretValue,
    /// The prefix of every key (default `routewise`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `open` (default: keep routing on local state while Redis is away) or `closed`
    /// (refuse metered targets until it answers).
    #[serde(default)]
    pub fail_mode: FailModeConfig,
    /// How long one Redis call may take (default 100ms).
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub timeout: Option<Duration>,
    /// How long Redis is left alone after a failure (default 1s).
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub retry_interval: Option<Duration>,
    /// How long a crashed instance's budget reservation keeps counting (default 10m).
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub reservation_ttl: Option<Duration>,
    /// Lease mode: blocks of capacity served locally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseConfig>,
}

/// What the router does while Redis does not answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum FailModeConfig {
    /// Keep routing on local state.
    #[default]
    Open,
    /// Refuse metered targets.
    Closed,
}

/// Lease mode's block size.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct LeaseConfig {
    /// Requests per block.
    pub requests: u32,
    /// Tokens per block (for accounts with a TPM limit).
    #[serde(default)]
    pub tokens: u64,
    /// Budget dollars per block (for accounts with a budget).
    #[serde(default)]
    pub usd: f64,
    /// How long a block is served from (default 1s).
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub ttl: Option<Duration>,
}

impl LeaseConfig {
    /// Blocks of `requests` requests (and no tokens or dollars), served for the default 1 s.
    pub fn new(requests: u32) -> Self {
        Self {
            requests,
            tokens: 0,
            usd: 0.0,
            ttl: None,
        }
    }
}

impl SharedStateConfig {
    /// State shared through the Redis server at `redis`, with every other setting at its
    /// default.
    pub fn new(redis: SecretValue) -> Self {
        Self {
            redis,
            prefix: None,
            fail_mode: FailModeConfig::Open,
            timeout: None,
            retry_interval: None,
            reservation_ttl: None,
            lease: None,
        }
    }

    /// Adds the shared state to `builder`, or reports why it cannot be.
    pub(crate) fn apply(
        &self,
        builder: RouterBuilder,
        env: &dyn Fn(&str) -> Option<String>,
        problems: &mut Problems,
    ) -> RouterBuilder {
        let url = self.redis.resolve(env, "shared_state.redis", problems);
        #[cfg(feature = "redis")]
        {
            match url.and_then(|url| self.state(url.expose(), problems)) {
                Some(state) => builder.shared_state(state),
                None => builder,
            }
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = url;
            problems.push(
                "shared_state",
                "sharing state through Redis needs routewise's `redis` feature",
            );
            builder
        }
    }

    #[cfg(feature = "redis")]
    fn state(&self, url: &str, problems: &mut Problems) -> Option<crate::shared::RedisState> {
        use crate::shared::{FailMode, Lease, RedisState};
        if tokio::runtime::Handle::try_current().is_err() {
            problems.push(
                "shared_state",
                "the Redis connection runs on Tokio: build the router inside a runtime",
            );
            return None;
        }
        let mut state = RedisState::builder(url).fail_mode(match self.fail_mode {
            FailModeConfig::Open => FailMode::Open,
            FailModeConfig::Closed => FailMode::Closed,
        });
        if let Some(prefix) = &self.prefix {
            state = state.prefix(prefix.as_str());
        }
        if let Some(timeout) = self.timeout {
            state = state.timeout(timeout);
        }
        if let Some(interval) = self.retry_interval {
            state = state.retry_interval(interval);
        }
        if let Some(ttl) = self.reservation_ttl {
            state = state.reservation_ttl(ttl);
        }
        if let Some(lease) = &self.lease {
            let Some(usd) = crate::budget::Usd::from_dollars(lease.usd) else {
                problems.push(
                    "shared_state.lease.usd",
                    "must be a dollar amount of zero or more",
                );
                return None;
            };
            let mut block = Lease::requests(lease.requests)
                .tokens(lease.tokens)
                .usd(usd);
            if let Some(ttl) = lease.ttl {
                block = block.ttl(ttl);
            }
            state = state.lease(block);
        }
        match state.build() {
            Ok(state) => Some(state),
            Err(error) => {
                problems.push("shared_state", error.to_string());
                None
            }
        }
    }
}
