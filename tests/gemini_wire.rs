//! The Gemini adapter against a local server that speaks the Gemini REST wire format
//! (`v1beta`, camelCase JSON, server-sent events, `google.rpc.Status` errors).
//!
//! Every test ends with `check(&server)`: the API key went only in its header, and every
//! request body the adapter sent and every fixture the server served passed the
//! `google-genai` SDK's own types (`conformance/checks_gemini.py`).

mod support;

#[path = "gemini_wire/errors.rs"]
mod errors;
#[path = "gemini_wire/negative.rs"]
mod negative;
#[path = "gemini_wire/routing.rs"]
mod routing;
#[path = "gemini_wire/streaming.rs"]
mod streaming;

use routewise::provider::gemini::Gemini;
use routewise::{
    ChatRequest, ContentPart, ErrorKind, FinishReason, Message, Provider, ProviderError,
    ProviderRequest, ProviderResponse, ResponseFormat, SamplingParams, Tool, ToolCall, ToolChoice,
    Usage,
};
use serde_json::{Value, json};

use support::gemini::{API_KEY, account, check, ok_reply};
use support::wire::assert_secret_free;
use support::wire_server::RecordingServer;

pub const MODEL: &str = "gemini-2.5-flash";

/// One `complete` call through `server`'s account, with `defaults` under the request's
/// parameters.
pub async fn complete_with(
    server: &RecordingServer,
    chat: &ChatRequest,
    defaults: &SamplingParams,
) -> Result<ProviderResponse, ProviderError> {
    let account = account(server, "google");
    Gemini::new()
        .complete(ProviderRequest::new(MODEL, account.info(), chat, defaults))
        .await
}

pub async fn complete(
    server: &RecordingServer,
    chat: &ChatRequest,
) -> Result<ProviderResponse, ProviderError> {
    complete_with(server, chat, &SamplingParams::default()).await
}

fn weather_tools() -> [Tool; 2] {
    [
        Tool::new(
            "get_weather",
            json!({"type": "object", "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                "required": ["city"]}),
        )
        .description("Current weather in a city"),
        Tool::new(
            "get_time",
            json!({"type": "object", "properties": {"zone": {"type": "string"}}}),
        ),
    ]
}

fn arguments(call: &ToolCall) -> Value {
    serde_json::from_str(&call.arguments).expect("tool call arguments are JSON")
}

#[tokio::test]
async fn a_text_request_sends_system_instruction_and_generation_config_and_maps_the_answer() {
    let server = RecordingServer::start([ok_reply("text.json")]).await;
    let chat = ChatRequest::new()
        .message(Message::system("Answer in one sentence."))
        .message(Message::user("What is the capital of Norway?"))
        .params(
            SamplingParams::new()
                .temperature(0.2)
                .stop(["\n\n"])
                .seed(42),
        );
    let defaults = SamplingParams::new()
        .temperature(0.9)
        .top_p(0.95)
        .max_tokens(256);

    let answer = complete_with(&server, &chat, &defaults).await.unwrap();

    assert_eq!(answer.content, "Oslo is the capital of Norway.");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert_eq!(answer.usage, Usage::new(12, 8));
    assert!(answer.tool_calls.is_empty());
    let [request] = <[_; 1]>::try_from(server.requests()).unwrap();
    assert_eq!(
        request.path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(request.query.as_deref(), None);
    assert_eq!(
        request.body,
        json!({
            "contents": [{"role": "user", "parts": [{"text": "What is the capital of Norway?"}]}],
            "systemInstruction": {"parts": [{"text": "Answer in one sentence."}]},
            "generationConfig": {
                "temperature": 0.2, "topP": 0.95, "maxOutputTokens": 256,
                "stopSequences": ["\n\n"], "seed": 42
            }
        })
    );
    check(&server);
}

#[tokio::test]
async fn images_go_inline_when_given_as_data_and_by_file_uri_when_given_as_urls() {
    let server = RecordingServer::start([ok_reply("text.json")]).await;
    let chat = ChatRequest::new().message(Message::user_parts([
        ContentPart::text("Which of these is a cat?"),
        ContentPart::image_base64("image/png", "iVBORw0KGgoAAAANSUhEUg=="),
        ContentPart::image_url("data:image/webp;base64,UklGRh4AAABXRUJQVlA4"),
        ContentPart::image_url("https://example.com/photos/cat.JPG?w=512"),
        ContentPart::image_url("gs://bucket/scans/0042"),
    ]));

    complete(&server, &chat).await.unwrap();

    let body = server.requests()[0].body.clone();
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [
            {"text": "Which of these is a cat?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="}},
            {"inlineData": {"mimeType": "image/webp", "data": "UklGRh4AAABXRUJQVlA4"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photos/cat.JPG?w=512"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/scans/0042"}},
        ]}])
    );
    check(&server);
}

#[tokio::test]
async fn function_calls_round_trip_with_names_found_by_call_id() {
    let server =
        RecordingServer::start([ok_reply("function_call.json"), ok_reply("tool_answer.json")])
            .await;
    let ask = ChatRequest::user("Weather and time in Oslo?")
        .tool(weather_tools()[0].clone())
        .tool(weather_tools()[1].clone())
        .tool_choice(ToolChoice::Auto);

    let first = complete(&server, &ask).await.unwrap();

    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    let ids: Vec<&str> = first.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["call_0", "call_1"]);
    assert_eq!(first.tool_calls[0].name, "get_weather");
    assert_eq!(
        arguments(&first.tool_calls[0]),
        json!({"city": "Oslo", "unit": "celsius"})
    );
    assert_eq!(
        arguments(&first.tool_calls[1]),
        json!({"zone": "Europe/Oslo"})
    );
    assert_eq!(first.usage.output_tokens, 24 + 42);
    assert_eq!(first.usage.reasoning_tokens, 42);

    let follow_up = ask
        .clone()
        .message(Message::assistant_tool_calls(first.tool_calls.clone()))
        .message(Message::tool_result("call_0", r#"{"temp_c": 3}"#))
        .message(Message::tool_result("call_1", "12:00"));
    let second = complete(&server, &follow_up).await.unwrap();

    assert_eq!(second.content, "It is 3 °C in Oslo at 12:00.");
    assert_eq!(second.finish_reason, FinishReason::Stop);
    let body = server.requests()[1].body.clone();
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather and time in Oslo?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo", "unit": "celsius"}},
                 "thoughtSignature": "skip_thought_signature_validator"},
                {"functionCall": {"name": "get_time", "args": {"zone": "Europe/Oslo"}}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 3}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
            ]},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [
            {"name": "get_weather", "description": "Current weather in a city",
             "parametersJsonSchema": weather_tools()[0].parameters},
            {"name": "get_time", "parametersJsonSchema": weather_tools()[1].parameters},
        ]}])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "AUTO"}})
    );
    check(&server);
}

#[tokio::test]
async fn tool_choice_maps_to_function_calling_modes() {
    let choices = [
        (ToolChoice::Auto, json!({"mode": "AUTO"})),
        (ToolChoice::None, json!({"mode": "NONE"})),
        (ToolChoice::Required, json!({"mode": "ANY"})),
        (
            ToolChoice::Function("get_time".into()),
            json!({"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
        ),
    ];
    let server =
        RecordingServer::start(choices.iter().map(|_| ok_reply("function_call.json"))).await;
    for (choice, _) in &choices {
        let chat = ChatRequest::user("time?")
            .tool(weather_tools()[1].clone())
            .tool_choice(choice.clone());
        complete(&server, &chat).await.unwrap();
    }
    for (request, (choice, expected)) in server.requests().iter().zip(&choices) {
        assert_eq!(
            request.body["toolConfig"]["functionCallingConfig"], *expected,
            "{choice:?}"
        );
    }
    check(&server);
}

#[tokio::test]
async fn json_mode_and_json_schema_set_the_response_mime_type_and_schema() {
    let server =
        RecordingServer::start([ok_reply("json_mode.json"), ok_reply("json_mode.json")]).await;
    let schema = json!({"type": "object", "properties": {
        "city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"], "additionalProperties": false});

    let object = complete(
        &server,
        &ChatRequest::user("Oslo facts as JSON").response_format(ResponseFormat::JsonObject),
    )
    .await
    .unwrap();
    let with_schema = ChatRequest::user("Oslo facts").response_format(ResponseFormat::JsonSchema {
        name: "city".into(),
        schema: schema.clone(),
        strict: true,
    });
    complete(&server, &with_schema).await.unwrap();

    let parsed: Value = serde_json::from_str(&object.content).unwrap();
    assert_eq!(parsed["population"], 709_037);
    let requests = server.requests();
    assert_eq!(
        requests[0].body["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
    assert_eq!(
        requests[1].body["generationConfig"],
        json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
    );
    check(&server);
}

#[tokio::test]
async fn extra_parameters_reach_generation_config_and_the_top_level() {
    let server = RecordingServer::start([ok_reply("thinking.json")]).await;
    let safety =
        json!([{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"}]);
    let chat = ChatRequest::user("Which is larger, 9.11 or 9.9?").params(
        SamplingParams::new()
            .extra("topK", 40)
            .extra(
                "thinkingConfig",
                json!({"thinkingBudget": 1024, "includeThoughts": true}),
            )
            .extra("safetySettings", safety.clone()),
    );

    complete(&server, &chat).await.unwrap();

    let body = server.requests()[0].body.clone();
    assert_eq!(
        body["generationConfig"],
        json!({"topK": 40, "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}})
    );
    assert_eq!(body["safetySettings"], safety);
    check(&server);
}

#[tokio::test]
async fn thoughts_are_not_content_and_count_as_output_tokens() {
    let server = RecordingServer::start([ok_reply("thinking.json")]).await;

    let answer = complete(&server, &ChatRequest::user("9.11 or 9.9?"))
        .await
        .unwrap();

    assert_eq!(answer.content, "9.9 is larger than 9.11.");
    assert_eq!(answer.usage.input_tokens, 2100);
    assert_eq!(answer.usage.cached_input_tokens, 2048);
    assert_eq!(answer.usage.output_tokens, 9 + 238);
    assert_eq!(answer.usage.reasoning_tokens, 238);
    check(&server);
}

#[tokio::test]
async fn a_blocked_prompt_is_a_content_filtered_error() {
    let server = RecordingServer::start([ok_reply("blocked_prompt.json")]).await;

    let error = complete(&server, &ChatRequest::user("something dangerous"))
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::ContentFiltered);
    assert!(error.message().contains("SAFETY"), "{error}");
    assert_secret_free(&error, &[API_KEY]);
    check(&server);
}

#[tokio::test]
async fn a_safety_stop_keeps_the_partial_text_with_a_content_filter_finish() {
    let server = RecordingServer::start([ok_reply("safety_finish.json")]).await;

    let answer = complete(&server, &ChatRequest::user("how do I ..."))
        .await
        .unwrap();

    assert_eq!(answer.finish_reason, FinishReason::ContentFilter);
    assert_eq!(answer.content, "Here is how you");
    check(&server);
}

#[tokio::test]
async fn tool_arguments_that_are_not_a_json_object_fail_before_any_request() {
    let server = RecordingServer::start([]).await;
    let chat = ChatRequest::user("x").message(Message::assistant_tool_calls([ToolCall {
        id: "call_0".into(),
        name: "get_time".into(),
        arguments: "{\"zone\": ".into(),
    }]));

    let error = complete(&server, &chat).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert!(error.message().contains("`get_time`"), "{error}");
    assert!(server.requests().is_empty());
}
