//! A canonical request as a Converse / ConverseStream request body.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::provider::profile::ProviderFamily;
use crate::provider::tool_use;
use crate::provider::turns::{self, Blocks, Turn};
use crate::provider::{ErrorKind, ProviderError, ProviderRequest, body};
use crate::types::{ContentPart, ImageSource, ToolCall};

/// Top-level Converse members an extra parameter may set as given; every other extra
/// parameter goes into `additionalModelRequestFields`, the model's own request fields.
const CONVERSE_MEMBERS: [&str; 7] = [
    "guardrailConfig",
    "performanceConfig",
    "requestMetadata",
    "promptVariables",
    "serviceTier",
    "additionalModelResponseFieldPaths",
    "outputConfig",
];

/// Members the adapter sets itself; extra parameters cannot replace them.
const OWN_MEMBERS: [&str; 5] = [
    "modelId",
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
];

/// The extra parameter whose object is merged into `additionalModelRequestFields`.
const ADDITIONAL_FIELDS: &str = "additionalModelRequestFields";

/// The room left for the answer above a thinking budget when `max_tokens` is unset.
const ANSWER_ROOM: u32 = 4096;

/// A body ready to send, and the answer tool's name when the request asks for JSON.
pub(super) struct Prepared<'a> {
    pub(super) body: Body<'a>,
    pub(super) answer_tool: Option<String>,
    /// Whether the answer tool's input wraps the answer in `value` (a schema whose root
    /// is not an object; `inputSchema.json` must be one).
    pub(super) wrapped_answer: bool,
}

/// The body of `POST /model/{modelId}/converse` (and `/converse-stream`, the same). The
/// model id is in the path, not here.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Body<'a> {
    messages: Vec<Turn<Block<'a>>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<SystemBlock<'a>>,
    #[serde(skip_serializing_if = "InferenceConfig::is_empty")]
    inference_config: InferenceConfig<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    additional_model_request_fields: Map<String, Value>,
    #[serde(flatten)]
    extra: BTreeMap<&'a str, &'a Value>,
}

#[derive(Debug, Serialize)]
struct SystemBlock<'a> {
    text: &'a str,
}

/// A content block: a union, written as an object with one member.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum Block<'a> {
    Text(&'a str),
    Image(ImageBlock<'a>),
    ToolUse(ToolUse<'a>),
    ToolResult(ToolResult<'a>),
}

#[derive(Debug, Serialize)]
struct ImageBlock<'a> {
    format: &'static str,
    source: ImageData<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum ImageData<'a> {
    /// Base64, as JSON carries a blob.
    Bytes(&'a str),
    S3Location {
        uri: &'a str,
    },
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolUse<'a> {
    tool_use_id: &'a str,
    name: &'a str,
    input: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolResult<'a> {
    tool_use_id: &'a str,
    content: [ResultText<'a>; 1],
}

#[derive(Debug, Serialize)]
struct ResultText<'a> {
    text: &'a str,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
}

impl InferenceConfig<'_> {
    fn is_empty(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'a> {
    tools: Vec<ToolEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Choice<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolEntry<'a> {
    tool_spec: ToolSpec<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolSpec<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: SchemaJson<'a>,
}

#[derive(Debug, Serialize)]
struct SchemaJson<'a> {
    json: Cow<'a, Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum Choice<'a> {
    Auto(Empty),
    Any(Empty),
    Tool { name: &'a str },
}

/// `{}`: the `auto` and `any` choices carry nothing.
#[derive(Debug, Serialize)]
struct Empty {}

impl<'a> From<tool_use::ToolSpec<'a>> for ToolSpec<'a> {
    fn from(tool: tool_use::ToolSpec<'a>) -> Self {
        Self {
            name: tool.name,
            description: tool.description,
            input_schema: SchemaJson {
                json: tool.input_schema,
            },
        }
    }
}

impl<'a> Choice<'a> {
    /// Converse's spelling of `choice`; it has no `none` (no choice is sent then).
    fn of(choice: tool_use::Choice<'a>) -> Option<Self> {
        match choice {
            tool_use::Choice::Auto => Some(Choice::Auto(Empty {})),
            tool_use::Choice::Any => Some(Choice::Any(Empty {})),
            tool_use::Choice::None => None,
            tool_use::Choice::Tool(name) => Some(Choice::Tool { name }),
        }
    }
}

/// Builds the body for `request`.
///
/// # Errors
///
/// [`ErrorKind::InvalidRequest`] for tool-call arguments that are not a JSON object, tool
/// parameters that are not a JSON Schema object, an image Converse cannot take (an
/// `https:` URL, a format other than PNG, JPEG, GIF or WebP), or a JSON-mode answer tool
/// named like one of the request's tools; [`ErrorKind::UnsupportedParameter`] for a
/// reasoning control on a model whose family's reasoning field the adapter does not know.
pub(super) fn build<'a>(request: &ProviderRequest<'a>) -> Result<Prepared<'a>, ProviderError> {
    let params = request.params();
    let (system, messages) = turns::conversation(request.messages())?;
    let tool_use = tool_use::plan(request)?;
    // Converse has no `none` choice, and refuses tool blocks without a tool config: the
    // tools stay (choice left to the model) only when the conversation needs them.
    let refused_tools =
        tool_use.choice == Some(tool_use::Choice::None) && !has_tool_blocks(&messages);
    let tool_config = (!tool_use.tools.is_empty() && !refused_tools).then(|| ToolConfig {
        tools: tool_use
            .tools
            .into_iter()
            .map(|tool| ToolEntry {
                tool_spec: ToolSpec::from(tool),
            })
            .collect(),
        tool_choice: tool_use.choice.and_then(Choice::of),
    });
    let mut additional = Map::new();
    let budget = thinking(request, &mut additional)?;
    let max_tokens = params
        .max_tokens()
        .or_else(|| budget.map(|b| b.saturating_add(ANSWER_ROOM)));
    let mut extra = BTreeMap::new();
    for (key, value) in params.extra() {
        let key = key.as_str();
        if OWN_MEMBERS.contains(&key) {
            continue;
        }
        if CONVERSE_MEMBERS.contains(&key) {
            extra.insert(key, value);
        } else if key == ADDITIONAL_FIELDS {
            for (field, inner) in value.as_object().into_iter().flatten() {
                additional
                    .entry(field.clone())
                    .or_insert_with(|| inner.clone());
            }
        } else {
            additional
                .entry(key.to_owned())
                .or_insert_with(|| value.clone());
        }
    }
    let body = Body {
        messages,
        system: system
            .into_iter()
            .map(|text| SystemBlock { text })
            .collect(),
        inference_config: InferenceConfig {
            max_tokens,
            temperature: params.temperature().map(body::decimal),
            top_p: params.top_p().map(body::decimal),
            stop_sequences: params.stop(),
        },
        tool_config,
        additional_model_request_fields: additional,
        extra,
    };
    Ok(Prepared {
        body,
        answer_tool: tool_use.answer_tool,
        wrapped_answer: tool_use.wrapped_answer,
    })
}

/// Adds the thinking control to `additional` for a model of the Anthropic family
/// (Claude on Bedrock takes Anthropic's own `thinking` field), returning its budget.
fn thinking(
    request: &ProviderRequest<'_>,
    additional: &mut Map<String, Value>,
) -> Result<Option<u32>, ProviderError> {
    let Some(reasoning) = request.params().reasoning() else {
        return Ok(None);
    };
    if request.profile().provider != Some(ProviderFamily::Anthropic) {
        return Err(ProviderError::new(
            ErrorKind::UnsupportedParameter,
            format!(
                "routewise sends a reasoning control to Bedrock for Claude models only; for \
                 `{}`, pass the model's own reasoning field as an extra parameter (it goes \
                 into additionalModelRequestFields)",
                request.model()
            ),
        ));
    }
    let budget = reasoning.budget_or_equivalent();
    additional.insert(
        "thinking".into(),
        json!({"type": "enabled", "budget_tokens": budget}),
    );
    Ok(Some(budget))
}

fn has_tool_blocks(turns: &[Turn<Block<'_>>]) -> bool {
    turns
        .iter()
        .flat_map(|t| &t.content)
        .any(|b| matches!(b, Block::ToolUse(_) | Block::ToolResult(_)))
}

impl<'a> Blocks<'a> for Block<'a> {
    fn user(part: &'a ContentPart) -> Option<Result<Self, ProviderError>> {
        let image = match part {
            ContentPart::Text(text) if text.is_empty() => return None,
            ContentPart::Text(text) => return Some(Ok(Block::Text(text))),
            ContentPart::Image(image) => match &image.source {
                ImageSource::Base64 { media_type, data } => {
                    format_of(media_type).map(|format| ImageBlock {
                        format,
                        source: ImageData::Bytes(data),
                    })
                }
                ImageSource::Url(url) if url.starts_with("data:") => body::base64_data_url(url)
                    .ok_or_else(|| {
                        invalid("an image `data:` URL must be base64 (`data:<type>;base64,...`)")
                    })
                    .and_then(|(media_type, data)| {
                        format_of(media_type).map(|format| ImageBlock {
                            format,
                            source: ImageData::Bytes(data),
                        })
                    }),
                ImageSource::Url(url) if url.starts_with("s3://") => {
                    s3_format(url).map(|format| ImageBlock {
                        format,
                        source: ImageData::S3Location { uri: url },
                    })
                }
                ImageSource::Url(_) => Err(invalid(
                    "Bedrock Converse takes images as bytes or `s3://` locations, not web URLs: \
                     fetch the image and send it as base64",
                )),
            },
        };
        Some(image.map(Block::Image))
    }

    fn text(text: &'a str) -> Self {
        Block::Text(text)
    }

    fn tool_use(call: &'a ToolCall, input: Value) -> Self {
        Block::ToolUse(ToolUse {
            tool_use_id: &call.id,
            name: &call.name,
            input,
        })
    }

    fn tool_result(tool_use_id: &'a str, content: &'a str) -> Self {
        Block::ToolResult(ToolResult {
            tool_use_id,
            content: [ResultText { text: content }],
        })
    }
}

/// Converse's image format for a media type.
fn format_of(media_type: &str) -> Result<&'static str, ProviderError> {
    match media_type.trim().to_ascii_lowercase().as_str() {
        "image/png" => Ok("png"),
        "image/jpeg" | "image/jpg" => Ok("jpeg"),
        "image/gif" => Ok("gif"),
        "image/webp" => Ok("webp"),
        other => Err(invalid(format!(
            "Bedrock Converse takes PNG, JPEG, GIF and WebP images, not `{other}`"
        ))),
    }
}

/// The image format of an `s3://` object, from its extension.
fn s3_format(url: &str) -> Result<&'static str, ProviderError> {
    let extension = url
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "png" => Ok("png"),
        "jpg" | "jpeg" => Ok("jpeg"),
        "gif" => Ok("gif"),
        "webp" => Ok("webp"),
        _ => Err(invalid(format!(
            "the image `{url}` needs a .png, .jpg, .jpeg, .gif or .webp name: Converse must \
             be told the format"
        ))),
    }
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccountInfo, ChatRequest, Message, SamplingParams};

    fn body(request: &ChatRequest) -> Result<Value, ProviderError> {
        let account = AccountInfo::new("a");
        let defaults = SamplingParams::default();
        let provider_request = ProviderRequest::new("meta.llama3", &account, request, &defaults);
        let prepared = build(&provider_request)?;
        Ok(serde_json::to_value(&prepared.body).unwrap())
    }

    #[test]
    fn extra_parameters_go_to_the_model_unless_they_are_converse_members() {
        let request = ChatRequest::user("hi").params(
            SamplingParams::new()
                .extra("top_k", 40)
                .extra(
                    "guardrailConfig",
                    json!({"guardrailIdentifier": "g", "guardrailVersion": "1"}),
                )
                .extra(ADDITIONAL_FIELDS, json!({"anthropic_beta": ["x"]}))
                .extra("messages", json!([])),
        );
        let body = body(&request).unwrap();
        assert_eq!(
            body["additionalModelRequestFields"],
            json!({"top_k": 40, "anthropic_beta": ["x"]})
        );
        assert_eq!(body["guardrailConfig"]["guardrailIdentifier"], "g");
        assert_eq!(body["messages"][0]["content"][0]["text"], "hi");
    }

    #[test]
    fn web_image_urls_and_unknown_formats_are_invalid_requests_that_say_what_converse_takes() {
        let image = |part: ContentPart| ChatRequest::new().message(Message::user_parts([part]));
        let request = image(ContentPart::image_url("https://example.com/cat.png"));
        let error = body(&request).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        assert!(error.message().contains("bytes or `s3://`"), "{error}");
        let request = image(ContentPart::image_base64("image/bmp", "Qk0="));
        assert!(body(&request).unwrap_err().message().contains("image/bmp"));
        let request = image(ContentPart::image_url("s3://bucket/cat.JPG"));
        let body = body(&request).unwrap();
        assert_eq!(
            body["messages"][0]["content"][0]["image"],
            json!({"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.JPG"}}})
        );
    }

    #[test]
    fn reasoning_on_a_model_outside_the_claude_family_is_an_unsupported_parameter() {
        let request = ChatRequest::user("hi").params(SamplingParams::new().reasoning_budget(2048));
        let error = body(&request).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnsupportedParameter);
        assert!(error.message().contains("meta.llama3"), "{error}");
    }
}
