//! [`PriceConfig`]: what a provider model charges, as written in a config file.

use serde::{Deserialize, Serialize};

use super::problems::Problems;
use crate::budget::{Price, Usd};

/// What one provider model charges (see [`Price`]), in US dollars per million tokens.
/// Cached input, cache writes and reasoning tokens cost the input or output price unless
/// given their own.
///
/// ```toml
/// price = { input = 2.5, output = 10.0, cached_input = 1.25 }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct PriceConfig {
    /// Prompt tokens not read from or written to a cache.
    pub input: f64,
    /// Generated tokens.
    pub output: f64,
    /// Prompt tokens read from the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Prompt tokens written to the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    /// Hidden reasoning tokens, where priced apart from output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
}

impl PriceConfig {
    /// `input` and `output` dollars per million tokens; the other kinds of tokens cost
    /// what those do.
    pub fn new(input: f64, output: f64) -> Self {
        Self {
            input,
            output,
            cached_input: None,
            cache_write: None,
            reasoning: None,
        }
    }

    /// The price, or `None` after reporting every amount that is not one under `at`
    /// (such as `models[0].targets[1].price`).
    pub(crate) fn build(&self, at: &str, problems: &mut Problems) -> Option<Price> {
        let mut amount = |field: &str, dollars: f64| {
            let usd = Usd::from_dollars(dollars);
            if usd.is_none() {
                problems.push(
                    format!("{at}.{field}"),
                    format!("must be a non-negative amount of US dollars, got {dollars}"),
                );
            }
            usd
        };
        let input = amount("input", self.input);
        let output = amount("output", self.output);
        let optional = [
            ("cached_input", self.cached_input),
            ("cache_write", self.cache_write),
            ("reasoning", self.reasoning),
        ]
        .map(|(field, dollars)| dollars.map(|d| amount(field, d)));
        let mut price = Price::per_million(input?, output?);
        let [cached_input, cache_write, reasoning] = optional;
        if let Some(usd) = cached_input {
            price = price.cached_input(usd?);
        }
        if let Some(usd) = cache_write {
            price = price.cache_write(usd?);
        }
        if let Some(usd) = reasoning {
            price = price.reasoning(usd?);
        }
        Some(price)
    }
}
