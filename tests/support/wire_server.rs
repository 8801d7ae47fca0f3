//! A local HTTP server on 127.0.0.1 for every adapter's wire tests: it records each
//! request (method, path, query, headers, JSON body) with the reply it was given, and
//! answers from a queue of scripted replies, sent whole, in small pieces (as streams
//! arrive), late, stalled, broken off, or not at all. Also servers that misbehave below
//! HTTP, an address that refuses connections, and the fixtures under `tests/fixtures/`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How many bytes each piece of an event stream carries: few enough to split lines,
/// events and UTF-8 characters across reads.
const SSE_PIECE_BYTES: usize = 7;

/// One request as the server saw it, with the reply it was given.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The body as JSON, `Value::Null` when empty or not JSON.
    pub body: Value,
    /// The body's bytes as received (what a signature covers).
    pub raw_body: Bytes,
    /// The scripted reply, `None` when none was left.
    pub reply: Option<Reply>,
}

impl Recorded {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path and, if any, `?` and the query, as the request line had them.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }
}

/// How a reply's body ends once its bytes are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The body completes.
    Complete,
    /// The body never completes: the connection stays open and silent.
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
    /// The size of the pieces the body is sent in; `None` sends it whole.
    piece: Option<usize>,
    end: End,
    /// Never send even the status line.
    silent: bool,
    /// How long to wait before sending the status line; `None` answers at once.
    delay: Option<Duration>,
    unchecked: bool,
}

impl Reply {
    /// A JSON body with `status`, sent whole.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::raw(status, "application/json", body.into())
    }

    /// A body of any content type with `status`, sent whole.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            piece: None,
            end: End::Complete,
            silent: false,
            delay: None,
            unchecked: false,
        }
    }

    /// A 200 event stream, sent in pieces of 7 bytes.
    pub fn sse(body: impl Into<String>) -> Self {
        Self {
            piece: Some(SSE_PIECE_BYTES),
            ..Self::raw(200, "text/event-stream", body.into())
        }
    }

    /// No answer at all: the request is read and nothing is ever sent back.
    pub fn hang() -> Self {
        Self {
            silent: true,
            ..Self::raw(200, "text/plain", Vec::new())
        }
    }

    /// Sends the body in pieces of `bytes` (chunked, without a content length).
    #[allow(dead_code)] // Not every test binary that includes this module needs it.
    pub fn in_pieces(mut self, bytes: usize) -> Self {
        self.piece = Some(bytes);
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Waits `delay` after reading the request before sending anything.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Sets how the body ends once its bytes are sent.
    pub fn then(mut self, end: End) -> Self {
        self.end = end;
        self
    }

    /// Marks a body as deliberately unlike what the provider sends, so conformance checks
    /// of what the server served leave it out.
    pub fn unchecked(mut self) -> Self {
        self.unchecked = true;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the body is an event stream.
    pub fn is_event_stream(&self) -> bool {
        self.headers
            .iter()
            .any(|(name, value)| name == "content-type" && value.starts_with("text/event-stream"))
    }

    /// Whether the body was marked [`unchecked`](Self::unchecked).
    pub fn is_unchecked(&self) -> bool {
        self.unchecked
    }

    fn into_response(self) -> Response {
        let body = match (self.piece, self.end) {
            (None, End::Complete) => Body::from(self.body),
            (piece, end) => {
                let size = piece.unwrap_or(self.body.len()).max(1);
                let pieces: Vec<Result<Bytes, std::io::Error>> = self
                    .body
                    .chunks(size)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect();
                let pieces = futures::stream::iter(pieces);
                match end {
                    End::Complete => Body::from_stream(pieces),
                    End::Stall => Body::from_stream(pieces.chain(futures::stream::pending())),
                    End::Break => Body::from_stream(pieces.chain(futures::stream::once(async {
                        Err(std::io::Error::other(
                            "connection broken by the test server",
                        ))
                    }))),
                }
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap();
        for (name, value) in &self.headers {
            response.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        response
    }
}

#[derive(Default)]
struct Shared {
    recorded: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<Reply>>,
}

/// The recording server. Dropping it does not stop it: it lives as long as the test's
/// runtime.
#[derive(Clone)]
pub struct RecordingServer {
    url: String,
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
        let url = super::serve_loopback(app).await;
        Self { url, shared }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// [`url`](Self::url) followed by `path` (for example `/v1`).
    pub fn base(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Queues a reply after those already scripted.
    pub fn reply(&self, reply: Reply) -> &Self {
        self.shared.replies.lock().unwrap().push_back(reply);
        self
    }

    /// Every request so far, in order.
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
    let reply = shared.replies.lock().unwrap().pop_front();
    shared.recorded.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw_body: body,
        reply: reply.clone(),
    });
    let Some(reply) = reply else {
        return Reply::raw(500, "text/plain", "no reply scripted for this request").into_response();
    };
    if reply.silent {
        std::future::pending::<()>().await;
    }
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    reply.into_response()
}

/// How a [`raw_server`] ends each connection after its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hangup {
    /// Closes the connection (FIN) once the answer is flushed.
    Close,
    /// Aborts the connection (RST).
    Reset,
}

/// A server below HTTP, for answers no well-behaved server gives: for each connection it
/// reads the whole request, writes `answer` and hangs up as `hangup` says. Returns its
/// `http://127.0.0.1:<port>`.
pub async fn raw_server(answer: impl Into<Vec<u8>>, hangup: Hangup) -> String {
    let answer = answer.into();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                // Read the whole request first: closing with unread bytes would reset the
                // connection before the client sees the answer.
                if !read_request(&mut socket).await {
                    return;
                }
                let _ = socket.write_all(&answer).await;
                let _ = socket.flush().await;
                if hangup == Hangup::Reset {
                    let _ = socket.set_zero_linger();
                }
            });
        }
    });
    url
}

/// Reads one request's head and its `content-length` body; `false` when the connection
/// ends first.
async fn read_request(socket: &mut TcpStream) -> bool {
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
                return true;
            }
        }
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return false,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
}

/// A base URL on which nothing listens (the port was just released).
pub async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A fixture file under `tests/fixtures/`, such as `openai/chat_text.json`.
pub fn fixture(path: &str) -> String {
    let full = fixtures_dir().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The file names in a folder of `tests/fixtures/`, such as `anthropic`, sorted.
pub fn fixture_names(folder: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir().join(folder))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}
