//! ConverseStream events (already unframed, see `framing`) as provider events.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

use super::error;
use super::response::{WireUsage, finish_reason};
use crate::provider::event_stream::Flow;
use crate::provider::{ErrorKind, ProviderError, ProviderEvent};
use crate::types::ToolCallDelta;

/// One event-stream message, by its `:message-type` header.
#[derive(Debug)]
pub(super) enum Frame<'a> {
    /// `event`: `:event-type` and the JSON payload.
    Event { kind: &'a str, payload: &'a [u8] },
    /// `exception`: `:exception-type` and the JSON payload (`{"message": ...}`).
    Exception { kind: &'a str, payload: &'a [u8] },
    /// `error`: `:error-code` and `:error-message`.
    Error { code: &'a str, message: &'a str },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart {
    content_block_index: u32,
    start: StartKind,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartKind {
    tool_use: Option<ToolStart>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolStart {
    tool_use_id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta {
    content_block_index: u32,
    delta: DeltaKind,
}

/// A delta (a union); reasoning, citation and other deltas have neither member.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaKind {
    text: Option<String>,
    tool_use: Option<ToolDelta>,
}

#[derive(Debug, Deserialize)]
struct ToolDelta {
    input: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStop {
    content_block_index: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    stop_reason: String,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    usage: WireUsage,
}

/// What an open tool block is.
#[derive(Debug)]
enum OpenBlock {
    /// A tool call, the `ordinal`-th of the message.
    Tool { ordinal: u32, sent: bool },
    /// The JSON-mode answer tool: its input is the text (held whole when wrapped).
    Answer { held: String, sent: bool },
}

/// Turns one stream's events into provider events. The stream is complete after
/// `messageStop` and the `metadata` that follows it with the usage; a body that ends
/// between the two still finishes (without usage), one that ends before `messageStop`
/// is a [`ErrorKind::MalformedResponse`].
#[derive(Debug)]
pub(super) struct Decoder {
    answer_tool: Option<String>,
    wrapped: bool,
    blocks: HashMap<u32, OpenBlock>,
    tool_calls: u32,
    answered: bool,
    stop_reason: Option<String>,
}

impl Decoder {
    /// A decoder for a request whose JSON-mode answer tool (if any) is `answer_tool`,
    /// `wrapped` when the answer is wrapped in `value`.
    pub(super) fn new(answer_tool: Option<String>, wrapped: bool) -> Self {
        Self {
            answer_tool,
            wrapped,
            blocks: HashMap::new(),
            tool_calls: 0,
            answered: false,
            stop_reason: None,
        }
    }

    /// Decodes one message, appending the provider events it carries to `out`.
    pub(super) fn decode(
        &mut self,
        frame: Frame<'_>,
        out: &mut VecDeque<ProviderEvent>,
    ) -> Result<Flow, ProviderError> {
        let (kind, payload) = match frame {
            Frame::Event { kind, payload } => (kind, payload),
            Frame::Exception { kind, payload } => return Err(error::from_exception(kind, payload)),
            Frame::Error { code, message } => {
                return Err(error::from_exception(
                    code,
                    serde_json::json!({ "message": message })
                        .to_string()
                        .as_bytes(),
                ));
            }
        };
        match kind {
            "contentBlockStart" => self.start_block(parse(kind, payload)?, out),
            "contentBlockDelta" => self.delta(parse(kind, payload)?, out),
            "contentBlockStop" => {
                let stop: BlockStop = parse(kind, payload)?;
                self.stop_block(stop.content_block_index, out);
            }
            "messageStop" => {
                let stop: MessageStop = parse(kind, payload)?;
                self.stop_reason = Some(stop.stop_reason);
            }
            "metadata" if self.stop_reason.is_some() => {
                let metadata: Metadata = parse(kind, payload)?;
                out.push_back(self.finished(metadata.usage));
                return Ok(Flow::Finished);
            }
            // `messageStart`, early metadata, and events added after this adapter.
            _ => {}
        }
        Ok(Flow::More)
    }

    /// The body ended before the final `metadata`.
    pub(super) fn end(&mut self) -> Result<ProviderEvent, ProviderError> {
        if self.stop_reason.is_some() {
            return Ok(self.finished(WireUsage::default()));
        }
        Err(ProviderError::new(
            ErrorKind::MalformedResponse,
            "stream ended before messageStop",
        ))
    }

    fn finished(&self, usage: WireUsage) -> ProviderEvent {
        let answered_only = self.answered && self.tool_calls == 0;
        ProviderEvent::Finished {
            finish_reason: finish_reason(self.stop_reason.as_deref(), answered_only),
            usage: usage.to_usage(),
        }
    }

    fn start_block(&mut self, start: BlockStart, out: &mut VecDeque<ProviderEvent>) {
        let Some(tool) = start.start.tool_use else {
            return;
        };
        let open = if Some(&tool.name) == self.answer_tool.as_ref() {
            self.answered = true;
            OpenBlock::Answer {
                held: String::new(),
                sent: false,
            }
        } else {
            let ordinal = self.tool_calls;
            self.tool_calls += 1;
            out.push_back(ProviderEvent::ToolCallDelta(ToolCallDelta {
                index: ordinal,
                id: Some(tool.tool_use_id),
                name: Some(tool.name),
                arguments: String::new(),
            }));
            OpenBlock::Tool {
                ordinal,
                sent: false,
            }
        };
        self.blocks.insert(start.content_block_index, open);
    }

    fn delta(&mut self, delta: BlockDelta, out: &mut VecDeque<ProviderEvent>) {
        let block = self.blocks.get_mut(&delta.content_block_index);
        match (block, delta.delta) {
            // Text blocks have no start event. In JSON mode the answer tool's input is
            // the whole answer, so text is left out.
            (
                None,
                DeltaKind {
                    text: Some(text), ..
                },
            ) if self.answer_tool.is_none() && !text.is_empty() => {
                out.push_back(ProviderEvent::TextDelta(text));
            }
            (
                Some(OpenBlock::Tool { ordinal, sent }),
                DeltaKind {
                    tool_use: Some(ToolDelta { input }),
                    ..
                },
            ) if !input.is_empty() => {
                *sent = true;
                out.push_back(ProviderEvent::ToolCallDelta(ToolCallDelta {
                    index: *ordinal,
                    id: None,
                    name: None,
                    arguments: input,
                }));
            }
            (
                Some(OpenBlock::Answer { held, sent }),
                DeltaKind {
                    tool_use: Some(ToolDelta { input }),
                    ..
                },
            ) => {
                if self.wrapped {
                    held.push_str(&input);
                } else if !input.is_empty() {
                    *sent = true;
                    out.push_back(ProviderEvent::TextDelta(input));
                }
            }
            _ => {}
        }
    }

    /// A tool block that streamed no input has the empty object as its input, as a
    /// non-streaming answer would carry it; a wrapped answer is sent whole, unwrapped.
    fn stop_block(&mut self, index: u32, out: &mut VecDeque<ProviderEvent>) {
        match self.blocks.remove(&index) {
            Some(OpenBlock::Tool {
                ordinal,
                sent: false,
            }) => out.push_back(ProviderEvent::ToolCallDelta(ToolCallDelta {
                index: ordinal,
                id: None,
                name: None,
                arguments: "{}".to_owned(),
            })),
            Some(OpenBlock::Answer { held, sent: false }) => {
                let input = if held.is_empty() {
                    "{}".to_owned()
                } else {
                    held
                };
                let text = if self.wrapped {
                    crate::provider::body::unwrap_answer(&input)
                } else {
                    input
                };
                out.push_back(ProviderEvent::TextDelta(text));
            }
            _ => {}
        }
    }
}

fn parse<'de, T: Deserialize<'de>>(kind: &str, payload: &'de [u8]) -> Result<T, ProviderError> {
    // The message names the event and serde's complaint, never the payload itself.
    serde_json::from_slice(payload).map_err(|e| {
        ProviderError::new(
            ErrorKind::MalformedResponse,
            format!("stream event `{kind}` is not valid: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::types::{FinishReason, Usage};

    fn run(decoder: &mut Decoder, events: &[(&str, Value)]) -> Vec<ProviderEvent> {
        let mut out = VecDeque::new();
        for (kind, payload) in events {
            let payload = payload.to_string();
            let frame = Frame::Event {
                kind,
                payload: payload.as_bytes(),
            };
            decoder.decode(frame, &mut out).unwrap();
        }
        out.into()
    }

    fn finish(stop: &str) -> [(&'static str, Value); 2] {
        [
            ("messageStop", json!({"stopReason": stop})),
            (
                "metadata",
                json!({"usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}, "metrics": {"latencyMs": 1}}),
            ),
        ]
    }

    #[test]
    fn a_tool_call_without_input_fragments_gets_the_empty_object() {
        let mut decoder = Decoder::new(None, false);
        let mut events = vec![
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockStart",
                json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t", "name": "now"}}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 0})),
        ];
        events.extend(finish("tool_use"));
        let out = run(&mut decoder, &events);
        assert_eq!(
            out[1],
            ProviderEvent::ToolCallDelta(ToolCallDelta {
                index: 0,
                id: None,
                name: None,
                arguments: "{}".into()
            })
        );
        assert_eq!(
            out[2],
            ProviderEvent::Finished {
                finish_reason: FinishReason::ToolCalls,
                usage: Usage::new(3, 4)
            }
        );
    }

    #[test]
    fn a_wrapped_answer_is_held_and_sent_unwrapped_when_its_block_stops() {
        let mut decoder = Decoder::new(Some("answer".into()), true);
        let mut events = vec![
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "ignored in JSON mode"}}),
            ),
            (
                "contentBlockStart",
                json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "answer"}}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"value\": [1,"}}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": " 2]}"}}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 1})),
        ];
        events.extend(finish("tool_use"));
        let out = run(&mut decoder, &events);
        assert_eq!(out[0], ProviderEvent::TextDelta("[1,2]".into()));
        assert!(matches!(
            &out[1],
            ProviderEvent::Finished {
                finish_reason: FinishReason::Stop,
                ..
            }
        ));
    }

    #[test]
    fn exceptions_and_error_messages_fail_the_stream_with_their_kind() {
        let mut decoder = Decoder::new(None, false);
        let mut out = VecDeque::new();
        let error = decoder
            .decode(
                Frame::Exception {
                    kind: "modelStreamErrorException",
                    payload: br#"{"message":"boom","originalStatusCode":500}"#,
                },
                &mut out,
            )
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ServerError);
        let error = decoder
            .decode(
                Frame::Error {
                    code: "ThrottlingException",
                    message: "slow",
                },
                &mut out,
            )
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::RateLimited);
        assert!(error.message().contains("slow"));
    }

    #[test]
    fn the_body_may_end_after_message_stop_but_not_before() {
        let mut decoder = Decoder::new(None, false);
        assert_eq!(
            decoder.end().unwrap_err().kind(),
            ErrorKind::MalformedResponse
        );
        run(
            &mut decoder,
            &[("messageStop", json!({"stopReason": "max_tokens"}))],
        );
        assert!(matches!(
            decoder.end().unwrap(),
            ProviderEvent::Finished {
                finish_reason: FinishReason::Length,
                ..
            }
        ));
    }
}
