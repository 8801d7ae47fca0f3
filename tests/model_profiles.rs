//! Model profiles on the wire: for each model the README's logical model can be mapped
//! to, the body a loopback server receives is one the provider accepts, and the attempt
//! lists what was adapted. One test per case of issue 16, plus the parameter policies,
//! the reasoning control, and the fallback from an unsupported-parameter 400.

mod support;

use routewise::provider::profile::AdaptAction;
use routewise::{
    ChatRequest, ChatResponse, Error, OpenAi, Provider, Purpose, ResponseFormat, Router,
    SamplingParams, StepType, Tool, ToolChoice,
};
use serde_json::{Value, json};

use support::profiles::{anthropic, gemini, openai, readme_defaults, router};
use support::wire_server::{RecordingServer, Reply, fixture};

async fn complete(router: &Router, request: ChatRequest) -> Result<ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
}

/// The attempt's adaptations as `(parameter, action)` pairs.
fn adapted(response: &ChatResponse) -> Vec<(String, AdaptAction)> {
    response.attempts[0]
        .adaptations
        .iter()
        .map(|a| (a.parameter.clone(), a.action))
        .collect()
}

fn weather_tool() -> Tool {
    Tool::new(
        "get_weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn report_format() -> ResponseFormat {
    ResponseFormat::JsonSchema {
        name: "weather_report".into(),
        schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        strict: false,
    }
}

/// Case 1: an OpenAI reasoning model receives neither the logical model's default
/// temperature nor `top_p` or `stop`, and its token limit as `max_completion_tokens`.
#[tokio::test]
async fn case_1_the_readme_model_on_o3_mini_sends_no_sampling_parameters() {
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let defaults = readme_defaults().top_p(0.9).stop(["END"]);
    let router = router(vec![(openai(&server), "o3-mini")], defaults);
    let response = complete(&router, ChatRequest::user("Say hello."))
        .await
        .unwrap();

    let body = server.single_request().body;
    assert_eq!(
        body,
        json!({
            "model": "o3-mini",
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_completion_tokens": 1024
        })
    );
    assert_eq!(
        adapted(&response),
        [
            ("temperature".to_owned(), AdaptAction::Dropped),
            ("top_p".to_owned(), AdaptAction::Dropped),
            ("stop".to_owned(), AdaptAction::Dropped),
        ]
    );
    let explained = router
        .explain(
            StepType::Inference,
            Purpose::Chat,
            &ChatRequest::user("Say hello."),
        )
        .to_string();
    assert!(
        explained.contains("adapted: dropped `temperature`: `o3-mini` does not accept it"),
        "{explained}"
    );
}

/// Case 2: Claude Sonnet 4.5 refuses `temperature` with `top_p`: the request's own
/// temperature goes, the logical model's default `top_p` does not.
#[tokio::test]
async fn case_2_the_readme_model_on_claude_sonnet_4_5_sends_temperature_without_top_p() {
    let server =
        RecordingServer::start([Reply::json(200, fixture("anthropic/message_text.json"))]).await;
    let router = router(
        vec![(anthropic(&server), "claude-sonnet-4-5")],
        readme_defaults().top_p(0.9),
    );
    let request = ChatRequest::user("Say hello.").temperature(0.7);
    let response = complete(&router, request).await.unwrap();

    let body = server.single_request().body;
    assert_eq!(body["temperature"], json!(0.7));
    assert!(body.get("top_p").is_none(), "{body}");
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(
        adapted(&response),
        [("top_p".to_owned(), AdaptAction::Dropped)]
    );
    assert!(
        response.attempts[0].adaptations[0]
            .detail
            .contains("refuses `temperature` and `top_p` together")
    );
}

/// Case 3: JSON mode is a forced answer tool on Anthropic, which the API refuses while
/// extended thinking is on: the answer tool is offered with `auto` instead.
#[tokio::test]
async fn case_3_anthropic_json_mode_under_extended_thinking_is_not_forced() {
    let server = RecordingServer::start([Reply::json(
        200,
        fixture("anthropic/message_json_answer.json"),
    )])
    .await;
    let router = router(
        vec![(anthropic(&server), "claude-sonnet-4-5")],
        SamplingParams::new().max_tokens(4096),
    );
    let request = ChatRequest::user("Weather in Oslo as JSON.")
        .response_format(report_format())
        .params(SamplingParams::new().extra(
            "thinking",
            json!({"type": "enabled", "budget_tokens": 2048}),
        ));
    let response = complete(&router, request).await.unwrap();

    let body = server.single_request().body;
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(body["tools"][0]["name"], "weather_report");
    assert_eq!(
        serde_json::from_str::<Value>(&response.content).unwrap()["city"],
        "Oslo"
    );
    assert_eq!(
        adapted(&response),
        [("response_format".to_owned(), AdaptAction::Converted)]
    );
}

/// Case 3 with the canonical reasoning control: `thinking` with the budget, and no
/// forced tool choice of the request's own either.
#[tokio::test]
async fn case_3_a_reasoning_budget_becomes_thinking_and_unforces_the_tool_choice() {
    let server =
        RecordingServer::start([Reply::json(200, fixture("anthropic/message_text.json"))]).await;
    let router = router(
        vec![(anthropic(&server), "claude-sonnet-4-5")],
        readme_defaults(),
    );
    let request = ChatRequest::user("Weather in Oslo?")
        .tool(weather_tool())
        .tool_choice(ToolChoice::Function("get_weather".into()))
        .params(SamplingParams::new().reasoning_budget(4_000));
    let response = complete(&router, request).await.unwrap();

    let body = server.single_request().body;
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 4000})
    );
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
    assert!(body.get("temperature").is_none(), "{body}");
    assert_eq!(body["max_tokens"], 5024, "above the budget");
    assert_eq!(
        adapted(&response),
        [
            ("temperature".to_owned(), AdaptAction::Dropped),
            ("tool_choice".to_owned(), AdaptAction::Converted),
            ("max_tokens".to_owned(), AdaptAction::Converted),
        ]
    );
}

/// A Gemini answer that calls `name` with `args`.
fn gemini_call(name: &str, args: Value) -> String {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [{"functionCall": {"name": name, "args": args}}]},
            "finishReason": "STOP",
            "index": 0
        }],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 8, "totalTokenCount": 28},
        "modelVersion": "gemini-2.5-flash"
    })
    .to_string()
}

/// Case 4: Gemini 2.x refuses JSON mode together with function declarations: the JSON
/// answer is asked for as a call to an answer function, and that call is the text.
#[tokio::test]
async fn case_4_the_readme_model_on_gemini_2_5_flash_with_tools_and_a_schema() {
    let server = RecordingServer::start([Reply::json(
        200,
        gemini_call("weather_report", json!({"city": "Oslo"})),
    )])
    .await;
    let router = router(
        vec![(gemini(&server), "gemini-2.5-flash")],
        readme_defaults(),
    );
    let request = ChatRequest::user("Weather in Oslo as JSON.")
        .tool(weather_tool())
        .response_format(report_format());
    let response = complete(&router, request).await.unwrap();

    let body = server.single_request().body;
    let config = &body["generationConfig"];
    assert!(config.get("responseMimeType").is_none(), "{body}");
    assert!(config.get("responseJsonSchema").is_none(), "{body}");
    assert_eq!(config["temperature"], json!(0.2));
    let declared: Vec<&str> = body["tools"][0]["functionDeclarations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(declared, ["get_weather", "weather_report"]);
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    assert_eq!(response.content, r#"{"city":"Oslo"}"#);
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.finish_reason, routewise::FinishReason::Stop);
    assert_eq!(
        adapted(&response),
        [("response_format".to_owned(), AdaptAction::Converted)]
    );
}

/// Case 4 streamed: the answer function's call arrives as the text.
#[tokio::test]
async fn case_4_the_answer_functions_call_is_the_text_of_a_gemini_stream() {
    let chunk = gemini_call("weather_report", json!({"city": "Oslo"}));
    let server = RecordingServer::start([Reply::sse(format!("data: {chunk}\n\n"))]).await;
    let router = router(
        vec![(gemini(&server), "gemini-2.5-flash")],
        readme_defaults(),
    );
    let request = ChatRequest::user("Weather in Oslo as JSON.")
        .tool(weather_tool())
        .response_format(report_format());
    let stream = router
        .stream(StepType::Inference, Purpose::Chat, request)
        .await
        .unwrap();
    let (text, done) = support::wire::collect_routed(stream).await;
    assert_eq!(text, r#"{"city":"Oslo"}"#);
    assert_eq!(done.finish_reason, routewise::FinishReason::Stop);
    assert_eq!(
        adapted(&done),
        [("response_format".to_owned(), AdaptAction::Converted)]
    );
}

/// Case 4's contrast: Gemini 3 combines JSON mode with tools, so nothing changes.
#[tokio::test]
async fn case_4_gemini_3_keeps_json_mode_beside_its_tools() {
    let server = RecordingServer::start([Reply::json(200, fixture("gemini/text.json"))]).await;
    let router = router(
        vec![(gemini(&server), "gemini-3-flash-preview")],
        readme_defaults(),
    );
    let request = ChatRequest::user("Weather in Oslo as JSON.")
        .tool(weather_tool())
        .response_format(report_format());
    let response = complete(&router, request).await.unwrap();
    let body = server.single_request().body;
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert!(response.attempts[0].adaptations.is_empty());
}

/// Case 5: a tool defined without a schema goes out with an empty object schema on every
/// adapter (OpenAI sent `null`; Anthropic refused before sending; Gemini left it out).
#[tokio::test]
async fn case_5_a_tool_without_a_schema_gets_an_empty_object_schema_everywhere() {
    let empty = json!({"type": "object", "properties": {}});
    let request = || ChatRequest::user("Ping.").tool(Tool::new("ping", Value::Null));

    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    complete(
        &router(vec![(openai(&server), "gpt-4o")], SamplingParams::new()),
        request(),
    )
    .await
    .unwrap();
    assert_eq!(
        server.single_request().body["tools"][0]["function"]["parameters"],
        empty
    );

    let server =
        RecordingServer::start([Reply::json(200, fixture("anthropic/message_text.json"))]).await;
    complete(
        &router(
            vec![(anthropic(&server), "claude-haiku-4-5")],
            SamplingParams::new(),
        ),
        request(),
    )
    .await
    .unwrap();
    assert_eq!(
        server.single_request().body["tools"][0]["input_schema"],
        empty
    );

    let server = RecordingServer::start([Reply::json(200, fixture("gemini/text.json"))]).await;
    complete(
        &router(
            vec![(gemini(&server), "gemini-2.5-flash")],
            SamplingParams::new(),
        ),
        request(),
    )
    .await
    .unwrap();
    assert_eq!(
        server.single_request().body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"],
        empty
    );
}

/// Case 6: a tool choice without tools is not sent (OpenAI and Anthropic refuse it).
#[tokio::test]
async fn case_6_a_tool_choice_without_tools_is_not_sent() {
    let request = || ChatRequest::user("Hi.").tool_choice(ToolChoice::None);

    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    complete(
        &router(vec![(openai(&server), "gpt-4o")], SamplingParams::new()),
        request(),
    )
    .await
    .unwrap();
    let body = server.single_request().body;
    assert!(body.get("tool_choice").is_none(), "{body}");

    let server =
        RecordingServer::start([Reply::json(200, fixture("anthropic/message_text.json"))]).await;
    complete(
        &router(
            vec![(anthropic(&server), "claude-haiku-4-5")],
            SamplingParams::new(),
        ),
        request(),
    )
    .await
    .unwrap();
    let body = server.single_request().body;
    assert!(body.get("tool_choice").is_none(), "{body}");
}

/// Case 7: Anthropic's `input_schema` must be an object schema: a JSON-mode schema whose
/// root is an array is wrapped in `value`, and the answer unwrapped.
#[tokio::test]
async fn case_7_an_array_schema_is_wrapped_for_anthropic_and_the_answer_unwrapped() {
    let answer = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": "cities",
                     "input": {"value": ["Oslo", "Bergen"]}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 9}
    });
    let server = RecordingServer::start([Reply::json(200, answer.to_string())]).await;
    let router = router(
        vec![(anthropic(&server), "claude-haiku-4-5")],
        SamplingParams::new(),
    );
    let schema = json!({"type": "array", "items": {"type": "string"}});
    let request =
        ChatRequest::user("Two Norwegian cities.").response_format(ResponseFormat::JsonSchema {
            name: "cities".into(),
            schema: schema.clone(),
            strict: false,
        });
    let response = complete(&router, request).await.unwrap();

    let body = server.single_request().body;
    assert_eq!(
        body["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {"value": schema}, "required": ["value"]})
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "cities"})
    );
    assert_eq!(response.content, r#"["Oslo","Bergen"]"#);
    assert_eq!(response.finish_reason, routewise::FinishReason::Stop);
}

/// Case 7 streamed: the wrapped answer's fragments are held and the unwrapped answer
/// sent when its block ends.
#[tokio::test]
async fn case_7_a_wrapped_answer_is_unwrapped_in_a_stream_too() {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_01", "name": "cities", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"value\": [\"Os"}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "lo\"]}"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 9}}),
        json!({"type": "message_stop"}),
    ];
    let sse: String = events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    let server = RecordingServer::start([Reply::sse(sse)]).await;
    let router = router(
        vec![(anthropic(&server), "claude-haiku-4-5")],
        SamplingParams::new(),
    );
    let request =
        ChatRequest::user("One Norwegian city.").response_format(ResponseFormat::JsonSchema {
            name: "cities".into(),
            schema: json!({"type": "array", "items": {"type": "string"}}),
            strict: false,
        });
    let stream = router
        .stream(StepType::Inference, Purpose::Chat, request)
        .await
        .unwrap();
    let (text, done) = support::wire::collect_routed(stream).await;
    assert_eq!(text, r#"["Oslo"]"#);
    assert_eq!(done.content, text);
}

/// An adapter called directly, without the router, adapts the request itself.
#[tokio::test]
async fn an_adapter_called_directly_adapts_too() {
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let account = openai(&server);
    let request = ChatRequest::user("Hi.").temperature(0.3);
    let defaults = SamplingParams::new();
    OpenAi::new()
        .complete(routewise::ProviderRequest::new(
            "o4-mini",
            account.info(),
            &request,
            &defaults,
        ))
        .await
        .unwrap();
    assert!(server.single_request().body.get("temperature").is_none());
}
