//! A local HTTP server on 127.0.0.1 that records every request and answers with scripted
//! replies: status, headers and a body sent whole, in small pieces (as streams arrive), or
//! not at all (a hang). Also raw TCP servers that misbehave below HTTP.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
}

impl Recorded {
    /// A header's value as text (panics when missing: the test expects it).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("request has no `{name}` header"))
            .to_str()
            .unwrap()
    }
}

/// How the body of a reply is sent.
#[derive(Clone, Debug)]
enum Delivery {
    Whole,
    /// In pieces of this many bytes (so events straddle reads).
    Pieces(usize),
    /// The body's pieces, then nothing, never ending.
    PiecesThenHang(usize),
    /// No response at all: the handler never returns.
    Never,
}

/// A scripted reply.
#[derive(Clone, Debug)]
pub struct Reply {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delivery: Delivery,
}

impl Reply {
    /// A JSON body with `status`.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into().into_bytes(),
            delivery: Delivery::Whole,
        }
    }

    /// A body of any content type with `status`.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            delivery: Delivery::Whole,
        }
    }

    /// A 200 event stream, sent in 37-byte pieces.
    pub fn sse(body: impl Into<String>) -> Self {
        Self {
            delivery: Delivery::Pieces(37),
            ..Self::raw(200, "text/event-stream", body.into())
        }
    }

    /// A reply that never comes.
    pub fn hang() -> Self {
        Self {
            delivery: Delivery::Never,
            ..Self::raw(200, "text/plain", Vec::new())
        }
    }

    /// Sends the headers and the body, then stalls without ending the body.
    pub fn then_hang(mut self) -> Self {
        self.delivery = Delivery::PiecesThenHang(37);
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct Shared {
    recorded: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<Reply>>,
}

/// The recording server. Dropping it does not stop it: it lives as long as the test's
/// runtime.
pub struct RecordingServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
}

impl RecordingServer {
    /// Starts a server that answers its requests with `replies`, in order; a request
    /// beyond them gets a 500 saying so.
    pub async fn start(replies: impl IntoIterator<Item = Reply>) -> Self {
        let shared = Arc::new(Shared::default());
        shared.replies.lock().unwrap().extend(replies);
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, shared }
    }

    /// `url` followed by `path` (for example `/v1`).
    pub fn base(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// The only request so far.
    pub fn single_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request");
        requests.into_iter().next().unwrap()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.recorded.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let next = shared.replies.lock().unwrap().pop_front();
    let Some(reply) = next else {
        return Response::builder()
            .status(500)
            .body(Body::from("no reply scripted for this request"))
            .unwrap();
    };
    let pieces = |size: usize| -> Vec<Result<Bytes, std::io::Error>> {
        reply
            .body
            .chunks(size.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect()
    };
    let body = match reply.delivery {
        Delivery::Whole => Body::from(reply.body.clone()),
        Delivery::Pieces(size) => Body::from_stream(futures::stream::iter(pieces(size))),
        Delivery::PiecesThenHang(size) => {
            Body::from_stream(futures::stream::iter(pieces(size)).chain(futures::stream::pending()))
        }
        Delivery::Never => std::future::pending().await,
    };
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response.body(body).unwrap()
}

/// A raw TCP server: for each connection, reads the request head, then writes `answer`
/// and, with `reset`, aborts the connection (RST) instead of closing it.
pub async fn raw_server(answer: Vec<u8>, reset: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0_u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = socket.write_all(&answer).await;
                if reset {
                    let _ = socket.set_zero_linger();
                }
            });
        }
    });
    url
}

/// A base URL on which nothing listens (the port was just released).
pub async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A fixture file under `tests/fixtures/`.
pub fn fixture(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}
