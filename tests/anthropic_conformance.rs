//! Every body the Anthropic tests exchange, judged by the official `anthropic` SDK's own
//! types (`conformance/checks_anthropic.py`): each request shape the wire tests send, in
//! both modes and both API versions, and every fixture the test server serves. Negative
//! tests prove the checker rejects what the API would.

mod support;

use routewise::provider::anthropic::{Anthropic, ApiVersion};
use routewise::provider::sse::SseParser;
use serde_json::{Value, json};
use support::anthropic::{self as claude, fixture, fixture_names, shapes};
use support::conformance::{Item, assert_conforms, assert_rejected};
use support::wire_server::{RecordingServer, Reply};

fn item(kind: &'static str, body: Value) -> Item {
    Item {
        provider: "anthropic",
        kind,
        body,
    }
}

/// Every request body the adapter sends for the shared request shapes with `version`,
/// non-streaming then streaming.
async fn request_bodies(version: ApiVersion) -> Vec<(String, Value)> {
    let server = RecordingServer::start([]).await;
    let account = claude::account(server.url());
    let anthropic = Anthropic::new().api_version(version);
    let mut names = Vec::new();
    for (name, request) in shapes() {
        server.reply(Reply::json(200, fixture("message_text.json")));
        claude::complete(&anthropic, &account, &request)
            .await
            .unwrap();
        server.reply(Reply::sse(fixture("stream_text.sse")));
        let (_, error) = claude::stream(&anthropic, &account, &request).await;
        assert!(error.is_none(), "{name}: {error:?}");
        names.extend([format!("{name} (complete)"), format!("{name} (stream)")]);
    }
    let bodies: Vec<Value> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), names.len());
    names.into_iter().zip(bodies).collect()
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn every_request_body_conforms_to_the_sdk_for_both_api_versions() {
    let mut items = Vec::new();
    for (version, kind) in [
        (ApiVersion::V2023_06_01, "request_2023_06_01"),
        (ApiVersion::V2026_10_21, "request"),
    ] {
        for (name, body) in request_bodies(version).await {
            assert_eq!(
                body["stream"] == json!(true),
                name.ends_with("(stream)"),
                "{name}"
            );
            items.push(item(kind, body));
        }
    }
    assert_eq!(items.len(), shapes().len() * 4);
    assert_conforms(&items);
}

/// The data of every event of an event-stream fixture, after checking each event is named
/// after its `type` (the SDK dispatches on the name).
fn sse_events(name: &str) -> Vec<Value> {
    let mut events = Vec::new();
    SseParser::new()
        .push(fixture(name).as_bytes(), &mut events)
        .unwrap();
    assert!(!events.is_empty(), "{name} has events");
    events
        .into_iter()
        .map(|event| {
            let data: Value = serde_json::from_str(&event.data).unwrap();
            assert_eq!(event.event.as_deref(), data["type"].as_str(), "{name}");
            data
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
fn every_fixture_conforms_to_the_sdk() {
    let mut items = Vec::new();
    for name in fixture_names() {
        if name.ends_with(".sse") {
            items.extend(
                sse_events(&name)
                    .into_iter()
                    .map(|data| item("event", data)),
            );
            continue;
        }
        // The API's documented 413 body comes from Cloudflare, before the API: the SDK's
        // `ErrorObject` union has no `request_too_large`, so no SDK type can judge it.
        if name == "error_request_too_large.json" {
            continue;
        }
        let body: Value = serde_json::from_str(&fixture(&name)).unwrap();
        let kind = match (name.split('_').next(), body["type"].as_str()) {
            (Some("message"), Some("message")) => "response",
            (Some("error"), Some("error")) => "error",
            (Some("models"), _) => "models",
            _ => panic!("{name}: no conformance kind for this fixture"),
        };
        items.push(item(kind, body));
    }
    assert!(items.len() > 40, "every fixture and event is checked");
    assert_conforms(&items);
}

/// Sets `pointer` in a copy of `body` (a JSON pointer to an existing value).
fn with(body: &Value, pointer: &str, value: Value) -> Value {
    let mut body = body.clone();
    *body.pointer_mut(pointer).unwrap() = value;
    body
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn the_checker_rejects_request_bodies_the_api_would_reject() {
    let bodies: Vec<Value> = request_bodies(ApiVersion::V2026_10_21)
        .await
        .into_iter()
        .map(|(_, body)| body)
        .collect();
    let plain = &bodies[0];
    let images = bodies
        .iter()
        .find(|b| b.to_string().contains("image/png"))
        .unwrap();
    let round_trip = bodies
        .iter()
        .find(|b| b.to_string().contains("tool_result"))
        .unwrap();
    let mut without_max_tokens = plain.clone();
    without_max_tokens
        .as_object_mut()
        .unwrap()
        .remove("max_tokens");
    let mut misspelled = plain.clone();
    misspelled["stop_sequence"] = json!(["END"]);
    let mut sampling = plain.clone();
    sampling["temperature"] = json!(0.5);
    let mut too_hot = plain.clone();
    too_hot["temperature"] = json!(1.5);
    let mut stream_as_text = plain.clone();
    stream_as_text["stream"] = json!("yes");
    assert_rejected(&[
        item("request", without_max_tokens),
        item("request", misspelled),
        item("request", with(plain, "/messages/0/role", json!("usr"))),
        item(
            "request",
            with(plain, "/messages/0/content/0/type", json!("txt")),
        ),
        item(
            "request",
            with(
                images,
                "/messages/0/content/1/source/media_type",
                json!("image/bmp"),
            ),
        ),
        item(
            "request",
            with(
                images,
                "/messages/0/content/2/source",
                json!({"type": "url", "uri": "https://x"}),
            ),
        ),
        item(
            "request",
            with(round_trip, "/messages/1/content/1/input", json!("{}")),
        ),
        item("request", stream_as_text),
        item("request", sampling.clone()),
        item("request_2023_06_01", too_hot),
    ]);
    assert_conforms(&[item("request_2023_06_01", sampling)]);
}

#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
fn the_checker_rejects_answers_the_api_would_not_send() {
    let message: Value = serde_json::from_str(&fixture("message_text.json")).unwrap();
    let overloaded: Value = serde_json::from_str(&fixture("error_overloaded.json")).unwrap();
    let events = sse_events("stream_tool_use.sse");
    let delta = events
        .iter()
        .find(|e| e["delta"]["type"] == "input_json_delta")
        .unwrap();
    let mut without_usage = message.clone();
    without_usage.as_object_mut().unwrap().remove("usage");
    assert_rejected(&[
        item(
            "response",
            with(&message, "/stop_reason", json!("finished")),
        ),
        item("response", with(&message, "/content/0/type", json!("txt"))),
        item("response", without_usage),
        item(
            "response",
            with(&message, "/usage/input_tokens", json!("many")),
        ),
        item("event", with(delta, "/delta/type", json!("json_delta"))),
        item(
            "event",
            json!({"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "txt": "hi"}}),
        ),
        item("event", json!({"type": "message_stopped"})),
        item("event", json!({"type": "ping", "extra": 1})),
        item(
            "error",
            with(&overloaded, "/error/type", json!("overload_error")),
        ),
    ]);
}
