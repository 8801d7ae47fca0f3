use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{RouteOptions, SamplingParams};
use crate::model::Capabilities;

/// A provider-agnostic chat completion request.
///
/// ```
/// use routewise::{ChatRequest, Message, Tool};
///
/// let request = ChatRequest::new()
///     .message(Message::system("You are terse."))
///     .message(Message::user("What is the weather in Oslo?"))
///     .tool(Tool::new("get_weather", serde_json::json!({"type": "object"})))
///     .temperature(0.2)
///     .tag("tenant-a");
/// assert_eq!(request.messages.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatRequest {
    /// The logical model the caller asks for, if any. Policies may match on it; the
    /// matched policy's route decides which models actually serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// How the model should choose among `tools`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// The shape the answer must take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Sampling parameters; unset ones come from the serving logical model's defaults.
    pub params: SamplingParams,
    /// Free-form metadata, carried along and available to custom providers.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Tags that policies may match on (for example a tenant or a feature name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Routing overrides for this request.
    #[serde(skip_serializing_if = "RouteOptions::is_empty")]
    pub options: RouteOptions,
}

impl ChatRequest {
    /// An empty request; add messages with [`message`](Self::message).
    pub fn new() -> Self {
        Self::default()
    }

    /// A request holding one user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new().message(Message::user(text))
    }

    /// Appends a message.
    #[must_use]
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Names the logical model the caller asks for.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Adds a tool definition.
    #[must_use]
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Sets the tool choice.
    #[must_use]
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Sets the response format.
    #[must_use]
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = Some(format);
        self
    }

    /// Replaces all sampling parameters.
    #[must_use]
    pub fn params(mut self, params: SamplingParams) -> Self {
        self.params = params;
        self
    }

    /// Sets the temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.params.temperature = Some(temperature);
        self
    }

    /// Sets the maximum number of generated tokens.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.params.max_tokens = Some(max_tokens);
        self
    }

    /// Adds a metadata entry.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds a tag for policy matching.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets per-request routing overrides.
    #[must_use]
    pub fn options(mut self, options: RouteOptions) -> Self {
        self.options = options;
        self
    }

    /// The capabilities a model needs to serve this request: vision for image parts, tools
    /// for tool definitions or tool traffic in the conversation, JSON mode for a JSON
    /// response format. Streaming is added by the router when the caller streams.
    pub fn required_capabilities(&self) -> Capabilities {
        let mut needs = Capabilities::NONE;
        if !self.tools.is_empty() {
            needs |= Capabilities::TOOLS;
        }
        if matches!(
            self.response_format,
            Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
        ) {
            needs |= Capabilities::JSON_MODE;
        }
        for message in &self.messages {
            match message {
                Message::User { content }
                    if content.iter().any(|p| matches!(p, ContentPart::Image(_))) =>
                {
                    needs |= Capabilities::VISION;
                }
                Message::Assistant { tool_calls, .. } if !tool_calls.is_empty() => {
                    needs |= Capabilities::TOOLS;
                }
                Message::Tool { .. } => needs |= Capabilities::TOOLS,
                _ => {}
            }
        }
        needs
    }

    /// Problems that make the request invalid for every provider, as `(field, message)`.
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut problems: Vec<(String, String)> = self
            .params
            .problems()
            .into_iter()
            .map(|(field, msg)| (format!("params.{field}"), msg))
            .collect();
        if self.messages.is_empty() {
            problems.push(("messages".into(), "must hold at least one message".into()));
        }
        if let Some(ToolChoice::Function(name)) = &self.tool_choice
            && !self.tools.iter().any(|t| &t.name == name)
        {
            problems.push((
                "tool_choice".into(),
                format!("names tool `{name}`, which is not among the request's tools"),
            ));
        }
        if self.options.max_attempts == Some(0) {
            problems.push(("options.max_attempts".into(), "must be at least 1".into()));
        }
        if matches!(self.tool_choice, Some(ToolChoice::Required)) && self.tools.is_empty() {
            problems.push((
                "tool_choice".into(),
                "is `required` but no tools are given".into(),
            ));
        }
        problems
    }
}

/// One message of a conversation.
///
/// Each role is its own variant, so a tool result cannot lack its call id and a system
/// prompt cannot carry an image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// Instructions for the model. Providers without a system role lift it out.
    System {
        /// The instructions.
        content: String,
    },
    /// What the user says: text and images.
    User {
        /// Text and image parts, in order.
        content: Vec<ContentPart>,
    },
    /// What the model said before: text, tool calls, or both.
    Assistant {
        /// The text, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        /// The tool calls the model made.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of a tool call, sent back to the model.
    Tool {
        /// The [`ToolCall::id`] this answers.
        tool_call_id: String,
        /// The tool's output.
        content: String,
    },
}

impl Message {
    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Message::System {
            content: text.into(),
        }
    }

    /// A user message with one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Message::User {
            content: vec![ContentPart::Text(text.into())],
        }
    }

    /// A user message with several parts (text and images).
    pub fn user_parts(parts: impl IntoIterator<Item = ContentPart>) -> Self {
        Message::User {
            content: parts.into_iter().collect(),
        }
    }

    /// An assistant message with text.
    pub fn assistant(text: impl Into<String>) -> Self {
        Message::Assistant {
            content: Some(text.into()),
            tool_calls: Vec::new(),
        }
    }

    /// An assistant message that made tool calls.
    pub fn assistant_tool_calls(calls: impl IntoIterator<Item = ToolCall>) -> Self {
        Message::Assistant {
            content: None,
            tool_calls: calls.into_iter().collect(),
        }
    }

    /// A tool result.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message::Tool {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
        }
    }

    /// The message's text, joined across text parts; images are left out.
    pub fn text(&self) -> String {
        match self {
            Message::System { content } | Message::Tool { content, .. } => content.clone(),
            Message::User { content } => content
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text(t) => Some(t.as_str()),
                    ContentPart::Image(_) => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Message::Assistant { content, .. } => content.clone().unwrap_or_default(),
        }
    }
}

/// A part of a user message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text(String),
    /// An image (needs a vision-capable model).
    Image(Image),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text(text.into())
    }

    /// An image part referenced by URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart::Image(Image {
            source: ImageSource::Url(url.into()),
            detail: None,
        })
    }

    /// An image part with inline base64 data.
    pub fn image_base64(media_type: impl Into<String>, data: impl Into<String>) -> Self {
        ContentPart::Image(Image {
            source: ImageSource::Base64 {
                media_type: media_type.into(),
                data: data.into(),
            },
            detail: None,
        })
    }
}

/// An image in a user message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Where the image comes from.
    pub source: ImageSource,
    /// How closely the model should look, where the provider supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ImageDetail>,
}

/// Where an image's bytes come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    /// A URL the provider fetches (`https:` or a `data:` URL).
    Url(String),
    /// Inline base64 data.
    Base64 {
        /// MIME type, for example `image/png`.
        media_type: String,
        /// The base64-encoded bytes.
        data: String,
    },
}

/// Image detail level (OpenAI's `detail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageDetail {
    /// Let the provider decide.
    Auto,
    /// Low resolution, fewer tokens.
    Low,
    /// High resolution.
    High,
}

/// A tool (function) the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// The function name.
    pub name: String,
    /// What the function does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

impl Tool {
    /// A tool with a name and a JSON Schema for its arguments.
    pub fn new(name: impl Into<String>, parameters: Value) -> Self {
        Self {
            name: name.into(),
            description: None,
            parameters,
        }
    }

    /// Adds a description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// How the model chooses among tools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must not call tools.
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Function(String),
}

/// A tool call made by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The provider's id for the call, echoed back in the tool result.
    pub id: String,
    /// The function name.
    pub name: String,
    /// The arguments as JSON text, exactly as the model produced them.
    pub arguments: String,
}

/// The shape the answer must take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any valid JSON object (needs JSON mode).
    JsonObject,
    /// JSON that follows a schema (needs JSON mode).
    JsonSchema {
        /// A name for the schema.
        name: String,
        /// The JSON Schema.
        schema: Value,
        /// Ask the provider to enforce the schema strictly.
        #[serde(default)]
        strict: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_capabilities_follow_the_content() {
        assert_eq!(
            ChatRequest::user("hi").required_capabilities(),
            Capabilities::NONE
        );
        let vision = ChatRequest::new().message(Message::user_parts([
            ContentPart::text("what is this?"),
            ContentPart::image_url("https://example.com/cat.png"),
        ]));
        assert_eq!(vision.required_capabilities(), Capabilities::VISION);
        let tools = ChatRequest::user("hi").tool(Tool::new("f", json!({})));
        assert_eq!(tools.required_capabilities(), Capabilities::TOOLS);
        let tool_result = ChatRequest::user("hi").message(Message::tool_result("1", "ok"));
        assert_eq!(tool_result.required_capabilities(), Capabilities::TOOLS);
        let json_schema = ChatRequest::user("hi").response_format(ResponseFormat::JsonSchema {
            name: "x".into(),
            schema: json!({}),
            strict: true,
        });
        assert_eq!(json_schema.required_capabilities(), Capabilities::JSON_MODE);
        let text = ChatRequest::user("hi").response_format(ResponseFormat::Text);
        assert_eq!(text.required_capabilities(), Capabilities::NONE);
    }

    #[test]
    fn invalid_requests_name_the_field() {
        let empty = ChatRequest::new();
        assert_eq!(empty.problems()[0].0, "messages");
        let bad_choice = ChatRequest::user("hi").tool_choice(ToolChoice::Function("nope".into()));
        assert_eq!(bad_choice.problems()[0].0, "tool_choice");
        let bad_temp = ChatRequest::user("hi").temperature(9.0);
        assert_eq!(bad_temp.problems()[0].0, "params.temperature");
        assert!(ChatRequest::user("hi").problems().is_empty());
    }

    #[test]
    fn requests_round_trip_through_json() {
        let request = ChatRequest::new()
            .message(Message::system("be brief"))
            .message(Message::user_parts([
                ContentPart::text("look"),
                ContentPart::image_base64("image/png", "aGVsbG8="),
            ]))
            .message(Message::assistant_tool_calls([ToolCall {
                id: "c1".into(),
                name: "f".into(),
                arguments: "{}".into(),
            }]))
            .message(Message::tool_result("c1", "42"))
            .tool(Tool::new("f", json!({"type": "object"})).description("does f"))
            .tool_choice(ToolChoice::Function("f".into()))
            .response_format(ResponseFormat::JsonObject)
            .max_tokens(10)
            .metadata("trace", "abc")
            .tag("t");
        let text = serde_json::to_string(&request).unwrap();
        let back: ChatRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, request);
    }
}
