//! Every body the Bedrock tests exchange, judged by the `bedrock-runtime` service model
//! that the official `botocore` ships (`conformance/checks_bedrock.py`): each request
//! shape the wire tests send, in both modes, every response and stream-event fixture the
//! test server serves, and the error bodies. Negative tests prove the checker rejects
//! what the API would.
#![cfg(feature = "bedrock")]

mod support;

use serde_json::{Value, json};
use support::bedrock::{self as aws, bedrock, fixture, fixture_names, shapes, stream_body};
use support::conformance::{Item, assert_conforms, assert_rejected};
use support::wire_server::{RecordingServer, Reply};

fn item(kind: &'static str, body: Value) -> Item {
    Item {
        provider: "bedrock",
        kind,
        body,
    }
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: botocore from PyPI"
)]
async fn every_request_body_conforms_to_the_service_model() {
    let server = RecordingServer::start([]).await;
    let account = aws::account(server.url());
    for (name, request) in shapes() {
        server.reply(Reply::json(200, fixture("converse_text.json")));
        aws::complete(&bedrock(), &account, &request).await.unwrap();
        server.reply(Reply::raw(
            200,
            "application/vnd.amazon.eventstream",
            stream_body("stream_text.json"),
        ));
        let (_, error) = aws::stream(&bedrock(), &account, &request).await;
        assert!(error.is_none(), "{name}: {error:?}");
    }
    let requests = server.requests();
    assert_eq!(requests.len(), shapes().len() * 2);
    let items: Vec<Item> = requests
        .into_iter()
        .map(|r| item("request", r.body))
        .collect();
    assert_conforms(&items);
}

#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: botocore from PyPI"
)]
fn every_response_and_stream_event_fixture_conforms_to_the_service_model() {
    let mut items = Vec::new();
    for name in fixture_names() {
        if name.starts_with("converse_") {
            items.push(item(
                "response",
                serde_json::from_str(&fixture(&name)).unwrap(),
            ));
        } else if name.starts_with("stream_") {
            for (kind, payload) in aws::stream_events(&name) {
                items.push(item("event", json!({"type": kind, "payload": payload})));
            }
        }
    }
    for exception in [
        "throttlingException",
        "validationException",
        "modelStreamErrorException",
        "serviceUnavailableException",
        "internalServerException",
    ] {
        items.push(item(
            "event",
            json!({"type": exception, "payload": {"message": "m"}}),
        ));
    }
    for error in [
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "ValidationException",
        "AccessDeniedException",
        "ResourceNotFoundException",
        "InternalServerException",
        "ModelErrorException",
    ] {
        items.push(item(
            "error",
            json!({"type": error, "body": {"message": "m"}}),
        ));
    }
    assert!(
        items.len() > 40,
        "every fixture and event is checked: {}",
        items.len()
    );
    assert_conforms(&items);
}

#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: botocore from PyPI"
)]
fn the_checker_rejects_bodies_bedrock_would_refuse() {
    let user = |content: Value| json!({"role": "user", "content": content});
    let ok_messages = json!([user(json!([{"text": "hi"}]))]);
    let requests = [
        // An unknown top-level member, and one that belongs in the path.
        json!({"messages": ok_messages, "maxTokens": 10}),
        json!({"messages": ok_messages, "modelId": "anthropic.claude"}),
        // A message without its required role; a role that does not exist.
        json!({"messages": [{"content": [{"text": "hi"}]}]}),
        json!({"messages": [{"role": "usr", "content": [{"text": "hi"}]}]}),
        // A content block (a union) with two members, and with none.
        json!({"messages": [user(json!([{"text": "hi", "image": {"format": "png", "source": {"bytes": "AA=="}}}]))]}),
        json!({"messages": [user(json!([{}]))]}),
        // Out-of-range inference parameters, an empty stop sequence.
        json!({"messages": ok_messages, "inferenceConfig": {"temperature": 1.5}}),
        json!({"messages": ok_messages, "inferenceConfig": {"maxTokens": 0}}),
        json!({"messages": ok_messages, "inferenceConfig": {"stopSequences": [""]}}),
        // An image format Converse does not take, bytes that are not base64.
        json!({"messages": [user(json!([{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}]))]}),
        json!({"messages": [user(json!([{"image": {"format": "png", "source": {"bytes": "not base64!"}}}]))]}),
        // A tool config without tools; a tool spec with a misspelled member.
        json!({"messages": ok_messages, "toolConfig": {"toolChoice": {"auto": {}}}}),
        json!({"messages": ok_messages, "toolConfig": {"tools": [{"toolSpec": {"name": "t", "input_schema": {"json": {}}}}]}}),
    ];
    let mut items: Vec<Item> = requests
        .into_iter()
        .map(|body| item("request", body))
        .collect();
    items.push(item("response", json!({"output": {"message": {"role": "assistant", "content": []}}, "stopReason": "finished", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {"latencyMs": 1}})));
    items.push(item("response", json!({"output": {"message": {"role": "assistant", "content": []}}, "stopReason": "end_turn", "metrics": {"latencyMs": 1}})));
    items.push(item(
        "event",
        json!({"type": "contentBlockDelta", "payload": {"delta": {"text": "x"}}}),
    ));
    items.push(item("event", json!({"type": "textDelta", "payload": {}})));
    items.push(item(
        "error",
        json!({"type": "OverloadedException", "body": {"message": "m"}}),
    ));
    assert_rejected(&items);
}
