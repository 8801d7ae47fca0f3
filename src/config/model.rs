//! [`ModelConfig`] and [`TargetConfig`]: logical models and their targets as written in a
//! config file.

use serde::{Deserialize, Serialize};

use super::price::PriceConfig;
use super::problems::Problems;
use super::resilience::BreakerSettings;
use crate::context_window::ContextWindow;
use crate::model::{Balance, Capabilities, LogicalModel, Target};
use crate::provider::profile::{ModelRules, ParameterPolicy};
use crate::types::SamplingParams;

/// A logical model (see [`LogicalModel`]).
///
/// ```toml
/// [[models]]
/// name = "primary-llm"
/// capabilities = ["streaming", "tools"]
/// defaults = { temperature = 0.2, max_tokens = 1024 }
/// balance = "round_robin"
/// parameter_policy = "strict"
/// targets = [
///   { account = "openai-main", model = "gpt-4o", weight = 3 },
///   { account = "anthropic-main", model = "claude-sonnet-4-5", tier = 1 },
///   { account = "local", model = "my-model", price = { input = 0.1, output = 0.4 },
///     profile = { unsupported = ["seed"] } },
/// ]
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ModelConfig {
    /// The name requests and policies use.
    pub name: String,
    /// What every target of this model is promised to do.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Parameters applied where a request leaves them unset.
    #[serde(default)]
    pub defaults: SamplingParams,
    /// How targets in the same tier share traffic (default `ordered`).
    #[serde(default)]
    pub balance: Balance,
    /// Concrete targets, in order of preference.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// What happens to a parameter a target's model cannot take (`adapt` or `strict`),
    /// when it differs from the router's `parameter_policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_policy: Option<ParameterPolicy>,
}

/// One concrete provider model behind a logical model (see [`Target`]).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct TargetConfig {
    /// The account's name.
    pub account: String,
    /// The provider's model id, for example `gpt-4o`.
    pub model: String,
    /// Share of traffic under `balance = "weighted_random"` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Load-balancing tier: lower tiers first, higher tiers are fallbacks (default 0).
    #[serde(default)]
    pub tier: u32,
    /// What this target can do, when it differs from its logical model's promise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// The model's token limits, when the shipped table does not know them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<ContextWindow>,
    /// What this target charges, over its account's pricing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<PriceConfig>,
    /// Rules over the model's profile, when the account's profiles do not know it or
    /// are wrong for this deployment (for example `{ unsupported = ["temperature"] }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ModelRules>,
    /// Circuit-breaker settings of its own, over its policies' (as a policy's `breaker`
    /// table: `breaker = { failure_threshold = 2, recovery = "5s" }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerSettings>,
}

impl ModelConfig {
    /// A logical model named `name` with no capabilities, defaults or targets yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            capabilities: Capabilities::default(),
            defaults: SamplingParams::default(),
            balance: Balance::default(),
            targets: Vec::new(),
            parameter_policy: None,
        }
    }

    /// The model, reporting bad target prices under `at` (such as `models[0]`).
    pub(crate) fn to_model(&self, at: &str, problems: &mut Problems) -> LogicalModel {
        let mut model = LogicalModel::new(self.name.as_str())
            .capabilities(self.capabilities)
            .defaults(self.defaults.clone())
            .balance(self.balance);
        if let Some(policy) = self.parameter_policy {
            model = model.parameter_policy(policy);
        }
        for (i, target) in self.targets.iter().enumerate() {
            model = model.target(target.to_target(&format!("{at}.targets[{i}]"), problems));
        }
        model
    }
}

impl TargetConfig {
    /// Provider model `model` on account `account`, tier 0, with nothing else set.
    pub fn new(account: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            model: model.into(),
            weight: None,
            tier: 0,
            capabilities: None,
            context_window: None,
            price: None,
            profile: None,
            breaker: None,
        }
    }

    fn to_target(&self, at: &str, problems: &mut Problems) -> Target {
        let mut target = Target::new(self.account.as_str(), self.model.as_str()).tier(self.tier);
        if let Some(weight) = self.weight {
            target = target.weight(weight);
        }
        if let Some(capabilities) = self.capabilities {
            target = target.capabilities(capabilities);
        }
        if let Some(window) = self.context_window {
            target = target.context_window(window);
        }
        if let Some(rules) = &self.profile {
            target = target.profile(rules.clone());
        }
        if let Some(breaker) = &self.breaker {
            target = target.breaker(breaker.to_config());
        }
        if let Some(price) = self
            .price
            .and_then(|p| p.build(&format!("{at}.price"), problems))
        {
            target = target.price(price);
        }
        target
    }
}
