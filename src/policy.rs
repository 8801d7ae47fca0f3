//! Routing policies: which requests they match and where they send them.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::Capabilities;
use crate::provider::{ErrorKind, ErrorKindSet};
use crate::resilience::{BreakerConfig, HedgePolicy, RetryPolicy, Timeouts};

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value of your own.
            Custom(Arc<str>),
        }

        impl $name {
            /// A value of your own (a built-in name maps to its built-in variant).
            pub fn custom(name: impl AsRef<str>) -> Self {
                Self::from(name.as_ref())
            }

            /// The value's name, as written in configuration.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Custom(name) => name,
                }
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                match name {
                    $( $text => Self::$variant, )+
                    other => Self::Custom(other.into()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Self::from(String::deserialize(d)?.as_str()))
            }
        }
    };
}

open_enum! {
    /// What kind of pipeline step is asking.
    ///
    /// ```
    /// use routewise::StepType;
    ///
    /// assert_eq!(StepType::from("tool_call"), StepType::ToolCall);
    /// assert_eq!(StepType::custom("rerank").to_string(), "rerank");
    /// ```
    StepType {
        /// Plain generation.
        Inference => "inference",
        /// A step that calls tools.
        ToolCall => "tool_call",
        /// Pulling structured data out of text.
        Extraction => "extraction",
    }
}

open_enum! {
    /// What the step is for.
    ///
    /// ```
    /// use routewise::Purpose;
    ///
    /// assert_eq!(Purpose::from("chat"), Purpose::Chat);
    /// assert_eq!(Purpose::custom("translation").as_str(), "translation");
    /// ```
    Purpose {
        /// Conversation with a user.
        Chat => "chat",
        /// Condensing text.
        Summarization => "summarization",
        /// Sorting input into labels.
        Classification => "classification",
    }
}

/// A routing rule: which requests it matches and the ordered route that serves them.
///
/// Policies are evaluated from highest [`priority`](Self::priority) to lowest; the first
/// that matches wins, and equal priorities keep declaration order. A policy with no match
/// criteria matches everything, which makes it the natural default at the lowest priority.
///
/// ```
/// use routewise::{ErrorKind, Policy, Purpose, StepType};
///
/// let policy = Policy::new("chat")
///     .priority(10)
///     .step_types([StepType::Inference])
///     .purposes([Purpose::Chat])
///     .route(["primary-llm", "backup-llm"])
///     .fallback_on(ErrorKind::Auth)
///     .max_attempts(3);
/// assert_eq!(policy.route.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Policy {
    /// A unique name; stats are kept under it across reloads.
    pub name: String,
    /// Higher is evaluated first.
    pub priority: i32,
    /// Which requests this policy takes.
    pub matcher: Match,
    /// Logical models (or single targets of them) in order: primary, then fallbacks.
    pub route: Vec<RouteStep>,
    /// Capabilities every model on the route must have.
    pub requires: Capabilities,
    /// When to move on to the next candidate.
    pub fallback: FallbackRules,
    /// The circuit breaker kept per target of this policy.
    pub breaker: BreakerChoice,
    /// Retries on the same target before falling back (default: none).
    pub retry: RetryPolicy,
    /// Retries on the same target for particular error kinds, overriding
    /// [`RetryPolicy::max_retries`] for them (for example none on 429s, five on 500s).
    pub retries_by_kind: Vec<(ErrorKind, u32)>,
    /// The request deadline and per-attempt timeout (default: none).
    pub timeouts: Timeouts,
    /// Whether to race the next candidate when the first is slow (default: off).
    pub hedge: HedgePolicy,
    /// Try the cheapest candidates first (by price per million input plus output
    /// tokens; unpriced ones last) instead of route order.
    pub cheapest_first: bool,
    /// Logical models with larger context windows, tried only when the request proves
    /// too long for the route (see [`larger_context`](Self::larger_context)).
    pub larger_context: Vec<String>,
    /// What a stream does when its target breaks after content was sent (default:
    /// [`StreamRecovery::Off`]).
    pub stream_recovery: StreamRecovery,
}

/// What a stream does when its target breaks after content reached the caller.
///
/// Before the first content event, a failing stream always falls back silently; this
/// decides what happens after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamRecovery {
    /// End the stream with [`Error::StreamInterrupted`](crate::Error::StreamInterrupted).
    #[default]
    Off,
    /// Ask the next candidate to continue the partial answer and keep streaming, so the
    /// caller sees one answer. See [`Policy::stream_recovery`].
    Continue,
}

/// Which circuit breaker settings a policy uses.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum BreakerChoice {
    /// The router-wide defaults ([`RouterBuilder::breaker_defaults`](crate::RouterBuilder::breaker_defaults)).
    #[default]
    RouterDefault,
    /// No breaker for this policy.
    Disabled,
    /// These settings.
    Custom(BreakerConfig),
}

impl Policy {
    /// A policy that matches everything and has an empty route.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            priority: 0,
            matcher: Match::default(),
            route: Vec::new(),
            requires: Capabilities::NONE,
            fallback: FallbackRules::default(),
            breaker: BreakerChoice::RouterDefault,
            retry: RetryPolicy::none(),
            retries_by_kind: Vec::new(),
            timeouts: Timeouts::new(),
            cheapest_first: false,
            hedge: HedgePolicy::Off,
            larger_context: Vec::new(),
            stream_recovery: StreamRecovery::Off,
        }
    }

    /// Names logical models with larger context windows to try when a request proves too
    /// long for the route, in order. They are an escape hatch for context length only:
    /// no other failure reaches them.
    ///
    /// - When the planner finds no route target whose window holds the request (at least
    ///   one skipped for its [context window](crate::SkipReason::ContextWindow), none
    ///   left), these models are the plan.
    /// - When a target answers with a context-length error, the router moves on to the
    ///   remaining route candidates whose windows are larger than (or unknown next to)
    ///   the one that refused, and then to these models.
    ///
    /// Otherwise they are not tried. [`Router::explain`](crate::Router::explain) lists
    /// them. They go through the same capability, breaker, limit, budget and
    /// context-window checks as the route, and must not repeat a model on it.
    ///
    /// ```
    /// use routewise::Policy;
    ///
    /// let policy = Policy::new("chat")
    ///     .route(["primary-llm", "backup-llm"])
    ///     .larger_context(["long-context-llm"]);
    /// assert_eq!(policy.larger_context, ["long-context-llm"]);
    /// ```
    pub fn larger_context<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.larger_context = models.into_iter().map(Into::into).collect();
        self
    }

    /// Sets what a stream does when its target breaks after content was sent.
    ///
    /// With [`StreamRecovery::Continue`], the router records the broken attempt as failed
    /// and asks the next candidate to continue the partial answer: providers that
    /// continue a trailing assistant message ([`Provider::supports_assistant_prefill`])
    /// get the partial answer as that message; others get it followed by
    /// [`CONTINUE_PROMPT`](crate::CONTINUE_PROMPT) as a user message. If the continuation
    /// starts by repeating the end of what was sent (or all of it), the repeat is dropped,
    /// so the caller sees one continuous answer. The final [`StreamEvent::Done`] carries
    /// usage and cost summed over every attempt that produced text, and a
    /// [`StreamRecovered`](crate::StreamRecovered) record per recovery.
    ///
    /// Recovery needs a next candidate: it never happens when the request disables
    /// fallbacks ([`RouteOptions::no_fallback`](crate::RouteOptions::no_fallback)), when
    /// the attempt cap or deadline is reached, when the failure is not one the policy
    /// falls back on, or after tool-call fragments were sent (half a tool call cannot be
    /// continued). The stream then ends with
    /// [`Error::StreamInterrupted`](crate::Error::StreamInterrupted) as without recovery.
    ///
    /// [`Provider::supports_assistant_prefill`]: crate::Provider::supports_assistant_prefill
    /// [`StreamEvent::Done`]: crate::StreamEvent::Done
    ///
    /// ```
    /// use routewise::{Policy, StreamRecovery};
    ///
    /// let policy = Policy::new("chat")
    ///     .route(["primary-llm", "backup-llm"])
    ///     .stream_recovery(StreamRecovery::Continue);
    /// assert_eq!(policy.stream_recovery, StreamRecovery::Continue);
    /// ```
    pub fn stream_recovery(mut self, recovery: StreamRecovery) -> Self {
        self.stream_recovery = recovery;
        self
    }

    /// Races the next candidate when the first has not answered within the hedge delay
    /// (non-streaming requests): the first success wins and the other call is cancelled.
    pub fn hedge(mut self, hedge: HedgePolicy) -> Self {
        self.hedge = hedge;
        self
    }

    /// Orders candidates by declared price, cheapest first, instead of route order:
    /// route cheap work to cheap models while every capable model stays a fallback.
    pub fn cheapest_first(mut self) -> Self {
        self.cheapest_first = true;
        self
    }

    /// Uses these circuit breaker settings for this policy's targets.
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = BreakerChoice::Custom(config);
        self
    }

    /// Turns circuit breakers off for this policy.
    pub fn without_breaker(mut self) -> Self {
        self.breaker = BreakerChoice::Disabled;
        self
    }

    /// Retries provider faults on the same target before falling back.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Retries failures of `kind` up to `retries` times on the same target (with the
    /// backoff of [`retry`](Self::retry)) before falling back. Invalid requests, auth
    /// failures, unknown models and context-length errors are never retried on the same
    /// target: another try cannot turn out differently.
    ///
    /// ```
    /// use routewise::{ErrorKind, Policy, RetryPolicy};
    ///
    /// // Back off on 500s up to five times, but move on at once after a 429.
    /// let policy = Policy::new("chat")
    ///     .route(["primary-llm", "backup-llm"])
    ///     .retry(RetryPolicy::default())
    ///     .retry_on(ErrorKind::ServerError, 5)
    ///     .retry_on(ErrorKind::RateLimited, 0);
    /// # let _ = policy;
    /// ```
    pub fn retry_on(mut self, kind: ErrorKind, retries: u32) -> Self {
        self.retries_by_kind.retain(|(k, _)| *k != kind);
        self.retries_by_kind.push((kind, retries));
        self
    }

    /// Sets the request deadline and per-attempt timeout.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sets the priority (higher is evaluated first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Matches only these step types (none given: any).
    pub fn step_types(mut self, steps: impl IntoIterator<Item = StepType>) -> Self {
        self.matcher.step_types = steps.into_iter().collect();
        self
    }

    /// Matches only these purposes (none given: any).
    pub fn purposes(mut self, purposes: impl IntoIterator<Item = Purpose>) -> Self {
        self.matcher.purposes = purposes.into_iter().collect();
        self
    }

    /// Matches only requests naming one of these logical models.
    pub fn for_models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.matcher.models = models.into_iter().map(Into::into).collect();
        self
    }

    /// Matches only requests carrying every one of these tags.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.matcher.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the route to these logical models, in order (every target of each).
    pub fn route<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.route = models.into_iter().map(|m| RouteStep::model(m)).collect();
        self
    }

    /// Appends one step to the route.
    pub fn then(mut self, step: RouteStep) -> Self {
        self.route.push(step);
        self
    }

    /// Requires these capabilities of every model on the route (checked at build).
    pub fn requires(mut self, capabilities: Capabilities) -> Self {
        self.requires = capabilities;
        self
    }

    /// Also falls back on failures of `kind`.
    pub fn fallback_on(mut self, kind: ErrorKind) -> Self {
        self.fallback.on = self.fallback.on.with(kind);
        self
    }

    /// Replaces the set of failures that fall back.
    pub fn fallback_on_kinds(mut self, kinds: ErrorKindSet) -> Self {
        self.fallback.on = kinds;
        self
    }

    /// Caps the number of provider calls per request.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.fallback.max_attempts = Some(attempts);
        self
    }
}

/// Match criteria of a [`Policy`]. Every non-empty criterion must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Match {
    /// Step types accepted (empty: any).
    pub step_types: Vec<StepType>,
    /// Purposes accepted (empty: any).
    pub purposes: Vec<Purpose>,
    /// Logical model names the request must ask for, one of them (empty: any).
    pub models: Vec<String>,
    /// Tags the request must all carry (empty: none needed).
    pub tags: Vec<String>,
}

/// Why a [`Match`] did not take a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MatchMiss {
    /// The step type is not among the policy's.
    StepType,
    /// The purpose is not among the policy's.
    Purpose,
    /// The request names no model, or another one.
    Model,
    /// The request lacks a required tag.
    Tags,
}

impl fmt::Display for MatchMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchMiss::StepType => "step type not matched",
            MatchMiss::Purpose => "purpose not matched",
            MatchMiss::Model => "requested model not matched",
            MatchMiss::Tags => "required tags missing",
        })
    }
}

impl Match {
    /// Whether the criteria take the request, and if not, the first reason why.
    pub fn check(
        &self,
        step: &StepType,
        purpose: &Purpose,
        model: Option<&str>,
        tags: &[String],
    ) -> Result<(), MatchMiss> {
        if !self.step_types.is_empty() && !self.step_types.contains(step) {
            return Err(MatchMiss::StepType);
        }
        if !self.purposes.is_empty() && !self.purposes.contains(purpose) {
            return Err(MatchMiss::Purpose);
        }
        if !self.models.is_empty() && !model.is_some_and(|m| self.models.iter().any(|x| x == m)) {
            return Err(MatchMiss::Model);
        }
        if !self.tags.iter().all(|t| tags.contains(t)) {
            return Err(MatchMiss::Tags);
        }
        Ok(())
    }
}

/// One step of a policy's route: a logical model, or one account's target of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteStep {
    /// The logical model.
    pub model: String,
    /// Use only this account's target of the model (`None`: every target, in order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl RouteStep {
    /// Every target of `model`, in order.
    pub fn model(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            account: None,
        }
    }

    /// Only `account`'s target of `model`.
    pub fn target(model: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            account: Some(account.into()),
        }
    }
}

/// When a policy moves on to the next candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct FallbackRules {
    /// Failure kinds that move on; any other failure ends the request at once. Defaults
    /// to [`ErrorKindSet::default_fallback`].
    pub on: ErrorKindSet,
    /// The most provider calls one request may make (`None`: one per candidate).
    pub max_attempts: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_criteria_match_everything() {
        let m = Match::default();
        assert_eq!(
            m.check(&StepType::custom("x"), &Purpose::Chat, None, &[]),
            Ok(())
        );
    }

    #[test]
    fn each_criterion_reports_its_own_miss() {
        let policy = Policy::new("p")
            .step_types([StepType::Extraction])
            .purposes([Purpose::Classification])
            .for_models(["small"])
            .tags(["tenant-a"]);
        let m = &policy.matcher;
        let tags = ["tenant-a".to_owned()];
        let step = StepType::Extraction;
        let purpose = Purpose::Classification;
        assert_eq!(m.check(&step, &purpose, Some("small"), &tags), Ok(()));
        assert_eq!(
            m.check(&StepType::Inference, &purpose, Some("small"), &tags),
            Err(MatchMiss::StepType)
        );
        assert_eq!(
            m.check(&step, &Purpose::Chat, Some("small"), &tags),
            Err(MatchMiss::Purpose)
        );
        assert_eq!(m.check(&step, &purpose, None, &tags), Err(MatchMiss::Model));
        assert_eq!(
            m.check(&step, &purpose, Some("small"), &[]),
            Err(MatchMiss::Tags)
        );
    }

    #[test]
    fn custom_values_round_trip_and_builtins_stay_builtin() {
        assert_eq!(StepType::custom("inference"), StepType::Inference);
        let custom: Purpose = serde_json::from_str("\"translation\"").unwrap();
        assert_eq!(custom, Purpose::Custom("translation".into()));
        assert_eq!(serde_json::to_string(&custom).unwrap(), "\"translation\"");
    }
}
