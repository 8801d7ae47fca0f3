//! A loopback upstream speaking the OpenAI Chat Completions wire format, whose answer a
//! test sets (and changes) at any time. It counts every chat call it receives, in total
//! and per provider model, so tests assert what went out on the wire rather than what
//! the router says it did.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use routewise::ProviderAccount;
use routewise::provider::openai::OpenAi;
use serde_json::{Value, json};

/// How the upstream answers a chat request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A 200 answer with the text "ok from <model>".
    Ok,
    /// A 200 answer, as `Ok`, reporting this many tokens used in all (5 of them prompt).
    Using(u64),
    /// A 200 answer after a delay.
    Slow(Duration),
    /// An error status with an OpenAI error body.
    Status(u16),
    /// HTTP 429, with a `retry-after` in whole seconds when given.
    RateLimited(Option<u64>),
    /// A 200 event stream that sends some text and then breaks off.
    BrokenStream,
}

#[derive(Default)]
struct Shared {
    answer: Mutex<Option<Answer>>,
    /// Answers given before the default one, first in first out.
    queued: Mutex<VecDeque<Answer>>,
    /// Answers for one provider model instead of the default one.
    per_model: Mutex<HashMap<String, Answer>>,
    calls: AtomicU64,
    by_model: Mutex<HashMap<String, u64>>,
    keys: Mutex<Vec<String>>,
}

/// The upstream: cheap to clone, lives as long as the test's runtime.
#[derive(Clone)]
pub struct Upstream {
    url: String,
    shared: Arc<Shared>,
}

impl Upstream {
    pub async fn start(answer: Answer) -> Self {
        let shared = Arc::new(Shared::default());
        *shared.answer.lock().unwrap() = Some(answer);
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let url = super::serve_loopback(app).await;
        Self { url, shared }
    }

    /// Changes the answer for the calls from now on.
    pub fn answer(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = Some(answer);
    }

    /// Answers the next call with `answer`, before the default one.
    pub fn then(&self, answer: Answer) -> &Self {
        self.shared.queued.lock().unwrap().push_back(answer);
        self
    }

    /// Answers every call for `model` with `answer` instead of the default one.
    pub fn answer_for(&self, model: &str, answer: Answer) {
        let mut per_model = self.shared.per_model.lock().unwrap();
        per_model.insert(model.to_owned(), answer);
    }

    /// Chat calls received so far.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(SeqCst)
    }

    /// Chat calls received so far for one provider model.
    pub fn calls_for(&self, model: &str) -> u64 {
        let by_model = self.shared.by_model.lock().unwrap();
        by_model.get(model).copied().unwrap_or(0)
    }

    /// The bearer keys of every call, in order.
    pub fn keys(&self) -> Vec<String> {
        self.shared.keys.lock().unwrap().clone()
    }

    /// An OpenAI account named `name` calling this upstream with `key`.
    pub fn account(&self, name: &str, key: &str) -> ProviderAccount {
        ProviderAccount::new(name.to_owned(), OpenAi::new())
            .api_key(key.to_owned())
            .base_url(format!("{}/v1", self.url))
    }
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_start_matches("Bearer ")
        .to_owned();
    shared.calls.fetch_add(1, SeqCst);
    *shared
        .by_model
        .lock()
        .unwrap()
        .entry(model.clone())
        .or_default() += 1;
    shared.keys.lock().unwrap().push(key);
    let queued = shared.queued.lock().unwrap().pop_front();
    let for_model = || shared.per_model.lock().unwrap().get(&model).cloned();
    let answer = queued
        .or_else(for_model)
        .or_else(|| shared.answer.lock().unwrap().clone())
        .unwrap_or(Answer::Ok);
    let streaming = body["stream"].as_bool().unwrap_or(false);
    match answer {
        Answer::Ok => ok(&model, streaming, 8),
        Answer::Using(total) => ok(&model, streaming, total),
        Answer::Slow(delay) => {
            tokio::time::sleep(delay).await;
            ok(&model, streaming, 8)
        }
        Answer::Status(status) => error(status, None),
        Answer::RateLimited(retry_after) => error(429, retry_after),
        Answer::BrokenStream => broken_stream(&model),
    }
}

/// A successful answer whose usage reports `total` tokens, 5 of them the prompt's.
fn ok(model: &str, streaming: bool, total: u64) -> Response {
    let text = format!("ok from {model}");
    let usage = json!({
        "prompt_tokens": 5, "completion_tokens": total.saturating_sub(5), "total_tokens": total
    });
    if streaming {
        let chunk = chunk(model, json!({"content": text}), Value::Null);
        let end = chunk_with_usage(model, usage);
        let body = format!("data: {chunk}\n\ndata: {end}\n\ndata: [DONE]\n\n");
        return response(200, "text/event-stream", Body::from(body), None);
    }
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": usage
    });
    response(200, "application/json", Body::from(body.to_string()), None)
}

fn chunk(model: &str, delta: Value, finish: Value) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    })
}

fn chunk_with_usage(model: &str, usage: Value) -> Value {
    let mut end = chunk(model, json!({}), json!("stop"));
    end["usage"] = usage;
    end
}

fn broken_stream(model: &str) -> Response {
    let first = chunk(
        model,
        json!({"role": "assistant", "content": "partial "}),
        Value::Null,
    );
    let sent = format!("data: {first}\n\n");
    // The break comes a little after the text, so the text leaves before it.
    let pieces =
        futures::stream::iter([Ok(Bytes::from(sent))]).chain(futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(std::io::Error::other("broken by the test upstream"))
        }));
    response(200, "text/event-stream", Body::from_stream(pieces), None)
}

fn error(status: u16, retry_after: Option<u64>) -> Response {
    let (kind, message) = match status {
        429 => ("rate_limit_exceeded", "Rate limit reached"),
        401 => ("invalid_api_key", "Incorrect API key provided"),
        _ => ("server_error", "The server had an error"),
    };
    let body = json!({"error": {"message": message, "type": kind, "code": kind, "param": null}});
    response(
        status,
        "application/json",
        Body::from(body.to_string()),
        retry_after,
    )
}

fn response(status: u16, content_type: &str, body: Body, retry_after: Option<u64>) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    let headers = response.headers_mut();
    headers.insert("content-type", content_type.parse().unwrap());
    if let Some(seconds) = retry_after {
        headers.insert("retry-after", seconds.to_string().parse().unwrap());
    }
    response
}
