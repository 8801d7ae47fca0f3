//! Answers in the OpenAI Chat Completions format: one `chat.completion`, or a stream of
//! `chat.completion.chunk` events ending with `data: [DONE]`.

use routewise::{ChatResponse, FinishReason, StreamEvent, Usage};
use serde_json::{Value, json};

use crate::error::{ApiError, Wire};

pub(crate) fn finish_reason(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        _ => "stop",
    }
}

fn usage(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens(),
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    })
}

/// The `chat.completion` object of a finished answer.
pub(crate) fn completion(id: &str, created: u64, model: &str, response: &ChatResponse) -> Value {
    let tool_calls: Vec<Value> = response
        .tool_calls
        .iter()
        .map(|call| {
            json!({
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            })
        })
        .collect();
    let mut message = json!({
        "role": "assistant",
        "content": if response.content.is_empty() && !tool_calls.is_empty() {
            Value::Null
        } else {
            Value::String(response.content.clone())
        },
        "refusal": null,
    });
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(&response.finish_reason),
            "logprobs": null,
        }],
        "usage": usage(&response.usage),
    })
}

/// Turns routed stream events into chunk frames, one `data:` line each.
pub(crate) struct Chunks {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl Chunks {
    pub(crate) fn new(id: String, created: u64, model: String, include_usage: bool) -> Self {
        Self {
            id,
            created,
            model,
            include_usage,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        })
    }

    /// The first frame: the assistant's role.
    pub(crate) fn opening(&self) -> String {
        frame(&self.chunk(json!({"role": "assistant", "content": ""}), None))
    }

    /// The frames of one event (the end brings the finish reason, usage and `[DONE]`).
    pub(crate) fn event(&self, event: &StreamEvent) -> String {
        match event {
            StreamEvent::TextDelta { text } => frame(&self.chunk(json!({"content": text}), None)),
            StreamEvent::ToolCallDelta(delta) => {
                let mut call =
                    json!({"index": delta.index, "function": {"arguments": delta.arguments}});
                if let Some(id) = &delta.id {
                    call["id"] = json!(id);
                    call["type"] = json!("function");
                }
                if let Some(name) = &delta.name {
                    call["function"]["name"] = json!(name);
                }
                frame(&self.chunk(json!({"tool_calls": [call]}), None))
            }
            StreamEvent::Done(response) => {
                let mut out =
                    frame(&self.chunk(json!({}), Some(finish_reason(&response.finish_reason))));
                if self.include_usage {
                    out.push_str(&frame(&json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": usage(&response.usage),
                    })));
                }
                out.push_str("data: [DONE]\n\n");
                out
            }
            _ => String::new(),
        }
    }

    /// An error after the stream opened, as OpenAI sends one: a `data:` frame holding
    /// `{"error": ...}` (the SDKs raise it).
    pub(crate) fn error(&self, error: &ApiError) -> String {
        frame(&error.body(Wire::OpenAi))
    }
}

fn frame(value: &Value) -> String {
    format!("data: {value}\n\n")
}
