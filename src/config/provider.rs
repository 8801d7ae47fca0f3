//! [`ProviderConfig`]: which backend serves an account, and its settings.

use std::sync::Arc;

use serde::Deserialize;

use super::adapters::{AnthropicSettings, GeminiSettings, OpenAiSettings};
use super::problems::Problems;
use super::sim::SimSettings;
use crate::provider::Provider;

/// The backend of an account: a `kind` and that kind's settings, in one table.
///
/// ```toml
/// provider = { kind = "openai" }                                # OpenAI or a compatible server
/// provider = { kind = "openai", azure_api_version = "2024-10-21" } # Azure OpenAI
/// provider = { kind = "anthropic", default_max_tokens = 2048 }
/// provider = { kind = "gemini" }
/// provider = { kind = "sim", reply = "Hello!" }                 # offline, for demos and tests
/// ```
///
/// Each kind is one variant; its settings are a struct of their own, so a new provider
/// kind is a new variant and a new arm in `build`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum ProviderConfig {
    /// OpenAI Chat Completions ([`OpenAi`](crate::OpenAi)): OpenAI, compatible endpoints
    /// and Azure OpenAI.
    #[serde(rename = "openai")]
    OpenAi(OpenAiSettings),
    /// The Anthropic Messages API ([`Anthropic`](crate::Anthropic)).
    Anthropic(AnthropicSettings),
    /// The Google Gemini API ([`Gemini`](crate::Gemini)).
    Gemini(GeminiSettings),
    /// The simulated provider ([`SimProvider`](crate::sim::SimProvider)): offline,
    /// scriptable, for demos and tests.
    Sim(SimSettings),
}

impl ProviderConfig {
    /// Builds the provider, reporting bad settings under `path`.
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> Arc<dyn Provider> {
        match self {
            ProviderConfig::OpenAi(settings) => Arc::new(settings.build(path, problems)),
            ProviderConfig::Anthropic(settings) => Arc::new(settings.build(path, problems)),
            ProviderConfig::Gemini(settings) => Arc::new(settings.build(path, problems)),
            ProviderConfig::Sim(settings) => Arc::new(settings.build(path, problems)),
        }
    }
}
