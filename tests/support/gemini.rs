//! What the Gemini wire tests share: the test account, replies made from the fixtures in
//! `tests/fixtures/gemini/`, and the check that ends every test: the key went only in its
//! header, and every request body and every fixture served conforms to the
//! `google-genai` SDK's types.

use axum::http::Method;
use routewise::ProviderAccount;
use routewise::provider::gemini::Gemini;
use serde_json::Value;

use super::conformance::{Item, assert_conforms};
use super::wire_server::{RecordingServer, Reply};

/// The API key every test account uses; it must never show up outside the key header.
pub const API_KEY: &str = "AIzaSyT3st-s3cret-k3y-0123456789abcdef";

/// The text of a fixture under `tests/fixtures/gemini/`.
pub fn fixture(name: &str) -> String {
    super::wire_server::fixture(&format!("gemini/{name}"))
}

/// `200` with a JSON fixture.
pub fn ok_reply(name: &str) -> Reply {
    Reply::json(200, fixture(name))
}

/// An error status with a fixture from `errors/`.
pub fn error_reply(status: u16, name: &str) -> Reply {
    Reply::json(status, fixture(&format!("errors/{name}.json")))
}

/// An event-stream fixture.
pub fn sse_reply(name: &str) -> Reply {
    Reply::sse(fixture(name))
}

/// An account on `server` with the test key and an extra header.
pub fn account(server: &RecordingServer, name: &str) -> ProviderAccount {
    ProviderAccount::new(name.to_owned(), Gemini::new())
        .api_key(API_KEY)
        .base_url(server.url())
        .header("x-goog-user-project", "routewise-tests")
}

/// An account named `google` at `base_url` with the test key, for servers that cannot
/// be checked (they misbehave below HTTP, or do not exist).
pub fn account_at(base_url: impl Into<String>) -> ProviderAccount {
    ProviderAccount::new("google", Gemini::new())
        .api_key(API_KEY)
        .base_url(base_url)
}

/// Checks the test's whole exchange with `server`: the key went only in its header, and
/// every request body and every reply served that is not marked unchecked conforms to
/// the SDK's types.
pub fn check(server: &RecordingServer) {
    let mut items = Vec::new();
    for request in server.requests() {
        let target = request.path_and_query();
        assert!(!target.contains(API_KEY), "API key in URL {target}");
        assert_eq!(request.header("x-goog-api-key"), Some(API_KEY));
        assert_eq!(
            request.header("x-goog-user-project"),
            Some("routewise-tests")
        );
        let listing = request.method == Method::GET;
        if request.method == Method::POST {
            assert_eq!(request.header("content-type"), Some("application/json"));
            assert!(!request.body.is_null(), "request body is JSON");
            items.push(item("request", request.body.clone()));
        }
        if let Some(reply) = request.reply.filter(|r| !r.is_unchecked()) {
            items.extend(served_items(&reply, listing));
        }
    }
    assert_conforms(&items);
}

/// What a reply served, as the SDK kinds to check: nothing for an empty body, each
/// complete event of an event stream, else the JSON body.
fn served_items(reply: &Reply, listing: bool) -> Vec<Item> {
    let body = reply.body_text();
    if body.is_empty() {
        return Vec::new();
    }
    if reply.is_event_stream() {
        return sse_items(&body);
    }
    let kind = match (reply.status(), listing) {
        (200, true) => "models",
        (200, false) => "response",
        _ => "error",
    };
    vec![item(
        kind,
        serde_json::from_str(&body).expect("fixture is JSON"),
    )]
}

/// The JSON of each complete event of an event-stream fixture, as the SDK kind it is.
pub fn sse_items(text: &str) -> Vec<Item> {
    let normalized = text.replace("\r\n", "\n");
    normalized
        .split("\n\n")
        .filter(|event| !event.is_empty())
        .filter(|event| normalized.contains(&format!("{event}\n\n")))
        .map(|event| {
            let data = event
                .strip_prefix("data: ")
                .expect("fixture events are data lines");
            let body: Value = serde_json::from_str(data).expect("fixture event is JSON");
            let kind = if body.get("error").is_some() {
                "error"
            } else {
                "response"
            };
            item(kind, body)
        })
        .collect()
}

/// A body to check against the SDK's `kind`.
pub fn item(kind: &'static str, body: Value) -> Item {
    Item {
        provider: "gemini",
        kind,
        body,
    }
}
