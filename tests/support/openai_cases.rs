//! Every request shape the OpenAI wire tests send, in one list, so the conformance test can
//! send each of them again and check every body against the `openai` SDK's types.

use routewise::{
    ChatRequest, ContentPart, Image, ImageDetail, ImageSource, Message, ResponseFormat,
    SamplingParams, Tool, ToolCall, ToolChoice,
};
use serde_json::json;

/// One request shape: a provider model id, a request and the logical model's defaults.
pub struct Case {
    pub name: &'static str,
    pub model: &'static str,
    pub request: ChatRequest,
    pub defaults: SamplingParams,
}

/// Every case.
pub fn all() -> Vec<Case> {
    let case = |name, model, request| Case {
        name,
        model,
        request,
        defaults: SamplingParams::default(),
    };
    vec![
        case("plain", "gpt-4o", ChatRequest::user("Say hello.")),
        Case {
            defaults: SamplingParams::new()
                .temperature(0.1)
                .top_p(0.9)
                .max_tokens(256)
                .stop(["\n\nUser:"])
                .extra("user", "tenant-42"),
            ..case("conversation", "gpt-4o-mini", conversation())
        },
        case("tools", "gpt-4o", tools().tool_choice(ToolChoice::Auto)),
        case(
            "tool_choice_named",
            "gpt-4o",
            tools().tool_choice(ToolChoice::Function("get_weather".into())),
        ),
        case(
            "tool_choice_required",
            "gpt-4o",
            tools().tool_choice(ToolChoice::Required),
        ),
        case("tool_results", "gpt-4o", tool_results()),
        case("images", "gpt-4o", images()),
        case(
            "json_object",
            "gpt-4o-mini",
            ChatRequest::new()
                .message(Message::system("Answer in JSON."))
                .message(Message::user("Where is Oslo?"))
                .response_format(ResponseFormat::JsonObject),
        ),
        case("json_schema", "gpt-4o", json_schema()),
        case(
            "reasoning",
            "o3-mini",
            ChatRequest::user("Prove that there are infinitely many primes.").max_tokens(100),
        ),
    ]
}

/// The case called `name`.
pub fn case(name: &str) -> Case {
    all()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case `{name}`"))
}

fn conversation() -> ChatRequest {
    ChatRequest::new()
        .message(Message::system("You are a terse assistant."))
        .message(Message::user("Name a fjord."))
        .message(Message::assistant("Geirangerfjord."))
        .message(Message::user("Another one?"))
        .params(
            SamplingParams::new()
                .temperature(0.7)
                .seed(42)
                .extra("presence_penalty", 0.5)
                .extra("parallel_tool_calls", false)
                .extra("logit_bias", json!({"50256": -100})),
        )
}

fn tools() -> ChatRequest {
    ChatRequest::user("What's the weather and the time in Oslo?")
        .tool(
            Tool::new(
                "get_weather",
                json!({
                    "type": "object",
                    "properties": {
                        "location": {"type": "string"},
                        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
                    },
                    "required": ["location"],
                    "additionalProperties": false
                }),
            )
            .description("Current weather for a city."),
        )
        .tool(Tool::new(
            "get_time",
            json!({"type": "object", "properties": {"timezone": {"type": "string"}}}),
        ))
}

fn tool_results() -> ChatRequest {
    tools()
        .message(Message::assistant_tool_calls([
            ToolCall {
                id: "call_Dn2RJJSxzDm49vlVTehseJ0k".into(),
                name: "get_weather".into(),
                arguments: r#"{"location":"Oslo","unit":"celsius"}"#.into(),
            },
            ToolCall {
                id: "call_WnmXhqgeRoLLc1Y8sTEtaKuM".into(),
                name: "get_time".into(),
                arguments: r#"{"timezone":"Europe/Oslo"}"#.into(),
            },
        ]))
        .message(Message::tool_result(
            "call_Dn2RJJSxzDm49vlVTehseJ0k",
            r#"{"temperature":4}"#,
        ))
        .message(Message::tool_result(
            "call_WnmXhqgeRoLLc1Y8sTEtaKuM",
            "14:05",
        ))
        .message(Message::Assistant {
            content: Some("Checking once more.".into()),
            tool_calls: vec![ToolCall {
                id: "call_3".into(),
                name: "get_time".into(),
                arguments: "{}".into(),
            }],
        })
        .message(Message::tool_result("call_3", "14:06"))
}

fn images() -> ChatRequest {
    ChatRequest::new().message(Message::user_parts([
        ContentPart::text("What is in these images?"),
        ContentPart::Image(Image {
            source: ImageSource::Url("https://example.com/fjord.jpg".into()),
            detail: Some(ImageDetail::High),
        }),
        ContentPart::Image(Image {
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgoAAAANSUhEUg==".into(),
            },
            detail: Some(ImageDetail::Low),
        }),
        ContentPart::image_url("https://example.com/cat.png"),
    ]))
}

fn json_schema() -> ChatRequest {
    ChatRequest::new()
        .message(Message::system("Extract the event information."))
        .message(Message::user(
            "Alice and Bob are going to a science fair on Friday.",
        ))
        .response_format(ResponseFormat::JsonSchema {
            name: "calendar_event".into(),
            schema: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "date": {"type": "string"},
                    "participants": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["name", "date", "participants"],
                "additionalProperties": false
            }),
            strict: true,
        })
}
