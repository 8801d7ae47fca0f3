//! A canonical request as a Messages API request body.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::provider::tool_use;
use crate::provider::turns::{self, Blocks, Turn};
use crate::provider::{ErrorKind, ProviderError, ProviderRequest, body};
use crate::types::{ContentPart, ImageSource, ToolCall};

/// Body fields the adapter sets itself; extra parameters cannot replace them.
const OWN_FIELDS: [&str; 11] = [
    "model",
    "anthropic_version",
    "max_tokens",
    "system",
    "messages",
    "temperature",
    "top_p",
    "stop_sequences",
    "tools",
    "tool_choice",
    "stream",
];

/// What the adapter decides about a body beyond the request itself.
pub(super) struct Options {
    pub(super) default_max_tokens: u32,
    /// Whether the API version accepts `temperature` and `top_p`.
    pub(super) sampling_params: bool,
    pub(super) stream: bool,
    /// Where the body goes: the model and the API version travel differently on Vertex AI.
    pub(super) dialect: Dialect,
}

/// Where a Messages body is sent, which decides where the model and version go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dialect {
    /// Anthropic's own API: the model in the body, the version in a header.
    Messages,
    /// Vertex AI's `rawPredict`: the model in the URL, the version in the body as this.
    #[cfg(feature = "vertex")]
    Vertex(&'static str),
}

/// A body ready to send, and the answer tool's name when the request asks for JSON.
pub(super) struct Prepared<'a> {
    pub(super) body: Body<'a>,
    pub(super) answer_tool: Option<String>,
    /// Whether the answer tool's input wraps the answer in `value`, because the schema's
    /// root is not an object (an `input_schema` must be).
    pub(super) wrapped_answer: bool,
}

/// The request body of `POST /v1/messages`. Borrows the request's text and image data, so
/// building it copies nothing large.
#[derive(Debug, Serialize)]
pub(super) struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    anthropic_version: Option<&'static str>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Turn<Block<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolDefinition<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Choice<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(flatten)]
    extra: BTreeMap<&'a str, &'a Value>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: ImageData<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ImageData<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Debug, Serialize)]
struct ToolDefinition<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Cow<'a, Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    strict: bool,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Choice<'a> {
    Auto,
    Any,
    None,
    Tool { name: &'a str },
}

impl<'a> From<tool_use::ToolSpec<'a>> for ToolDefinition<'a> {
    fn from(tool: tool_use::ToolSpec<'a>) -> Self {
        Self {
            name: tool.name,
            description: tool.description,
            input_schema: tool.input_schema,
            strict: tool.strict,
        }
    }
}

impl<'a> From<tool_use::Choice<'a>> for Choice<'a> {
    fn from(choice: tool_use::Choice<'a>) -> Self {
        match choice {
            tool_use::Choice::Auto => Choice::Auto,
            tool_use::Choice::Any => Choice::Any,
            tool_use::Choice::None => Choice::None,
            tool_use::Choice::Tool(name) => Choice::Tool { name },
        }
    }
}

/// Builds the body for `request`.
///
/// # Errors
///
/// [`ErrorKind::InvalidRequest`] for tool-call arguments that are not a JSON object, tool
/// parameters that are not a JSON Schema object, an image `data:` URL that is not base64,
/// or a JSON-mode answer tool named like one of the request's tools.
pub(super) fn build<'a>(
    request: &ProviderRequest<'a>,
    options: &Options,
) -> Result<Prepared<'a>, ProviderError> {
    let params = request.params();
    let (system, messages) = turns::conversation(request.messages())?;
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    let tool_use = tool_use::plan(request)?;
    let thinking = params
        .reasoning()
        .map(|r| serde_json::json!({"type": "enabled", "budget_tokens": r.budget_or_equivalent()}));
    let budget = params.reasoning().map(|r| r.budget_or_equivalent());
    // `max_tokens` must exceed the thinking budget: an unset one leaves the answer its
    // default room on top of the budget.
    let default_max_tokens = match budget {
        Some(budget) if options.default_max_tokens <= budget => {
            budget.saturating_add(options.default_max_tokens)
        }
        _ => options.default_max_tokens,
    };
    let sampling = options.sampling_params;
    let (model, anthropic_version) = match options.dialect {
        Dialect::Messages => (Some(request.model()), None),
        #[cfg(feature = "vertex")]
        Dialect::Vertex(version) => (None, Some(version)),
    };
    let body = Body {
        model,
        anthropic_version,
        max_tokens: params.max_tokens().unwrap_or(default_max_tokens),
        system,
        messages,
        temperature: params.temperature().filter(|_| sampling),
        top_p: params.top_p().filter(|_| sampling),
        stop_sequences: params.stop(),
        extra: params
            .extra()
            .filter(|(key, _)| !OWN_FIELDS.contains(&key.as_str()))
            .filter(|(key, _)| !(thinking.is_some() && key.as_str() == "thinking"))
            .map(|(key, value)| (key.as_str(), value))
            .collect(),
        thinking,
        tools: tool_use
            .tools
            .into_iter()
            .map(ToolDefinition::from)
            .collect(),
        tool_choice: tool_use.choice.map(Choice::from),
        stream: options.stream,
    };
    Ok(Prepared {
        body,
        answer_tool: tool_use.answer_tool,
        wrapped_answer: tool_use.wrapped_answer,
    })
}

impl<'a> Blocks<'a> for Block<'a> {
    fn user(part: &'a ContentPart) -> Option<Result<Self, ProviderError>> {
        let source = match part {
            ContentPart::Text(text) if text.is_empty() => return None,
            ContentPart::Text(text) => return Some(Ok(Block::Text { text })),
            ContentPart::Image(image) => match &image.source {
                ImageSource::Base64 { media_type, data } => {
                    Ok(ImageData::Base64 { media_type, data })
                }
                ImageSource::Url(url) if url.starts_with("data:") => data_url(url),
                ImageSource::Url(url) => Ok(ImageData::Url { url }),
            },
        };
        Some(source.map(|source| Block::Image { source }))
    }

    fn text(text: &'a str) -> Self {
        Block::Text { text }
    }

    fn tool_use(call: &'a ToolCall, input: Value) -> Self {
        Block::ToolUse {
            id: &call.id,
            name: &call.name,
            input,
        }
    }

    fn tool_result(tool_use_id: &'a str, content: &'a str) -> Self {
        Block::ToolResult {
            tool_use_id,
            content,
        }
    }
}

/// A `data:<media type>;base64,<data>` URL as inline base64 (the API fetches only
/// `https:` URLs).
fn data_url(url: &str) -> Result<ImageData<'_>, ProviderError> {
    body::base64_data_url(url)
        .map(|(media_type, data)| ImageData::Base64 { media_type, data })
        .ok_or_else(|| invalid("an image `data:` URL must be base64 (`data:<type>;base64,...`)"))
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{AccountInfo, ChatRequest, SamplingParams};

    fn body(request: &ChatRequest, sampling_params: bool) -> Result<Value, ProviderError> {
        let account = AccountInfo::new("a");
        let defaults = SamplingParams::new().max_tokens(100);
        let provider_request = ProviderRequest::new("claude", &account, request, &defaults);
        let options = Options {
            default_max_tokens: 7,
            sampling_params,
            stream: false,
            dialect: Dialect::Messages,
        };
        let prepared = build(&provider_request, &options)?;
        Ok(serde_json::to_value(&prepared.body).unwrap())
    }

    #[test]
    fn sampling_params_are_left_out_when_the_version_removed_them() {
        let request = ChatRequest::user("hi").params(
            SamplingParams::new()
                .temperature(0.5)
                .top_p(0.25)
                .stop(["END"]),
        );
        let with = body(&request, true).unwrap();
        assert_eq!(with["temperature"], json!(0.5));
        assert_eq!(with["top_p"], json!(0.25));
        let without = body(&request, false).unwrap();
        assert!(without.get("temperature").is_none());
        assert!(without.get("top_p").is_none());
        assert_eq!(without["stop_sequences"], json!(["END"]));
        assert_eq!(
            without["max_tokens"],
            json!(100),
            "the logical model's default"
        );
    }

    #[test]
    fn extra_params_pass_through_but_cannot_replace_own_fields() {
        let request = ChatRequest::user("hi").params(
            SamplingParams::new()
                .extra("top_k", 5)
                .extra("model", "other")
                .extra("messages", json!([])),
        );
        let body = body(&request, true).unwrap();
        assert_eq!(body["top_k"], json!(5));
        assert_eq!(body["model"], json!("claude"));
        assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn data_urls_that_are_not_base64_are_refused() {
        assert!(matches!(
            data_url("data:image/png;base64,AAAA"),
            Ok(ImageData::Base64 {
                media_type: "image/png",
                data: "AAAA"
            })
        ));
        assert!(data_url("data:image/svg+xml,%3Csvg%3E").is_err());
    }
}
