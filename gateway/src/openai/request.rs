//! The OpenAI Chat Completions request body, read into a routewise [`ChatRequest`].

use routewise::{
    ChatRequest, ContentPart, Image, ImageDetail, ImageSource, Message, ResponseFormat,
    SamplingParams, Tool, ToolCall, ToolChoice,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// `POST /v1/chat/completions`. Fields routewise has no use for (`user`, `logprobs`,
/// `store`, ...) are accepted and ignored, as OpenAI-compatible servers do.
#[derive(Deserialize)]
pub(crate) struct CompletionRequest {
    pub(crate) model: String,
    messages: Vec<WireMessage>,
    #[serde(default)]
    pub(crate) stream: bool,
    #[serde(default)]
    pub(crate) stream_options: Option<StreamOptions>,
    #[serde(default)]
    tools: Vec<WireTool>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    response_format: Option<WireFormat>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    presence_penalty: Option<f32>,
    #[serde(default)]
    frequency_penalty: Option<f32>,
    #[serde(default)]
    pub(crate) metadata: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub(crate) include_usage: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum WireMessage {
    System {
        content: Content,
    },
    Developer {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        tool_calls: Vec<WireToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: Content,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
    Refusal { refusal: String },
}

#[derive(Deserialize)]
struct ImageUrl {
    url: String,
    #[serde(default)]
    detail: Option<ImageDetail>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunctionCall,
}

#[derive(Deserialize)]
struct WireFunctionCall {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct WireTool {
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: WireSchema },
}

#[derive(Deserialize)]
struct WireSchema {
    name: String,
    #[serde(default)]
    schema: Option<Value>,
    #[serde(default)]
    strict: Option<bool>,
}

impl Content {
    /// The text of every text part, joined; images are refused where only text is valid.
    fn text(self, role: &str) -> Result<String, ApiError> {
        match self {
            Content::Text(text) => Ok(text),
            Content::Parts(parts) => parts
                .into_iter()
                .map(|part| match part {
                    Part::Text { text } | Part::Refusal { refusal: text } => Ok(text),
                    Part::ImageUrl { .. } => Err(ApiError::invalid(format!(
                        "messages: a `{role}` message can hold only text, not images"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.join("\n")),
        }
    }

    fn parts(self) -> Vec<ContentPart> {
        match self {
            Content::Text(text) => vec![ContentPart::Text(text)],
            Content::Parts(parts) => parts
                .into_iter()
                .map(|part| match part {
                    Part::Text { text } | Part::Refusal { refusal: text } => {
                        ContentPart::Text(text)
                    }
                    Part::ImageUrl { image_url } => ContentPart::Image(Image {
                        source: image_source(image_url.url),
                        detail: image_url.detail,
                    }),
                })
                .collect(),
        }
    }
}

/// A `data:` URL becomes inline base64; anything else stays a URL.
fn image_source(url: String) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((media_type, data)) = rest.split_once(";base64,")
    {
        return ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        };
    }
    ImageSource::Url(url)
}

impl CompletionRequest {
    /// The routewise request, without the model (the caller resolves it).
    pub(crate) fn into_chat(self) -> Result<ChatRequest, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::invalid(
                "n: only one choice per request is supported; send several requests instead",
            ));
        }
        let mut request = ChatRequest::new();
        for message in self.messages {
            request = request.message(match message {
                WireMessage::System { content } => Message::system(content.text("system")?),
                WireMessage::Developer { content } => Message::system(content.text("developer")?),
                WireMessage::User { content } => Message::user_parts(content.parts()),
                WireMessage::Assistant {
                    content,
                    tool_calls,
                } => Message::Assistant {
                    content: content.map(|c| c.text("assistant")).transpose()?,
                    tool_calls: tool_calls
                        .into_iter()
                        .map(|c| ToolCall {
                            id: c.id,
                            name: c.function.name,
                            arguments: c.function.arguments,
                        })
                        .collect(),
                },
                WireMessage::Tool {
                    tool_call_id,
                    content,
                } => Message::tool_result(tool_call_id, content.text("tool")?),
            });
        }
        for tool in self.tools {
            let mut converted = Tool::new(
                tool.function.name,
                tool.function
                    .parameters
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            );
            converted.description = tool.function.description;
            request = request.tool(converted);
        }
        if let Some(choice) = self.tool_choice {
            request = request.tool_choice(tool_choice(&choice)?);
        }
        if let Some(format) = self.response_format {
            request = request.response_format(match format {
                WireFormat::Text => ResponseFormat::Text,
                WireFormat::JsonObject => ResponseFormat::JsonObject,
                WireFormat::JsonSchema { json_schema } => ResponseFormat::JsonSchema {
                    name: json_schema.name,
                    schema: json_schema
                        .schema
                        .unwrap_or_else(|| serde_json::json!({"type": "object"})),
                    strict: json_schema.strict.unwrap_or(false),
                },
            });
        }
        let mut params = SamplingParams::new();
        params.temperature = self.temperature;
        params.top_p = self.top_p;
        params.max_tokens = self.max_completion_tokens.or(self.max_tokens);
        params.stop = self.stop.map(|stop| match stop {
            Stop::One(one) => vec![one],
            Stop::Many(many) => many,
        });
        params.seed = self.seed;
        if let Some(penalty) = self.presence_penalty {
            params = params.extra("presence_penalty", penalty);
        }
        if let Some(penalty) = self.frequency_penalty {
            params = params.extra("frequency_penalty", penalty);
        }
        request.metadata = crate::routing::metadata(self.metadata);
        Ok(request.params(params))
    }
}

fn tool_choice(choice: &Value) -> Result<ToolChoice, ApiError> {
    match choice {
        Value::String(s) if s == "auto" => Ok(ToolChoice::Auto),
        Value::String(s) if s == "none" => Ok(ToolChoice::None),
        Value::String(s) if s == "required" => Ok(ToolChoice::Required),
        Value::Object(o) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Function(name.to_owned()))
            .ok_or_else(|| {
                ApiError::invalid("tool_choice: an object must be {\"type\": \"function\", \"function\": {\"name\": ...}}")
            }),
        _ => Err(ApiError::invalid(
            "tool_choice: must be \"auto\", \"none\", \"required\" or a function",
        )),
    }
}
