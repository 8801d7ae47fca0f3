//! LiteLLM's `model_prices_and_context_window.json` format: model data by model id.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use super::ProviderFamily;
use crate::budget::{Price, Usd};
use crate::context_window::ContextWindow;
use crate::model::Capabilities;

/// What the data says about one model.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct ModelData {
    pub(super) provider: Option<ProviderFamily>,
    pub(super) window: Option<ContextWindow>,
    pub(super) price: Option<Price>,
    pub(super) capabilities: Option<Capabilities>,
    pub(super) reasons: bool,
}

/// A LiteLLM-format model file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiteLlmError {
    /// The file could not be read.
    #[error("could not read model data file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a JSON object of models.
    #[error("model data is not a LiteLLM-format JSON object of models")]
    NotAnObject(#[source] serde_json::Error),
    /// A chat model's entry has a field of the wrong type.
    #[error("model data for `{model}` is malformed (fix or remove the entry)")]
    Entry {
        /// The model id.
        model: String,
        /// What is wrong.
        #[source]
        source: serde_json::Error,
    },
}

/// The fields routewise reads; every other field is ignored.
#[derive(Deserialize)]
struct Entry {
    litellm_provider: Option<String>,
    max_input_tokens: Option<f64>,
    max_output_tokens: Option<f64>,
    input_cost_per_token: Option<f64>,
    output_cost_per_token: Option<f64>,
    cache_read_input_token_cost: Option<f64>,
    cache_creation_input_token_cost: Option<f64>,
    output_cost_per_reasoning_token: Option<f64>,
    supports_function_calling: Option<bool>,
    supports_vision: Option<bool>,
    supports_response_schema: Option<bool>,
    supports_reasoning: Option<bool>,
}

/// The chat models of a LiteLLM-format file, by model id (a `gemini/` or other provider
/// path is removed when the provider is the one named). Entries that are not chat models
/// (embeddings, images, audio) and the format's `sample_spec` are left out.
pub(super) fn parse(text: &str) -> Result<HashMap<String, ModelData>, LiteLlmError> {
    let all: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(LiteLlmError::NotAnObject)?;
    let mut models = HashMap::with_capacity(all.len());
    for (id, value) in all {
        if value.get("mode").and_then(Value::as_str) != Some("chat") {
            continue;
        }
        let entry: Entry = serde_json::from_value(value).map_err(|source| LiteLlmError::Entry {
            model: id.clone(),
            source,
        })?;
        let provider_name = entry.litellm_provider.clone().unwrap_or_default();
        let model = id
            .strip_prefix(provider_name.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(&id)
            .to_owned();
        models.insert(model, entry.into_data(&provider_name));
    }
    Ok(models)
}

impl Entry {
    fn into_data(self, provider: &str) -> ModelData {
        let tokens = |n: Option<f64>| {
            n.filter(|n| *n >= 1.0)
                .map(|n| n.min(f64::from(u32::MAX)) as u32)
        };
        let window = match (
            tokens(self.max_input_tokens),
            tokens(self.max_output_tokens),
        ) {
            (Some(context), Some(output)) => Some(ContextWindow::new(context, output.min(context))),
            (Some(context), None) => Some(ContextWindow::new(context, context)),
            _ => None,
        };
        let price = match (self.input_cost_per_token, self.output_cost_per_token) {
            (Some(input), Some(output)) => {
                let mut price = Price::per_million(per_million(input), per_million(output));
                if let Some(cached) = self.cache_read_input_token_cost {
                    price = price.cached_input(per_million(cached));
                }
                if let Some(write) = self.cache_creation_input_token_cost {
                    price = price.cache_write(per_million(write));
                }
                if let Some(reasoning) = self.output_cost_per_reasoning_token
                    && reasoning != output
                {
                    price = price.reasoning(per_million(reasoning));
                }
                Some(price)
            }
            _ => None,
        };
        let flags = [
            (self.supports_function_calling, Capabilities::TOOLS),
            (self.supports_vision, Capabilities::VISION),
            (self.supports_response_schema, Capabilities::JSON_MODE),
        ];
        let known = flags.iter().any(|(flag, _)| flag.is_some());
        let capabilities = known.then(|| {
            flags
                .iter()
                .filter(|(flag, _)| *flag == Some(true))
                .fold(Capabilities::STREAMING, |all, (_, c)| all | *c)
        });
        ModelData {
            provider: match provider {
                "openai" => Some(ProviderFamily::OpenAi),
                "anthropic" => Some(ProviderFamily::Anthropic),
                "gemini" => Some(ProviderFamily::Gemini),
                _ => None,
            },
            window,
            price,
            capabilities,
            reasons: self.supports_reasoning == Some(true),
        }
    }
}

/// Dollars per token as dollars per million tokens, to the nano-dollar.
fn per_million(dollars_per_token: f64) -> Usd {
    Usd::from_nanos((dollars_per_token * 1e15).round().max(0.0) as u64)
}
