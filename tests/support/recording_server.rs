//! A local HTTP server for wire-format tests: it records every request (method, path,
//! headers, JSON body) and answers from a queue of scripted replies, which can stream in
//! small chunks, stall, or break the connection part way.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use futures::StreamExt;
use serde_json::Value;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, such as `/v1/models?limit=1`.
    pub path: String,
    pub headers: HeaderMap,
    /// The body as JSON, `Value::Null` when empty or not JSON.
    pub body: Value,
}

impl Recorded {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How a reply's body ends after its bytes are sent.
#[derive(Clone, Copy, Debug)]
pub enum End {
    /// The body completes.
    Complete,
    /// The body never completes (the connection stays open, silent).
    Stall,
    /// The connection breaks.
    Break,
}

/// A scripted reply.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunk: usize,
    end: End,
    /// Never send even the status line.
    silent: bool,
}

impl Reply {
    /// A JSON body with `status`. `$API_KEY` in the body is replaced with the request's
    /// `x-api-key`, for tests that a provider echoing the key is redacted.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into().into_bytes(),
            chunk: usize::MAX,
            end: End::Complete,
            silent: false,
        }
    }

    /// A 200 event stream, sent in chunks of 7 bytes (splitting lines, events and UTF-8
    /// characters).
    pub fn sse(body: impl Into<String>) -> Self {
        Self {
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunk: 7,
            ..Self::json(200, body)
        }
    }

    /// A body of any content type.
    pub fn raw(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            headers: vec![("content-type".into(), content_type.into())],
            ..Self::json(status, body)
        }
    }

    /// No answer at all: the request is read and nothing is ever sent back.
    pub fn silence() -> Self {
        Self {
            silent: true,
            ..Self::json(200, "")
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets how the body ends once its bytes are sent.
    pub fn then(mut self, end: End) -> Self {
        self.end = end;
        self
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<Reply>>,
}

/// The server; it runs until the test's runtime ends.
#[derive(Clone)]
pub struct RecordingServer {
    base_url: String,
    state: Arc<State>,
}

impl RecordingServer {
    /// Starts a server on 127.0.0.1 and an ephemeral port.
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Queues a reply for the next request.
    pub fn reply(&self, reply: Reply) -> &Self {
        self.state.replies.lock().unwrap().push_back(reply);
        self
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The only request so far.
    pub fn single_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request");
        requests.into_iter().next().unwrap()
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.to_string()),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = state.replies.lock().unwrap().pop_front();
    let Some(reply) = reply else {
        return respond(500, &[], Body::from("no reply scripted for this request"));
    };
    if reply.silent {
        std::future::pending::<()>().await;
    }
    let body = String::from_utf8(reply.body)
        .unwrap()
        .replace("$API_KEY", &api_key)
        .into_bytes();
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(reply.chunk.min(body.len()).max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let chunks = futures::stream::iter(chunks);
    let body = match reply.end {
        End::Complete => Body::from_stream(chunks),
        End::Stall => Body::from_stream(chunks.chain(futures::stream::pending())),
        End::Break => Body::from_stream(chunks.chain(futures::stream::once(async {
            Err(std::io::Error::other(
                "connection broken by the test server",
            ))
        }))),
    };
    respond(reply.status, &reply.headers, body)
}

fn respond(status: u16, headers: &[(String, String)], body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    for (name, value) in headers {
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    response
}

/// An address where nothing listens.
pub async fn refused_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    address
}

/// An address that accepts connections and closes them without a word.
pub async fn closing_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    address
}
