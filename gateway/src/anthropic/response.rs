//! Answers in the Anthropic Messages format: one `message`, or the event stream from
//! `message_start` to `message_stop`.

use routewise::{ChatResponse, FinishReason, StreamEvent, Usage};
use serde_json::{Value, json};

use crate::error::{ApiError, Wire};
use crate::server::Frames;

fn stop_reason(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
        _ => "end_turn",
    }
}

fn usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cached_input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
    })
}

/// The `message` object of a finished answer.
pub(crate) fn message(id: &str, model: &str, response: &ChatResponse) -> Value {
    let mut content = Vec::new();
    if !response.content.is_empty() {
        content.push(json!({"type": "text", "text": response.content}));
    }
    for call in &response.tool_calls {
        let input: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
    }
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(&response.finish_reason),
        "stop_sequence": null,
        "usage": usage(&response.usage),
    })
}

/// The open content block of a stream.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Tool(u32),
}

/// The event stream of one answer, opening and closing content blocks as text and tool
/// calls arrive.
pub(crate) struct Events {
    id: String,
    model: String,
    open: Option<Block>,
    /// The index of the next content block.
    next: u32,
}

impl Events {
    pub(crate) fn new(id: String, model: String) -> Self {
        Self {
            id,
            model,
            open: None,
            next: 0,
        }
    }

    /// Closes the open block unless it is `wanted`; returns whether `wanted` must open.
    fn switch(&mut self, wanted: Block, out: &mut String) -> bool {
        if self.open == Some(wanted) {
            return false;
        }
        self.close(out);
        self.open = Some(wanted);
        true
    }

    fn close(&mut self, out: &mut String) {
        if self.open.take().is_some() {
            out.push_str(&frame(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.next}),
            ));
            self.next += 1;
        }
    }
}

impl Frames for Events {
    fn opening(&mut self) -> String {
        frame(
            "message_start",
            &json!({
                "type": "message_start",
                "message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            }),
        )
    }

    fn event(&mut self, event: &StreamEvent) -> String {
        let mut out = String::new();
        match event {
            StreamEvent::TextDelta { text } => {
                if self.switch(Block::Text, &mut out) {
                    out.push_str(&frame(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": self.next, "content_block": {"type": "text", "text": ""}}),
                    ));
                }
                out.push_str(&frame(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": self.next, "delta": {"type": "text_delta", "text": text}}),
                ));
            }
            StreamEvent::ToolCallDelta(delta) => {
                if self.switch(Block::Tool(delta.index), &mut out) {
                    out.push_str(&frame(
                        "content_block_start",
                        &json!({
                            "type": "content_block_start",
                            "index": self.next,
                            "content_block": {
                                "type": "tool_use",
                                "id": delta.id.clone().unwrap_or_default(),
                                "name": delta.name.clone().unwrap_or_default(),
                                "input": {},
                            },
                        }),
                    ));
                }
                if !delta.arguments.is_empty() {
                    out.push_str(&frame(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": self.next, "delta": {"type": "input_json_delta", "partial_json": delta.arguments}}),
                    ));
                }
            }
            StreamEvent::Done(response) => {
                self.close(&mut out);
                out.push_str(&frame(
                    "message_delta",
                    &json!({
                        "type": "message_delta",
                        "delta": {"stop_reason": stop_reason(&response.finish_reason), "stop_sequence": null},
                        "usage": usage(&response.usage),
                    }),
                ));
                out.push_str(&frame("message_stop", &json!({"type": "message_stop"})));
            }
            _ => {}
        }
        out
    }

    fn error(&mut self, error: &ApiError) -> String {
        frame("error", &error.body(Wire::Anthropic))
    }
}

fn frame(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}
