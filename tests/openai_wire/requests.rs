//! Non-streaming requests: the exact body each request shape sends, and how each kind of
//! answer maps back.

use routewise::provider::openai::{MaxTokensField, OpenAi};
use routewise::{FinishReason, ToolCall, Usage};
use serde_json::json;

use super::support::openai_cases::case;
use super::support::wire_server::{RecordingServer, Reply, fixture};
use super::{KEY, account_at, complete};

#[tokio::test]
async fn a_plain_request_posts_model_and_messages_with_bearer_auth() {
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let response = complete(&OpenAi::new(), &account_at(&server), &case("plain"))
        .await
        .unwrap();

    let sent = server.single_request();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.query, None);
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        sent.body,
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello."}]})
    );

    assert_eq!(response.content, "Hello! How can I assist you today?");
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert!(response.tool_calls.is_empty());
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 2006,
            output_tokens: 300,
            cached_input_tokens: 1920,
            cache_write_tokens: 0,
            reasoning_tokens: 192,
        }
    );
}

#[tokio::test]
async fn messages_params_defaults_and_extras_go_out_as_openai_fields() {
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    complete(&OpenAi::new(), &account_at(&server), &case("conversation"))
        .await
        .unwrap();
    assert_eq!(
        server.single_request().body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a terse assistant."},
                {"role": "user", "content": "Name a fjord."},
                {"role": "assistant", "content": "Geirangerfjord."},
                {"role": "user", "content": "Another one?"}
            ],
            "temperature": 0.7,
            "top_p": 0.9,
            "stop": ["\n\nUser:"],
            "seed": 42,
            "max_tokens": 256,
            "presence_penalty": 0.5,
            "parallel_tool_calls": false,
            "logit_bias": {"50256": -100},
            "user": "tenant-42"
        })
    );
}

#[tokio::test]
async fn tools_go_out_as_functions_and_parallel_tool_calls_come_back_in_order() {
    let server =
        RecordingServer::start([Reply::json(200, fixture("openai/chat_tool_calls.json"))]).await;
    let response = complete(&OpenAi::new(), &account_at(&server), &case("tools"))
        .await
        .unwrap();

    let body = server.single_request().body;
    assert_eq!(
        body["tools"][0],
        json!({"type": "function", "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
                },
                "required": ["location"],
                "additionalProperties": false
            }
        }})
    );
    assert_eq!(
        body["tools"][1],
        json!({"type": "function", "function": {"name": "get_time", "parameters":
            {"type": "object", "properties": {"timezone": {"type": "string"}}}}})
    );
    assert_eq!(body["tool_choice"], "auto");

    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(response.content, "");
    assert_eq!(
        response.tool_calls,
        [
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
        ]
    );
}

#[tokio::test]
async fn tool_choice_names_a_function_or_requires_one() {
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/chat_tool_calls.json")),
        Reply::json(200, fixture("openai/chat_tool_calls.json")),
    ])
    .await;
    let account = account_at(&server);
    for name in ["tool_choice_named", "tool_choice_required"] {
        complete(&OpenAi::new(), &account, &case(name))
            .await
            .unwrap();
    }
    let requests = server.requests();
    assert_eq!(
        requests[0].body["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(requests[1].body["tool_choice"], "required");
}

#[tokio::test]
async fn assistant_tool_calls_and_tool_results_go_back_as_openai_messages() {
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    complete(&OpenAi::new(), &account_at(&server), &case("tool_results"))
        .await
        .unwrap();
    let messages = server.single_request().body["messages"].clone();
    assert_eq!(
        messages[1],
        json!({"role": "assistant", "tool_calls": [
            {"id": "call_Dn2RJJSxzDm49vlVTehseJ0k", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\":\"Oslo\",\"unit\":\"celsius\"}"}},
            {"id": "call_WnmXhqgeRoLLc1Y8sTEtaKuM", "type": "function",
             "function": {"name": "get_time", "arguments": "{\"timezone\":\"Europe/Oslo\"}"}}
        ]})
    );
    assert_eq!(
        messages[2],
        json!({"role": "tool", "tool_call_id": "call_Dn2RJJSxzDm49vlVTehseJ0k", "content": "{\"temperature\":4}"})
    );
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "call_WnmXhqgeRoLLc1Y8sTEtaKuM", "content": "14:05"})
    );
    assert_eq!(
        messages[4],
        json!({"role": "assistant", "content": "Checking once more.", "tool_calls": [
            {"id": "call_3", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        ]})
    );
}

#[tokio::test]
async fn images_go_out_as_url_and_data_url_parts_with_detail() {
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    complete(&OpenAi::new(), &account_at(&server), &case("images"))
        .await
        .unwrap();
    assert_eq!(
        server.single_request().body["messages"],
        json!([{"role": "user", "content": [
            {"type": "text", "text": "What is in these images?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/fjord.jpg", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
        ]}])
    );
}

#[tokio::test]
async fn json_modes_go_out_as_response_format() {
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/chat_json_object.json")),
        Reply::json(200, fixture("openai/chat_json_schema.json")),
    ])
    .await;
    let account = account_at(&server);
    let object = complete(&OpenAi::new(), &account, &case("json_object"))
        .await
        .unwrap();
    let schema = complete(&OpenAi::new(), &account, &case("json_schema"))
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(
        requests[0].body["response_format"],
        json!({"type": "json_object"})
    );
    assert_eq!(
        requests[1].body["response_format"],
        json!({"type": "json_schema", "json_schema": {
            "name": "calendar_event",
            "strict": true,
            "schema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "date": {"type": "string"},
                    "participants": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["name", "date", "participants"],
                "additionalProperties": false
            }
        }})
    );
    let city: serde_json::Value = serde_json::from_str(&object.content).unwrap();
    assert_eq!(city["city"], "Oslo");
    let event: serde_json::Value = serde_json::from_str(&schema.content).unwrap();
    assert_eq!(event["participants"], json!(["Alice", "Bob"]));
}

#[tokio::test]
async fn reasoning_models_get_max_completion_tokens_unless_overridden() {
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/chat_reasoning_length.json")),
        Reply::json(200, fixture("openai/chat_text.json")),
        Reply::json(200, fixture("openai/chat_text.json")),
    ])
    .await;
    let account = account_at(&server);
    let response = complete(&OpenAi::new(), &account, &case("reasoning"))
        .await
        .unwrap();
    let forced_old = OpenAi::new().max_tokens_field(MaxTokensField::MaxTokens);
    complete(&forced_old, &account, &case("reasoning"))
        .await
        .unwrap();
    let forced_new = OpenAi::new().max_tokens_field(MaxTokensField::MaxCompletionTokens);
    complete(&forced_new, &account, &case("conversation"))
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests[0].body["max_completion_tokens"], 100);
    assert!(requests[0].body.get("max_tokens").is_none());
    assert_eq!(requests[1].body["max_tokens"], 100);
    assert!(requests[1].body.get("max_completion_tokens").is_none());
    assert_eq!(requests[2].body["max_completion_tokens"], 256);
    assert!(requests[2].body.get("max_tokens").is_none());

    assert_eq!(response.finish_reason, FinishReason::Length);
    assert_eq!(response.usage.reasoning_tokens, 100);
}

#[tokio::test]
async fn a_refusal_comes_back_as_the_answer_text() {
    let server =
        RecordingServer::start([Reply::json(200, fixture("openai/chat_refusal.json"))]).await;
    let response = complete(&OpenAi::new(), &account_at(&server), &case("json_schema"))
        .await
        .unwrap();
    assert_eq!(
        response.content,
        "I'm sorry, I can't assist with that request."
    );
    assert_eq!(response.finish_reason, FinishReason::Stop);
}
