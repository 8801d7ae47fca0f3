//! The body of `generateContent` / `streamGenerateContent`: canonical request to Gemini's
//! camelCase wire format.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Number, Value, json};

use crate::provider::profile::ReasoningStyle;
use crate::provider::{ErrorKind, ProviderError, ProviderRequest, body};
use crate::types::{ContentPart, ImageSource, Message, ResponseFormat, Tool, ToolChoice};

/// Keys of the `extra` parameters that belong at the top level of the body; every other
/// key goes into `generationConfig`.
const TOP_LEVEL_EXTRA: [&str; 3] = ["safetySettings", "cachedContent", "toolConfig"];

/// Google's documented placeholder for a replayed function call whose real
/// `thoughtSignature` is unknown.
const THOUGHT_SIGNATURE_PLACEHOLDER: &str = "skip_thought_signature_validator";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolGroup<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    generation_config: Map<String, Value>,
}

#[derive(Serialize)]
struct Content<'a> {
    role: &'static str,
    parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
struct SystemInstruction<'a> {
    parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Part<'a> {
    #[serde(flatten)]
    data: PartData<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<&'static str>,
}

impl<'a> From<PartData<'a>> for Part<'a> {
    fn from(data: PartData<'a>) -> Self {
        Self {
            data,
            thought_signature: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
enum PartData<'a> {
    Text(&'a str),
    InlineData {
        mime_type: &'a str,
        data: &'a str,
    },
    FileData {
        mime_type: &'a str,
        file_uri: &'a str,
    },
    FunctionCall {
        name: &'a str,
        args: Value,
    },
    FunctionResponse {
        name: &'a str,
        response: Value,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolGroup<'a> {
    function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionDeclaration<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<Cow<'a, Value>>,
}

/// The function a JSON-mode answer is asked for through, where the model cannot combine
/// JSON mode with tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct AnswerFunction {
    pub(super) name: String,
    /// Whether the arguments wrap the answer in `value` (a schema whose root is not an
    /// object).
    pub(super) wrapped: bool,
}

impl AnswerFunction {
    /// The answer a call to this function carries, as JSON text.
    pub(super) fn answer(&self, arguments: &str) -> String {
        if self.wrapped {
            body::unwrap_answer(arguments)
        } else {
            arguments.to_owned()
        }
    }
}

/// A body ready to send, and the answer function when JSON mode goes through one.
pub(super) struct Built {
    pub(super) body: Value,
    pub(super) answer: Option<AnswerFunction>,
}

/// The answer function's name for `json_object` mode.
const JSON_OBJECT_FUNCTION: &str = "json_object";

/// The JSON body for `request`.
///
/// # Errors
///
/// [`ErrorKind::InvalidRequest`] for a conversation Gemini cannot take: tool call arguments
/// that are not a JSON object, a tool result that answers no earlier tool call, an image
/// `data:` URL that is not base64.
pub(super) fn build(request: &ProviderRequest<'_>) -> Result<Built, ProviderError> {
    let (contents, system) = conversation(request.messages())?;
    let tools = request.tools();
    let through_tool = request.adapted().is_some_and(|a| a.json_through_tool);
    let answer = request
        .response_format()
        .filter(|_| through_tool)
        .and_then(answer_declaration);
    if let Some((declaration, _)) = &answer
        && tools.iter().any(|t| t.name == declaration.name)
    {
        return Err(invalid(format!(
            "the JSON-mode answer function `{}` has the name of one of the request's tools",
            declaration.name
        )));
    }
    let mut declarations: Vec<FunctionDeclaration<'_>> = tools.iter().map(declaration).collect();
    let answer = answer.map(|(declaration, wrapped)| {
        let function = AnswerFunction {
            name: declaration.name.to_owned(),
            wrapped,
        };
        declarations.push(declaration);
        function
    });
    // With an answer function the model must call a function: one of the request's (if
    // it may choose) or the answer.
    let tool_config = match (&answer, request.tool_choice()) {
        (Some(_), Some(ToolChoice::Function(name))) => {
            Some(tool_config(&ToolChoice::Function(name.clone())))
        }
        (Some(_), _) => Some(tool_config(&ToolChoice::Required)),
        (None, choice) => choice.filter(|_| !tools.is_empty()).map(tool_config),
    };
    let body = Body {
        contents,
        system_instruction: (!system.is_empty()).then_some(SystemInstruction { parts: system }),
        tools: if declarations.is_empty() {
            Vec::new()
        } else {
            vec![ToolGroup {
                function_declarations: declarations,
            }]
        },
        tool_config,
        generation_config: generation_config(request, answer.is_none()),
    };
    let mut body = serde_json::to_value(body)
        .map_err(|e| invalid(format!("request body could not be encoded: {e}")))?;
    if let Value::Object(fields) = &mut body {
        for (key, value) in request.params().extra() {
            if TOP_LEVEL_EXTRA.contains(&key.as_str()) {
                fields.insert(key.clone(), value.clone());
            } else if let Value::Object(config) = fields
                .entry("generationConfig")
                .or_insert_with(|| Value::Object(Map::new()))
            {
                config.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(Built { body, answer })
}

/// The declaration of the function a JSON-mode answer is asked for through, and whether
/// it wraps the answer; `None` for text.
fn answer_declaration(format: &ResponseFormat) -> Option<(FunctionDeclaration<'_>, bool)> {
    let (name, schema) = match format {
        ResponseFormat::Text => return None,
        ResponseFormat::JsonObject => (JSON_OBJECT_FUNCTION, None),
        ResponseFormat::JsonSchema { name, schema, .. } => (name.as_str(), Some(schema)),
    };
    let (schema, wrapped) = match schema {
        None => (Cow::Owned(json!({"type": "object"})), false),
        Some(schema) if body::has_object_root(schema) => (Cow::Borrowed(schema), false),
        Some(schema) => (Cow::Owned(body::wrapped_schema(schema)), true),
    };
    Some((
        FunctionDeclaration {
            name,
            description: Some("Give your final answer as this function's arguments."),
            parameters_json_schema: Some(schema),
        },
        wrapped,
    ))
}

/// `contents` (roles `user` and `model`, consecutive turns of one role merged) and the
/// system instruction's parts.
fn conversation(messages: &[Message]) -> Result<(Vec<Content<'_>>, Vec<Part<'_>>), ProviderError> {
    let mut contents: Vec<Content<'_>> = Vec::with_capacity(messages.len());
    let mut system = Vec::new();
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for message in messages {
        let (role, parts) = match message {
            Message::System { content } => {
                system.push(PartData::Text(content).into());
                continue;
            }
            Message::User { content } => ("user", user_parts(content)?),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let mut parts: Vec<Part<'_>> = content
                    .as_deref()
                    .filter(|text| !text.is_empty())
                    .map(|text| PartData::Text(text).into())
                    .into_iter()
                    .collect();
                for (index, call) in tool_calls.iter().enumerate() {
                    call_names.insert(&call.id, &call.name);
                    parts.push(Part {
                        data: PartData::FunctionCall {
                            name: &call.name,
                            args: call_arguments(&call.name, &call.arguments)?,
                        },
                        thought_signature: (index == 0).then_some(THOUGHT_SIGNATURE_PLACEHOLDER),
                    });
                }
                ("model", parts)
            }
            Message::Tool {
                tool_call_id,
                content,
            } => {
                let name = call_names.get(tool_call_id.as_str()).ok_or_else(|| {
                    invalid(format!(
                        "tool result `{tool_call_id}` answers no earlier assistant tool call \
                         (Gemini needs the function's name)"
                    ))
                })?;
                let response = PartData::FunctionResponse {
                    name,
                    response: function_response(content),
                };
                ("user", vec![response.into()])
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => contents.push(Content { role, parts }),
        }
    }
    Ok((contents, system))
}

fn user_parts(content: &[ContentPart]) -> Result<Vec<Part<'_>>, ProviderError> {
    content
        .iter()
        .filter(|part| !matches!(part, ContentPart::Text(text) if text.is_empty()))
        .map(|part| {
            Ok(match part {
                ContentPart::Text(text) => PartData::Text(text),
                ContentPart::Image(image) => match &image.source {
                    ImageSource::Base64 { media_type, data } => PartData::InlineData {
                        mime_type: media_type,
                        data,
                    },
                    ImageSource::Url(url) if url.starts_with("data:") => data_url(url)?,
                    ImageSource::Url(url) => PartData::FileData {
                        mime_type: image_mime_type(url),
                        file_uri: url,
                    },
                },
            }
            .into())
        })
        .collect()
}

/// An inline image from a `data:{mime};base64,{data}` URL.
fn data_url(url: &str) -> Result<PartData<'_>, ProviderError> {
    body::base64_data_url(url)
        .filter(|(mime_type, _)| !mime_type.is_empty())
        .map(|(mime_type, data)| PartData::InlineData { mime_type, data })
        .ok_or_else(|| {
            invalid("image `data:` URL must have the form `data:<mime type>;base64,<data>`")
        })
}

/// The MIME type of an image URL, from its path's extension; `image/jpeg` when unknown.
fn image_mime_type(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let extension = file
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("heic") => "image/heic",
        Some("heif") => "image/heif",
        Some("gif") => "image/gif",
        _ => "image/jpeg",
    }
}

/// A tool call's arguments as the JSON object `functionCall.args` must be. Empty text means
/// no arguments.
fn call_arguments(name: &str, arguments: &str) -> Result<Value, ProviderError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(args @ Value::Object(_)) => Ok(args),
        Ok(_) => Err(invalid(format!(
            "arguments of tool call `{name}` must be a JSON object"
        ))),
        Err(e) => Err(invalid(format!(
            "arguments of tool call `{name}` are not valid JSON: {e}"
        ))),
    }
}

/// A tool's output as the JSON object `functionResponse.response` must be: an object as is,
/// any other JSON value or plain text under `result` (as the Python SDK does).
fn function_response(content: &str) -> Value {
    match serde_json::from_str::<Value>(content) {
        Ok(object @ Value::Object(_)) => object,
        Ok(other) => json!({ "result": other }),
        Err(_) => json!({ "result": content }),
    }
}

/// A tool as a declaration; a tool without parameters declares an object schema without
/// properties, as every adapter does.
fn declaration(tool: &Tool) -> FunctionDeclaration<'_> {
    let empty = tool.parameters.as_object().is_some_and(Map::is_empty);
    FunctionDeclaration {
        name: &tool.name,
        description: tool.description.as_deref(),
        parameters_json_schema: Some(if empty {
            body::parameters_schema(&Value::Null)
        } else {
            body::parameters_schema(&tool.parameters)
        }),
    }
}

fn tool_config(choice: &ToolChoice) -> Value {
    let config = match choice {
        ToolChoice::Auto => json!({ "mode": "AUTO" }),
        ToolChoice::None => json!({ "mode": "NONE" }),
        ToolChoice::Required => json!({ "mode": "ANY" }),
        ToolChoice::Function(name) => json!({ "mode": "ANY", "allowedFunctionNames": [name] }),
    };
    json!({ "functionCallingConfig": config })
}

/// `generationConfig`: sampling, limits, thinking and (unless JSON mode goes through an
/// answer function) the response MIME type and schema.
fn generation_config(request: &ProviderRequest<'_>, json_mode: bool) -> Map<String, Value> {
    let params = request.params();
    let mut config = Map::new();
    if let Some(temperature) = params.temperature() {
        config.insert("temperature".into(), decimal(temperature));
    }
    if let Some(top_p) = params.top_p() {
        config.insert("topP".into(), decimal(top_p));
    }
    if let Some(max_tokens) = params.max_tokens() {
        config.insert("maxOutputTokens".into(), max_tokens.into());
    }
    if !params.stop().is_empty() {
        config.insert("stopSequences".into(), params.stop().into());
    }
    if let Some(seed) = params.seed() {
        config.insert("seed".into(), seed.into());
    }
    if let Some(reasoning) = params.reasoning() {
        let thinking = match request.profile().reasoning {
            ReasoningStyle::Level => {
                json!({"thinkingLevel": reasoning.effort_or_equivalent().as_str()})
            }
            _ => json!({"thinkingBudget": reasoning.budget_or_equivalent()}),
        };
        config.insert("thinkingConfig".into(), thinking);
    }
    match request.response_format().filter(|_| json_mode) {
        Some(ResponseFormat::JsonObject) => {
            config.insert("responseMimeType".into(), "application/json".into());
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            config.insert("responseMimeType".into(), "application/json".into());
            config.insert("responseJsonSchema".into(), schema.clone());
        }
        Some(ResponseFormat::Text) | None => {}
    }
    config
}

/// An `f32` as the JSON number it reads as (`0.2`, not `0.20000000298023224`).
fn decimal(value: f32) -> Value {
    Number::from_f64(body::decimal(value)).map_or(Value::Null, Value::Number)
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToolCall;
    use crate::{AccountInfo, ChatRequest, SamplingParams};

    fn body(chat: &ChatRequest) -> Result<Value, ProviderError> {
        let account = AccountInfo::new("g");
        let defaults = SamplingParams::default();
        build(&ProviderRequest::new("m", &account, chat, &defaults)).map(|built| built.body)
    }

    fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn consecutive_turns_of_one_role_merge_and_system_messages_move_out() {
        let chat = ChatRequest::new()
            .message(Message::system("be brief"))
            .message(Message::user("a"))
            .message(Message::user("b"))
            .message(Message::assistant("c"))
            .message(Message::system("and kind"));
        let body = body(&chat).unwrap();
        assert_eq!(
            body["contents"],
            json!([
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}]},
            ])
        );
        assert_eq!(
            body["systemInstruction"],
            json!({"parts": [{"text": "be brief"}, {"text": "and kind"}]})
        );
    }

    #[test]
    fn tool_results_take_the_name_of_their_call_and_become_objects() {
        let chat = ChatRequest::user("weather?")
            .message(Message::assistant_tool_calls([
                call("c1", "get_weather", r#"{"city":"Oslo"}"#),
                call("c2", "get_time", ""),
            ]))
            .message(Message::tool_result("c1", r#"{"temp":3}"#))
            .message(Message::tool_result("c2", "12:00"));
        let body = body(&chat).unwrap();
        assert_eq!(
            body["contents"][1],
            json!({"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
                 "thoughtSignature": THOUGHT_SIGNATURE_PLACEHOLDER},
                {"functionCall": {"name": "get_time", "args": {}}},
            ]})
        );
        assert_eq!(
            body["contents"][2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 3}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
            ]})
        );
    }

    #[test]
    fn non_object_tool_output_is_wrapped_as_result() {
        assert_eq!(function_response("[1,2]"), json!({"result": [1, 2]}));
        assert_eq!(function_response("42"), json!({"result": 42}));
        assert_eq!(function_response("\"x\""), json!({"result": "x"}));
        assert_eq!(function_response("not json"), json!({"result": "not json"}));
    }

    #[test]
    fn bad_tool_arguments_are_an_invalid_request_naming_the_tool() {
        for arguments in ["{not json", "[1]"] {
            let chat = ChatRequest::user("x").message(Message::assistant_tool_calls([call(
                "c", "lookup", arguments,
            )]));
            let err = body(&chat).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest);
            assert!(err.message().contains("`lookup`"), "{err}");
        }
    }

    #[test]
    fn a_tool_result_without_its_call_is_an_invalid_request() {
        let chat = ChatRequest::user("x").message(Message::tool_result("ghost", "1"));
        let err = body(&chat).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.message().contains("`ghost`"), "{err}");
    }

    #[test]
    fn image_urls_get_mime_types_from_their_extension() {
        assert_eq!(
            image_mime_type("https://x.test/a/cat.PNG?size=2#top"),
            "image/png"
        );
        assert_eq!(image_mime_type("gs://bucket/photo.webp"), "image/webp");
        assert_eq!(image_mime_type("https://x.test/img.heic"), "image/heic");
        assert_eq!(image_mime_type("https://x.test/photo"), "image/jpeg");
        assert_eq!(image_mime_type("https://x.test.com/"), "image/jpeg");
    }

    #[test]
    fn data_urls_become_inline_data_and_others_are_refused() {
        let inline = data_url("data:image/png;base64,iVBORw0KGgo=").unwrap();
        assert_eq!(
            serde_json::to_value(Part::from(inline)).unwrap(),
            json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
        );
        for bad in [
            "data:image/png,rawbytes",
            "data:;base64,AA==",
            "data:image/png;base64",
        ] {
            assert_eq!(
                data_url(bad).unwrap_err().kind(),
                ErrorKind::InvalidRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn extra_parameters_go_to_generation_config_or_the_top_level() {
        let chat = ChatRequest::user("x").params(
            SamplingParams::new()
                .temperature(0.2)
                .extra("topK", 40)
                .extra("temperature", 0.5)
                .extra("safetySettings", json!([])),
        );
        let body = body(&chat).unwrap();
        assert_eq!(
            body["generationConfig"],
            json!({"temperature": 0.5, "topK": 40})
        );
        assert_eq!(body["safetySettings"], json!([]));
    }

    #[test]
    fn floats_keep_their_short_decimal_form() {
        assert_eq!(decimal(0.2).to_string(), "0.2");
        assert_eq!(decimal(0.95).to_string(), "0.95");
    }

    #[test]
    fn tool_choice_without_tools_sends_no_tool_config() {
        let body = body(&ChatRequest::user("x").tool_choice(ToolChoice::None)).unwrap();
        assert!(body.get("toolConfig").is_none());
    }
}
