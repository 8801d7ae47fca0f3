//! Logical models, their capabilities and default parameters, and the targets behind them.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use serde::{Deserialize, Serialize};

use crate::budget::Price;
use crate::context_window::ContextWindow;
use crate::provider::profile::{ModelRules, ParameterPolicy};
use crate::resilience::BreakerConfig;
use crate::types::SamplingParams;

/// One thing a model can do that a request may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Capability {
    /// Token-by-token streaming.
    Streaming,
    /// Tool (function) calling.
    Tools,
    /// Image input.
    Vision,
    /// JSON mode and structured output (JSON schema).
    JsonMode,
}

impl Capability {
    const ALL: [Capability; 4] = [
        Capability::Streaming,
        Capability::Tools,
        Capability::Vision,
        Capability::JsonMode,
    ];

    const fn bit(self) -> u8 {
        match self {
            Capability::Streaming => 1,
            Capability::Tools => 1 << 1,
            Capability::Vision => 1 << 2,
            Capability::JsonMode => 1 << 3,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Streaming => "streaming",
            Capability::Tools => "tools",
            Capability::Vision => "vision",
            Capability::JsonMode => "json mode",
        })
    }
}

/// A set of [`Capability`] values, as cheap to copy and compare as a byte.
///
/// ```
/// use routewise::{Capabilities, Capability};
///
/// let caps = Capabilities::STREAMING | Capabilities::TOOLS;
/// assert!(caps.contains(Capability::Tools));
/// assert_eq!(caps.missing(Capabilities::TOOLS | Capabilities::VISION).first(), Some(Capability::Vision));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(u8);

impl Capabilities {
    /// No capability.
    pub const NONE: Self = Self(0);
    /// Streaming.
    pub const STREAMING: Self = Self(Capability::Streaming.bit());
    /// Tool calling.
    pub const TOOLS: Self = Self(Capability::Tools.bit());
    /// Image input.
    pub const VISION: Self = Self(Capability::Vision.bit());
    /// JSON mode / structured output.
    pub const JSON_MODE: Self = Self(Capability::JsonMode.bit());
    /// Every capability.
    pub const ALL: Self = Self(0b1111);

    /// Whether `capability` is in the set.
    pub const fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// Whether every capability of `other` is in the set.
    pub const fn covers(self, other: Capabilities) -> bool {
        other.0 & !self.0 == 0
    }

    /// The capabilities of `needed` that this set lacks.
    pub const fn missing(self, needed: Capabilities) -> Capabilities {
        Capabilities(needed.0 & !self.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The first capability in the set (in declaration order), if any.
    pub fn first(self) -> Option<Capability> {
        self.iter().next()
    }

    /// The capabilities in the set.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl From<Capability> for Capabilities {
    fn from(capability: Capability) -> Self {
        Self(capability.bit())
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Self::NONE, |acc, c| acc | Capabilities::from(c))
    }
}

impl BitOr for Capabilities {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, c) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl Serialize for Capabilities {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Capabilities {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Capability>::deserialize(d)?.into_iter().collect())
    }
}

/// A name that pipelines use ("primary-llm") instead of a vendor model.
///
/// A logical model declares what it can do and which defaults it applies, and maps to an
/// ordered list of [`Target`]s: concrete provider models on provider accounts.
///
/// ```
/// use routewise::{Capabilities, LogicalModel, SamplingParams, Target};
///
/// let model = LogicalModel::new("primary-llm")
///     .capabilities(Capabilities::STREAMING | Capabilities::TOOLS)
///     .defaults(SamplingParams::new().temperature(0.2).max_tokens(1024))
///     .target(Target::new("openai-main", "gpt-4o"))
///     .target(Target::new("anthropic-main", "claude-sonnet-4-5"));
/// assert_eq!(model.targets.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct LogicalModel {
    /// The name requests and policies use.
    pub name: String,
    /// What every target of this model is promised to do.
    pub capabilities: Capabilities,
    /// Parameters applied where a request leaves them unset.
    pub defaults: SamplingParams,
    /// Concrete targets, in order of preference (by tier, then declaration order).
    pub targets: Vec<Target>,
    /// How targets in the same tier share traffic.
    pub balance: Balance,
    /// What happens to a parameter a target's model cannot take, when it differs from the
    /// router's ([`RouterBuilder::parameter_policy`](crate::RouterBuilder::parameter_policy)).
    pub parameter_policy: Option<ParameterPolicy>,
}

/// How a logical model spreads traffic over the targets of one tier.
///
/// Targets are grouped by [`Target::tier`]; lower tiers are tried first and higher tiers
/// are fallbacks, used only when no target of the tier above is usable. Within a tier,
/// targets that capabilities, context windows, limits, budgets or breakers rule out are
/// removed first; the strategy orders the rest (the first is tried first, the others
/// are that request's fallbacks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Balance {
    /// Declaration order: the first usable target always goes first.
    #[default]
    Ordered,
    /// Each request starts at the next target in turn.
    RoundRobin,
    /// Random order, in proportion to [`Target::weight`] (default weight 1).
    WeightedRandom,
    /// Fewest requests in flight first; ties in random order.
    LeastInFlight,
    /// Power of two choices over a peak-EWMA latency estimate (weighted by requests in
    /// flight): two random targets, the cheaper goes first. Slow targets lose share.
    PeakEwma,
    /// Most rate-limit headroom first: the target whose account one more request would
    /// leave the largest share of its tightest requests- or tokens-per-minute limit
    /// (the account's, and its provider model's own where it has any; see
    /// [`Headroom`](crate::limits::Headroom)). For keys with different limits: each
    /// takes traffic in proportion to what it has left, so none is drained while
    /// another idles. Accounts without limits count as unlimited and go first; equal
    /// headrooms keep declaration order. With shared state (feature `redis`), the figure
    /// is the fleet's window as Redis reported it at this instance's last admission on
    /// the account (no extra round trip; a report older than the rate window counts as
    /// an empty window). [`Router::explain`](crate::Router::explain) shows each
    /// candidate's figure.
    Headroom,
}

impl LogicalModel {
    /// A logical model with no capabilities, no defaults and no targets yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            capabilities: Capabilities::NONE,
            defaults: SamplingParams::default(),
            targets: Vec::new(),
            balance: Balance::Ordered,
            parameter_policy: None,
        }
    }

    /// Sets what happens to a parameter a target's model cannot take, for this model's
    /// targets.
    ///
    /// ```
    /// use routewise::{LogicalModel, ParameterPolicy};
    ///
    /// let model = LogicalModel::new("exact").parameter_policy(ParameterPolicy::Strict);
    /// assert_eq!(model.parameter_policy, Some(ParameterPolicy::Strict));
    /// ```
    pub fn parameter_policy(mut self, policy: ParameterPolicy) -> Self {
        self.parameter_policy = Some(policy);
        self
    }

    /// Sets how targets of one tier share traffic.
    pub fn balance(mut self, balance: Balance) -> Self {
        self.balance = balance;
        self
    }

    /// Declares the model's capabilities.
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Sets default parameters.
    pub fn defaults(mut self, defaults: SamplingParams) -> Self {
        self.defaults = defaults;
        self
    }

    /// Appends a target (later targets are fallbacks for earlier ones).
    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }
}

/// One concrete provider model on one account, behind a [`LogicalModel`].
///
/// ```
/// use routewise::{Capabilities, Target};
///
/// // A cheaper model that cannot see images: skipped for requests with images.
/// let target = Target::new("openai-main", "gpt-4o-mini").capabilities(Capabilities::TOOLS);
/// assert_eq!(target.account, "openai-main");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Target {
    /// The [`ProviderAccount`](crate::ProviderAccount) name.
    pub account: String,
    /// The provider's model id, for example `gpt-4o`.
    pub model: String,
    /// Share of traffic relative to sibling targets under [`Balance::WeightedRandom`]
    /// (default 1).
    pub weight: Option<u32>,
    /// What this target can do, when it differs from its logical model's promise. A target
    /// lacking a capability a request needs is skipped for that request.
    pub capabilities: Option<Capabilities>,
    /// Load-balancing tier: lower tiers first, higher tiers are fallbacks (default 0).
    pub tier: u32,
    /// The model's token limits, when the shipped table ([`ContextWindow::for_model`])
    /// does not know them or is wrong for this deployment.
    pub context_window: Option<ContextWindow>,
    /// The price, when the account's pricing table does not know it or is wrong for this
    /// deployment.
    pub price: Option<Price>,
    /// Rules over the model's profile, when the account's profile table does not know the
    /// model or is wrong for this deployment.
    pub profile: Option<ModelRules>,
    /// Circuit-breaker settings for this target, in place of its policy's (or the
    /// router's defaults), wherever the policy keeps breakers.
    pub breaker: Option<BreakerConfig>,
}

impl Target {
    /// A target serving `model` on `account`.
    pub fn new(account: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            model: model.into(),
            weight: None,
            capabilities: None,
            tier: 0,
            context_window: None,
            price: None,
            profile: None,
            breaker: None,
        }
    }

    /// Lays `rules` over the model's profile for this target.
    ///
    /// ```
    /// use routewise::Target;
    /// use routewise::provider::profile::ModelRules;
    ///
    /// // A deployment name the profile table cannot know.
    /// let target = Target::new("azure-eu", "prod-reasoner")
    ///     .profile(ModelRules::new().unsupported(["temperature", "top_p"]));
    /// # let _ = target;
    /// ```
    pub fn profile(mut self, rules: ModelRules) -> Self {
        self.profile = Some(rules);
        self
    }

    /// Gives the target breaker settings of its own (threshold, window, recovery,
    /// per-error-kind thresholds), overriding the policy's and the router's defaults. A
    /// policy [`without_breaker`](crate::Policy::without_breaker) keeps none, this
    /// target's included.
    ///
    /// ```
    /// use std::time::Duration;
    /// use routewise::{BreakerConfig, ErrorKind, Target};
    ///
    /// // A flaky self-hosted deployment: trip fast, recover quickly.
    /// let target = Target::new("local-vllm", "llama-3")
    ///     .breaker(BreakerConfig::default().failure_threshold(2).recovery(Duration::from_secs(5)));
    /// assert_eq!(target.breaker.unwrap().recovery, Duration::from_secs(5));
    /// ```
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = Some(config);
        self
    }

    /// Overrides the target's price.
    pub fn price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }

    /// Puts the target in a load-balancing tier (lower tiers are tried first).
    pub fn tier(mut self, tier: u32) -> Self {
        self.tier = tier;
        self
    }

    /// Overrides the model's context window.
    pub fn context_window(mut self, window: ContextWindow) -> Self {
        self.context_window = Some(window);
        self
    }

    /// Sets the traffic weight.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Overrides the capabilities this target really has.
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = Some(capabilities);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets_report_what_is_missing() {
        let have = Capabilities::STREAMING | Capabilities::TOOLS;
        assert!(have.covers(Capabilities::TOOLS));
        assert!(!have.covers(Capabilities::VISION | Capabilities::TOOLS));
        assert_eq!(
            have.missing(Capabilities::VISION | Capabilities::JSON_MODE),
            Capabilities::VISION | Capabilities::JSON_MODE
        );
        assert_eq!(have.to_string(), "streaming, tools");
        assert_eq!(Capabilities::NONE.to_string(), "none");
    }

    #[test]
    fn capabilities_serialize_as_a_list_of_names() {
        let caps = Capabilities::VISION | Capabilities::JSON_MODE;
        let json = serde_json::to_string(&caps).unwrap();
        assert_eq!(json, r#"["vision","json_mode"]"#);
        let back: Capabilities = serde_json::from_str(&json).unwrap();
        assert_eq!(back, caps);
    }
}
