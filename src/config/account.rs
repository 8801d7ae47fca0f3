//! [`AccountConfig`]: one provider account as written in a config file.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::budget::BudgetConfig;
use super::kinds::ProviderKinds;
use super::limits::RateLimitsConfig;
use super::path;
use super::price::PriceConfig;
use super::problems::Problems;
use super::provider::ProviderConfig;
use super::secret::SecretValue;
use crate::account::ProviderAccount;
use crate::budget::PricingTable;
use crate::provider::profile::{ModelRules, ProfileTable};

/// A provider account: its backend, credentials, endpoint, rate limits, budget and
/// prices (see [`ProviderAccount`]).
///
/// ```toml
/// [[accounts]]
/// name = "openai-main"
/// provider = { kind = "openai" }
/// api_key = "${OPENAI_API_KEY}"
/// base_url = "https://gateway.example.com/v1"
/// headers = { "x-team" = "search", authorization = "Bearer ${GATEWAY_TOKEN}" }
/// limits = { rpm = 500, tpm = 200000, models = { "gpt-4o" = { rpm = 100 } } }
/// budget = { monthly_usd = 250.0, thresholds = [50, 80, 100] }
/// pricing = { "my-finetune" = { input = 3.0, output = 12.0 } }
/// model_data = "model_prices_and_context_window.json"
/// profiles = { "my-finetune" = { unsupported = ["seed"] } }
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct AccountConfig {
    /// A unique name; targets refer to the account by it.
    pub name: String,
    /// The backend and its settings.
    pub provider: ProviderConfig,
    /// The API key, from the environment: `"${OPENAI_API_KEY}"` or
    /// `{ env = "OPENAI_API_KEY" }`. A key written into the file is rejected, and one
    /// without a variable is refused when the config is serialized.
    #[serde(default, serialize_with = "super::secret::write_api_key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretValue>,
    /// Overrides the provider's default base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Headers sent with every request; values may read the environment (`"${TOKEN}"`).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretValue>,
    /// Requests and tokens per minute; a target whose account would exceed them is
    /// skipped until capacity returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<RateLimitsConfig>,
    /// A dollar budget per window; an exhausted account is skipped until the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetConfig>,
    /// Prices by provider model id, over the shipped list prices (a target's own `price`
    /// wins over both).
    #[serde(default)]
    pub pricing: BTreeMap<String, PriceConfig>,
    /// A LiteLLM-format `model_prices_and_context_window.json` whose chat models (windows,
    /// prices, capabilities) are added to the shipped model profiles of this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_data: Option<String>,
    /// Parameter rules by model-id pattern (the id and ids continuing it after `-` or
    /// `.`), over the shipped model profiles of this account.
    #[serde(default)]
    pub profiles: BTreeMap<String, ModelRules>,
}

impl AccountConfig {
    /// An account named `name` served by `provider`, with nothing else set: no key,
    /// the provider's base URL, no headers, limits, budget or price overrides.
    pub fn new(name: impl Into<String>, provider: ProviderConfig) -> Self {
        Self {
            name: name.into(),
            provider,
            api_key: None,
            base_url: None,
            headers: BTreeMap::new(),
            limits: None,
            budget: None,
            pricing: BTreeMap::new(),
            model_data: None,
            profiles: BTreeMap::new(),
        }
    }

    /// The account, with secrets read through `env`. Problems are reported under `at`
    /// (such as `accounts[1]`); the account is built even then, so the rest of the
    /// configuration can still be checked.
    pub(crate) fn to_account(
        &self,
        at: &str,
        env: &dyn Fn(&str) -> Option<String>,
        kinds: &ProviderKinds,
        problems: &mut Problems,
    ) -> ProviderAccount {
        // A provider that could not be built is reported; a stand-in keeps the account,
        // so the rest of the configuration is still checked, and the router is not built.
        let provider = self
            .provider
            .build(&format!("{at}.provider"), kinds, problems)
            .unwrap_or_else(|| Arc::new(crate::sim::SimProvider::new()));
        let mut account = ProviderAccount::with_shared_provider(self.name.as_str(), provider);
        if let Some(key) = &self.api_key {
            let key_path = format!("{at}.api_key");
            if key.variables().next().is_none() {
                problems.push(
                    key_path,
                    "an API key must not be written into the file; set an environment variable and write `api_key = \"${NAME}\"`",
                );
            } else if let Some(key) = key.resolve(env, &key_path, problems) {
                account = account.api_key(key);
            }
        }
        if let Some(url) = &self.base_url {
            account = account.base_url(url.as_str());
        }
        for (name, value) in &self.headers {
            let mut header_path = format!("{at}.headers");
            path::push_key(&mut header_path, name);
            if let Some(value) = value.resolve(env, &header_path, problems) {
                account = account.header(name.as_str(), value);
            }
        }
        // Settings with a problem are left out, so the builder does not report it again.
        if let Some(limits) = &self.limits
            && let Some(limits) = limits.build(&format!("{at}.limits"), problems)
        {
            account = account.limits(limits);
        }
        if let Some(budget) = &self.budget
            && let Some(budget) = budget.build(&format!("{at}.budget"), problems)
        {
            account = account.budget(budget);
        }
        if !self.pricing.is_empty() {
            account = account.pricing(self.pricing_table(at, problems));
        }
        if self.model_data.is_some() || !self.profiles.is_empty() {
            account = account.profiles(self.profile_table(at, problems));
        }
        account
    }

    /// The shipped model profiles with this account's model data and rules.
    fn profile_table(&self, at: &str, problems: &mut Problems) -> ProfileTable {
        let mut table = ProfileTable::builtin().clone();
        if let Some(file) = &self.model_data {
            match table.clone().with_litellm_file(file) {
                Ok(extended) => table = extended,
                Err(error) => {
                    let mut message = error.to_string();
                    let mut source = std::error::Error::source(&error);
                    while let Some(cause) = source {
                        message = format!("{message}: {cause}");
                        source = cause.source();
                    }
                    problems.push(format!("{at}.model_data"), message);
                }
            }
        }
        for (pattern, rules) in &self.profiles {
            table = table.with_rules(pattern.as_str(), rules.clone());
        }
        table
    }

    /// The shipped list prices with this account's overrides.
    fn pricing_table(&self, at: &str, problems: &mut Problems) -> PricingTable {
        let mut table = PricingTable::defaults();
        for (model, price) in &self.pricing {
            let mut price_path = format!("{at}.pricing");
            path::push_key(&mut price_path, model);
            if let Some(price) = price.build(&price_path, problems) {
                table.insert(model.as_str(), price);
            }
        }
        table
    }
}
