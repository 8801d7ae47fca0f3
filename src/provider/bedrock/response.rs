//! A Converse response as a canonical response; the pieces streams share.

use serde::Deserialize;
use serde_json::Value;

use crate::account::AccountInfo;
use crate::provider::{ErrorKind, ProviderError, ProviderResponse, http};
use crate::types::{FinishReason, ToolCall, Usage};

/// The parts of a `ConverseResponse` the adapter reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    output: WireOutput,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Debug, Deserialize)]
struct WireOutput {
    message: WireMessage,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    content: Vec<WireBlock>,
}

/// A content block (a union: one member set). Blocks the adapter does not map
/// (reasoning, citations, images) have neither member and are skipped.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBlock {
    text: Option<String>,
    tool_use: Option<WireToolUse>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireToolUse {
    tool_use_id: String,
    name: String,
    #[serde(default)]
    input: Value,
}

/// `TokenUsage`: input excludes the cache reads and writes, which are counted apart.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireUsage {
    #[serde(default)]
    input_tokens: u32,
    #[serde(default)]
    output_tokens: u32,
    #[serde(default)]
    cache_read_input_tokens: u32,
    #[serde(default)]
    cache_write_input_tokens: u32,
}

impl WireUsage {
    /// Canonical usage: the prompt is uncached input plus cache reads plus cache writes.
    pub(super) fn to_usage(self) -> Usage {
        Usage {
            input_tokens: self
                .input_tokens
                .saturating_add(self.cache_read_input_tokens)
                .saturating_add(self.cache_write_input_tokens),
            output_tokens: self.output_tokens,
            cached_input_tokens: self.cache_read_input_tokens,
            cache_write_tokens: self.cache_write_input_tokens,
            reasoning_tokens: 0,
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
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("guardrail_intervened" | "content_filtered") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
        None => FinishReason::Other("unknown".to_owned()),
    }
}

/// A Converse response body as the canonical response. With an `answer_tool` (JSON
/// mode), the text is that tool's input and other text is left out.
pub(super) fn parse(
    body: &[u8],
    answer_tool: Option<&str>,
    account: &AccountInfo,
) -> Result<ProviderResponse, ProviderError> {
    let response: WireResponse = serde_json::from_slice(body).map_err(|e| {
        // serde_json quotes the value it choked on, which can be an echoed secret.
        ProviderError::new(
            ErrorKind::MalformedResponse,
            http::redact(
                &format!("response body is not a Converse response: {e}"),
                account,
            ),
        )
    })?;
    let mut text = String::new();
    let mut answer = None;
    let mut tool_calls = Vec::new();
    for block in response.output.message.content {
        if let Some(part) = block.text {
            text.push_str(&part);
        }
        match block.tool_use {
            Some(call) if Some(call.name.as_str()) == answer_tool => {
                answer = Some(call.input.to_string());
            }
            Some(call) => tool_calls.push(ToolCall {
                id: call.tool_use_id,
                name: call.name,
                arguments: call.input.to_string(),
            }),
            None => {}
        }
    }
    let answered_only = answer.is_some() && tool_calls.is_empty();
    let content = match (answer_tool, answer) {
        (Some(_), Some(answer)) => answer,
        _ => text,
    };
    let mut result = ProviderResponse::text(content, response.usage.to_usage());
    result.tool_calls = tool_calls;
    result.finish_reason = finish_reason(response.stop_reason.as_deref(), answered_only);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse_json(body: Value, answer_tool: Option<&str>) -> ProviderResponse {
        parse(
            body.to_string().as_bytes(),
            answer_tool,
            &AccountInfo::new("a"),
        )
        .unwrap()
    }

    #[test]
    fn cache_reads_and_writes_count_into_the_prompt() {
        let response = parse_json(
            json!({
                "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 42,
                          "cacheReadInputTokens": 20, "cacheWriteInputTokens": 10},
                "metrics": {"latencyMs": 5}
            }),
            None,
        );
        assert_eq!(response.usage.input_tokens, 40);
        assert_eq!(response.usage.cached_input_tokens, 20);
        assert_eq!(response.usage.cache_write_tokens, 10);
        assert_eq!(response.usage.output_tokens, 2);
    }

    #[test]
    fn reasoning_blocks_are_skipped_and_the_answer_tool_input_is_the_text_in_json_mode() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}},
                {"text": "Here you go"},
                {"toolUse": {"toolUseId": "t1", "name": "answer", "input": {"a": 1}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
            "metrics": {"latencyMs": 5}
        });
        let json_mode = parse_json(body.clone(), Some("answer"));
        assert_eq!(json_mode.content, r#"{"a":1}"#);
        assert_eq!(json_mode.finish_reason, FinishReason::Stop);
        let plain = parse_json(body, None);
        assert_eq!(plain.content, "Here you go");
        assert_eq!(plain.tool_calls[0].id, "t1");
        assert_eq!(plain.finish_reason, FinishReason::ToolCalls);
    }

    #[test]
    fn every_stop_reason_of_the_service_model_maps() {
        let cases = [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("tool_use", FinishReason::ToolCalls),
            ("max_tokens", FinishReason::Length),
            ("model_context_window_exceeded", FinishReason::Length),
            ("guardrail_intervened", FinishReason::ContentFilter),
            ("content_filtered", FinishReason::ContentFilter),
            (
                "malformed_model_output",
                FinishReason::Other("malformed_model_output".into()),
            ),
            (
                "malformed_tool_use",
                FinishReason::Other("malformed_tool_use".into()),
            ),
        ];
        for (wire, reason) in cases {
            assert_eq!(finish_reason(Some(wire), false), reason, "{wire}");
        }
    }

    #[test]
    fn a_body_that_is_not_a_converse_response_is_malformed() {
        let error = parse(b"{\"message\":\"hi\"}", None, &AccountInfo::new("a")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::MalformedResponse);
    }
}
