//! [`ProviderConfig`]: which backend serves an account, and its settings.

use std::sync::Arc;

use serde::de::{self, Deserializer};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::adapters::{AnthropicSettings, GeminiSettings, OpenAiSettings};
#[cfg(feature = "bedrock")]
use super::bedrock::BedrockSettings;
use super::kinds::ProviderKinds;
use super::problems::Problems;
use super::sim::SimSettings;
use super::vertex::VertexSettings;
use crate::provider::Provider;

/// The backend of an account: a `kind` and that kind's settings, in one table.
///
/// ```toml
/// provider = { kind = "openai" }                                # OpenAI or a compatible server
/// provider = { kind = "openai", azure_api_version = "2024-10-21" } # Azure OpenAI
/// provider = { kind = "anthropic", default_max_tokens = 2048 }
/// provider = { kind = "gemini" }
/// provider = { kind = "bedrock", region = "us-east-1" }         # feature `bedrock`
/// provider = { kind = "vertex", project = "acme-prod", location = "us-east5" } # feature `vertex`
/// provider = { kind = "sim", reply = "Hello!" }                 # offline, for demos and tests
/// provider = { kind = "my-kind", region = "eu" }                # registered in code
/// ```
///
/// Each built-in kind is one variant with a settings struct of its own. Any other kind is
/// [`Custom`](Self::Custom): its settings are kept as they were written and checked when
/// the router is built, by the kind your code registered ([`ProviderKinds`]).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(tag = "kind", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ProviderConfig {
    /// OpenAI Chat Completions ([`OpenAi`](crate::OpenAi)): OpenAI, compatible endpoints
    /// and Azure OpenAI.
    #[cfg_attr(feature = "schema", serde(rename = "openai"))]
    OpenAi(OpenAiSettings),
    /// The Anthropic Messages API ([`Anthropic`](crate::Anthropic)).
    Anthropic(AnthropicSettings),
    /// The Google Gemini API ([`Gemini`](crate::Gemini)).
    Gemini(GeminiSettings),
    /// AWS Bedrock's Converse API ([`Bedrock`](crate::provider::bedrock::Bedrock)).
    #[cfg(feature = "bedrock")]
    #[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
    Bedrock(BedrockSettings),
    /// Google Vertex AI ([`Vertex`](crate::provider::vertex::Vertex), feature `vertex`).
    Vertex(VertexSettings),
    /// The simulated provider ([`SimProvider`](crate::sim::SimProvider)): offline,
    /// scriptable, for demos and tests.
    Sim(SimSettings),
    /// A kind registered in code ([`ProviderKinds`]).
    #[cfg_attr(feature = "schema", schemars(skip))]
    Custom(CustomProvider),
}

/// The provider table of a kind registered in code: its `kind` and the rest of its
/// settings as written.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CustomProvider {
    /// The registered kind's name.
    pub kind: String,
    /// Every other key of the table.
    pub settings: Map<String, Value>,
}

impl CustomProvider {
    /// A provider table of `kind` with `settings`.
    pub fn new(kind: impl Into<String>, settings: Map<String, Value>) -> Self {
        Self {
            kind: kind.into(),
            settings,
        }
    }
}

impl<'de> Deserialize<'de> for ProviderConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = Map::<String, Value>::deserialize(deserializer)?;
        let kind = match table.remove("kind") {
            Some(Value::String(kind)) => kind,
            Some(other) => {
                return Err(de::Error::custom(format!(
                    "`kind` must be a string such as \"openai\", not {other}"
                )));
            }
            None => return Err(de::Error::missing_field("kind")),
        };
        let read = |error: serde_json::Error| de::Error::custom(error);
        Ok(match kind.as_str() {
            "openai" => ProviderConfig::OpenAi(
                OpenAiSettings::deserialize(Value::Object(table)).map_err(read)?,
            ),
            "anthropic" => ProviderConfig::Anthropic(
                AnthropicSettings::deserialize(Value::Object(table)).map_err(read)?,
            ),
            "gemini" => ProviderConfig::Gemini(
                GeminiSettings::deserialize(Value::Object(table)).map_err(read)?,
            ),
            #[cfg(feature = "bedrock")]
            "bedrock" => ProviderConfig::Bedrock(
                BedrockSettings::deserialize(Value::Object(table)).map_err(read)?,
            ),
            "vertex" => ProviderConfig::Vertex(
                VertexSettings::deserialize(Value::Object(table)).map_err(read)?,
            ),
            "sim" => {
                ProviderConfig::Sim(SimSettings::deserialize(Value::Object(table)).map_err(read)?)
            }
            _ => ProviderConfig::Custom(CustomProvider {
                kind,
                settings: table,
            }),
        })
    }
}

impl Serialize for ProviderConfig {
    /// One table: `kind`, then the settings as the loader reads them (left-out settings
    /// are not written).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let settings = |settings: Result<Value, serde_json::Error>| {
            settings.map_err(serde::ser::Error::custom)
        };
        let (kind, settings) = match self {
            ProviderConfig::OpenAi(s) => ("openai", settings(serde_json::to_value(s))?),
            ProviderConfig::Anthropic(s) => ("anthropic", settings(serde_json::to_value(s))?),
            ProviderConfig::Gemini(s) => ("gemini", settings(serde_json::to_value(s))?),
            #[cfg(feature = "bedrock")]
            ProviderConfig::Bedrock(s) => ("bedrock", settings(serde_json::to_value(s))?),
            ProviderConfig::Vertex(s) => ("vertex", settings(serde_json::to_value(s))?),
            ProviderConfig::Sim(s) => ("sim", settings(serde_json::to_value(s))?),
            ProviderConfig::Custom(custom) => {
                (custom.kind.as_str(), Value::Object(custom.settings.clone()))
            }
        };
        let settings = match without_nulls(settings) {
            Value::Object(settings) => settings,
            _ => Map::new(),
        };
        let mut table = serializer.serialize_map(Some(settings.len() + 1))?;
        table.serialize_entry("kind", kind)?;
        for (key, value) in &settings {
            table.serialize_entry(key, value)?;
        }
        table.end()
    }
}

/// `value` without the `null`s left-out settings became, which TOML cannot hold.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

impl ProviderConfig {
    /// Builds the provider, reporting bad settings under `path`; `None` when a registered
    /// kind's settings are refused or the kind is unknown.
    pub(crate) fn build(
        &self,
        path: &str,
        kinds: &ProviderKinds,
        problems: &mut Problems,
    ) -> Option<Arc<dyn Provider>> {
        Some(match self {
            ProviderConfig::OpenAi(settings) => Arc::new(settings.build(path, problems)),
            ProviderConfig::Anthropic(settings) => Arc::new(settings.build(path, problems)),
            ProviderConfig::Gemini(settings) => Arc::new(settings.build(path, problems)),
            #[cfg(feature = "bedrock")]
            ProviderConfig::Bedrock(settings) => Arc::new(settings.build(path, problems)),
            ProviderConfig::Vertex(settings) => return settings.build(path, problems),
            ProviderConfig::Sim(settings) => Arc::new(settings.build(path, problems)),
            ProviderConfig::Custom(custom) => {
                return kinds.build(&custom.kind, &custom.settings, path, problems);
            }
        })
    }
}
