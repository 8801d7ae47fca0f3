//! `GenerateContentResponse`: the whole answer of `generateContent`, and each chunk of a
//! stream.

use super::request::AnswerFunction;
use serde::Deserialize;
use serde_json::Value;

use super::error::{self, ErrorBody};
use crate::account::AccountInfo;
use crate::provider::http;
use crate::provider::{ErrorKind, ProviderError, ProviderResponse};
use crate::types::{FinishReason, ToolCall, Usage};

/// The fields routewise reads; unknown fields are ignored, so new API fields do no harm.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct GenerateContentResponse {
    pub(super) candidates: Vec<Candidate>,
    pub(super) prompt_feedback: Option<PromptFeedback>,
    pub(super) usage_metadata: Option<UsageMetadata>,
    pub(super) response_id: Option<String>,
    pub(super) model_version: Option<String>,
    /// Set instead of the rest when a stream fails part way.
    pub(super) error: Option<ErrorBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Candidate {
    pub(super) content: Option<CandidateContent>,
    pub(super) finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CandidateContent {
    pub(super) parts: Vec<ResponsePart>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ResponsePart {
    pub(super) text: Option<String>,
    /// A thought summary rather than answer text.
    pub(super) thought: bool,
    pub(super) function_call: Option<FunctionCall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct FunctionCall {
    pub(super) id: Option<String>,
    pub(super) name: String,
    pub(super) args: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct PromptFeedback {
    pub(super) block_reason: Option<String>,
    pub(super) block_reason_message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct UsageMetadata {
    prompt_token_count: u32,
    candidates_token_count: u32,
    cached_content_token_count: u32,
    thoughts_token_count: u32,
    tool_use_prompt_token_count: u32,
}

impl UsageMetadata {
    /// Canonical usage: thinking counts as output (Gemini counts it apart from the answer).
    pub(super) fn to_usage(&self) -> Usage {
        Usage {
            input_tokens: self
                .prompt_token_count
                .saturating_add(self.tool_use_prompt_token_count),
            output_tokens: self
                .candidates_token_count
                .saturating_add(self.thoughts_token_count),
            cached_input_tokens: self.cached_content_token_count,
            cache_write_tokens: 0,
            reasoning_tokens: self.thoughts_token_count,
        }
    }
}

impl GenerateContentResponse {
    /// Decodes one response or stream chunk.
    pub(super) fn decode(body: &[u8], account: &AccountInfo) -> Result<Self, ProviderError> {
        serde_json::from_slice(body).map_err(|e| {
            ProviderError::new(
                ErrorKind::MalformedResponse,
                http::redact(
                    &format!("response is not a GenerateContentResponse: {e}"),
                    account,
                ),
            )
        })
    }

    /// The failure this response reports instead of an answer: an error object, or a
    /// blocked prompt.
    pub(super) fn failure(&self, account: &AccountInfo) -> Option<ProviderError> {
        if let Some(body) = &self.error {
            return Some(error::from_body(None, body, None, account));
        }
        let feedback = self.prompt_feedback.as_ref()?;
        let reason = feedback.block_reason.as_deref()?;
        let mut message = format!("prompt blocked by Gemini: {reason}");
        if let Some(detail) = &feedback.block_reason_message {
            message.push_str(": ");
            message.push_str(detail);
        }
        Some(ProviderError::new(
            ErrorKind::ContentFiltered,
            http::redact(&message, account),
        ))
    }
}

/// Parses a `generateContent` answer.
pub(super) fn parse(body: &[u8], account: &AccountInfo) -> Result<ProviderResponse, ProviderError> {
    let response = GenerateContentResponse::decode(body, account)?;
    if let Some(failure) = response.failure(account) {
        return Err(failure);
    }
    let usage = response
        .usage_metadata
        .as_ref()
        .map(UsageMetadata::to_usage)
        .unwrap_or_default();
    let (response_id, response_model) = (response.response_id, response.model_version);
    let candidate = response.candidates.into_iter().next().ok_or_else(|| {
        ProviderError::new(ErrorKind::MalformedResponse, "response has no candidates")
    })?;
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
        if let Some(call) = part.function_call {
            tool_calls.push(tool_call(call, tool_calls.len()));
        } else if let Some(text) = part.text.filter(|_| !part.thought) {
            content.push_str(&text);
        }
    }
    let finish_reason = finish_reason(candidate.finish_reason.as_deref(), !tool_calls.is_empty());
    Ok(ProviderResponse {
        content,
        tool_calls,
        finish_reason,
        usage,
        response_id,
        response_model,
    })
}

/// The response with the call to the JSON-mode answer function as its text: the answer
/// alone, finished as a stop when the model called nothing else.
pub(super) fn take_answer(
    mut response: ProviderResponse,
    answer: &AnswerFunction,
) -> ProviderResponse {
    let Some(position) = response
        .tool_calls
        .iter()
        .position(|c| c.name == answer.name)
    else {
        return response;
    };
    let call = response.tool_calls.remove(position);
    response.content = answer.answer(&call.arguments);
    if response.tool_calls.is_empty() && response.finish_reason == FinishReason::ToolCalls {
        response.finish_reason = FinishReason::Stop;
    }
    response
}

/// A canonical tool call; `index` (its place among the answer's calls) names it when
/// Gemini gives no id.
pub(super) fn tool_call(call: FunctionCall, index: usize) -> ToolCall {
    ToolCall {
        id: call
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("call_{index}")),
        arguments: call
            .args
            .map_or_else(|| "{}".to_owned(), |args| args.to_string()),
        name: call.name,
    }
}

/// The canonical finish reason of Gemini's `finishReason`; an answer with function calls
/// finished to call them.
pub(super) fn finish_reason(reason: Option<&str>, called_tools: bool) -> FinishReason {
    if called_tools {
        return FinishReason::ToolCalls;
    }
    match reason {
        Some("STOP") => FinishReason::Stop,
        Some("MAX_TOKENS") => FinishReason::Length,
        Some(
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION",
        ) => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
        None => FinishReason::Other("FINISH_REASON_UNSPECIFIED".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(body: Value) -> Result<ProviderResponse, ProviderError> {
        parse(body.to_string().as_bytes(), &AccountInfo::new("g"))
    }

    #[test]
    fn thought_summaries_are_not_answer_text() {
        let response = parse_json(
            json!({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "thinking...", "thought": true},
            {"text": "Hello"}, {"text": ", world"},
        ]}, "finishReason": "STOP"}]}),
        )
        .unwrap();
        assert_eq!(response.content, "Hello, world");
        assert_eq!(response.finish_reason, FinishReason::Stop);
    }

    #[test]
    fn finish_reasons_map_to_canonical_ones() {
        assert_eq!(
            finish_reason(Some("MAX_TOKENS"), false),
            FinishReason::Length
        );
        for filtered in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
        ] {
            assert_eq!(
                finish_reason(Some(filtered), false),
                FinishReason::ContentFilter
            );
        }
        assert_eq!(finish_reason(Some("STOP"), true), FinishReason::ToolCalls);
        assert_eq!(
            finish_reason(Some("MALFORMED_FUNCTION_CALL"), false),
            FinishReason::Other("MALFORMED_FUNCTION_CALL".into())
        );
    }

    #[test]
    fn usage_counts_thinking_as_output() {
        let usage = UsageMetadata {
            prompt_token_count: 100,
            candidates_token_count: 20,
            cached_content_token_count: 60,
            thoughts_token_count: 30,
            tool_use_prompt_token_count: 5,
        }
        .to_usage();
        assert_eq!(usage.input_tokens, 105);
        assert_eq!(usage.output_tokens, 50);
        assert_eq!(usage.cached_input_tokens, 60);
        assert_eq!(usage.reasoning_tokens, 30);
    }

    #[test]
    fn function_calls_without_ids_get_positional_ones() {
        let response = parse_json(
            json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "a", "args": {"x": 1}}},
            {"functionCall": {"id": "given", "name": "b"}},
            {"functionCall": {"name": "c", "args": {}}},
        ]}, "finishReason": "STOP"}]}),
        )
        .unwrap();
        let ids: Vec<&str> = response.tool_calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["call_0", "given", "call_2"]);
        assert_eq!(response.tool_calls[0].arguments, r#"{"x":1}"#);
        assert_eq!(response.tool_calls[1].arguments, "{}");
    }

    #[test]
    fn an_answer_without_candidates_is_malformed_unless_the_prompt_was_blocked() {
        let err = parse_json(json!({"usageMetadata": {"promptTokenCount": 3}})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedResponse);
        let err = parse_json(json!({"promptFeedback": {"blockReason": "OTHER"}})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ContentFiltered);
        assert!(err.message().contains("OTHER"));
    }
}
