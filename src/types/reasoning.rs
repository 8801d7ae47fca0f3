use std::fmt;

use serde::{Deserialize, Serialize};

/// A canonical reasoning control: how hard a reasoning model should think.
///
/// Set an effort, a token budget, or both; each target receives it in its own form
/// (OpenAI `reasoning_effort`, Anthropic `thinking.budget_tokens`, Gemini
/// `thinkingConfig`), converted between effort and budget where the model takes only one
/// of them, and dropped, with a note on the attempt, for models that do not reason on
/// request. See [`ParameterPolicy`](crate::provider::profile::ParameterPolicy).
///
/// ```
/// use routewise::{Reasoning, ReasoningEffort};
///
/// let reasoning = Reasoning::effort(ReasoningEffort::Low);
/// assert_eq!(reasoning.budget_or_equivalent(), 2_048);
/// assert_eq!(Reasoning::budget(20_000).effort_or_equivalent(), ReasoningEffort::High);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Reasoning {
    /// How much effort to spend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<ReasoningEffort>,
    /// How many tokens the model may think with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u32>,
}

/// How much a reasoning model should think.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasoningEffort {
    /// As little as the model allows.
    Minimal,
    /// Little.
    Low,
    /// The usual.
    Medium,
    /// A lot.
    High,
}

impl ReasoningEffort {
    /// The name providers use: `minimal`, `low`, `medium`, `high`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

impl fmt::Display for ReasoningEffort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reasoning {
    /// A control by effort.
    pub const fn effort(effort: ReasoningEffort) -> Self {
        Self {
            effort: Some(effort),
            budget_tokens: None,
        }
    }

    /// A control by token budget.
    pub const fn budget(tokens: u32) -> Self {
        Self {
            effort: None,
            budget_tokens: Some(tokens),
        }
    }

    /// The budget, or the budget the effort stands for: 1,024 tokens for minimal, 2,048
    /// for low, 8,192 for medium, 24,576 for high (medium when neither is set).
    pub fn budget_or_equivalent(&self) -> u32 {
        self.budget_tokens
            .unwrap_or(match self.effort.unwrap_or(ReasoningEffort::Medium) {
                ReasoningEffort::Minimal => 1_024,
                ReasoningEffort::Low => 2_048,
                ReasoningEffort::Medium => 8_192,
                ReasoningEffort::High => 24_576,
            })
    }

    /// The effort, or the effort the budget stands for: low below 4,096 tokens, medium
    /// below 16,384, high from there (medium when neither is set).
    pub fn effort_or_equivalent(&self) -> ReasoningEffort {
        match (self.effort, self.budget_tokens) {
            (Some(effort), _) => effort,
            (None, Some(budget)) if budget < 4_096 => ReasoningEffort::Low,
            (None, Some(budget)) if budget < 16_384 => ReasoningEffort::Medium,
            (None, Some(_)) => ReasoningEffort::High,
            (None, None) => ReasoningEffort::Medium,
        }
    }
}
