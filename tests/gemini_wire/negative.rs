//! Proof that the conformance check can fail: bodies the real API would reject, made by
//! breaking one thing in a body the adapter really sent or a fixture really served.

use routewise::{ChatRequest, ContentPart, Message, SamplingParams, Tool, ToolChoice};
use serde_json::{Value, json};

use crate::complete;
use crate::support::conformance::{Item, assert_conforms, assert_rejected};
use crate::support::gemini::{fixture, item, ok_reply};
use crate::support::wire_server::RecordingServer;

/// A request body the adapter sent, touching every top-level field it writes.
async fn sent_request() -> Value {
    let server = RecordingServer::start([ok_reply("text.json")]).await;
    let chat = ChatRequest::new()
        .message(Message::system("be brief"))
        .message(Message::user_parts([
            ContentPart::text("what is this?"),
            ContentPart::image_base64("image/png", "iVBORw0KGgo="),
        ]))
        .tool(Tool::new("lookup", json!({"type": "object"})))
        .tool_choice(ToolChoice::Function("lookup".into()))
        .params(SamplingParams::new().temperature(0.5).max_tokens(64));
    complete(&server, &chat).await.unwrap();
    server.requests()[0].body.clone()
}

/// `base` with the value at `pointer` set (replaced, or added to its object).
fn broken(base: &Value, pointer: &str, value: Value) -> Item {
    let mut body = base.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match body.pointer_mut(parent) {
        Some(Value::Object(fields)) => {
            fields.insert(key.to_owned(), value);
        }
        Some(Value::Array(items)) => items[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{parent} in {base}"),
    }
    item("request", body)
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn the_request_check_rejects_what_gemini_rejects() {
    let sent = sent_request().await;
    assert_conforms(&[item("request", sent.clone())]);

    let mut unknown_top_level = sent.clone();
    unknown_top_level["generation_config"] = json!({});
    let mut misspelled_config = sent.clone();
    misspelled_config["generationConfig"]["maxOutputToken"] = json!(64);
    let mut schema_without_json = sent.clone();
    schema_without_json["generationConfig"]["responseJsonSchema"] = json!({"type": "object"});
    assert_rejected(&[
        item("request", unknown_top_level),
        item("request", misspelled_config),
        item("request", schema_without_json),
        broken(&sent, "/generationConfig/temperature", json!("warm")),
        broken(&sent, "/contents/0/role", json!("assistant")),
        broken(
            &sent,
            "/contents/0/parts/0",
            json!({"type": "text", "text": "what is this?"}),
        ),
        broken(
            &sent,
            "/contents/0/parts/0",
            json!({"text": "x", "inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}),
        ),
        broken(
            &sent,
            "/contents/0/parts/1/inlineData/data",
            json!("not base64!"),
        ),
        broken(
            &sent,
            "/contents/0/parts/1/inlineData",
            json!({"mime_type": "image/png", "bytes": "AA=="}),
        ),
        broken(&sent, "/contents/0/parts", json!([])),
        broken(
            &sent,
            "/contents/0/parts/0",
            json!({"functionResponse": {"name": "lookup", "response": "42"}}),
        ),
        broken(
            &sent,
            "/contents/0/parts/0",
            json!({"functionCall": {"name": "lookup", "args": {}}}),
        ),
        broken(
            &sent,
            "/toolConfig/functionCallingConfig/mode",
            json!("SOMETIMES"),
        ),
        broken(
            &sent,
            "/toolConfig/functionCallingConfig/mode",
            json!("AUTO"),
        ),
        broken(
            &sent,
            "/tools/0/functionDeclarations/0/name",
            json!("look up"),
        ),
        broken(
            &sent,
            "/tools/0/functionDeclarations/0/parameters",
            json!({"type": "OBJECT"}),
        ),
        broken(
            &sent,
            "/systemInstruction/parts/0",
            json!({"fileData": {"fileUri": "gs://b/x"}}),
        ),
    ]);
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn the_response_check_rejects_unknown_finish_reasons_and_fields() {
    let served: Value = serde_json::from_str(&fixture("text.json")).unwrap();
    let mut unknown_reason = served.clone();
    unknown_reason["candidates"][0]["finishReason"] = json!("DONE");
    let mut unknown_field = served.clone();
    unknown_field["candidates"][0]["finish_cause"] = json!("STOP");
    let mut bad_usage = served.clone();
    bad_usage["usageMetadata"]["promptTokenCount"] = json!("twelve");
    let mut bad_part = served.clone();
    bad_part["candidates"][0]["content"]["parts"][0] = json!({"txt": "Oslo"});
    let mut bad_block_reason = served.clone();
    bad_block_reason["promptFeedback"] = json!({"blockReason": "TOO_SPICY"});

    assert_rejected(&[
        item("response", unknown_reason),
        item("response", unknown_field),
        item("response", bad_usage),
        item("response", bad_part),
        item("response", bad_block_reason),
    ]);
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn the_error_check_rejects_bodies_that_are_not_a_google_rpc_status() {
    let served: Value = serde_json::from_str(&fixture("errors/resource_exhausted.json")).unwrap();
    let mut wrong_code = served.clone();
    wrong_code["error"]["code"] = json!(400);
    let mut unknown_status = served.clone();
    unknown_status["error"]["status"] = json!("QUOTA_EXCEEDED");
    let mut bad_delay = served.clone();
    bad_delay["error"]["details"][2]["retryDelay"] = json!("43 seconds");
    let mut openai_shaped = served.clone();
    openai_shaped["error"]["type"] = json!("rate_limit_error");

    assert_rejected(&[
        item("error", wrong_code),
        item("error", unknown_status),
        item("error", bad_delay),
        item("error", openai_shaped),
        item("error", json!({"message": "quota", "code": 429})),
    ]);
}
