//! The Anthropic Messages request body, read into a routewise [`ChatRequest`].

use routewise::{
    ChatRequest, ContentPart, Image, ImageSource, Message, SamplingParams, Tool, ToolCall,
    ToolChoice,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// `POST /v1/messages`. Fields routewise has no use for are accepted and ignored.
#[derive(Deserialize)]
pub(crate) struct MessagesRequest {
    pub(crate) model: String,
    max_tokens: u32,
    messages: Vec<WireMessage>,
    #[serde(default)]
    system: Option<System>,
    #[serde(default)]
    pub(crate) stream: bool,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    top_k: Option<u32>,
    #[serde(default)]
    tools: Vec<WireTool>,
    #[serde(default)]
    tool_choice: Option<WireToolChoice>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum System {
    Text(String),
    Blocks(Vec<TextBlock>),
}

#[derive(Deserialize)]
struct TextBlock {
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Role {
    User,
    Assistant,
}

#[derive(Deserialize)]
struct WireMessage {
    role: Role,
    content: Content,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    Image {
        source: WireImage,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<ToolResultContent>,
    },
    /// Thinking, citations and other blocks routewise does not carry between turns.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ToolResultContent {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireImage {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

#[derive(Deserialize)]
struct WireTool {
    name: String,
    #[serde(default)]
    description: Option<String>,
    input_schema: Value,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireToolChoice {
    Auto,
    Any,
    None,
    Tool { name: String },
}

impl MessagesRequest {
    /// The routewise request, without the model (the caller resolves it).
    pub(crate) fn into_chat(self) -> Result<ChatRequest, ApiError> {
        let mut request = ChatRequest::new();
        match self.system {
            Some(System::Text(text)) => request = request.message(Message::system(text)),
            Some(System::Blocks(blocks)) => {
                let text: Vec<String> = blocks.into_iter().map(|b| b.text).collect();
                request = request.message(Message::system(text.join("\n")));
            }
            None => {}
        }
        for message in self.messages {
            for converted in convert(message)? {
                request = request.message(converted);
            }
        }
        for tool in self.tools {
            let mut converted = Tool::new(tool.name, tool.input_schema);
            converted.description = tool.description;
            request = request.tool(converted);
        }
        if let Some(choice) = self.tool_choice {
            request = request.tool_choice(match choice {
                WireToolChoice::Auto => ToolChoice::Auto,
                WireToolChoice::Any => ToolChoice::Required,
                WireToolChoice::None => ToolChoice::None,
                WireToolChoice::Tool { name } => ToolChoice::Function(name),
            });
        }
        let mut params = SamplingParams::new().max_tokens(self.max_tokens);
        params.temperature = self.temperature;
        params.top_p = self.top_p;
        params.stop = self.stop_sequences;
        if let Some(top_k) = self.top_k {
            params = params.extra("top_k", top_k);
        }
        request.metadata = crate::routing::metadata(self.metadata);
        Ok(request.params(params))
    }
}

/// One Anthropic message as routewise messages: a user turn's tool results become tool
/// messages (first, as Anthropic orders them), its text and images one user message.
fn convert(message: WireMessage) -> Result<Vec<Message>, ApiError> {
    let blocks = match message.content {
        Content::Text(text) => vec![Block::Text { text }],
        Content::Blocks(blocks) => blocks,
    };
    match message.role {
        Role::User => {
            let mut out = Vec::new();
            let mut parts = Vec::new();
            for block in blocks {
                match block {
                    Block::Text { text } => parts.push(ContentPart::Text(text)),
                    Block::Image { source } => parts.push(ContentPart::Image(Image {
                        source: match source {
                            WireImage::Base64 { media_type, data } => {
                                ImageSource::Base64 { media_type, data }
                            }
                            WireImage::Url { url } => ImageSource::Url(url),
                        },
                        detail: None,
                    })),
                    Block::ToolResult {
                        tool_use_id,
                        content,
                    } => out.push(Message::tool_result(tool_use_id, result_text(content))),
                    Block::ToolUse { .. } => {
                        return Err(ApiError::invalid(
                            "messages: a `tool_use` block belongs in an assistant message",
                        ));
                    }
                    Block::Other => {}
                }
            }
            if !parts.is_empty() {
                out.push(Message::user_parts(parts));
            }
            Ok(out)
        }
        Role::Assistant => {
            let mut text = Vec::new();
            let mut calls = Vec::new();
            for block in blocks {
                match block {
                    Block::Text { text: t } => text.push(t),
                    Block::ToolUse { id, name, input } => calls.push(ToolCall {
                        id,
                        name,
                        arguments: input.to_string(),
                    }),
                    Block::Image { .. } | Block::ToolResult { .. } => {
                        return Err(ApiError::invalid(
                            "messages: an assistant message holds text and tool_use blocks only",
                        ));
                    }
                    Block::Other => {}
                }
            }
            Ok(vec![Message::Assistant {
                content: (!text.is_empty()).then(|| text.join("")),
                tool_calls: calls,
            }])
        }
    }
}

fn result_text(content: Option<ToolResultContent>) -> String {
    match content {
        None => String::new(),
        Some(ToolResultContent::Text(text)) => text,
        Some(ToolResultContent::Blocks(blocks)) => blocks
            .into_iter()
            .filter_map(|b| match b {
                Block::Text { text } => Some(text),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}
