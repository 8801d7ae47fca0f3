//! Messages API stream events as provider events.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;
use serde_json::Value;

use super::error::{self, WireError};
use super::response::{WireBlock, WireUsage, finish_reason};
use crate::account::AccountInfo;
use crate::provider::event_stream::{EventDecoder, Flow};
use crate::provider::{ErrorKind, ProviderError, ProviderEvent, http};
use crate::types::ToolCallDelta;

/// The stream events the adapter reads; others (and future ones) are `Unknown` and skipped.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: StartedMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: WireBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: WireDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageChange,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop,
    Ping,
    Error {
        error: WireError,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
struct StartedMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Debug, Deserialize)]
struct MessageChange {
    stop_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

/// What a content block turned out to be.
#[derive(Debug)]
enum OpenBlock {
    Text,
    /// A tool call, the `ordinal`-th of the message.
    Tool {
        ordinal: u32,
        sent: bool,
        start_input: Value,
    },
    /// The JSON-mode answer tool: its input is the text.
    Answer {
        sent: bool,
        start_input: Value,
        /// The input so far, when the answer is wrapped and sent whole at the end.
        held: String,
    },
    Skipped,
}

/// Turns one stream's events into provider events.
#[derive(Debug)]
pub(super) struct Decoder {
    answer_tool: Option<String>,
    /// Whether the answer tool's input wraps the answer in `value` (a schema whose root
    /// is not an object).
    wrapped: bool,
    blocks: HashMap<u32, OpenBlock>,
    tool_calls: u32,
    answered: bool,
    usage: WireUsage,
    stop_reason: Option<String>,
}

impl Decoder {
    /// A decoder for a request whose JSON-mode answer tool (if any) is `answer_tool`.
    pub(super) fn new(answer_tool: Option<String>) -> Self {
        Self {
            answer_tool,
            wrapped: false,
            blocks: HashMap::new(),
            tool_calls: 0,
            answered: false,
            usage: WireUsage::default(),
            stop_reason: None,
        }
    }

    /// The decoder for an answer wrapped in `value`: the answer's fragments are held and
    /// the unwrapped answer is sent when its block ends.
    pub(super) fn wrapped(mut self, wrapped: bool) -> Self {
        self.wrapped = wrapped;
        self
    }

    fn start_block(&mut self, index: u32, block: WireBlock, out: &mut VecDeque<ProviderEvent>) {
        let open = match block {
            WireBlock::Text { text } => {
                self.text(text, out);
                OpenBlock::Text
            }
            WireBlock::ToolUse { name, input, .. } if Some(&name) == self.answer_tool.as_ref() => {
                self.answered = true;
                OpenBlock::Answer {
                    sent: false,
                    start_input: input,
                    held: String::new(),
                }
            }
            WireBlock::ToolUse { id, name, input } => {
                let ordinal = self.tool_calls;
                self.tool_calls += 1;
                out.push_back(ProviderEvent::ToolCallDelta(ToolCallDelta {
                    index: ordinal,
                    id: Some(id),
                    name: Some(name),
                    arguments: String::new(),
                }));
                OpenBlock::Tool {
                    ordinal,
                    sent: false,
                    start_input: input,
                }
            }
            WireBlock::Other => OpenBlock::Skipped,
        };
        self.blocks.insert(index, open);
    }

    fn delta(&mut self, index: u32, delta: WireDelta, out: &mut VecDeque<ProviderEvent>) {
        match (self.blocks.get_mut(&index), delta) {
            (Some(OpenBlock::Text), WireDelta::TextDelta { text }) => self.text(text, out),
            (
                Some(OpenBlock::Tool { ordinal, sent, .. }),
                WireDelta::InputJsonDelta { partial_json },
            ) if !partial_json.is_empty() => {
                *sent = true;
                out.push_back(ProviderEvent::ToolCallDelta(ToolCallDelta {
                    index: *ordinal,
                    id: None,
                    name: None,
                    arguments: partial_json,
                }));
            }
            (Some(OpenBlock::Answer { held, .. }), WireDelta::InputJsonDelta { partial_json })
                if self.wrapped =>
            {
                held.push_str(&partial_json)
            }
            (Some(OpenBlock::Answer { sent, .. }), WireDelta::InputJsonDelta { partial_json })
                if !partial_json.is_empty() =>
            {
                *sent = true;
                out.push_back(ProviderEvent::TextDelta(partial_json));
            }
            _ => {}
        }
    }

    /// A tool block that streamed no input fragments still has an input (usually `{}`):
    /// send the one from its start, as a non-streaming answer would carry it.
    fn stop_block(&mut self, index: u32, out: &mut VecDeque<ProviderEvent>) {
        match self.blocks.remove(&index) {
            Some(OpenBlock::Tool {
                ordinal,
                sent: false,
                start_input,
            }) => out.push_back(ProviderEvent::ToolCallDelta(ToolCallDelta {
                index: ordinal,
                id: None,
                name: None,
                arguments: start_input.to_string(),
            })),
            Some(OpenBlock::Answer {
                sent: false,
                start_input,
                held,
            }) => {
                let input = if held.is_empty() {
                    start_input.to_string()
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

    /// Text, unless in JSON mode, where the answer tool's input is the whole answer.
    fn text(&self, text: String, out: &mut VecDeque<ProviderEvent>) {
        if self.answer_tool.is_none() && !text.is_empty() {
            out.push_back(ProviderEvent::TextDelta(text));
        }
    }
}

/// The stream ends after `message_stop`; ending before it is a
/// [`ErrorKind::MalformedResponse`], an `error` event a classified error.
impl EventDecoder for Decoder {
    fn decode(
        &mut self,
        data: &str,
        account: &AccountInfo,
        out: &mut VecDeque<ProviderEvent>,
    ) -> Result<Flow, ProviderError> {
        let event: WireEvent = serde_json::from_str(data).map_err(|e| {
            ProviderError::new(
                ErrorKind::MalformedResponse,
                // serde_json quotes the value it choked on, which can be an echoed secret.
                http::redact(&format!("stream event is not valid: {e}"), account),
            )
        })?;
        match event {
            WireEvent::MessageStart { message } => {
                self.usage.update(message.usage);
                out.extend(ProviderEvent::response_info(message.id, message.model));
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => self.start_block(index, content_block, out),
            WireEvent::ContentBlockDelta { index, delta } => self.delta(index, delta, out),
            WireEvent::ContentBlockStop { index } => self.stop_block(index, out),
            WireEvent::MessageDelta { delta, usage } => {
                self.stop_reason = delta.stop_reason.or(self.stop_reason.take());
                self.usage.update(usage);
            }
            WireEvent::MessageStop => {
                let answered_only = self.answered && self.tool_calls == 0;
                out.push_back(ProviderEvent::Finished {
                    finish_reason: finish_reason(self.stop_reason.as_deref(), answered_only),
                    usage: self.usage.to_usage(),
                });
                return Ok(Flow::Finished);
            }
            WireEvent::Error { error } => return Err(error::from_event(&error, account)),
            WireEvent::Ping | WireEvent::Unknown => {}
        }
        Ok(Flow::More)
    }

    fn end(&mut self) -> Result<ProviderEvent, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::MalformedResponse,
            "stream ended before message_stop",
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::types::{FinishReason, Usage};

    fn decode_all(decoder: &mut Decoder, events: &[Value]) -> Vec<ProviderEvent> {
        let mut out = VecDeque::new();
        for event in events {
            decoder
                .decode(&event.to_string(), &AccountInfo::new("a"), &mut out)
                .unwrap();
        }
        out.into()
    }

    fn tool_stream(name: &str, fragments: &[&str]) -> Vec<Value> {
        let mut events = vec![
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "tool_use", "id": "toolu_1", "name": name, "input": {}}}),
        ];
        events.extend(fragments.iter().map(|f| {
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "input_json_delta", "partial_json": f}})
        }));
        events.extend([
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
            json!({"type": "message_stop"}),
        ]);
        events
    }

    #[test]
    fn a_tool_call_without_input_fragments_gets_its_start_input() {
        let mut decoder = Decoder::new(None);
        let out = decode_all(&mut decoder, &tool_stream("lookup", &[""]));
        let arguments: String = out
            .iter()
            .filter_map(|e| match e {
                ProviderEvent::ToolCallDelta(d) => Some(d.arguments.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(arguments, "{}");
        assert_eq!(
            out.last(),
            Some(&ProviderEvent::Finished {
                finish_reason: FinishReason::ToolCalls,
                usage: Usage::new(9, 7),
            })
        );
    }

    #[test]
    fn answer_tool_fragments_become_text_and_finish_as_a_stop() {
        let mut decoder = Decoder::new(Some("answer".into()));
        let out = decode_all(&mut decoder, &tool_stream("answer", &["{\"a\":", "1}"]));
        assert_eq!(
            out,
            [
                ProviderEvent::TextDelta("{\"a\":".into()),
                ProviderEvent::TextDelta("1}".into()),
                ProviderEvent::Finished {
                    finish_reason: FinishReason::Stop,
                    usage: Usage::new(9, 7),
                },
            ]
        );
    }

    #[test]
    fn unknown_events_and_deltas_are_skipped_and_bad_json_is_malformed() {
        let mut decoder = Decoder::new(None);
        let skipped = decode_all(
            &mut decoder,
            &[
                json!({"type": "brand_new_event", "x": 1}),
                json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
            ],
        );
        assert!(skipped.is_empty(), "{skipped:?}");
        let err = decoder
            .decode("{not json", &AccountInfo::new("a"), &mut VecDeque::new())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    }
}
