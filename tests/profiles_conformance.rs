//! The bodies model profiles make, judged by the official SDKs' own types
//! (`conformance/`): each case of issue 16 that the SDK types can tell, with a negative
//! test per check proving it rejects what the real API rejects. (Which parameters a model
//! refuses, the SDK types cannot tell: those cases are wire tests in `model_profiles`.)

mod support;

use routewise::{
    ChatRequest, Purpose, ReasoningEffort, ResponseFormat, Router, SamplingParams, StepType, Tool,
    ToolChoice,
};
use serde_json::{Value, json};

use support::conformance::{Item, assert_conforms, assert_rejected};
use support::profiles::{anthropic, gemini, openai, readme_defaults, router};
use support::wire_server::{RecordingServer, Reply, fixture};

fn item(provider: &'static str, kind: &'static str, body: Value) -> Item {
    Item {
        provider,
        kind,
        body,
    }
}

fn tools() -> Vec<Tool> {
    vec![
        Tool::new("ping", Value::Null),
        Tool::new(
            "get_weather",
            json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        ),
    ]
}

fn with_tools(mut request: ChatRequest) -> ChatRequest {
    request.tools = tools();
    request
}

fn list_format() -> ResponseFormat {
    ResponseFormat::JsonSchema {
        name: "cities".into(),
        schema: json!({"type": "array", "items": {"type": "string"}}),
        strict: false,
    }
}

fn object_format() -> ResponseFormat {
    ResponseFormat::JsonSchema {
        name: "report".into(),
        schema: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        strict: false,
    }
}

/// Sends each request through `router` (errors from the canned replies do not matter:
/// the bodies do) and returns the bodies the server received.
async fn bodies(
    server: &RecordingServer,
    router: &Router,
    requests: Vec<ChatRequest>,
) -> Vec<Value> {
    for request in requests {
        let _ = router
            .complete(StepType::Inference, Purpose::Chat, request)
            .await;
    }
    server.requests().into_iter().map(|r| r.body).collect()
}

fn replies(body: &str, n: usize) -> Vec<Reply> {
    (0..n).map(|_| Reply::json(200, fixture(body))).collect()
}

fn reasoning(effort: ReasoningEffort) -> SamplingParams {
    SamplingParams::new().reasoning_effort(effort)
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn adapted_openai_bodies_conform() {
    let server = RecordingServer::start(replies("openai/chat_text.json", 3)).await;
    let router = router(
        vec![(openai(&server), "o3-mini")],
        readme_defaults().top_p(0.5),
    );
    let requests = vec![
        with_tools(ChatRequest::user("hi")),
        ChatRequest::user("hi").tool_choice(ToolChoice::Auto),
        ChatRequest::user("hi").params(reasoning(ReasoningEffort::High)),
    ];
    let sent = bodies(&server, &router, requests).await;
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[0]["tools"][0]["function"]["parameters"],
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(sent[2]["reasoning_effort"], "high");
    assert_conforms(
        &sent
            .into_iter()
            .map(|b| item("openai", "request", b))
            .collect::<Vec<_>>(),
    );
}

/// Case 5's old body: `"parameters": null` is not a `FunctionParameters` object.
#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
fn a_null_tool_schema_is_rejected_by_the_openai_types() {
    assert_rejected(&[item(
        "openai",
        "request",
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
               "tools": [{"type": "function", "function": {"name": "ping", "parameters": null}}]}),
    )]);
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn adapted_anthropic_bodies_conform() {
    let server = RecordingServer::start(replies("anthropic/message_text.json", 4)).await;
    let router = router(
        vec![(anthropic(&server), "claude-sonnet-4-5")],
        readme_defaults().top_p(0.9),
    );
    let thinking = SamplingParams::new().extra(
        "thinking",
        json!({"type": "enabled", "budget_tokens": 2048}),
    );
    let requests = vec![
        with_tools(ChatRequest::user("hi")).temperature(0.5),
        ChatRequest::user("hi")
            .response_format(object_format())
            .params(thinking),
        ChatRequest::user("hi").response_format(list_format()),
        with_tools(ChatRequest::user("hi"))
            .tool_choice(ToolChoice::Required)
            .params(SamplingParams::new().reasoning_budget(3000)),
    ];
    let sent = bodies(&server, &router, requests).await;
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[2]["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(sent[3]["thinking"]["budget_tokens"], 3000);
    assert_conforms(
        &sent
            .into_iter()
            .map(|b| item("anthropic", "request_2023_06_01", b))
            .collect::<Vec<_>>(),
    );
}

/// Case 7's old body (an array schema as `input_schema`), and case 3's thinking without
/// its required budget: both rejected.
#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
fn an_array_input_schema_and_thinking_without_a_budget_are_rejected() {
    let base = || {
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100,
                         "messages": [{"role": "user", "content": "hi"}]})
    };
    let mut array_root = base();
    array_root["tools"] =
        json!([{"name": "cities", "input_schema": {"type": "array", "items": {"type": "string"}}}]);
    let mut no_budget = base();
    no_budget["thinking"] = json!({"type": "enabled"});
    assert_rejected(&[
        item("anthropic", "request", array_root),
        item("anthropic", "request", no_budget),
    ]);
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn adapted_gemini_bodies_conform() {
    let server = RecordingServer::start(replies("gemini/text.json", 3)).await;
    let router = router(
        vec![(gemini(&server), "gemini-2.5-flash")],
        readme_defaults(),
    );
    let requests = vec![
        with_tools(ChatRequest::user("hi")).response_format(object_format()),
        with_tools(ChatRequest::user("hi")).response_format(list_format()),
        ChatRequest::user("hi").params(reasoning(ReasoningEffort::Medium)),
    ];
    let sent = bodies(&server, &router, requests).await;
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[0]["toolConfig"]["functionCallingConfig"]["mode"],
        "ANY"
    );
    assert_eq!(
        sent[2]["generationConfig"]["thinkingConfig"]["thinkingBudget"],
        8192
    );
    assert_conforms(
        &sent
            .into_iter()
            .map(|b| item("gemini", "request", b))
            .collect::<Vec<_>>(),
    );
}

/// The checks that make the Gemini bodies above a real test: an unknown calling mode
/// and a thinking budget that is not a number are rejected.
#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
fn a_bad_calling_mode_and_thinking_budget_are_rejected_by_the_gemini_types() {
    let base = || json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let mut mode = base();
    mode["toolConfig"] = json!({"functionCallingConfig": {"mode": "SOMETIMES"}});
    let mut budget = base();
    budget["generationConfig"] = json!({"thinkingConfig": {"thinkingBudget": "lots"}});
    assert_rejected(&[
        item("gemini", "request", mode),
        item("gemini", "request", budget),
    ]);
}
