//! Canonical request -> Chat Completions request body.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::MaxTokensField;
use crate::provider::ProviderRequest;
use crate::provider::body::decimal;
use crate::types::{
    ContentPart, Image, ImageDetail, ImageSource, Message, ResponseFormat, Tool, ToolCall,
    ToolChoice,
};

/// How to stream, for a streaming request.
#[derive(Clone, Copy, Debug)]
pub(super) struct Streaming {
    /// Ask for usage in the final chunk.
    pub(super) include_usage: bool,
}

/// The JSON body of a chat completion request.
///
/// Extra parameters are passed through verbatim unless the body already sets that key:
/// the adapter's own fields (model, messages, stream, ...) cannot be broken by them.
pub(super) fn body(
    request: &ProviderRequest<'_>,
    max_tokens_field: MaxTokensField,
    streaming: Option<Streaming>,
) -> Value {
    let params = request.params();
    let max_tokens = params.max_tokens();
    let body = Body {
        model: request.model(),
        messages: request.messages().iter().map(WireMessage::from).collect(),
        tools: request.tools().iter().map(WireTool::from).collect(),
        tool_choice: request.tool_choice().map(WireToolChoice::from),
        response_format: request.response_format().map(WireResponseFormat::from),
        temperature: params.temperature().map(decimal),
        top_p: params.top_p().map(decimal),
        stop: params.stop(),
        seed: params.seed(),
        max_tokens: max_tokens.filter(|_| max_tokens_field == MaxTokensField::MaxTokens),
        max_completion_tokens: max_tokens
            .filter(|_| max_tokens_field == MaxTokensField::MaxCompletionTokens),
        stream: streaming.map(|_| true),
        stream_options: streaming
            .filter(|s| s.include_usage)
            .map(|_| StreamOptions {
                include_usage: true,
            }),
    };
    // Serialising plain data into a `Value` cannot fail: every map key is a string.
    let mut value = serde_json::to_value(body).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        for (key, extra) in params.extra() {
            map.entry(key.as_str()).or_insert_with(|| extra.clone());
        }
    }
    value
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<WireResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum WireMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: UserContent<'a>,
    },
    Assistant {
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

impl<'a> From<&'a Message> for WireMessage<'a> {
    fn from(message: &'a Message) -> Self {
        match message {
            Message::System { content } => WireMessage::System { content },
            Message::User { content } => WireMessage::User {
                content: UserContent::from(content.as_slice()),
            },
            Message::Assistant {
                content,
                tool_calls,
            } => WireMessage::Assistant {
                // An assistant turn needs content or tool calls; an empty one says "".
                content: content
                    .as_deref()
                    .or_else(|| tool_calls.is_empty().then_some("")),
                tool_calls: tool_calls.iter().map(WireToolCall::from).collect(),
            },
            Message::Tool {
                tool_call_id,
                content,
            } => WireMessage::Tool {
                tool_call_id,
                content,
            },
        }
    }
}

/// A lone text part goes out as a plain string, the form every compatible server accepts.
#[derive(Serialize)]
#[serde(untagged)]
enum UserContent<'a> {
    Text(&'a str),
    Parts(Vec<WirePart<'a>>),
}

impl<'a> From<&'a [ContentPart]> for UserContent<'a> {
    fn from(parts: &'a [ContentPart]) -> Self {
        match parts {
            [] => UserContent::Text(""),
            [ContentPart::Text(text)] => UserContent::Text(text),
            parts => UserContent::Parts(parts.iter().map(WirePart::from).collect()),
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl<'a> },
}

#[derive(Serialize)]
struct ImageUrl<'a> {
    url: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<ImageDetail>,
}

impl<'a> From<&'a ContentPart> for WirePart<'a> {
    fn from(part: &'a ContentPart) -> Self {
        match part {
            ContentPart::Text(text) => WirePart::Text { text },
            ContentPart::Image(Image { source, detail }) => WirePart::ImageUrl {
                image_url: ImageUrl {
                    url: match source {
                        ImageSource::Url(url) => Cow::Borrowed(url),
                        ImageSource::Base64 { media_type, data } => {
                            Cow::Owned(format!("data:{media_type};base64,{data}"))
                        }
                    },
                    detail: *detail,
                },
            },
        }
    }
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
}

impl<'a> From<&'a Tool> for WireTool<'a> {
    fn from(tool: &'a Tool) -> Self {
        WireTool {
            kind: "function",
            function: WireFunction {
                name: &tool.name,
                description: tool.description.as_deref(),
                parameters: &tool.parameters,
            },
        }
    }
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireCalledFunction<'a>,
}

#[derive(Serialize)]
struct WireCalledFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

impl<'a> From<&'a ToolCall> for WireToolCall<'a> {
    fn from(call: &'a ToolCall) -> Self {
        WireToolCall {
            id: &call.id,
            kind: "function",
            function: WireCalledFunction {
                name: &call.name,
                arguments: &call.arguments,
            },
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: NamedFunction<'a>,
    },
}

#[derive(Serialize)]
struct NamedFunction<'a> {
    name: &'a str,
}

impl<'a> From<&'a ToolChoice> for WireToolChoice<'a> {
    fn from(choice: &'a ToolChoice) -> Self {
        match choice {
            ToolChoice::Auto => WireToolChoice::Mode("auto"),
            ToolChoice::None => WireToolChoice::Mode("none"),
            ToolChoice::Required => WireToolChoice::Mode("required"),
            ToolChoice::Function(name) => WireToolChoice::Named {
                kind: "function",
                function: NamedFunction { name },
            },
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireResponseFormat<'a> {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchema<'a> },
}

#[derive(Serialize)]
struct JsonSchema<'a> {
    name: &'a str,
    schema: &'a Value,
    strict: bool,
}

impl<'a> From<&'a ResponseFormat> for WireResponseFormat<'a> {
    fn from(format: &'a ResponseFormat) -> Self {
        match format {
            ResponseFormat::Text => WireResponseFormat::Text,
            ResponseFormat::JsonObject => WireResponseFormat::JsonObject,
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => WireResponseFormat::JsonSchema {
                json_schema: JsonSchema {
                    name,
                    schema,
                    strict: *strict,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::account::AccountInfo;
    use crate::types::{ChatRequest, SamplingParams};

    fn build(request: &ChatRequest, defaults: &SamplingParams, model: &str) -> Value {
        let account = AccountInfo::new("a");
        let request = ProviderRequest::new(model, &account, request, defaults);
        body(&request, MaxTokensField::for_model(model), None)
    }

    #[test]
    fn a_plain_request_is_model_and_messages_only() {
        let body = build(
            &ChatRequest::user("hi"),
            &SamplingParams::default(),
            "gpt-4o",
        );
        assert_eq!(
            body,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    #[test]
    fn defaults_fill_unset_params_and_extras_cannot_replace_adapter_fields() {
        let request = ChatRequest::user("hi").params(
            SamplingParams::new()
                .temperature(0.5)
                .extra("model", "hijack")
                .extra("presence_penalty", 0.5),
        );
        let defaults = SamplingParams::new()
            .temperature(0.1)
            .top_p(0.9)
            .max_tokens(64)
            .stop(["END"])
            .seed(7)
            .extra("user", "u-1");
        let body = build(&request, &defaults, "gpt-4o");
        assert_eq!(body["model"], "gpt-4o");
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["top_p"], 0.9);
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["seed"], 7);
        assert_eq!(body["presence_penalty"], 0.5);
        assert_eq!(body["user"], "u-1");
        assert!(body.get("max_completion_tokens").is_none());
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens() {
        let body = build(
            &ChatRequest::user("hi").max_tokens(100),
            &SamplingParams::default(),
            "o3-mini",
        );
        assert_eq!(body["max_completion_tokens"], 100);
        assert!(body.get("max_tokens").is_none());
    }

    #[test]
    fn an_empty_assistant_turn_still_has_content() {
        let request = ChatRequest::user("hi").message(Message::Assistant {
            content: None,
            tool_calls: Vec::new(),
        });
        let body = build(&request, &SamplingParams::default(), "m");
        assert_eq!(
            body["messages"][1],
            json!({"role": "assistant", "content": ""})
        );
    }
}
