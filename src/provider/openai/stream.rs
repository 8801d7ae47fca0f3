//! Chat Completions event streams (`data: <chunk>` ... `data: [DONE]`) -> [`ProviderEvent`]s.

use std::collections::VecDeque;

use serde::Deserialize;

use super::error::{self, ErrorField};
use super::response::{self, WireUsage};
use crate::account::AccountInfo;
use crate::provider::event_stream::{EventDecoder, Flow};
use crate::provider::{ErrorKind, ProviderError, ProviderEvent};
use crate::types::{FinishReason, ToolCallDelta, Usage};

/// The parts of a `chat.completion.chunk` the adapter reads. Only the first choice is
/// followed (the adapter never asks for more).
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    /// Groq's extension, whose `usage` the last chunk of a stream carries.
    #[serde(default)]
    x_groq: Option<GroqExtension>,
    #[serde(default)]
    error: Option<ErrorField>,
}

#[derive(Debug, Deserialize)]
struct GroqExtension {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<DeltaToolCall>>,
}

#[derive(Debug, Deserialize)]
struct DeltaToolCall {
    index: u32,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Debug, Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Turns the data of each event into provider events, remembering the finish reason and
/// usage until `[DONE]` closes the stream. A body that ends before `[DONE]` is a
/// malformed response.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    finish_reason: Option<FinishReason>,
    usage: Usage,
    /// Whether the answer's id and model were passed on (from the first chunk that had
    /// them: Azure's first chunk may carry only prompt filter results, with empty ones).
    identified: bool,
}

impl EventDecoder for Decoder {
    fn decode(
        &mut self,
        data: &str,
        account: &AccountInfo,
        out: &mut VecDeque<ProviderEvent>,
    ) -> Result<Flow, ProviderError> {
        if data.trim() == "[DONE]" {
            out.push_back(ProviderEvent::Finished {
                finish_reason: self.finish_reason.take().unwrap_or(FinishReason::Stop),
                usage: self.usage,
            });
            return Ok(Flow::Finished);
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| response::malformed("unreadable stream chunk", &e, account))?;
        if let Some(field) = chunk.error {
            return Err(error::classify(field, None, account));
        }
        if !self.identified
            && let Some(info) = ProviderEvent::response_info(chunk.id, chunk.model)
        {
            self.identified = true;
            out.push_back(info);
        }
        if let Some(usage) = chunk.usage.or(chunk.x_groq.and_then(|x| x.usage)) {
            self.usage = usage.into();
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                push_delta(delta, out);
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(response::finish_reason(Some(&reason))?);
            }
        }
        Ok(Flow::More)
    }

    fn end(&mut self) -> Result<ProviderEvent, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::MalformedResponse,
            "event stream ended before [DONE]",
        ))
    }
}

fn push_delta(delta: Delta, out: &mut VecDeque<ProviderEvent>) {
    for text in [delta.content, delta.refusal].into_iter().flatten() {
        if !text.is_empty() {
            out.push_back(ProviderEvent::TextDelta(text));
        }
    }
    for call in delta.tool_calls.unwrap_or_default() {
        let (name, arguments) = call
            .function
            .map(|f| (f.name, f.arguments.unwrap_or_default()))
            .unwrap_or_default();
        out.push_back(ProviderEvent::ToolCallDelta(ToolCallDelta {
            index: call.index,
            id: call.id,
            name,
            arguments,
        }));
    }
}

/// Whether a response to a streaming request is one JSON body rather than an event stream.
pub(super) fn is_json(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(datas: &[&str]) -> (Vec<ProviderEvent>, Result<(), ProviderError>) {
        let mut decoder = Decoder::default();
        let account = AccountInfo::new("a");
        let mut out = VecDeque::new();
        for data in datas {
            if let Err(e) = decoder.decode(data, &account, &mut out) {
                return (out.into(), Err(e));
            }
        }
        (out.into(), Ok(()))
    }

    #[test]
    fn text_tool_calls_and_usage_become_events() {
        let (events, result) = decode_all(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
            "[DONE]",
        ]);
        result.unwrap();
        assert_eq!(
            events,
            [
                ProviderEvent::TextDelta("Hi".into()),
                ProviderEvent::ToolCallDelta(ToolCallDelta {
                    index: 1,
                    id: Some("call_1".into()),
                    name: Some("f".into()),
                    arguments: String::new(),
                }),
                ProviderEvent::ToolCallDelta(ToolCallDelta {
                    index: 1,
                    id: None,
                    name: None,
                    arguments: "{}".into(),
                }),
                ProviderEvent::Finished {
                    finish_reason: FinishReason::ToolCalls,
                    usage: Usage::new(5, 7),
                },
            ]
        );
    }

    #[test]
    fn groqs_usage_in_its_extension_is_the_streams_usage() {
        let (events, result) = decode_all(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_01","usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}}"#,
            "[DONE]",
        ]);
        result.unwrap();
        assert_eq!(
            events.last(),
            Some(&ProviderEvent::Finished {
                finish_reason: FinishReason::Stop,
                usage: Usage::new(9, 3),
            })
        );
    }

    #[test]
    fn the_first_chunk_with_an_id_names_the_answer_once() {
        let (events, result) = decode_all(&[
            r#"{"id":"","model":"","choices":[],"prompt_filter_results":[]}"#,
            r#"{"id":"chatcmpl-1","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"id":"chatcmpl-1","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        result.unwrap();
        assert_eq!(
            events[..2],
            [
                ProviderEvent::ResponseInfo {
                    response_id: Some("chatcmpl-1".into()),
                    response_model: Some("gpt-4o-2024-08-06".into()),
                },
                ProviderEvent::TextDelta("Hi".into()),
            ]
        );
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn error_chunks_and_garbage_fail() {
        let (_, result) =
            decode_all(&[r#"{"error":{"message":"overloaded","type":"server_error"}}"#]);
        assert_eq!(result.unwrap_err().kind(), ErrorKind::ServerError);
        let (_, result) = decode_all(&[r#"{"choices":[{"index":0,"delta":"#]);
        assert_eq!(result.unwrap_err().kind(), ErrorKind::MalformedResponse);
    }

    #[test]
    fn text_before_a_content_filter_stop_is_kept() {
        let (events, result) = decode_all(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Once"},"finish_reason":"content_filter"}]}"#,
        ]);
        assert_eq!(events, [ProviderEvent::TextDelta("Once".into())]);
        assert_eq!(result.unwrap_err().kind(), ErrorKind::ContentFiltered);
    }
}
