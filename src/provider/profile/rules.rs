//! Parameter rules: what a model family accepts, as data.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ModelProfile;
use crate::provider::openai::MaxTokensField;

/// The provider family whose API rules a model follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderFamily {
    /// OpenAI's models (Chat Completions).
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic's Claude models (Messages API).
    Anthropic,
    /// Google's Gemini models (Gemini API).
    Gemini,
}

impl fmt::Display for ProviderFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderFamily::OpenAi => "openai",
            ProviderFamily::Anthropic => "anthropic",
            ProviderFamily::Gemini => "gemini",
        })
    }
}

/// How a model's reasoning is controlled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasoningStyle {
    /// Not known: a reasoning control is passed on as given, in the adapter's own form.
    #[default]
    Unknown,
    /// The model does not reason on request: a reasoning control is dropped (and the drop
    /// recorded).
    None,
    /// An effort level (OpenAI `reasoning_effort`).
    Effort,
    /// A token budget (Anthropic `thinking.budget_tokens`, Gemini 2.5
    /// `thinkingConfig.thinkingBudget`).
    BudgetTokens,
    /// A thinking level, low or high (Gemini 3 `thinkingConfig.thinkingLevel`).
    Level,
}

/// Rules to lay over a model's profile: every field that is set replaces the profile's.
///
/// The shipped rules come from `rules.json` beside this module; a
/// [`Target`](crate::Target) or a [`ProfileTable`](super::ProfileTable) can add its own,
/// in code or in config files.
///
/// ```
/// use routewise::provider::profile::{ModelProfile, ModelRules};
///
/// // A self-hosted model that refuses seeds.
/// let rules = ModelRules::new().unsupported(["seed"]);
/// assert!(ModelProfile::default().with_rules(&rules).refuses("seed"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ModelRules {
    /// The provider family whose API rules apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderFamily>,
    /// Parameters the model refuses (see [`ModelProfile::unsupported`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<Vec<String>>,
    /// Pairs of parameters the model refuses together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<Vec<[String; 2]>>,
    /// Which field carries the token limit on the OpenAI wire format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens_field: Option<MaxTokensField>,
    /// Whether JSON mode can be combined with tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_with_tools: Option<bool>,
    /// How reasoning is controlled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningStyle>,
}

impl ModelRules {
    /// No rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the provider family.
    #[must_use]
    pub fn provider(mut self, provider: ProviderFamily) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Sets the parameters the model refuses.
    #[must_use]
    pub fn unsupported<I, S>(mut self, parameters: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.unsupported = Some(parameters.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a pair of parameters the model refuses together.
    #[must_use]
    pub fn exclusive(mut self, first: impl Into<String>, second: impl Into<String>) -> Self {
        self.exclusive
            .get_or_insert_with(Vec::new)
            .push([first.into(), second.into()]);
        self
    }

    /// Sets the token-limit field.
    #[must_use]
    pub fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.max_tokens_field = Some(field);
        self
    }

    /// Sets whether JSON mode can be combined with tools.
    #[must_use]
    pub fn json_with_tools(mut self, combinable: bool) -> Self {
        self.json_with_tools = Some(combinable);
        self
    }

    /// Sets how reasoning is controlled.
    #[must_use]
    pub fn reasoning(mut self, style: ReasoningStyle) -> Self {
        self.reasoning = Some(style);
        self
    }

    pub(super) fn apply(&self, profile: &mut ModelProfile) {
        if let Some(provider) = self.provider {
            profile.provider = Some(provider);
        }
        if let Some(unsupported) = &self.unsupported {
            profile.unsupported.clone_from(unsupported);
        }
        if let Some(exclusive) = &self.exclusive {
            profile.exclusive.clone_from(exclusive);
        }
        if let Some(field) = self.max_tokens_field {
            profile.max_tokens_field = field;
        }
        if let Some(combinable) = self.json_with_tools {
            profile.json_with_tools = combinable;
        }
        if let Some(style) = self.reasoning {
            profile.reasoning = style;
        }
    }
}

/// Rules for the models matching any of `patterns`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FamilyRules {
    #[serde(rename = "match")]
    pub(super) patterns: Vec<String>,
    pub(super) rules: ModelRules,
}

/// How closely `pattern` matches `model`: the pattern's length when the model is the
/// pattern or continues it after `-` or `.`.
pub(super) fn match_length(pattern: &str, model: &str) -> Option<usize> {
    let rest = model.strip_prefix(pattern)?;
    (rest.is_empty() || rest.starts_with('-') || rest.starts_with('.')).then_some(pattern.len())
}
