//! Request pieces the tests share: one "hi" sent straight to a provider, and what the
//! tool-use adapters' tests (Anthropic, Bedrock) both send: the two test tools, a tool
//! round trip, a tiny PNG, and finding a named request shape.

use routewise::{
    AccountInfo, ChatRequest, Message, Provider, ProviderError, ProviderRequest, ProviderResponse,
    SamplingParams, Tool, ToolCall, ToolChoice,
};
use serde_json::json;

/// Sends `provider` a one-message "hi" for `model` on `account`, with no defaults.
pub async fn say_hi(
    provider: &dyn Provider,
    account: &AccountInfo,
    model: &str,
) -> Result<ProviderResponse, ProviderError> {
    let request = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    provider
        .complete(ProviderRequest::new(model, account, &request, &defaults))
        .await
}

/// A 1x1 transparent PNG.
pub const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// A tool with a full object schema.
pub fn weather_tool() -> Tool {
    Tool::new(
        "get_weather",
        json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city"]
        }),
    )
    .description("The current weather in a city.")
}

/// A tool whose parameters name no type (the adapters add `"type": "object"`).
pub fn time_tool() -> Tool {
    Tool::new("get_time", json!({}))
}

/// `request` with both test tools and, when given, a tool choice.
pub fn with_tools(request: ChatRequest, choice: Option<ToolChoice>) -> ChatRequest {
    let request = request.tool(weather_tool()).tool(time_tool());
    match choice {
        Some(choice) => request.tool_choice(choice),
        None => request,
    }
}

/// A conversation in which the assistant called both tools (ids `<id_prefix>A` and
/// `<id_prefix>B`, the second with empty arguments) and got both results back.
pub fn tool_round_trip(id_prefix: &str) -> ChatRequest {
    let (weather_id, time_id) = (format!("{id_prefix}A"), format!("{id_prefix}B"));
    ChatRequest::new()
        .message(Message::user("Weather in Oslo, and the time?"))
        .message(Message::Assistant {
            content: Some("I'll check both.".into()),
            tool_calls: vec![
                ToolCall {
                    id: weather_id.clone(),
                    name: "get_weather".into(),
                    arguments: r#"{"city": "Oslo", "unit": "celsius"}"#.into(),
                },
                ToolCall {
                    id: time_id.clone(),
                    name: "get_time".into(),
                    arguments: String::new(),
                },
            ],
        })
        .message(Message::tool_result(weather_id, "4°C, cloudy"))
        .message(Message::tool_result(time_id, "09:30"))
        .message(Message::user("Thanks! Do I need a coat?"))
}

/// The shape named `name` among `shapes`.
pub fn find_shape(shapes: Vec<(&'static str, ChatRequest)>, name: &str) -> ChatRequest {
    shapes
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no request shape `{name}`"))
        .1
}
