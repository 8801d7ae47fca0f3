//! What the tool-use APIs (Anthropic Messages, Bedrock Converse) are asked for a request's
//! tools, in wire-neutral form: each tool's input schema, the tool that carries a JSON-mode
//! answer, the tool choice, and tool calls' arguments as objects. Each adapter spells the result in its own wire types.

use std::borrow::Cow;

use serde_json::Value;

use crate::provider::{ErrorKind, ProviderError, ProviderRequest, body};
use crate::types::{ResponseFormat, Tool, ToolCall, ToolChoice};

/// The answer tool's name for `json_object` mode.
const JSON_OBJECT_TOOL: &str = "json_object";

/// One tool as the API is told of it.
pub(crate) struct ToolSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) description: Option<&'a str>,
    /// An object schema, as these APIs require of a tool's input.
    pub(crate) input_schema: Cow<'a, Value>,
    /// Whether the API is asked to hold the input to the schema exactly.
    pub(crate) strict: bool,
}

/// Which tool the model is asked to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice<'a> {
    Auto,
    /// Some tool, the model's pick.
    Any,
    None,
    Tool(&'a str),
}

/// A request's tools as sent: its own, then the JSON-mode answer tool when it wants JSON.
pub(crate) struct ToolUse<'a> {
    pub(crate) tools: Vec<ToolSpec<'a>>,
    /// `None`: no choice is sent (the API's default applies).
    pub(crate) choice: Option<Choice<'a>>,
    /// The answer tool's name, when the request wants JSON.
    pub(crate) answer_tool: Option<String>,
    /// Whether the answer tool's input wraps the answer in `value` (a schema whose root is
    /// not an object).
    pub(crate) wrapped_answer: bool,
}

/// The tools, answer tool and choice for `request`.
///
/// # Errors
///
/// [`ErrorKind::InvalidRequest`] for tool parameters that are not a JSON Schema object, or
/// a JSON-mode answer tool named like one of the request's tools.
pub(crate) fn plan<'a>(request: &ProviderRequest<'a>) -> Result<ToolUse<'a>, ProviderError> {
    let mut tools = request
        .tools()
        .iter()
        .map(tool_spec)
        .collect::<Result<Vec<_>, _>>()?;
    let answer = request.response_format().and_then(answer_tool);
    if let Some((answer, _)) = &answer
        && request.tools().iter().any(|t| t.name == answer.name)
    {
        return Err(invalid(format!(
            "the JSON-mode answer tool `{}` has the name of one of the request's tools",
            answer.name
        )));
    }
    // Under extended thinking the APIs refuse a forced tool choice.
    let may_force = request.adapted().is_none_or(|a| a.may_force_tools);
    let choice = choice(
        request.tool_choice(),
        answer.as_ref().map(|(a, _)| a.name),
        !tools.is_empty(),
        may_force,
    );
    let wrapped_answer = answer.as_ref().is_some_and(|(_, wrapped)| *wrapped);
    let answer_tool = answer.map(|(a, _)| {
        let name = a.name.to_owned();
        tools.push(a);
        name
    });
    Ok(ToolUse {
        tools,
        choice,
        answer_tool,
        wrapped_answer,
    })
}

fn tool_spec(tool: &Tool) -> Result<ToolSpec<'_>, ProviderError> {
    let input_schema = if tool.parameters.is_null() {
        body::parameters_schema(&tool.parameters)
    } else {
        object_schema(&tool.parameters).ok_or_else(|| {
            invalid(format!(
                "parameters of tool `{}` are not a JSON Schema object",
                tool.name
            ))
        })?
    };
    Ok(ToolSpec {
        name: &tool.name,
        description: tool.description.as_deref(),
        input_schema,
        strict: false,
    })
}

/// The schema as a tool's input schema, which must be an object schema: `"type":
/// "object"` is added when the schema names no type. `None` when the schema is not a JSON
/// object.
fn object_schema(schema: &Value) -> Option<Cow<'_, Value>> {
    let fields = schema.as_object()?;
    if fields.contains_key("type") {
        return Some(Cow::Borrowed(schema));
    }
    let mut owned = fields.clone();
    owned.insert("type".into(), Value::from("object"));
    Some(Cow::Owned(Value::Object(owned)))
}

/// The tool that carries a JSON-mode answer, and whether it wraps the answer in `value`;
/// `None` when the request wants text.
fn answer_tool(format: &ResponseFormat) -> Option<(ToolSpec<'_>, bool)> {
    match format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some((
            ToolSpec {
                name: JSON_OBJECT_TOOL,
                description: Some("Give your final answer as this tool's input: a JSON object."),
                input_schema: Cow::Owned(serde_json::json!({"type": "object"})),
                strict: false,
            },
            false,
        )),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let root = body::has_object_root(schema)
                .then(|| object_schema(schema))
                .flatten();
            let wrapped = root.is_none();
            let input_schema = root.unwrap_or_else(|| Cow::Owned(body::wrapped_schema(schema)));
            let description = if wrapped {
                "Give your final answer as this tool's input, under `value`."
            } else {
                "Give your final answer as this tool's input."
            };
            Some((
                ToolSpec {
                    name,
                    description: Some(description),
                    input_schema,
                    strict: *strict,
                },
                wrapped,
            ))
        }
    }
}

/// The tool choice to send: the request's own, adjusted in JSON mode so the model either
/// answers through the answer tool or (when the request lets it choose among tools of its
/// own) calls one of them.
///
/// A tool choice without tools is not sent (the APIs refuse it), and where a forced
/// choice is not allowed (`may_force` false, under extended thinking) `auto` is sent.
fn choice<'a>(
    requested: Option<&'a ToolChoice>,
    answer_tool: Option<&'a str>,
    has_tools: bool,
    may_force: bool,
) -> Option<Choice<'a>> {
    let forced = |choice: Choice<'a>| if may_force { choice } else { Choice::Auto };
    let Some(answer_tool) = answer_tool else {
        return requested.filter(|_| has_tools).map(|choice| match choice {
            ToolChoice::Auto => Choice::Auto,
            ToolChoice::None => Choice::None,
            ToolChoice::Required => forced(Choice::Any),
            ToolChoice::Function(name) => forced(Choice::Tool(name)),
        });
    };
    if !may_force {
        return Some(Choice::Auto);
    }
    Some(match requested {
        Some(ToolChoice::Function(name)) => Choice::Tool(name),
        Some(ToolChoice::Required) => Choice::Any,
        Some(ToolChoice::Auto) | None if has_tools => Choice::Any,
        _ => Choice::Tool(answer_tool),
    })
}

/// A tool call's argument text as the JSON object these APIs want; empty text means `{}`.
///
/// # Errors
///
/// [`ErrorKind::InvalidRequest`] for arguments that are not JSON or not a JSON object.
pub(crate) fn tool_input(call: &ToolCall) -> Result<Value, ProviderError> {
    if call.arguments.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(invalid(format!(
            "arguments of tool call `{}` (`{}`) are not a JSON object",
            call.id, call.name
        ))),
        Err(e) => Err(invalid(format!(
            "arguments of tool call `{}` (`{}`) are not valid JSON: {e}",
            call.id, call.name
        ))),
    }
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn schemas_without_a_type_become_object_schemas() {
        assert_eq!(
            *object_schema(&json!({})).unwrap(),
            json!({"type": "object"})
        );
        let typed = json!({"type": "object", "properties": {}});
        assert!(matches!(object_schema(&typed), Some(Cow::Borrowed(_))));
        assert!(object_schema(&json!(null)).is_none());
    }

    #[test]
    fn json_mode_forces_the_answer_tool_unless_the_model_may_choose_own_tools() {
        let own = ToolChoice::Function("lookup".into());
        let forced = |requested, has_tools| choice(requested, Some("answer"), has_tools, true);
        assert_eq!(forced(None, false), Some(Choice::Tool("answer")));
        assert_eq!(forced(Some(&ToolChoice::Auto), true), Some(Choice::Any));
        assert_eq!(forced(None, true), Some(Choice::Any));
        assert_eq!(
            forced(Some(&ToolChoice::None), true),
            Some(Choice::Tool("answer"))
        );
        assert_eq!(forced(Some(&own), true), Some(Choice::Tool("lookup")));
    }

    #[test]
    fn a_forced_choice_becomes_auto_where_forcing_is_refused() {
        let required = ToolChoice::Required;
        assert_eq!(
            choice(Some(&required), None, true, false),
            Some(Choice::Auto)
        );
        assert_eq!(
            choice(None, Some("json_object"), false, false),
            Some(Choice::Auto)
        );
    }

    #[test]
    fn a_choice_without_tools_is_not_sent() {
        assert_eq!(choice(Some(&ToolChoice::Auto), None, false, true), None);
    }

    #[test]
    fn a_schema_whose_root_is_not_an_object_is_wrapped_in_value() {
        let format = ResponseFormat::JsonSchema {
            name: "list".into(),
            schema: json!({"type": "array"}),
            strict: false,
        };
        let (tool, wrapped) = answer_tool(&format).unwrap();
        assert!(wrapped);
        assert_eq!(tool.input_schema["required"], json!(["value"]));
    }

    #[test]
    fn empty_and_missing_arguments_mean_an_empty_object() {
        let call = |arguments: &str| ToolCall {
            id: "c".into(),
            name: "f".into(),
            arguments: arguments.into(),
        };
        assert_eq!(tool_input(&call(" ")).unwrap(), json!({}));
        assert_eq!(tool_input(&call("{\"a\":1}")).unwrap(), json!({"a": 1}));
        let not_object = tool_input(&call("[1]")).unwrap_err();
        assert_eq!(not_object.kind(), ErrorKind::InvalidRequest);
        assert!(not_object.message().contains("`c`"), "{not_object}");
    }
}
