//! Every Claude body the Vertex adapter sends, checked against the `anthropic` SDK's own
//! types the way its Vertex client builds one (`model` out of the body, an
//! `anthropic_version` in), and every Gemini body against `google-genai`'s; with negative
//! tests proving the check rejects what Vertex AI would refuse.

use routewise::provider::vertex::Vertex;
use routewise::{Provider, ProviderRequest, SamplingParams};
use serde_json::Value;

use super::{CLAUDE, GEMINI};
use crate::support::anthropic::shapes;
use crate::support::conformance::{Item, assert_conforms, assert_rejected};
use crate::support::vertex::{PROJECT, TokenServer, account};
use crate::support::wire_server::{RecordingServer, Reply, fixture};

fn claude_item(body: Value) -> Item {
    Item {
        provider: "anthropic",
        kind: "vertex_request",
        body,
    }
}

/// The body Vertex received for every request shape (but those named in `skip`), on
/// `model`, answered by `reply`.
async fn bodies(model: &str, reply: fn() -> Reply, skip: &[&str]) -> Vec<Value> {
    let shapes: Vec<_> = shapes()
        .into_iter()
        .filter(|(name, _)| !skip.contains(name))
        .collect();
    let api = RecordingServer::start(shapes.iter().map(|_| reply())).await;
    let tokens = TokenServer::start().await;
    let account = account(&api, &tokens, "vertex");
    let vertex = Vertex::new(PROJECT, "us-east5", tokens.service_account());
    let defaults = SamplingParams::default();
    for (name, chat) in shapes {
        vertex
            .complete(ProviderRequest::new(
                model,
                account.info(),
                &chat,
                &defaults,
            ))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    api.requests().into_iter().map(|r| r.body).collect()
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn every_claude_body_conforms_as_the_sdks_vertex_client_builds_it() {
    let bodies = bodies(
        CLAUDE,
        || Reply::json(200, fixture("anthropic/message_text.json")),
        &[],
    )
    .await;
    assert_eq!(bodies.len(), shapes().len());
    assert_conforms(&bodies.into_iter().map(claude_item).collect::<Vec<_>>());
}

#[tokio::test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
async fn every_gemini_body_conforms_to_google_genai() {
    // `sampling` carries Anthropic's own extras (`service_tier`, `metadata`), which the
    // Gemini adapter would pass on as generation settings.
    let bodies = bodies(
        GEMINI,
        || Reply::json(200, fixture("gemini/text.json")),
        &["sampling"],
    )
    .await;
    let items: Vec<Item> = bodies
        .into_iter()
        .map(|body| crate::support::gemini::item("request", body))
        .collect();
    assert_conforms(&items);
}

#[test]
#[cfg_attr(
    not(feature = "conformance"),
    ignore = "needs the `conformance` feature: the official SDKs from PyPI"
)]
fn the_claude_check_rejects_a_model_in_the_body_a_missing_version_or_max_tokens() {
    let good = serde_json::json!({
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    });
    assert_conforms(&[claude_item(good.clone())]);
    let mut with_model = good.clone();
    with_model["model"] = "claude-sonnet-4-5@20250929".into();
    let mut without_version = good.clone();
    without_version
        .as_object_mut()
        .unwrap()
        .remove("anthropic_version");
    let mut without_max_tokens = good.clone();
    without_max_tokens
        .as_object_mut()
        .unwrap()
        .remove("max_tokens");
    let mut misspelled = good;
    misspelled["max_tokns"] = 64.into();
    assert_rejected(&[
        claude_item(with_model),
        claude_item(without_version),
        claude_item(without_max_tokens),
        claude_item(misspelled),
    ]);
}
