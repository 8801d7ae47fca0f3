//! `POST /v1/messages`, driven over HTTP as an Anthropic client would: the same policies
//! route it to any provider (here an OpenAI-format upstream).

mod support;

use routewise::sim::SimProvider;
use routewise::{Capabilities, LogicalModel, Policy, ProviderAccount, Router, Target, ToolCall};
use serde_json::{Value, json};
use support::{KEY, Running, Upstream, json_of, settings};

fn message(model: &str) -> Value {
    json!({"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "Hello"}]})
}

async fn anthropic_post(gateway: &Running, body: &Value) -> reqwest::Response {
    gateway
        .post_with(
            "/v1/messages",
            body,
            &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
        )
        .await
}

#[tokio::test]
async fn a_message_is_answered_in_the_anthropic_format_after_a_fallback() {
    let down = Upstream::failing(503).await;
    let up = Upstream::answering("Hello from an OpenAI upstream").await;
    let router = Router::builder()
        .account(down.account("down"))
        .account(up.account("up"))
        .model(
            LogicalModel::new("claude-route")
                .target(Target::new("down", "gpt-4o"))
                .target(Target::new("up", "gpt-4o")),
        )
        .policy(Policy::new("default").route(["claude-route"]))
        .build()
        .unwrap();
    let gateway = Running::start(router, settings()).await;

    let response = anthropic_post(&gateway, &message("claude-route")).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-routewise-attempts"], "2");
    let body = json_of(response).await;
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Hello from an OpenAI upstream"}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], 9);
    assert_eq!((down.calls(), up.calls()), (1, 1));
}

fn tool_router() -> Router {
    let provider = SimProvider::new().tool_call(ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Paris"}"#.into(),
    });
    Router::builder()
        .account(ProviderAccount::new("sim", provider))
        .model(
            LogicalModel::new("m")
                .capabilities(Capabilities::ALL)
                .target(Target::new("sim", "x")),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_tool_call_comes_back_as_a_tool_use_block() {
    let gateway = Running::start(tool_router(), settings()).await;
    let mut body = message("m");
    body["tools"] = json!([{"name": "get_weather", "description": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);

    let body = json_of(anthropic_post(&gateway, &body).await).await;

    assert_eq!(body["stop_reason"], "tool_use");
    let block = body["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap();
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({"city": "Paris"}));
}

#[tokio::test]
async fn a_streamed_message_runs_from_message_start_to_message_stop() {
    let router = Router::builder()
        .account(ProviderAccount::new(
            "sim",
            SimProvider::new().reply("one two three"),
        ))
        .model(
            LogicalModel::new("m")
                .capabilities(Capabilities::STREAMING)
                .target(Target::new("sim", "x")),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    let gateway = Running::start(router, settings()).await;
    let mut body = message("m");
    body["stream"] = json!(true);

    let response = anthropic_post(&gateway, &body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();

    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|frame| {
            let (event, data) = frame.split_once('\n').unwrap();
            let event = event.strip_prefix("event: ").unwrap().to_owned();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(
                data["type"],
                event.as_str(),
                "the event name is the data's type"
            );
            (event, data)
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names[1], "content_block_start");
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let text: String = events
        .iter()
        .filter(|(e, _)| e == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "one two three");
    assert_eq!(
        events[events.len() - 2].1["delta"]["stop_reason"],
        "end_turn"
    );
}

#[tokio::test]
async fn errors_come_in_the_anthropic_shape() {
    let gateway = Running::start(tool_router(), settings()).await;

    let unknown = anthropic_post(&gateway, &message("claude-opus-9")).await;
    assert_eq!(unknown.status(), 404);
    let body = json_of(unknown).await;
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "not_found_error");

    let no_key = gateway.post_with("/v1/messages", &message("m"), &[]).await;
    assert_eq!(no_key.status(), 401);
    assert_eq!(
        json_of(no_key).await["error"]["type"],
        "authentication_error"
    );

    let mut no_max_tokens = message("m");
    no_max_tokens.as_object_mut().unwrap().remove("max_tokens");
    let invalid = anthropic_post(&gateway, &no_max_tokens).await;
    assert_eq!(invalid.status(), 400);
    let body = json_of(invalid).await;
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens")
    );
}
