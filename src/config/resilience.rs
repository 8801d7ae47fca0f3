//! Resilience settings as written in a config file: circuit breakers, retries, timeouts
//! and account health. Each field left out keeps the default of the type it builds; the
//! values are checked when the router is compiled, under the same paths.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::duration;
use super::problems::Problems;
use crate::provider::ErrorKind;
use crate::resilience::{BreakerConfig, HealthConfig, HedgePolicy, Jitter, RetryPolicy, Timeouts};

/// Circuit breaker settings (see [`BreakerConfig`]): the router's `breaker_defaults`, or
/// a policy's own `breaker`. The defaults: open after 5 faults within 60 s, recover after
/// 30 s with 1 trial call.
///
/// ```toml
/// breaker_defaults = { failure_threshold = 10, failure_rate = 0.5, min_calls = 20, window = "30s", recovery = "15s", half_open_trials = 3 }
/// # a policy's own: one 429 opens it, five faults of other kinds do
/// breaker = { failure_threshold = 5, failure_threshold_by_kind = { rate_limited = 1 } }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct BreakerSettings {
    /// Faults within the window that open the breaker, or `false` for no count criterion
    /// (then `failure_rate` must be set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<FailureThreshold>,
    /// Share of faulty calls within the window that opens the breaker, in `(0, 1]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f64>,
    /// Calls the window must hold before `failure_rate` applies (default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_calls: Option<u32>,
    /// How far back calls are counted.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub window: Option<Duration>,
    /// How long the breaker stays open before trial calls.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub recovery: Option<Duration>,
    /// Trial calls let through once recovery is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub half_open_trials: Option<u32>,
    /// Faults of one kind within the window that open the breaker, by provider-fault
    /// kind (see [`BreakerConfig::failure_threshold_for`]); those faults then no longer
    /// count towards `failure_threshold`.
    #[serde(
        deserialize_with = "thresholds_by_kind",
        serialize_with = "super::write::counts_by_kind"
    )]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "thresholds_by_kind_schema")
    )]
    pub failure_threshold_by_kind: Vec<(ErrorKind, u32)>,
}

/// A breaker's count criterion: a number of faults, or `false` for none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureThreshold {
    /// Open after this many faults within the window.
    Faults(u32),
    /// No count criterion.
    Off,
}

impl BreakerSettings {
    /// The breaker settings these say, on top of [`BreakerConfig::default`].
    pub(crate) fn to_config(&self) -> BreakerConfig {
        let mut config = BreakerConfig::default();
        match self.failure_threshold {
            Some(FailureThreshold::Faults(faults)) => config.failure_threshold = Some(faults),
            Some(FailureThreshold::Off) => config.failure_threshold = None,
            None => {}
        }
        if self.failure_rate.is_some() {
            config.failure_rate = self.failure_rate;
        }
        config.min_calls = self.min_calls.unwrap_or(config.min_calls);
        config.window = self.window.unwrap_or(config.window);
        config.recovery = self.recovery.unwrap_or(config.recovery);
        config.half_open_trials = self.half_open_trials.unwrap_or(config.half_open_trials);
        for &(kind, faults) in &self.failure_threshold_by_kind {
            config = config.failure_threshold_for(kind, faults);
        }
        config
    }
}

/// A policy's circuit breakers: the router's defaults (`true`, or left out), none
/// (`false`), or settings of its own (a table of [`BreakerSettings`]).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum PolicyBreaker {
    /// The router's `breaker_defaults`.
    #[default]
    RouterDefault,
    /// No breakers for this policy.
    Off,
    /// These settings.
    Custom(BreakerSettings),
}

/// Retries of provider faults on the same target before falling back (see
/// [`RetryPolicy`]). A `retry` table starts from the defaults: 2 retries, waits from
/// 250 ms doubling up to 4 s with full jitter, a provider's retry-after honoured up to
/// 30 s. Without one, a policy never retries.
///
/// ```toml
/// retry = { max_retries = 3, base_delay = "100ms", max_delay = "2s", jitter = "equal", max_retry_after = "10s" }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct RetrySettings {
    /// Retries after a target's first attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// The wait before the first retry, doubled for each one after.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub base_delay: Option<Duration>,
    /// The longest computed wait.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub max_delay: Option<Duration>,
    /// How waits are spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<JitterSetting>,
    /// The longest provider retry-after that is waited for; a longer one falls back at once.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub max_retry_after: Option<Duration>,
}

/// How a retry wait `d` is spread (see [`Jitter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum JitterSetting {
    /// Exactly `d`.
    None,
    /// Anywhere in `0..=d`.
    Full,
    /// Anywhere in `d/2..=d`.
    Equal,
}

impl RetrySettings {
    /// The retry policy these say, on top of [`RetryPolicy::default`].
    pub(crate) fn to_policy(self) -> RetryPolicy {
        let defaults = RetryPolicy::default();
        let mut policy = defaults
            .max_retries(self.max_retries.unwrap_or(defaults.max_retries))
            .backoff(
                self.base_delay.unwrap_or(defaults.base_delay),
                self.max_delay.unwrap_or(defaults.max_delay),
            )
            .max_retry_after(self.max_retry_after.unwrap_or(defaults.max_retry_after));
        if let Some(jitter) = self.jitter {
            policy = policy.jitter(match jitter {
                JitterSetting::None => Jitter::None,
                JitterSetting::Full => Jitter::Full,
                JitterSetting::Equal => Jitter::Equal,
            });
        }
        policy
    }
}

/// `deserialize_with` for a policy's `retry_on`: retries by failure kind, each kind once
/// (a later entry for the same kind wins, as with
/// [`Policy::retry_on`](crate::Policy::retry_on)), ordered by kind so that equal tables
/// compare equal whatever order a format keeps.
pub(crate) fn retries_by_kind<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(ErrorKind, u32)>, D::Error> {
    counts_by_kind(deserializer, "retry counts")
}

/// `deserialize_with` for a breaker's `failure_threshold_by_kind`, read like `retry_on`.
pub(crate) fn thresholds_by_kind<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(ErrorKind, u32)>, D::Error> {
    counts_by_kind(deserializer, "fault counts")
}

/// A table of failure kinds and counts of `what`, each kind once, ordered by kind.
fn counts_by_kind<'de, D: Deserializer<'de>>(
    deserializer: D,
    what: &'static str,
) -> Result<Vec<(ErrorKind, u32)>, D::Error> {
    struct KindsVisitor(&'static str);

    impl<'de> Visitor<'de> for KindsVisitor {
        type Value = Vec<(ErrorKind, u32)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "a table of failure kinds and {}, such as {{ server_error = 5 }}",
                self.0
            )
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut retries: Vec<(ErrorKind, u32)> = Vec::new();
            while let Some((kind, count)) = map.next_entry::<ErrorKind, u32>()? {
                retries.retain(|(k, _)| *k != kind);
                retries.push((kind, count));
            }
            retries.sort_by_key(|(kind, _)| *kind as u8);
            Ok(retries)
        }
    }

    deserializer.deserialize_map(KindsVisitor(what))
}

/// The schema of a breaker's `failure_threshold_by_kind`.
#[cfg(feature = "schema")]
pub(crate) fn thresholds_by_kind_schema(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Faults of one kind within the window that open the breaker, per provider-fault kind; those faults no longer count towards `failure_threshold`.",
        "type": "object",
        "propertyNames": generator.subschema_for::<ErrorKind>(),
        "additionalProperties": { "type": "integer", "minimum": 1 }
    })
}

/// The schema of a policy's `retry_on`.
#[cfg(feature = "schema")]
pub(crate) fn retries_by_kind_schema(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Retries on the same target by failure kind, overriding `retry.max_retries` for it.",
        "type": "object",
        "propertyNames": generator.subschema_for::<ErrorKind>(),
        "additionalProperties": { "type": "integer", "minimum": 0 }
    })
}

/// When a policy races the next candidate against a slow first attempt (see
/// [`HedgePolicy`]): `after` a fixed delay, or after the target's `observed_p95` latency
/// kept within a floor and a cap (set one of them). Off when left out.
///
/// ```toml
/// hedge = { after = "2s" }
/// hedge = { observed_p95 = { floor = "500ms", cap = "10s" } }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct HedgeSettings {
    /// Hedge an attempt that has not answered after this long.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub after: Option<Duration>,
    /// Hedge an attempt that has not answered within its target's observed p95 latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_p95: Option<HedgeBounds>,
}

/// The bounds of an adaptive hedge delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct HedgeBounds {
    /// The shortest wait, however fast the target usually is.
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub floor: Duration,
    /// The longest wait, and the wait until the target has enough calls measured.
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub cap: Duration,
}

impl HedgeBounds {
    /// Waits between `floor` and `cap`.
    pub fn new(floor: Duration, cap: Duration) -> Self {
        Self { floor, cap }
    }
}

impl HedgeSettings {
    /// The hedge policy, or `None` after reporting what is wrong under `at` (such as
    /// `policies[0].hedge`).
    pub(crate) fn build(self, at: &str, problems: &mut Problems) -> Option<HedgePolicy> {
        let (policy, problem) = match (self.after, self.observed_p95) {
            (Some(_), Some(_)) => (
                None,
                Some((
                    String::new(),
                    "set `after` or `observed_p95`, not both".to_owned(),
                )),
            ),
            (None, None) => (
                None,
                Some((
                    String::new(),
                    "set `after` (a fixed delay) or `observed_p95` (the bounds of an adaptive one)"
                        .to_owned(),
                )),
            ),
            (Some(delay), None) => (
                Some(HedgePolicy::After(delay)),
                delay
                    .is_zero()
                    .then(|| (".after".to_owned(), "must be greater than zero".to_owned())),
            ),
            (None, Some(HedgeBounds { floor, cap })) => (
                Some(HedgePolicy::observed_p95(floor, cap)),
                if floor.is_zero() {
                    Some((
                        ".observed_p95.floor".to_owned(),
                        "must be greater than zero".to_owned(),
                    ))
                } else {
                    (floor > cap).then(|| {
                        (
                            ".observed_p95.floor".to_owned(),
                            format!("must not exceed cap ({floor:?} > {cap:?})"),
                        )
                    })
                },
            ),
        };
        match problem {
            Some((field, message)) => {
                problems.push(format!("{at}{field}"), message);
                None
            }
            None => policy,
        }
    }
}

/// A policy's time limits (see [`Timeouts`]); none by default.
///
/// ```toml
/// timeouts = { request = "30s", attempt = "10s" }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct TimeoutSettings {
    /// The most a request may take, every attempt and wait between them included.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub request: Option<Duration>,
    /// The most one attempt may take.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub attempt: Option<Duration>,
}

impl TimeoutSettings {
    pub(crate) fn to_timeouts(self) -> Timeouts {
        let mut timeouts = Timeouts::new();
        timeouts.request = self.request;
        timeouts.attempt = self.attempt;
        timeouts
    }
}

/// How account health is judged, and whether accounts are probed (see
/// [`HealthConfig`]). The defaults: a 60 s window, at least 10 calls, unhealthy above a
/// 50% error rate, no latency ceiling, no probes.
///
/// ```toml
/// [health]
/// max_error_rate = 0.25
/// max_p95_latency = "20s"
/// probe_interval = "30s"
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct HealthSettings {
    /// How far back calls count.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub window: Option<Duration>,
    /// Calls the window must hold before the error rate and latency are judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u32>,
    /// The highest share of failed calls a healthy account has, in `(0, 1]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
    /// The highest p95 latency of successful calls a healthy account has.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub max_p95_latency: Option<Duration>,
    /// Consecutive failed probes after which an account is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_after_probe_failures: Option<u32>,
    /// How often to probe every account in the background (default: never). Probes call
    /// the providers, and need a Tokio runtime when the router is built.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub probe_interval: Option<Duration>,
    /// How long a probe may take before it counts as failed.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub probe_timeout: Option<Duration>,
    /// The weight of each new call in the latency moving average, in `(0, 1]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ewma_alpha: Option<f64>,
}

impl HealthSettings {
    /// The health settings these say, on top of [`HealthConfig::default`].
    pub(crate) fn to_config(self) -> HealthConfig {
        let mut config = HealthConfig::default();
        config.window = self.window.unwrap_or(config.window);
        config.min_samples = self.min_samples.unwrap_or(config.min_samples);
        config.max_error_rate = self.max_error_rate.unwrap_or(config.max_error_rate);
        if self.max_p95_latency.is_some() {
            config.max_p95_latency = self.max_p95_latency;
        }
        config.unavailable_after_probe_failures = self
            .unavailable_after_probe_failures
            .unwrap_or(config.unavailable_after_probe_failures);
        if self.probe_interval.is_some() {
            config.probe_interval = self.probe_interval;
        }
        config.probe_timeout = self.probe_timeout.unwrap_or(config.probe_timeout);
        config.ewma_alpha = self.ewma_alpha.unwrap_or(config.ewma_alpha);
        config
    }
}

impl<'de> Deserialize<'de> for FailureThreshold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ThresholdVisitor;

        impl Visitor<'_> for ThresholdVisitor {
            type Value = FailureThreshold;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of faults, or false for no count criterion")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<FailureThreshold, E> {
                if value {
                    Err(E::invalid_value(de::Unexpected::Bool(true), &self))
                } else {
                    Ok(FailureThreshold::Off)
                }
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<FailureThreshold, E> {
                u32::try_from(value)
                    .map(FailureThreshold::Faults)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<FailureThreshold, E> {
                u64::try_from(value)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(value), &self))
                    .and_then(|value| self.visit_u64(value))
            }
        }

        deserializer.deserialize_any(ThresholdVisitor)
    }
}

impl<'de> Deserialize<'de> for PolicyBreaker {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BreakerVisitor;

        impl<'de> Visitor<'de> for BreakerVisitor {
            type Value = PolicyBreaker;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("false (no breakers), true (the router's defaults) or a table of breaker settings")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<PolicyBreaker, E> {
                Ok(if value {
                    PolicyBreaker::RouterDefault
                } else {
                    PolicyBreaker::Off
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PolicyBreaker, A::Error> {
                BreakerSettings::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PolicyBreaker::Custom)
            }
        }

        deserializer.deserialize_any(BreakerVisitor)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for FailureThreshold {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FailureThreshold".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Faults within the window that open the breaker, or false for no count criterion.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "const": false }
            ]
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for PolicyBreaker {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PolicyBreaker".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A policy's circuit breakers: false (none), true (the router's defaults) or settings of its own.",
            "anyOf": [
                { "type": "boolean" },
                generator.subschema_for::<BreakerSettings>()
            ]
        })
    }
}
