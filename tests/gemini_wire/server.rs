//! A local Gemini API on 127.0.0.1: it records every request and answers from a script of
//! fixtures (`tests/fixtures/gemini/`), and checks both against the `google-genai` SDK's
//! types when a test is done with it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures::StreamExt;
use routewise::ProviderAccount;
use routewise::provider::gemini::Gemini;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::conformance::{Item, assert_conforms};

/// The API key every test account uses; it must never show up outside the key header.
pub const API_KEY: &str = "AIzaSyT3st-s3cret-k3y-0123456789abcdef";

/// The text of a fixture file.
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
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
            Item {
                provider: "gemini",
                kind,
                body,
            }
        })
        .collect()
}

/// One scripted answer.
pub enum Reply {
    /// A JSON body (a fixture, or inline text) with a status and extra headers.
    Json {
        status: u16,
        body: String,
        headers: Vec<(&'static str, String)>,
    },
    /// A body that is deliberately not what Gemini sends; not checked for conformance.
    Broken { status: u16, body: String },
    /// An event stream, sent in small pieces.
    Sse(String),
    /// An event stream that stops sending but never ends.
    Stall(String),
    /// Accepts the request and never answers.
    Hang,
    /// Sends `200` and headers, then a body that never ends.
    EndlessBody,
}

impl Reply {
    /// `200` with a JSON fixture.
    pub fn ok(name: &str) -> Self {
        Self::Json {
            status: 200,
            body: fixture(name),
            headers: Vec::new(),
        }
    }

    /// An error status with a fixture from `errors/`.
    pub fn error(status: u16, name: &str) -> Self {
        Self::Json {
            status,
            body: fixture(&format!("errors/{name}.json")),
            headers: Vec::new(),
        }
    }

    /// An event-stream fixture.
    pub fn sse(name: &str) -> Self {
        Self::Sse(fixture(name))
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Self::Json { headers, .. } = &mut self {
            headers.push((name, value.to_owned()));
        }
        self
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    served: Mutex<Vec<Item>>,
}

/// The running server. It stops with the test's runtime.
pub struct GeminiServer {
    url: String,
    shared: Arc<Shared>,
}

impl GeminiServer {
    /// Starts a server that answers requests with `script`, in order.
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into_iter().collect()),
            ..Shared::default()
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, shared }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// An account on this server with the test key and an extra header.
    pub fn account(&self, name: &str) -> ProviderAccount {
        ProviderAccount::new(name.to_owned(), Gemini::new())
            .api_key(API_KEY)
            .base_url(self.url.clone())
            .header("x-goog-user-project", "routewise-tests")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Checks the test's whole exchange: the key went only in its header, every request
    /// body and every served fixture conforms to the SDK's types.
    pub fn check(&self) {
        let mut items = Vec::new();
        for request in self.requests() {
            assert!(
                !request.uri.to_string().contains(API_KEY),
                "API key in URL {}",
                request.uri
            );
            assert_eq!(request.header("x-goog-api-key"), Some(API_KEY));
            assert_eq!(
                request.header("x-goog-user-project"),
                Some("routewise-tests")
            );
            if request.method == Method::POST {
                assert_eq!(request.header("content-type"), Some("application/json"));
                items.push(Item {
                    provider: "gemini",
                    kind: "request",
                    body: request.json(),
                });
            }
        }
        items.extend(self.shared.served.lock().unwrap().drain(..));
        assert_conforms(&items);
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let listing = method == Method::GET;
    shared.requests.lock().unwrap().push(Recorded {
        method,
        uri,
        headers,
        body,
    });
    let reply = shared.script.lock().unwrap().pop_front();
    let Some(reply) = reply else {
        return response(
            StatusCode::IM_A_TEAPOT,
            "text/plain",
            Body::from("script exhausted"),
        );
    };
    match reply {
        Reply::Json {
            status,
            body,
            headers,
        } => {
            let kind = match (status, listing) {
                (200, true) => "models",
                (200, false) => "response",
                _ => "error",
            };
            shared.served.lock().unwrap().push(Item {
                provider: "gemini",
                kind,
                body: serde_json::from_str(&body).expect("fixture is JSON"),
            });
            let mut answer = response(status_code(status), "application/json", Body::from(body));
            for (name, value) in headers {
                answer.headers_mut().insert(name, value.parse().unwrap());
            }
            answer
        }
        Reply::Broken { status, body } => {
            response(status_code(status), "application/json", Body::from(body))
        }
        Reply::Sse(text) => {
            shared.served.lock().unwrap().extend(sse_items(&text));
            let pieces: Vec<Result<Bytes, std::io::Error>> = text
                .as_bytes()
                .chunks(37)
                .map(|piece| Ok(Bytes::copy_from_slice(piece)))
                .collect();
            let body = Body::from_stream(futures::stream::iter(pieces));
            response(StatusCode::OK, "text/event-stream", body)
        }
        Reply::Stall(text) => {
            shared.served.lock().unwrap().extend(sse_items(&text));
            let sent = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(text))]);
            let body = Body::from_stream(sent.chain(futures::stream::pending()));
            response(StatusCode::OK, "text/event-stream", body)
        }
        Reply::Hang => std::future::pending().await,
        Reply::EndlessBody => {
            let body =
                Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
            response(StatusCode::OK, "application/json", body)
        }
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap()
}

fn response(status: StatusCode, content_type: &str, body: Body) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body)
        .unwrap()
}

/// A server below HTTP: it reads one request, writes `bytes` and closes the connection,
/// for answers no well-behaved server gives (a connection cut mid-answer).
pub async fn raw_server(bytes: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        // Read the whole request first: closing with unread bytes would reset the
        // connection before the client sees the answer.
        let mut request = Vec::new();
        let mut buffer = [0_u8; 4096];
        loop {
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |value| value.trim().parse().unwrap());
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            let read = socket.read(&mut buffer).await.unwrap();
            if read == 0 {
                return;
            }
            request.extend_from_slice(&buffer[..read]);
        }
        socket.write_all(&bytes).await.unwrap();
        socket.flush().await.unwrap();
    });
    url
}
