//! Settings of the HTTP provider adapters: [`OpenAiSettings`], [`AnthropicSettings`],
//! [`GeminiSettings`] and the [`HttpTimeoutSettings`] they share.

use std::time::Duration;

use serde::Serializer;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::duration;
use super::problems::Problems;
use crate::provider::HttpTimeouts;
use crate::provider::anthropic::{Anthropic, ApiVersion};
use crate::provider::gemini::Gemini;
use crate::provider::openai::{MaxTokensField, OpenAi, Preset};

/// Timeouts of an HTTP adapter (see [`HttpTimeouts`]); each one left out keeps its
/// default (connect 10 s, read 60 s, total 10 min). `read` and `total` can be `"off"`
/// (see [`HttpTimeouts::without_read`] and [`HttpTimeouts::without_total`]), for
/// accounts whose policies bound every attempt with their own `timeouts`.
///
/// ```toml
/// provider = { kind = "openai", timeouts = { connect = "5s", read = "30s", total = "2m" } }
/// provider = { kind = "openai", timeouts = { read = "off", total = "off" } }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct HttpTimeoutSettings {
    /// Establishing the connection; it cannot be `"off"`.
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<AdapterTimeout>,
    /// Waiting for the first byte of an answer, and for each later chunk of a stream;
    /// `"off"` for no such timeout.
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema_or_off"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<AdapterTimeout>,
    /// A whole non-streaming call; `"off"` for no such timeout.
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema_or_off"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<AdapterTimeout>,
}

/// One timeout of an HTTP adapter as written: a duration (`"30s"`), or `"off"` for none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdapterTimeout {
    /// Give up after this long.
    After(Duration),
    /// No such timeout.
    Off,
}

impl<'de> Deserialize<'de> for AdapterTimeout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim() == "off" {
            return Ok(AdapterTimeout::Off);
        }
        duration::parse(&text)
            .map(AdapterTimeout::After)
            .map_err(de::Error::custom)
    }
}

impl Serialize for AdapterTimeout {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AdapterTimeout::After(limit) => duration::write(limit, serializer),
            AdapterTimeout::Off => serializer.serialize_str("off"),
        }
    }
}

impl HttpTimeoutSettings {
    /// The timeouts, reporting zero ones and a connect timeout turned off under `path`
    /// (such as `accounts[0].provider.timeouts`).
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> HttpTimeouts {
        let mut timeouts = HttpTimeouts::default();
        match self.connect {
            Some(AdapterTimeout::After(connect)) => {
                check_nonzero(connect, &format!("{path}.connect"), problems);
                timeouts.connect = connect;
            }
            Some(AdapterTimeout::Off) => problems.push(
                format!("{path}.connect"),
                "cannot be \"off\" (only read and total can); give a duration such as \"10s\"",
            ),
            None => {}
        }
        for (field, value, slot) in [
            ("read", self.read, &mut timeouts.read),
            ("total", self.total, &mut timeouts.total),
        ] {
            match value {
                Some(AdapterTimeout::After(limit)) => {
                    check_nonzero(limit, &format!("{path}.{field}"), problems);
                    *slot = Some(limit);
                }
                Some(AdapterTimeout::Off) => *slot = None,
                None => {}
            }
        }
        timeouts
    }
}

fn check_nonzero(limit: Duration, path: &str, problems: &mut Problems) {
    if limit.is_zero() {
        problems.push(path, "must be greater than zero");
    }
}

/// Settings of an [`OpenAi`] account (`kind = "openai"`): OpenAI itself, any
/// OpenAI-compatible endpoint (give the account a `base_url`), or Azure OpenAI (set
/// `azure_api_version`; the account's `base_url` is then the resource endpoint and target
/// models are deployment names). Every field is optional.
///
/// A `preset` names a known OpenAI-compatible host ([`Preset`]): its base URL (the
/// account's `base_url` still wins), telemetry name, refused parameters and stream usage
/// setting; the other fields still override it.
///
/// ```toml
/// provider = { kind = "openai", max_tokens_field = "max_completion_tokens", timeouts = { read = "30s" } }
/// provider = { kind = "openai", azure_api_version = "2024-10-21" }
/// provider = { kind = "openai", preset = "groq" }
/// provider = { kind = "openai", preset = "vllm" }   # with base_url = "http://gpu-box:9000/v1"
/// provider = { kind = "openai", system_name = "in-house", stream_usage = false }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct OpenAiSettings {
    /// Speak Azure OpenAI with this data-plane `api-version`, such as `2024-10-21`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_api_version: Option<String>,
    /// A known OpenAI-compatible host: `mistral`, `groq`, `deepseek`, `together`,
    /// `fireworks`, `openrouter`, `xai`, `ollama`, `vllm` or `lm_studio`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// The name reported as `gen_ai.provider.name` (default `openai`, or `az.ai.openai`
    /// for Azure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_name: Option<String>,
    /// Always send the token limit in this field instead of choosing by model id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens_field: Option<TokenLimitField>,
    /// Whether streams ask for usage in their last chunk (default true); turn it off for
    /// servers that refuse `stream_options`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_usage: Option<bool>,
    /// Connect, read and total timeouts.
    pub timeouts: HttpTimeoutSettings,
}

/// Which request field carries the token limit (see [`MaxTokensField`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum TokenLimitField {
    /// `max_tokens`, which every compatible server understands.
    MaxTokens,
    /// `max_completion_tokens`, which OpenAI's reasoning models require.
    MaxCompletionTokens,
}

impl OpenAiSettings {
    /// Builds the adapter, reporting bad settings under `path`.
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> OpenAi {
        if let Some(version) = &self.azure_api_version
            && version.trim().is_empty()
        {
            problems.push(
                format!("{path}.azure_api_version"),
                "must not be empty; Azure needs an api-version such as \"2024-10-21\"",
            );
        }
        let timeouts = self.timeouts.build(&format!("{path}.timeouts"), problems);
        let mut openai = match self.preset {
            Some(preset) => {
                if self.azure_api_version.is_some() {
                    problems.push(
                        format!("{path}.preset"),
                        "cannot be combined with `azure_api_version`; a preset names an \
                         OpenAI-compatible host, not an Azure resource",
                    );
                }
                OpenAi::preset_with_timeouts(preset, timeouts)
            }
            None => OpenAi::configured(self.azure_api_version.as_deref(), timeouts),
        };
        if let Some(name) = &self.system_name {
            openai = openai.with_provider_name(name.as_str());
        }
        if let Some(field) = self.max_tokens_field {
            openai = openai.max_tokens_field(match field {
                TokenLimitField::MaxTokens => MaxTokensField::MaxTokens,
                TokenLimitField::MaxCompletionTokens => MaxTokensField::MaxCompletionTokens,
            });
        }
        if let Some(enabled) = self.stream_usage {
            openai = openai.stream_usage(enabled);
        }
        openai
    }
}

/// Settings of an [`Anthropic`] account (`kind = "anthropic"`). Every field is optional.
///
/// ```toml
/// provider = { kind = "anthropic", api_version = "2023-06-01", default_max_tokens = 2048 }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct AnthropicSettings {
    /// The `anthropic-version` to speak (default `2023-06-01`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<AnthropicVersion>,
    /// The `max_tokens` sent when neither the request nor the logical model sets one
    /// (default 4096).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_max_tokens: Option<u32>,
    /// Connect, read and total timeouts.
    pub timeouts: HttpTimeoutSettings,
}

/// An `anthropic-version` the adapter speaks (see [`ApiVersion`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum AnthropicVersion {
    /// `2023-06-01`.
    #[serde(rename = "2023-06-01")]
    V2023_06_01,
    /// `2026-10-21`: no `temperature` or `top_p`.
    #[serde(rename = "2026-10-21")]
    V2026_10_21,
}

impl AnthropicSettings {
    /// Builds the adapter, reporting bad settings under `path`.
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> Anthropic {
        let timeouts = self.timeouts.build(&format!("{path}.timeouts"), problems);
        let mut anthropic = Anthropic::with_timeouts(timeouts);
        if let Some(version) = self.api_version {
            anthropic = anthropic.api_version(match version {
                AnthropicVersion::V2023_06_01 => ApiVersion::V2023_06_01,
                AnthropicVersion::V2026_10_21 => ApiVersion::V2026_10_21,
            });
        }
        if let Some(max_tokens) = self.default_max_tokens {
            if max_tokens == 0 {
                problems.push(format!("{path}.default_max_tokens"), "must be at least 1");
            }
            anthropic = anthropic.default_max_tokens(max_tokens);
        }
        anthropic
    }
}

/// Settings of a [`Gemini`] account (`kind = "gemini"`).
///
/// ```toml
/// provider = { kind = "gemini", timeouts = { total = "30s" } }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct GeminiSettings {
    /// Connect, read and total timeouts.
    pub timeouts: HttpTimeoutSettings,
}

impl GeminiSettings {
    /// Builds the adapter, reporting bad settings under `path`.
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> Gemini {
        Gemini::with_timeouts(self.timeouts.build(&format!("{path}.timeouts"), problems))
    }
}
