//! Chat Completions response body -> [`ProviderResponse`]; the usage and finish-reason
//! mappings streams share.

use serde::Deserialize;

use super::error::{self, ErrorField};
use crate::account::AccountInfo;
use crate::provider::{ErrorKind, ProviderError, ProviderResponse, http};
use crate::types::{FinishReason, ToolCall, Usage};

/// The parts of a chat completion the adapter reads. Unknown fields are ignored, so
/// compatible servers that add their own still parse. A compatible server that reports a
/// failure with a 2xx status sends `error` instead.
#[derive(Debug, Deserialize)]
struct Completion {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<ErrorField>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: CompletionMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CompletionMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// Token usage as OpenAI reports it. Counts are `u64` on the wire and saturate to `u32`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek's count of prompt tokens served from its context cache, where OpenAI
    /// says `prompt_tokens_details.cached_tokens`.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(wire: WireUsage) -> Self {
        let count = |n: Option<u64>| u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX);
        let prompt = wire.prompt_tokens_details.unwrap_or_default();
        let completion = wire.completion_tokens_details.unwrap_or_default();
        Usage {
            input_tokens: count(Some(wire.prompt_tokens)),
            output_tokens: count(Some(wire.completion_tokens)),
            cached_input_tokens: count(prompt.cached_tokens.or(wire.prompt_cache_hit_tokens)),
            cache_write_tokens: count(prompt.cache_write_tokens),
            reasoning_tokens: count(completion.reasoning_tokens),
        }
    }
}

/// OpenAI's finish reason as a [`FinishReason`], or the content-filter error that
/// `content_filter` stands for. A missing reason (some compatible servers omit it) counts
/// as the natural end of the answer.
pub(super) fn finish_reason(reason: Option<&str>) -> Result<FinishReason, ProviderError> {
    Ok(match reason {
        None | Some("stop") => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("content_filter") => return Err(content_filtered()),
        Some(other) => FinishReason::Other(other.to_owned()),
    })
}

fn content_filtered() -> ProviderError {
    ProviderError::new(
        ErrorKind::ContentFiltered,
        "the provider's content filter stopped generation (finish reason content_filter)",
    )
}

/// A response body that could not be understood. serde_json's message quotes the value
/// it choked on, which can be a secret the server echoed: it is redacted.
pub(super) fn malformed(
    what: &str,
    error: &serde_json::Error,
    account: &AccountInfo,
) -> ProviderError {
    ProviderError::new(
        ErrorKind::MalformedResponse,
        http::redact(&format!("{what}: {error}"), account),
    )
}

/// Parses a whole chat completion: the first choice's text (or refusal) and tool calls,
/// its finish reason and the usage.
pub(super) fn parse(body: &[u8], account: &AccountInfo) -> Result<ProviderResponse, ProviderError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|e| malformed("unreadable chat completion", &e, account))?;
    if let Some(field) = completion.error {
        return Err(error::classify(field, None, account));
    }
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(ProviderError::new(
            ErrorKind::MalformedResponse,
            "chat completion has no choices",
        ));
    };
    let finish_reason = finish_reason(choice.finish_reason.as_deref())?;
    let message = choice.message;
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| ToolCall {
            id: call.id,
            name: call.function.name,
            arguments: call.function.arguments,
        })
        .collect();
    let mut response = ProviderResponse::text(
        message.content.or(message.refusal).unwrap_or_default(),
        completion.usage.map(Usage::from).unwrap_or_default(),
    )
    .finish_reason(finish_reason)
    .answered_as(completion.id, completion.model);
    response.tool_calls = tool_calls;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(json: serde_json::Value) -> Result<ProviderResponse, ProviderError> {
        parse(json.to_string().as_bytes(), &AccountInfo::new("a"))
    }

    #[test]
    fn deepseek_cache_hits_count_as_cached_input() {
        let usage: WireUsage = serde_json::from_value(serde_json::json!({
            "prompt_tokens": 1000, "completion_tokens": 20, "total_tokens": 1020,
            "prompt_cache_hit_tokens": 768, "prompt_cache_miss_tokens": 232
        }))
        .unwrap();
        assert_eq!(Usage::from(usage).cached_input_tokens, 768);
    }

    #[test]
    fn usage_details_are_mapped() {
        let usage: WireUsage = serde_json::from_value(serde_json::json!({
            "prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0}
        }))
        .unwrap();
        assert_eq!(
            Usage::from(usage),
            Usage {
                input_tokens: 2006,
                output_tokens: 300,
                cached_input_tokens: 1920,
                cache_write_tokens: 0,
                reasoning_tokens: 192,
            }
        );
    }

    #[test]
    fn huge_counts_saturate() {
        let usage: WireUsage =
            serde_json::from_value(serde_json::json!({"prompt_tokens": 1_u64 << 40})).unwrap();
        assert_eq!(Usage::from(usage).input_tokens, u32::MAX);
    }

    #[test]
    fn finish_reasons_map() {
        assert_eq!(finish_reason(Some("length")).unwrap(), FinishReason::Length);
        assert_eq!(
            finish_reason(Some("function_call")).unwrap(),
            FinishReason::ToolCalls
        );
        assert_eq!(
            finish_reason(Some("eos")).unwrap(),
            FinishReason::Other("eos".into())
        );
        assert_eq!(
            finish_reason(Some("content_filter")).unwrap_err().kind(),
            ErrorKind::ContentFiltered
        );
    }

    #[test]
    fn a_refusal_is_the_answer_text() {
        let response = parse_json(serde_json::json!({"choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]}))
        .unwrap();
        assert_eq!(response.content, "I can't help with that.");
    }

    #[test]
    fn bodies_without_choices_or_with_errors_fail() {
        let empty = parse_json(serde_json::json!({"choices": []})).unwrap_err();
        assert_eq!(empty.kind(), ErrorKind::MalformedResponse);
        let error = parse_json(
            serde_json::json!({"error": {"message": "upstream timed out", "code": 504}}),
        )
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ServerError);
        assert!(error.message().contains("upstream timed out"));
    }
}
