//! A gateway started in-process on a loopback port, and a loopback OpenAI-format
//! upstream that counts the calls it receives.

#![allow(dead_code)] // each test file uses part of it

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use routewise::{OpenAi, ProviderAccount, Router};
use routewise_gateway::{Gateway, GatewaySettings, KeyConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The gateway key the tests' clients send.
pub const KEY: &str = "sk-gateway-test";

/// Default settings with the one test key.
pub fn settings() -> GatewaySettings {
    GatewaySettings::with_keys([KeyConfig::new("test", KEY)])
}

/// An HTTP client for the tests (installing the crypto provider reqwest needs).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A gateway serving on 127.0.0.1 until [`stop`](Self::stop) or drop.
pub struct Running {
    pub url: String,
    pub gateway: Gateway,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub async fn start(router: Router, settings: GatewaySettings) -> Self {
        Self::serve(Gateway::new(router, settings).expect("valid settings")).await
    }

    pub async fn serve(gateway: Gateway) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway.clone().serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            url,
            gateway,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Asks for a graceful shutdown; returns the server's task to await.
    pub fn shut_down(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().expect("not shut down yet")
    }

    /// `POST path` with the test key and a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.post_with(path, body, &[("authorization", &format!("Bearer {KEY}"))])
            .await
    }

    /// `POST path` with these headers and a JSON body.
    pub async fn post_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = client()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// `GET path` with the test key, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = client()
            .get(format!("{}{path}", self.url))
            .header("authorization", format!("Bearer {KEY}"))
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The JSON body of a response.
pub async fn json_of(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// A loopback OpenAI-compatible upstream answering every chat completion with `reply`
/// (as a stream when asked), or failing every one with `status`.
pub struct Upstream {
    pub url: String,
    calls: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct UpstreamState {
    calls: Arc<AtomicUsize>,
    status: u16,
    reply: Arc<str>,
}

impl Upstream {
    pub async fn answering(reply: &str) -> Self {
        Self::start(200, reply).await
    }

    pub async fn failing(status: u16) -> Self {
        Self::start(status, "").await
    }

    async fn start(status: u16, reply: &str) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let state = UpstreamState {
            calls: calls.clone(),
            status,
            reply: reply.into(),
        };
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(answer))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, calls }
    }

    /// Chat completions received so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// An OpenAI account calling this upstream.
    pub fn account(&self, name: &str) -> ProviderAccount {
        ProviderAccount::new(name, OpenAi::new())
            .api_key("sk-provider-secret")
            .base_url(self.url.clone())
    }
}

async fn answer(State(state): State<UpstreamState>, body: Bytes) -> Response {
    state.calls.fetch_add(1, Ordering::SeqCst);
    if state.status != 200 {
        let status = StatusCode::from_u16(state.status).unwrap();
        let error = json!({"error": {"message": "upstream down", "type": "server_error", "param": null, "code": null}});
        return (status, axum::Json(error)).into_response();
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("m").to_owned();
    if request["stream"] == json!(true) {
        let mut text = String::new();
        for word in state.reply.split_inclusive(' ') {
            let chunk = json!({"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}]});
            text.push_str(&format!("data: {chunk}\n\n"));
        }
        let end = json!({"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}});
        text.push_str(&format!("data: {end}\n\ndata: [DONE]\n\n"));
        return ([("content-type", "text/event-stream")], text).into_response();
    }
    axum::Json(json!({
        "id": "up-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": &*state.reply}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }))
    .into_response()
}
