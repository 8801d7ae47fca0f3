//! Prices per provider model, and the exact cost of a [`Usage`].

use std::collections::HashMap;

use serde::Serialize;

use super::Usd;
use crate::types::Usage;

/// What one provider model charges, in US dollars per million tokens.
///
/// Cached input, cache writes and reasoning tokens fall back to the input or output price
/// when they have none of their own.
///
/// ```
/// use routewise::Usage;
/// use routewise::budget::{Price, Usd};
///
/// // $2.50 in, $1.25 cached in, $10.00 out per million tokens.
/// let price = Price::per_million(Usd::from_cents(250), Usd::from_cents(1000))
///     .cached_input(Usd::from_cents(125));
/// let usage = Usage { input_tokens: 1_000, cached_input_tokens: 400, output_tokens: 500, ..Usage::default() };
/// // 600 × $2.50 + 400 × $1.25 + 500 × $10.00, per million: $0.0070
/// assert_eq!(price.cost(&usage), Usd::from_micros(7_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Price {
    /// Prompt tokens not read from or written to a cache.
    pub input: Usd,
    /// Generated tokens (visible ones, and reasoning ones unless priced apart).
    pub output: Usd,
    /// Prompt tokens read from the provider's cache.
    pub cached_input: Option<Usd>,
    /// Prompt tokens written to the provider's cache (Anthropic's cache creation).
    pub cache_write: Option<Usd>,
    /// Hidden reasoning tokens, where priced differently from output.
    pub reasoning: Option<Usd>,
}

/// Femto-dollars (10⁻¹⁵ USD) per nano-dollar: a token count times a price in
/// nano-dollars per million tokens is femto-dollars.
const FEMTOS_PER_NANO: u128 = 1_000_000;

impl Price {
    /// Input and output prices per million tokens.
    pub const fn per_million(input: Usd, output: Usd) -> Self {
        Self {
            input,
            output,
            cached_input: None,
            cache_write: None,
            reasoning: None,
        }
    }

    /// Sets the price of cached prompt tokens per million.
    #[must_use]
    pub const fn cached_input(mut self, price: Usd) -> Self {
        self.cached_input = Some(price);
        self
    }

    /// Sets the price of prompt tokens written to the cache per million.
    #[must_use]
    pub const fn cache_write(mut self, price: Usd) -> Self {
        self.cache_write = Some(price);
        self
    }

    /// Sets the price of reasoning tokens per million.
    #[must_use]
    pub const fn reasoning(mut self, price: Usd) -> Self {
        self.reasoning = Some(price);
        self
    }

    /// The cost of `usage`, exact to the nano-dollar (rounded up once, never down).
    ///
    /// `usage.input_tokens` counts every prompt token, cached reads and cache writes
    /// included, and `usage.output_tokens` every generated one, reasoning included, as
    /// [`Usage`] documents; a usage whose parts exceed its totals is charged for the parts.
    pub fn cost(&self, usage: &Usage) -> Usd {
        let uncached = usage
            .input_tokens
            .saturating_sub(usage.cached_input_tokens)
            .saturating_sub(usage.cache_write_tokens);
        let visible_output = usage.output_tokens.saturating_sub(usage.reasoning_tokens);
        let femtos = charge(uncached, self.input)
            + charge(
                usage.cached_input_tokens,
                self.cached_input.unwrap_or(self.input),
            )
            + charge(
                usage.cache_write_tokens,
                self.cache_write.unwrap_or(self.input),
            )
            + charge(visible_output, self.output)
            + charge(
                usage.reasoning_tokens,
                self.reasoning.unwrap_or(self.output),
            );
        nanos_rounded_up(femtos)
    }

    /// The most a request with `prompt_tokens` of prompt and up to `max_output_tokens` of
    /// output can cost: every prompt token at the dearest prompt price (a cache write can
    /// cost more than plain input) and every output token at the dearest output price.
    pub fn worst_case(&self, prompt_tokens: u32, max_output_tokens: u32) -> Usd {
        let dearest_input = self
            .input
            .max(self.cached_input.unwrap_or(Usd::ZERO))
            .max(self.cache_write.unwrap_or(Usd::ZERO));
        let dearest_output = self.output.max(self.reasoning.unwrap_or(Usd::ZERO));
        nanos_rounded_up(
            charge(prompt_tokens, dearest_input) + charge(max_output_tokens, dearest_output),
        )
    }
}

fn charge(tokens: u32, per_million: Usd) -> u128 {
    u128::from(tokens) * u128::from(per_million.nanos())
}

fn nanos_rounded_up(femtos: u128) -> Usd {
    Usd::from_nanos(u64::try_from(femtos.div_ceil(FEMTOS_PER_NANO)).unwrap_or(u64::MAX))
}

/// Prices by provider model id.
///
/// [`PricingTable::defaults`] ships list prices for common OpenAI, Anthropic and Gemini
/// models; add or override entries for your own models and contracts. A model id is
/// looked up as given (after any `provider/` or `models/` path), then without a version
/// suffix: a date (`-2024-08-06`, `-20250929`), a three-digit revision (`-001`) or
/// `-latest`; prices you add are looked up that way before the shipped ones, so a price
/// set for `gpt-4o` also prices `gpt-4o-2024-08-06`. A model that is still not found is
/// an [`UnknownPrice`] error: never a silent zero.
///
/// ```
/// use routewise::Usage;
/// use routewise::budget::{Price, PricingTable, Usd};
///
/// let table = PricingTable::defaults()
///     .with_price("my-finetune", Price::per_million(Usd::from_cents(300), Usd::from_cents(1200)));
/// assert!(table.get("gpt-4o-2024-08-06").is_ok());
/// assert!(table.get("my-finetune").is_ok());
/// let err = table.cost("mystery-model", &Usage::new(10, 10)).unwrap_err();
/// assert_eq!(err.to_string(), "no price known for model `mystery-model`");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PricingTable {
    /// Shipped prices.
    prices: HashMap<String, Price>,
    /// Prices set by the user, which win over shipped ones at every step of the lookup
    /// (an override of `gpt-4o` also prices `gpt-4o-2024-08-06`).
    overrides: HashMap<String, Price>,
}

impl PricingTable {
    /// A table with no prices.
    pub fn new() -> Self {
        Self::default()
    }

    /// The list prices of the shipped profile table
    /// ([`ProfileTable::builtin`](crate::ProfileTable::builtin), from LiteLLM's data: USD,
    /// standard tier, no batch discount, cache writes at the 5-minute rate, the price for
    /// the shortest prompts where it depends on length) of the OpenAI, Anthropic and
    /// Gemini chat models it knows. Check them against your provider's price page and
    /// contract, and override what differs.
    pub fn defaults() -> Self {
        let table = crate::ProfileTable::builtin();
        let prices = table
            .models()
            .into_iter()
            .filter_map(|model| Some((model.to_owned(), table.lookup(model)?.price?)))
            .collect();
        Self {
            prices,
            overrides: HashMap::new(),
        }
    }

    /// Adds or replaces the price of `model`.
    #[must_use]
    pub fn with_price(mut self, model: impl Into<String>, price: Price) -> Self {
        self.insert(model, price);
        self
    }

    /// Adds or replaces the price of `model`.
    pub fn insert(&mut self, model: impl Into<String>, price: Price) {
        self.overrides.insert(model.into(), price);
    }

    /// The price of `model` (see the type's docs for how ids are matched).
    pub fn get(&self, model: &str) -> Result<Price, UnknownPrice> {
        let base = model.rsplit('/').next().unwrap_or(model);
        let ids = [
            Some(model),
            Some(base),
            crate::provider::profile::without_version(base),
        ];
        [&self.overrides, &self.prices]
            .into_iter()
            .find_map(|prices| ids.iter().flatten().find_map(|id| prices.get(*id).copied()))
            .ok_or_else(|| UnknownPrice {
                model: model.to_owned(),
            })
    }

    /// The cost of `usage` on `model`.
    pub fn cost(&self, model: &str, usage: &Usage) -> Result<Usd, UnknownPrice> {
        Ok(self.get(model)?.cost(usage))
    }
}

/// No price is known for a model, so its cost cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no price known for model `{model}`")]
pub struct UnknownPrice {
    /// The provider model id looked up.
    pub model: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_correct_to_the_nano_dollar_for_known_usage() {
        let table = PricingTable::defaults();
        // gpt-4o: 1M prompt tokens (200k cached) and 100k output:
        // 800k × $2.50 + 200k × $1.25 + 100k × $10 = $2.00 + $0.25 + $1.00.
        let usage = Usage {
            input_tokens: 1_000_000,
            cached_input_tokens: 200_000,
            output_tokens: 100_000,
            ..Usage::default()
        };
        assert_eq!(table.cost("gpt-4o", &usage), Ok(Usd::from_cents(325)));
        // claude-sonnet-4-5: 10k prompt of which 2k cache writes and 5k cache reads,
        // 1k output: 3k × $3 + 2k × $3.75 + 5k × $0.30 + 1k × $15 = $0.033.
        let usage = Usage {
            input_tokens: 10_000,
            cache_write_tokens: 2_000,
            cached_input_tokens: 5_000,
            output_tokens: 1_000,
            ..Usage::default()
        };
        assert_eq!(
            table.cost("claude-sonnet-4-5-20250929", &usage),
            Ok(Usd::from_micros(33_000))
        );
    }

    #[test]
    fn a_million_tiny_requests_sum_without_drift() {
        // One gpt-4o-mini input token costs $0.00000015 = 150 nano-dollars, exactly.
        let price = PricingTable::defaults().get("gpt-4o-mini").unwrap();
        let one = price.cost(&Usage::new(1, 0));
        assert_eq!(one, Usd::from_nanos(150));
        let total = (0..1_000_000).fold(Usd::ZERO, |sum, _| sum.saturating_add(one));
        assert_eq!(total, Usd::from_cents(15));
    }

    #[test]
    fn fractions_of_a_nano_dollar_round_up_never_down() {
        // 1,500 nano-dollars per million tokens: 0.0015 nano-dollars per token.
        let price = Price::per_million(Usd::from_nanos(1_500), Usd::ZERO);
        assert_eq!(price.cost(&Usage::new(1, 0)), Usd::from_nanos(1));
        assert_eq!(price.cost(&Usage::new(1_000, 0)), Usd::from_nanos(2));
        assert_eq!(price.cost(&Usage::new(2_000, 0)), Usd::from_nanos(3));
        assert_eq!(price.cost(&Usage::new(0, 0)), Usd::ZERO);
    }

    #[test]
    fn reasoning_tokens_use_their_own_price_when_set() {
        let price = Price::per_million(Usd::from_cents(100), Usd::from_cents(200))
            .reasoning(Usd::from_cents(400));
        let usage = Usage {
            output_tokens: 1_000_000,
            reasoning_tokens: 250_000,
            ..Usage::default()
        };
        // 750k × $2 + 250k × $4 = $2.50
        assert_eq!(price.cost(&usage), Usd::from_cents(250));
    }

    #[test]
    fn worst_case_takes_the_dearest_price_for_every_token() {
        let price = PricingTable::defaults().get("claude-haiku-4-5").unwrap();
        // 1M prompt tokens as cache writes ($1.25) and 1M output ($5).
        assert_eq!(price.worst_case(1_000_000, 1_000_000), Usd::from_cents(625));
        let any_usage = Usage {
            input_tokens: 1_000_000,
            cache_write_tokens: 1_000_000,
            output_tokens: 1_000_000,
            ..Usage::default()
        };
        assert!(price.cost(&any_usage) <= price.worst_case(1_000_000, 1_000_000));
    }

    #[test]
    fn version_suffixes_are_ignored_when_looking_up_prices() {
        let table = PricingTable::defaults();
        for model in [
            "gpt-4o-2024-08-06",
            "gpt-4o-mini-2024-07-18",
            "claude-3-5-haiku-20241022",
            "claude-3-7-sonnet-latest",
            "gemini-2.0-flash-001",
            "models/gemini-2.5-pro",
            "openai/gpt-5-mini",
        ] {
            assert!(table.get(model).is_ok(), "{model}");
        }
        assert_eq!(
            table.get("gpt-4o-mini-2024-07-18").unwrap(),
            table.get("gpt-4o-mini").unwrap()
        );
    }

    #[test]
    fn unknown_models_are_errors_naming_the_model_not_zero_cost() {
        let table = PricingTable::defaults();
        for model in ["gpt-4o-audio-preview", "llama-3-70b", "gpt-4o-2024"] {
            assert_eq!(
                table.get(model),
                Err(UnknownPrice {
                    model: model.to_owned()
                })
            );
        }
        assert!(PricingTable::new().get("gpt-4o").is_err());
    }

    #[test]
    fn overrides_replace_shipped_prices() {
        let contract = Price::per_million(Usd::from_cents(100), Usd::from_cents(400));
        let table = PricingTable::defaults().with_price("gpt-4o", contract);
        assert_eq!(table.get("gpt-4o-2024-08-06"), Ok(contract));
    }
}
