//! Choosing between `max_tokens` and `max_completion_tokens` by model family.

/// Which request field carries the token limit.
///
/// ```
/// use routewise::provider::openai::MaxTokensField;
///
/// assert_eq!(MaxTokensField::for_model("o3-mini"), MaxTokensField::MaxCompletionTokens);
/// assert_eq!(MaxTokensField::for_model("gpt-5.1"), MaxTokensField::MaxCompletionTokens);
/// assert_eq!(MaxTokensField::for_model("gpt-4o"), MaxTokensField::MaxTokens);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    /// `max_tokens`, which every compatible server understands.
    #[default]
    MaxTokens,
    /// `max_completion_tokens`, which OpenAI's reasoning models require.
    MaxCompletionTokens,
}

impl MaxTokensField {
    /// The field a model id needs, from its profile
    /// ([`ProfileTable::builtin`](crate::ProfileTable::builtin)): `max_completion_tokens`
    /// for the o1, o3, o4, gpt-5 and gpt-6 families, `max_tokens` otherwise.
    pub fn for_model(model: &str) -> Self {
        crate::ProfileTable::builtin()
            .lookup(model)
            .map_or(MaxTokensField::MaxTokens, |profile| {
                profile.max_tokens_field
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_families_need_max_completion_tokens() {
        for model in [
            "o1",
            "o1-mini",
            "o3",
            "o3-mini-2025-01-31",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5.1",
        ] {
            assert_eq!(
                MaxTokensField::for_model(model),
                MaxTokensField::MaxCompletionTokens,
                "{model}"
            );
        }
        for model in [
            "gpt-4o",
            "gpt-4.1-mini",
            "gpt-50x",
            "o10",
            "llama-3.3-70b",
            "openai/o3",
        ] {
            assert_eq!(
                MaxTokensField::for_model(model),
                MaxTokensField::MaxTokens,
                "{model}"
            );
        }
    }
}
