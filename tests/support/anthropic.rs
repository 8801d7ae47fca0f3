//! What the Anthropic wire and conformance tests share: fixtures, the request shapes every
//! test sends (so the conformance test checks every body the wire tests send), and calls
//! through the adapter.

use routewise::provider::anthropic::Anthropic;
use routewise::{
    AccountInfo, ChatRequest, ContentPart, Message, Provider, ProviderAccount, ProviderError,
    ProviderEvent, ProviderRequest, ProviderResponse, ResponseFormat, SamplingParams, ToolChoice,
};
use serde_json::{Value, json};

use super::requests::{PNG_BASE64, find_shape, tool_round_trip, with_tools};
use super::wire::collect_events;
use super::wire_server;

/// The API key every test account uses.
pub const API_KEY: &str = "sk-ant-api03-test-key-0123456789abcdef";
/// An extra account header whose value is secret too.
pub const HEADER_SECRET: &str = "team-header-secret-42";
/// Every secret of the test accounts.
pub const SECRETS: [&str; 2] = [API_KEY, HEADER_SECRET];
/// The provider model every test asks for.
pub const MODEL: &str = "claude-sonnet-4-6";

/// The text of a fixture under `tests/fixtures/anthropic/`.
pub fn fixture(name: &str) -> String {
    wire_server::fixture(&format!("anthropic/{name}"))
}

/// Every fixture's file name, sorted.
pub fn fixture_names() -> Vec<String> {
    wire_server::fixture_names("anthropic")
}

/// An account at `base_url` with the test key and a secret extra header.
pub fn account(base_url: &str) -> AccountInfo {
    ProviderAccount::new("claude", Anthropic::new())
        .api_key(API_KEY)
        .base_url(base_url)
        .header("x-team-token", HEADER_SECRET)
        .info()
        .clone()
}

/// Calls `complete` for `MODEL` with no logical-model defaults.
pub async fn complete(
    anthropic: &Anthropic,
    account: &AccountInfo,
    request: &ChatRequest,
) -> Result<ProviderResponse, ProviderError> {
    let defaults = SamplingParams::default();
    anthropic
        .complete(ProviderRequest::new(MODEL, account, request, &defaults))
        .await
}

/// Calls `stream` and collects its events up to the end or the first error.
pub async fn stream(
    anthropic: &Anthropic,
    account: &AccountInfo,
    request: &ChatRequest,
) -> (Vec<ProviderEvent>, Option<ProviderError>) {
    let defaults = SamplingParams::default();
    let opened = anthropic
        .stream(ProviderRequest::new(MODEL, account, request, &defaults))
        .await;
    collect_events(opened).await
}

/// The request shape named `name`.
pub fn shape(name: &str) -> ChatRequest {
    find_shape(shapes(), name)
}

/// The schema of the JSON-mode tests.
pub fn weather_report_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "temperature_c": {"type": "number"},
            "conditions": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["city", "temperature_c", "conditions"],
        "additionalProperties": false
    })
}

/// Every request shape the Anthropic tests send.
pub fn shapes() -> Vec<(&'static str, ChatRequest)> {
    let weather_report = ResponseFormat::JsonSchema {
        name: "weather_report".into(),
        schema: weather_report_schema(),
        strict: true,
    };
    vec![
        ("plain", ChatRequest::user("Hello, Claude")),
        (
            "system_lifted",
            ChatRequest::new()
                .message(Message::system("You are terse."))
                .message(Message::user("Hi"))
                .message(Message::assistant("Hello."))
                .message(Message::system("Answer in English."))
                .message(Message::user("Bonjour ?")),
        ),
        (
            "consecutive_turns",
            ChatRequest::new()
                .message(Message::user("First question."))
                .message(Message::user_parts([
                    ContentPart::text(""),
                    ContentPart::text("Second question."),
                ]))
                .message(Message::assistant("First answer."))
                .message(Message::assistant(""))
                .message(Message::assistant("Second answer."))
                .message(Message::user("Thanks.")),
        ),
        (
            "sampling",
            ChatRequest::user("Count to three.").params(
                SamplingParams::new()
                    .temperature(0.25)
                    .top_p(0.5)
                    .max_tokens(300)
                    .stop(["\n\nHuman:"])
                    .seed(7)
                    .extra("service_tier", "auto")
                    .extra("metadata", json!({"user_id": "user-1234"})),
            ),
        ),
        (
            "images",
            ChatRequest::new().message(Message::user_parts([
                ContentPart::text("What is in these images?"),
                ContentPart::image_base64("image/png", PNG_BASE64),
                ContentPart::image_url("https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"),
                ContentPart::image_url("data:image/gif;base64,R0lGODlhAQABAAAAACw="),
            ])),
        ),
        ("tools_auto", with_tools(ChatRequest::user("Weather in Oslo?"), Some(ToolChoice::Auto))),
        ("tools_required", with_tools(ChatRequest::user("Weather in Oslo?"), Some(ToolChoice::Required))),
        (
            "tools_function",
            with_tools(
                ChatRequest::user("Weather in Oslo?"),
                Some(ToolChoice::Function("get_weather".into())),
            ),
        ),
        ("tools_none", with_tools(ChatRequest::user("Weather in Oslo?"), Some(ToolChoice::None))),
        (
            "tool_round_trip",
            with_tools(
                tool_round_trip("toolu_01"),
                None,
            ),
        ),
        (
            "json_schema",
            ChatRequest::user("Weather report for Oslo as JSON.").response_format(weather_report.clone()),
        ),
        (
            "json_object",
            ChatRequest::user("Rate the sentiment of 'I love it' as JSON.")
                .response_format(ResponseFormat::JsonObject),
        ),
        (
            "json_schema_with_tools",
            with_tools(ChatRequest::user("Weather report for Oslo as JSON."), None)
                .response_format(weather_report),
        ),
    ]
}
