//! A Messages API response as a canonical response; the pieces streams share.

use serde::Deserialize;
use serde_json::Value;

use crate::account::AccountInfo;
use crate::provider::{ErrorKind, ProviderError, ProviderResponse, http};
use crate::types::{FinishReason, ToolCall, Usage};

/// The parts of a `Message` the adapter reads.
#[derive(Debug, Deserialize)]
pub(super) struct WireMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    usage: WireUsage,
}

/// A content block; kinds the adapter does not map (thinking, server tools) are `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    #[serde(other)]
    Other,
}

/// Token counts as the API reports them. In a stream, `message_delta` repeats only the
/// counts that changed, so every count is optional.
#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct WireUsage {
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    cache_creation_input_tokens: Option<u32>,
    cache_read_input_tokens: Option<u32>,
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
struct OutputDetails {
    thinking_tokens: u32,
}

impl WireUsage {
    /// Takes every count `later` reports (counts in `message_delta` are cumulative).
    pub(super) fn update(&mut self, later: WireUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.output_tokens_details = later.output_tokens_details.or(self.output_tokens_details);
    }

    /// Canonical usage: the prompt is uncached input plus cache reads plus cache writes,
    /// as the API defines the total.
    pub(super) fn to_usage(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self
                .input_tokens
                .unwrap_or(0)
                .saturating_add(read)
                .saturating_add(write),
            output_tokens: self.output_tokens.unwrap_or(0),
            cached_input_tokens: read,
            cache_write_tokens: write,
            reasoning_tokens: self.output_tokens_details.map_or(0, |d| d.thinking_tokens),
        }
    }
}

/// Why generation ended. A `tool_use` stop whose only call was the JSON-mode answer is an
/// ordinary stop: the answer is the text.
pub(super) fn finish_reason(stop_reason: Option<&str>, answered_only: bool) -> FinishReason {
    match stop_reason {
        Some("end_turn" | "stop_sequence") => FinishReason::Stop,
        Some("tool_use") if answered_only => FinishReason::Stop,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("max_tokens") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
        None => FinishReason::Other("unknown".to_owned()),
    }
}

/// A Messages API response body as the canonical response (see
/// [`WireMessage::into_response`] for `answer_tool`).
pub(super) fn parse(
    body: &[u8],
    answer_tool: Option<&str>,
    account: &AccountInfo,
) -> Result<ProviderResponse, ProviderError> {
    let message: WireMessage = serde_json::from_slice(body).map_err(|e| {
        // serde_json quotes the value it choked on, which can be an echoed secret.
        ProviderError::new(
            ErrorKind::MalformedResponse,
            http::redact(&format!("response body is not a message: {e}"), account),
        )
    })?;
    Ok(message.into_response(answer_tool))
}

impl WireMessage {
    /// The canonical response. With an `answer_tool` (JSON mode), the text is that tool's
    /// input and other text is left out.
    pub(super) fn into_response(self, answer_tool: Option<&str>) -> ProviderResponse {
        let mut text = String::new();
        let mut answer = None;
        let mut tool_calls = Vec::new();
        for block in self.content {
            match block {
                WireBlock::Text { text: part } => text.push_str(&part),
                WireBlock::ToolUse { name, input, .. } if Some(name.as_str()) == answer_tool => {
                    answer = Some(input.to_string());
                }
                WireBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: input.to_string(),
                }),
                WireBlock::Other => {}
            }
        }
        let answered_only = answer.is_some() && tool_calls.is_empty();
        // A model that was offered the answer tool without being forced to call it
        // (under extended thinking) may answer in text instead.
        let content = match answer_tool {
            Some(_) => answer.unwrap_or(text),
            None => text,
        };
        ProviderResponse {
            content,
            tool_calls,
            finish_reason: finish_reason(self.stop_reason.as_deref(), answered_only),
            usage: self.usage.to_usage(),
            response_id: self.id,
            response_model: self.model,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(value: Value) -> WireMessage {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(finish_reason(Some("end_turn"), false), FinishReason::Stop);
        assert_eq!(
            finish_reason(Some("stop_sequence"), false),
            FinishReason::Stop
        );
        assert_eq!(
            finish_reason(Some("max_tokens"), false),
            FinishReason::Length
        );
        assert_eq!(
            finish_reason(Some("tool_use"), false),
            FinishReason::ToolCalls
        );
        assert_eq!(finish_reason(Some("tool_use"), true), FinishReason::Stop);
        assert_eq!(
            finish_reason(Some("refusal"), false),
            FinishReason::ContentFilter
        );
        assert_eq!(
            finish_reason(Some("pause_turn"), false),
            FinishReason::Other("pause_turn".into())
        );
    }

    #[test]
    fn prompt_tokens_include_cache_reads_and_writes() {
        let usage: WireUsage = serde_json::from_value(json!({
            "input_tokens": 10, "output_tokens": 5,
            "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20,
            "output_tokens_details": {"thinking_tokens": 3}
        }))
        .unwrap();
        let usage = usage.to_usage();
        assert_eq!(usage.input_tokens, 130);
        assert_eq!(usage.cached_input_tokens, 100);
        assert_eq!(usage.cache_write_tokens, 20);
        assert_eq!(usage.output_tokens, 5);
        assert_eq!(usage.reasoning_tokens, 3);
    }

    #[test]
    fn later_counts_replace_earlier_ones_and_missing_ones_keep_them() {
        let mut usage: WireUsage =
            serde_json::from_value(json!({"input_tokens": 10, "output_tokens": 1})).unwrap();
        usage.update(serde_json::from_value(json!({"output_tokens": 42})).unwrap());
        assert_eq!(usage.to_usage(), Usage::new(10, 42));
    }

    #[test]
    fn unknown_blocks_are_skipped_and_text_blocks_concatenate() {
        let response = message(json!({
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "Hello, "},
                {"type": "text", "text": "world"}
            ],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 2}
        }))
        .into_response(None);
        assert_eq!(response.content, "Hello, world");
        assert!(response.tool_calls.is_empty());
    }

    #[test]
    fn the_answer_tool_input_is_the_text_in_json_mode() {
        let body = json!({
            "content": [
                {"type": "text", "text": "Here you go"},
                {"type": "tool_use", "id": "t1", "name": "answer", "input": {"a": 1}}
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 1, "output_tokens": 2}
        });
        let response = message(body.clone()).into_response(Some("answer"));
        assert_eq!(response.content, r#"{"a":1}"#);
        assert!(response.tool_calls.is_empty());
        assert_eq!(response.finish_reason, FinishReason::Stop);
        let plain = message(body).into_response(None);
        assert_eq!(plain.content, "Here you go");
        assert_eq!(plain.tool_calls[0].arguments, r#"{"a":1}"#);
        assert_eq!(plain.finish_reason, FinishReason::ToolCalls);
    }
}
