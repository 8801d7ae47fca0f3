//! Things that stand between a client and a test server on 127.0.0.1: a forward HTTP proxy
//! that records what it was asked to fetch, and a TCP relay that counts the connections
//! opened through it (so a test can tell pooled connections from new ones).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::net::{TcpListener, TcpStream};

/// A forward HTTP proxy on loopback for plain-HTTP destinations: it takes requests in
/// absolute form (`POST http://127.0.0.1:port/v1/...`), records each URI, and fetches it
/// for the client.
#[derive(Clone)]
pub struct ForwardProxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ForwardProxy {
    /// Starts the proxy.
    pub async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let upstream = client_builder().no_proxy().build().unwrap();
        let app = axum::Router::new()
            .fallback(forward)
            .with_state((seen.clone(), upstream));
        let url = super::serve_loopback(app).await;
        Self { url, seen }
    }

    /// `http://127.0.0.1:<port>`, the proxy's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `METHOD uri` of every request the proxy forwarded, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn forward(
    State((seen, upstream)): State<(Arc<Mutex<Vec<String>>>, reqwest::Client)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    seen.lock().unwrap().push(format!("{method} {uri}"));
    if uri.scheme().is_none() {
        return status(StatusCode::BAD_REQUEST, "not a proxy request");
    }
    let mut headers = headers;
    headers.remove("host");
    headers.remove("proxy-connection");
    let answer = upstream
        .request(method, uri.to_string())
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(answer) = answer else {
        return status(StatusCode::BAD_GATEWAY, "upstream unreachable");
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != "transfer-encoding" && name != "content-length" {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap()
}

fn status(code: StatusCode, text: &'static str) -> Response {
    Response::builder()
        .status(code)
        .body(Body::from(text))
        .unwrap()
}

/// A builder for a client of the test's own. With only the `rustls` feature, reqwest has
/// no crypto provider of its own (routewise configures its clients' TLS itself), so this
/// installs `ring` as the process default first.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A TCP relay on loopback to `target` (`http://127.0.0.1:<port>`): every connection made
/// to it is counted and piped to a connection of its own to the target.
#[derive(Clone)]
pub struct CountingRelay {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl CountingRelay {
    /// Starts a relay to `target`.
    pub async fn start(target: &str) -> Self {
        let target = target.trim_start_matches("http://").to_owned();
        let connections = Arc::new(AtomicUsize::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                tokio::spawn(async move {
                    let mut outbound = TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        Self { url, connections }
    }

    /// `http://127.0.0.1:<port>`, the relay's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many connections were opened through the relay.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
