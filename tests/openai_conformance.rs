//! The OpenAI adapter's wire format, judged by the official `openai` Python SDK's own types
//! (`conformance/checks_openai.py`): every request body the adapter sends for every request
//! shape of the wire tests, and every fixture those tests serve. Negative tests prove the
//! checker rejects what the real API would reject.

mod support;

use futures::StreamExt;
use routewise::provider::openai::{MaxTokensField, OpenAi};
use routewise::provider::sse::SseParser;
use routewise::{AccountInfo, Provider, ProviderAccount, ProviderRequest};
use serde_json::{Value, json};

use support::conformance::{Item, assert_conforms, assert_rejected};
use support::openai_cases::{self, Case};
use support::wire_server::{RecordingServer, Reply, fixture, fixture_names};

fn item(kind: &'static str, body: Value) -> Item {
    Item {
        provider: "openai",
        kind,
        body,
    }
}

/// Every adapter setting that changes the body.
fn adapters() -> Vec<OpenAi> {
    vec![
        OpenAi::new(),
        OpenAi::new().stream_usage(false),
        OpenAi::new().max_tokens_field(MaxTokensField::MaxCompletionTokens),
        OpenAi::new().max_tokens_field(MaxTokensField::MaxTokens),
        OpenAi::azure("2024-10-21"),
    ]
}

async fn send_every_shape(openai: &OpenAi, account: &AccountInfo, cases: &[Case]) {
    for case in cases {
        let request = ProviderRequest::new(case.model, account, &case.request, &case.defaults);
        openai.complete(request).await.unwrap();
        let mut events = openai.stream(request).await.unwrap();
        while let Some(event) = events.next().await {
            event.unwrap();
        }
    }
}

/// Every body the adapter sends: each case, streaming and not, under every setting.
async fn every_request_body() -> Vec<Value> {
    let cases = openai_cases::all();
    let adapters = adapters();
    let replies = (0..cases.len() * adapters.len()).flat_map(|_| {
        [
            Reply::json(200, fixture("openai/chat_text.json")),
            Reply::sse(fixture("openai/stream_text.sse")),
        ]
    });
    let server = RecordingServer::start(replies).await;
    for openai in &adapters {
        let account = ProviderAccount::new("openai-test", openai.clone())
            .api_key("sk-test")
            .base_url(server.base("/v1"))
            .info()
            .clone();
        send_every_shape(openai, &account, &cases).await;
    }
    let bodies: Vec<Value> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), cases.len() * adapters.len() * 2);
    bodies
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn every_request_body_the_adapter_sends_conforms() {
    let bodies = every_request_body().await;
    let streaming = bodies.iter().filter(|b| b["stream"] == true).count();
    assert_eq!(streaming, bodies.len() / 2);
    assert_conforms(
        &bodies
            .into_iter()
            .map(|b| item("request", b))
            .collect::<Vec<_>>(),
    );
}

/// The data of every event of an `.sse` fixture, except the closing `[DONE]`.
fn stream_chunks(text: &str) -> Vec<Value> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    parser.push(text.as_bytes(), &mut events).unwrap();
    assert!(!parser.has_partial_event());
    events
        .into_iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect()
}

#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
fn every_fixture_served_conforms() {
    let mut items = Vec::new();
    for name in fixture_names("openai") {
        let text = fixture(&format!("openai/{name}"));
        if name.ends_with(".sse") {
            for chunk in stream_chunks(&text) {
                let kind = if chunk.get("error").is_some() {
                    "error"
                } else {
                    "chunk"
                };
                items.push(item(kind, chunk));
            }
            continue;
        }
        let kind = match name.split('_').next() {
            Some("chat") => "response",
            Some("error") => "error",
            Some("models.json") => "model_list",
            _ => panic!("fixture {name} has no conformance kind"),
        };
        items.push(item(kind, serde_json::from_str(&text).unwrap()));
    }
    assert!(
        items.len() > 40,
        "only {} fixture bodies found",
        items.len()
    );
    assert_conforms(&items);
}

/// A body the adapter really sends for the case `name`, to break in one place.
async fn sent(name: &str) -> Value {
    let case = openai_cases::case(name);
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let account = ProviderAccount::new("a", OpenAi::new())
        .base_url(server.base("/v1"))
        .info()
        .clone();
    let request = ProviderRequest::new(case.model, &account, &case.request, &case.defaults);
    OpenAi::new().complete(request).await.unwrap();
    server.single_request().body
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn requests_the_real_api_would_reject_are_rejected() {
    let mut misspelled = sent("conversation").await;
    misspelled["max_tokns"] = misspelled["max_tokens"].take();
    misspelled.as_object_mut().unwrap().remove("max_tokens");

    let mut bad_role = sent("plain").await;
    bad_role["messages"][0]["role"] = json!("usr");

    let mut bad_image = sent("images").await;
    let part = &mut bad_image["messages"][0]["content"][1];
    part["image_ulr"] = part["image_url"].take();
    part.as_object_mut().unwrap().remove("image_url");

    let mut bad_image_url = sent("images").await;
    bad_image_url["messages"][0]["content"][2]["image_url"]["detail"] = json!("ultra");

    let mut nameless_schema = sent("json_schema").await;
    nameless_schema["response_format"]["json_schema"]
        .as_object_mut()
        .unwrap()
        .remove("name");

    let mut untyped_tool = sent("tools").await;
    untyped_tool["tools"][0]["type"] = json!("fn");

    let mut stray_tool_call_key = sent("tool_results").await;
    stray_tool_call_key["messages"][1]["tool_calls"][0]["function"]["args"] = json!("{}");

    let mut stray_stream_option = sent("plain").await;
    stray_stream_option["stream_options"] = json!({"include_usage": true, "usage": true});

    let mut no_model = sent("plain").await;
    no_model.as_object_mut().unwrap().remove("model");

    assert_rejected(
        &[
            misspelled,
            bad_role,
            bad_image,
            bad_image_url,
            nameless_schema,
            untyped_tool,
            stray_tool_call_key,
            stray_stream_option,
            no_model,
        ]
        .map(|body| item("request", body)),
    );
}

#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
fn responses_chunks_and_errors_the_sdk_would_not_parse_are_rejected() {
    let text: Value = serde_json::from_str(&fixture("openai/chat_text.json")).unwrap();
    let mut unknown_finish = text.clone();
    unknown_finish["choices"][0]["finish_reason"] = json!("done");
    let mut no_object = text.clone();
    no_object.as_object_mut().unwrap().remove("object");
    let mut stray_key = text;
    stray_key["choices"][0]["message"]["reasoning"] = json!("hmm");

    let chunk = stream_chunks(&fixture("openai/stream_text.sse")).remove(1);
    let mut wrong_object = chunk.clone();
    wrong_object["object"] = json!("chat.completion");
    let mut string_index = chunk;
    string_index["choices"][0]["delta"]["tool_calls"] = json!([{"index": "zero"}]);

    assert_rejected(&[
        item("response", unknown_finish),
        item("response", no_object),
        item("response", stray_key),
        item("chunk", wrong_object),
        item("chunk", string_index),
        item(
            "error",
            json!({"error": {"message": "x", "type": "server_error", "code": 500}}),
        ),
        item("error", json!({"message": "x"})),
        item(
            "model_list",
            json!({"object": "list", "data": [{"id": "gpt-4o"}]}),
        ),
    ]);
}
