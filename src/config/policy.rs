//! [`PolicyConfig`]: a routing policy as written in a config file.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::problems::Problems;
use super::resilience::{self, HedgeSettings, PolicyBreaker, RetrySettings, TimeoutSettings};
use crate::model::Capabilities;
use crate::policy::{FallbackRules, Match, Policy, RouteStep, StreamRecovery};
use crate::provider::ErrorKind;

/// A routing policy (see [`Policy`]).
///
/// A route step is a logical model's name, or a table naming one account's target of it.
///
/// ```toml
/// [[policies]]
/// name = "chat"
/// priority = 10
/// match = { step_types = ["inference"], purposes = ["chat"] }
/// route = ["primary-llm", { model = "backup-llm", account = "anthropic-main" }]
/// requires = ["streaming"]
/// fallback = { on = ["rate_limited", "server_error", "timeout"], max_attempts = 3 }
/// breaker = { failure_threshold = 3, recovery = "10s" }   # or false, for none
/// retry = { max_retries = 2, base_delay = "200ms" }
/// retry_on = { server_error = 5, rate_limited = 0 }
/// timeouts = { request = "30s", attempt = "10s" }
/// hedge = { after = "2s" }
/// cheapest_first = true
/// larger_context = ["long-context-llm"]
/// stream_recovery = "continue"
/// ```
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct PolicyConfig {
    /// A unique name; stats are kept under it across reloads.
    pub name: String,
    /// Higher is evaluated first (default 0).
    #[serde(default)]
    pub priority: i32,
    /// Which requests the policy takes (default: every request).
    #[serde(default, rename = "match")]
    pub matcher: Match,
    /// Logical models (or single targets of them) in order: primary, then fallbacks.
    #[serde(
        default,
        deserialize_with = "route",
        serialize_with = "super::write::route"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<RouteStepSchema>"))]
    pub route: Vec<RouteStep>,
    /// Capabilities every model on the route must have.
    #[serde(default)]
    pub requires: Capabilities,
    /// When to move on to the next candidate.
    #[serde(default)]
    pub fallback: FallbackRules,
    /// Circuit breakers per target: the router's defaults (left out or `true`), none
    /// (`false`), or settings of this policy's own.
    #[serde(default)]
    pub breaker: PolicyBreaker,
    /// Retries on the same target before falling back (left out: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySettings>,
    /// Retries on the same target by failure kind, overriding `retry.max_retries` for
    /// that kind (with `retry`'s backoff).
    #[serde(
        default,
        deserialize_with = "resilience::retries_by_kind",
        serialize_with = "super::write::counts_by_kind"
    )]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "resilience::retries_by_kind_schema")
    )]
    pub retry_on: Vec<(ErrorKind, u32)>,
    /// The request deadline and per-attempt timeout (left out: none).
    #[serde(default)]
    pub timeouts: TimeoutSettings,
    /// Race the next candidate against a slow first attempt (left out: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge: Option<HedgeSettings>,
    /// Try the cheapest candidates first (by price; unpriced ones last) instead of
    /// route order.
    #[serde(default)]
    pub cheapest_first: bool,
    /// Logical models with larger context windows, tried only when the request proves
    /// too long for the route (see [`Policy::larger_context`]).
    #[serde(default)]
    pub larger_context: Vec<String>,
    /// What a stream does when its target breaks after content was sent: `off` (the
    /// default) or `continue` (see [`Policy::stream_recovery`]).
    #[serde(default)]
    pub stream_recovery: StreamRecovery,
}

impl PolicyConfig {
    /// A policy named `name` that takes every request, with an empty route and the
    /// defaults of every other setting.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            priority: 0,
            matcher: Match::default(),
            route: Vec::new(),
            requires: Capabilities::default(),
            fallback: FallbackRules::default(),
            breaker: PolicyBreaker::default(),
            retry: None,
            retry_on: Vec::new(),
            timeouts: TimeoutSettings::default(),
            hedge: None,
            cheapest_first: false,
            larger_context: Vec::new(),
            stream_recovery: StreamRecovery::default(),
        }
    }

    /// The policy, reporting bad hedge settings under `at` (such as `policies[0]`).
    pub(crate) fn to_policy(&self, at: &str, problems: &mut Problems) -> Policy {
        let mut policy = Policy::new(self.name.as_str())
            .priority(self.priority)
            .requires(self.requires);
        policy.matcher = self.matcher.clone();
        policy.route.clone_from(&self.route);
        policy.fallback = self.fallback;
        policy = match &self.breaker {
            PolicyBreaker::RouterDefault => policy,
            PolicyBreaker::Off => policy.without_breaker(),
            PolicyBreaker::Custom(settings) => policy.breaker(settings.to_config()),
        };
        if let Some(retry) = self.retry {
            policy = policy.retry(retry.to_policy());
        }
        for &(kind, retries) in &self.retry_on {
            policy = policy.retry_on(kind, retries);
        }
        policy = policy.timeouts(self.timeouts.to_timeouts());
        if let Some(hedge) = self
            .hedge
            .and_then(|h| h.build(&format!("{at}.hedge"), problems))
        {
            policy = policy.hedge(hedge);
        }
        if self.cheapest_first {
            policy = policy.cheapest_first();
        }
        policy
            .larger_context(self.larger_context.iter().cloned())
            .stream_recovery(self.stream_recovery)
    }
}

/// A route: a list whose steps are names or `{ model, account }` tables.
fn route<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<RouteStep>, D::Error> {
    struct Step(RouteStep);

    impl<'de> Deserialize<'de> for Step {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(StepVisitor).map(Step)
        }
    }

    struct StepVisitor;

    impl<'de> Visitor<'de> for StepVisitor {
        type Value = RouteStep;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a logical model's name or a table { model = \"...\", account = \"...\" }")
        }

        fn visit_str<E: de::Error>(self, model: &str) -> Result<RouteStep, E> {
            Ok(RouteStep::model(model))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RouteStep, A::Error> {
            RouteStep::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }

    struct RouteVisitor;

    impl<'de> Visitor<'de> for RouteVisitor {
        type Value = Vec<RouteStep>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of route steps")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<RouteStep>, A::Error> {
            let mut steps = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(Step(step)) = seq.next_element()? {
                steps.push(step);
            }
            Ok(steps)
        }
    }

    deserializer.deserialize_seq(RouteVisitor)
}

/// The schema of one route step.
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[schemars(untagged)]
#[expect(dead_code, reason = "describes the file format; never built")]
enum RouteStepSchema {
    /// Every target of a logical model, in order.
    Model(String),
    /// Only one account's target of a logical model.
    Target(RouteStep),
}
