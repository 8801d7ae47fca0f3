//! Canonical request -> Chat Completions request body.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
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

/// The JSON body of a chat completion request, serialized straight from the request.
///
/// Every object's keys go out in sorted order, as they did when the body was assembled
/// as a `serde_json::Value` (whose maps are sorted): the bytes on the wire are the same.
/// Extra parameters are passed through verbatim, in key order among the adapter's own
/// fields, unless the body already sets that key: the adapter's own fields (model,
/// messages, stream, ...) cannot be broken by them.
pub(super) fn body(
    request: &ProviderRequest<'_>,
    max_tokens_field: MaxTokensField,
    streaming: Option<Streaming>,
) -> Vec<u8> {
    let params = request.params();
    let max_tokens = params.max_tokens();
    let has_tools = !request.tools().is_empty();
    let mut extra: Vec<(&String, &Value)> = params.extra().collect();
    extra.sort_unstable_by_key(|(key, _)| *key);
    let body = Body {
        max_completion_tokens: max_tokens
            .filter(|_| max_tokens_field == MaxTokensField::MaxCompletionTokens),
        max_tokens: max_tokens.filter(|_| max_tokens_field == MaxTokensField::MaxTokens),
        messages: Messages(request.messages()),
        model: request.model(),
        reasoning_effort: params
            .reasoning()
            .map(|r| r.effort_or_equivalent().as_str()),
        response_format: request.response_format().map(WireResponseFormat::from),
        seed: params.seed(),
        stop: params.stop(),
        stream: streaming.map(|_| true),
        stream_options: streaming
            .filter(|s| s.include_usage)
            .map(|_| StreamOptions {
                include_usage: true,
            }),
        temperature: params.temperature().map(decimal),
        // A tool choice without tools is refused; it means nothing anyway.
        tool_choice: request
            .tool_choice()
            .filter(|_| has_tools)
            .map(WireToolChoice::from),
        tools: Tools(request.tools()),
        top_p: params.top_p().map(decimal),
        extra: &extra,
    };
    // Serialising plain data cannot fail: every map key is a string.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The adapter's fields, in key order, and the extra parameters, sorted by key.
struct Body<'a> {
    max_completion_tokens: Option<u32>,
    max_tokens: Option<u32>,
    messages: Messages<'a>,
    model: &'a str,
    reasoning_effort: Option<&'static str>,
    response_format: Option<WireResponseFormat<'a>>,
    seed: Option<i64>,
    stop: &'a [String],
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    temperature: Option<f64>,
    tool_choice: Option<WireToolChoice<'a>>,
    tools: Tools<'a>,
    top_p: Option<f64>,
    extra: &'a [(&'a String, &'a Value)],
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Merged {
            map: serializer.serialize_map(None)?,
            extra: self.extra,
        };
        map.field("max_completion_tokens", self.max_completion_tokens.as_ref())?;
        map.field("max_tokens", self.max_tokens.as_ref())?;
        map.field("messages", Some(&self.messages))?;
        map.field("model", Some(&self.model))?;
        map.field("reasoning_effort", self.reasoning_effort.as_ref())?;
        map.field("response_format", self.response_format.as_ref())?;
        map.field("seed", self.seed.as_ref())?;
        map.field("stop", Some(&self.stop).filter(|stop| !stop.is_empty()))?;
        map.field("stream", self.stream.as_ref())?;
        map.field("stream_options", self.stream_options.as_ref())?;
        map.field("temperature", self.temperature.as_ref())?;
        map.field("tool_choice", self.tool_choice.as_ref())?;
        map.field(
            "tools",
            Some(&self.tools).filter(|tools| !tools.0.is_empty()),
        )?;
        map.field("top_p", self.top_p.as_ref())?;
        map.finish()
    }
}

/// A map being written in key order: fields, given in key order, with the extra
/// parameters that sort before each written first.
struct Merged<'a, M> {
    map: M,
    /// The extra parameters not written yet, sorted by key.
    extra: &'a [(&'a String, &'a Value)],
}

impl<M: SerializeMap> Merged<'_, M> {
    /// Writes the extra parameters sorting before `key`, then the field if it is set;
    /// an extra parameter named `key` is written only if the field is not.
    fn field<T: Serialize>(&mut self, key: &str, value: Option<&T>) -> Result<(), M::Error> {
        while let Some(((name, extra), rest)) = self.extra.split_first() {
            if name.as_str() > key || (name.as_str() == key && value.is_some()) {
                break;
            }
            self.map.serialize_entry(name, extra)?;
            self.extra = rest;
        }
        if let Some(((name, _), rest)) = self.extra.split_first()
            && name.as_str() == key
        {
            self.extra = rest;
        }
        match value {
            Some(value) => self.map.serialize_entry(key, value),
            None => Ok(()),
        }
    }

    /// Writes the extra parameters left and ends the map.
    fn finish(mut self) -> Result<M::Ok, M::Error> {
        for (name, extra) in self.extra {
            self.map.serialize_entry(name, extra)?;
        }
        self.map.end()
    }
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// The messages, converted one by one as they are written.
struct Messages<'a>(&'a [Message]);

impl Serialize for Messages<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(WireMessage::from))
    }
}

/// The tools, converted one by one as they are written.
struct Tools<'a>(&'a [Tool]);

impl Serialize for Tools<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(WireTool::from))
    }
}

/// One message. The role is a field among the others, not an enum tag written first, so
/// that the keys stay sorted.
#[derive(Serialize)]
struct WireMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<WireContent<'a>>,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "ToolCalls::is_empty")]
    tool_calls: ToolCalls<'a>,
}

impl<'a> WireMessage<'a> {
    fn new(role: &'static str, content: Option<WireContent<'a>>) -> Self {
        WireMessage {
            content,
            role,
            tool_call_id: None,
            tool_calls: ToolCalls(&[]),
        }
    }
}

impl<'a> From<&'a Message> for WireMessage<'a> {
    fn from(message: &'a Message) -> Self {
        match message {
            Message::System { content } => {
                WireMessage::new("system", Some(WireContent::Text(content)))
            }
            Message::User { content } => {
                WireMessage::new("user", Some(WireContent::from(content.as_slice())))
            }
            Message::Assistant {
                content,
                tool_calls,
            } => WireMessage {
                // An assistant turn needs content or tool calls; an empty one says "".
                tool_calls: ToolCalls(tool_calls),
                ..WireMessage::new(
                    "assistant",
                    content
                        .as_deref()
                        .or_else(|| tool_calls.is_empty().then_some(""))
                        .map(WireContent::Text),
                )
            },
            Message::Tool {
                tool_call_id,
                content,
            } => WireMessage {
                tool_call_id: Some(tool_call_id),
                ..WireMessage::new("tool", Some(WireContent::Text(content)))
            },
        }
    }
}

/// A message's content. A user's lone text part goes out as a plain string, the form
/// every compatible server accepts.
#[derive(Serialize)]
#[serde(untagged)]
enum WireContent<'a> {
    Text(&'a str),
    Parts(Parts<'a>),
}

impl<'a> From<&'a [ContentPart]> for WireContent<'a> {
    fn from(parts: &'a [ContentPart]) -> Self {
        match parts {
            [] => WireContent::Text(""),
            [ContentPart::Text(text)] => WireContent::Text(text),
            parts => WireContent::Parts(Parts(parts)),
        }
    }
}

/// Content parts, converted one by one as they are written.
struct Parts<'a>(&'a [ContentPart]);

impl Serialize for Parts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(WirePart::from))
    }
}

/// One content part, keys sorted: `image_url` or `text`, then `type`.
#[derive(Serialize)]
struct WirePart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<ImageUrl<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ImageUrl<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<ImageDetail>,
    url: Cow<'a, str>,
}

impl<'a> From<&'a ContentPart> for WirePart<'a> {
    fn from(part: &'a ContentPart) -> Self {
        match part {
            ContentPart::Text(text) => WirePart {
                image_url: None,
                text: Some(text),
                kind: "text",
            },
            ContentPart::Image(Image { source, detail }) => WirePart {
                image_url: Some(ImageUrl {
                    detail: *detail,
                    url: match source {
                        ImageSource::Url(url) => Cow::Borrowed(url),
                        ImageSource::Base64 { media_type, data } => {
                            Cow::Owned(format!("data:{media_type};base64,{data}"))
                        }
                    },
                }),
                text: None,
                kind: "image_url",
            },
        }
    }
}

#[derive(Serialize)]
struct WireTool<'a> {
    function: WireFunction<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    name: &'a str,
    parameters: Cow<'a, Value>,
}

impl<'a> From<&'a Tool> for WireTool<'a> {
    fn from(tool: &'a Tool) -> Self {
        WireTool {
            function: WireFunction {
                description: tool.description.as_deref(),
                name: &tool.name,
                parameters: crate::provider::body::parameters_schema(&tool.parameters),
            },
            kind: "function",
        }
    }
}

/// An assistant turn's tool calls, converted one by one as they are written.
struct ToolCalls<'a>(&'a [ToolCall]);

impl ToolCalls<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for ToolCalls<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(WireToolCall::from))
    }
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    function: WireCalledFunction<'a>,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct WireCalledFunction<'a> {
    arguments: &'a str,
    name: &'a str,
}

impl<'a> From<&'a ToolCall> for WireToolCall<'a> {
    fn from(call: &'a ToolCall) -> Self {
        WireToolCall {
            function: WireCalledFunction {
                arguments: &call.arguments,
                name: &call.name,
            },
            id: &call.id,
            kind: "function",
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Named {
        function: NamedFunction<'a>,
        #[serde(rename = "type")]
        kind: &'static str,
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
                function: NamedFunction { name },
                kind: "function",
            },
        }
    }
}

/// A response format, keys sorted: `json_schema` (for a schema), then `type`.
#[derive(Serialize)]
struct WireResponseFormat<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    json_schema: Option<JsonSchema<'a>>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct JsonSchema<'a> {
    name: &'a str,
    schema: &'a Value,
    strict: bool,
}

impl<'a> From<&'a ResponseFormat> for WireResponseFormat<'a> {
    fn from(format: &'a ResponseFormat) -> Self {
        let (kind, json_schema) = match format {
            ResponseFormat::Text => ("text", None),
            ResponseFormat::JsonObject => ("json_object", None),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => (
                "json_schema",
                Some(JsonSchema {
                    name,
                    schema,
                    strict: *strict,
                }),
            ),
        };
        WireResponseFormat { json_schema, kind }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::account::AccountInfo;
    use crate::types::{ChatRequest, SamplingParams};

    fn bytes(
        request: &ChatRequest,
        defaults: &SamplingParams,
        model: &str,
        streaming: Option<Streaming>,
    ) -> Vec<u8> {
        let account = AccountInfo::new("a");
        let request = ProviderRequest::new(model, &account, request, defaults);
        body(&request, MaxTokensField::for_model(model), streaming)
    }

    fn build(request: &ChatRequest, defaults: &SamplingParams, model: &str) -> Value {
        serde_json::from_slice(&bytes(request, defaults, model, None)).unwrap()
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

    /// Earlier versions assembled the body as a `serde_json::Value`, whose maps keep their
    /// keys sorted, and sent its compact text. Writing the body directly must give the
    /// same bytes: every key in sorted order, no key twice.
    #[test]
    fn the_body_is_byte_for_byte_the_sorted_json_of_its_content() {
        let request = ChatRequest::new()
            .message(Message::system("be brief"))
            .message(Message::user_parts([
                ContentPart::text("what is this?"),
                ContentPart::Image(Image {
                    source: ImageSource::Url("https://x/y.png".into()),
                    detail: Some(ImageDetail::High),
                }),
                ContentPart::image_base64("image/png", "iVBOR"),
            ]))
            .message(Message::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    name: "look".into(),
                    arguments: r#"{"at":"y"}"#.into(),
                }],
            })
            .message(Message::tool_result("call_1", "a cat"))
            .message(Message::Assistant {
                content: Some("a cat".into()),
                tool_calls: Vec::new(),
            })
            .tool(
                Tool::new(
                    "look",
                    json!({"type": "object", "properties": {"at": {"type": "string"}}}),
                )
                .description("looks"),
            )
            .tool_choice(ToolChoice::Function("look".into()))
            .response_format(ResponseFormat::JsonSchema {
                name: "answer".into(),
                schema: json!({"type": "object"}),
                strict: true,
            })
            .params(
                SamplingParams::new()
                    .temperature(0.2)
                    .extra("zeta", 1)
                    .extra("model", "hijack")
                    .extra("logprobs", true),
            );
        let defaults = SamplingParams::new()
            .top_p(0.9)
            .max_tokens(64)
            .stop(["END"])
            .extra("aaa", "first")
            .extra("n", 2)
            .extra("seed", 3)
            .extra("temperature", 1.5);
        let streaming = Some(Streaming {
            include_usage: true,
        });
        for (model, streaming) in [("gpt-4o", streaming), ("o3", None)] {
            let sent = bytes(&request, &defaults, model, streaming);
            let value: Value = serde_json::from_slice(&sent).unwrap();
            assert_eq!(
                String::from_utf8(sent).unwrap(),
                value.to_string(),
                "{model}: keys out of order or repeated"
            );
            assert_eq!(value["model"], model);
            assert_eq!(value["temperature"], 0.2, "the request's own wins");
            assert_eq!(value["seed"], 3, "an extra fills an unset field");
            assert_eq!(
                (&value["aaa"], &value["n"], &value["zeta"]),
                (&json!("first"), &json!(2), &json!(1))
            );
        }
        let value = build(&request, &defaults, "gpt-4o");
        assert_eq!(
            value["messages"],
            json!([
                {"content": "be brief", "role": "system"},
                {"content": [
                    {"text": "what is this?", "type": "text"},
                    {"image_url": {"detail": "high", "url": "https://x/y.png"}, "type": "image_url"},
                    {"image_url": {"url": "data:image/png;base64,iVBOR"}, "type": "image_url"}
                ], "role": "user"},
                {"role": "assistant", "tool_calls": [
                    {"function": {"arguments": "{\"at\":\"y\"}", "name": "look"}, "id": "call_1", "type": "function"}
                ]},
                {"content": "a cat", "role": "tool", "tool_call_id": "call_1"},
                {"content": "a cat", "role": "assistant"}
            ])
        );
        assert_eq!(
            value["tools"],
            json!([{"function": {"description": "looks", "name": "look", "parameters": {"type": "object", "properties": {"at": {"type": "string"}}}}, "type": "function"}])
        );
        assert_eq!(
            value["tool_choice"],
            json!({"function": {"name": "look"}, "type": "function"})
        );
        assert_eq!(
            value["response_format"],
            json!({"json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}, "type": "json_schema"})
        );
    }
}
