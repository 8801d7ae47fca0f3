//! A fault-injecting upstream: a small HTTP/1.1 server on 127.0.0.1 speaking the OpenAI
//! Chat Completions or the Anthropic Messages wire format, answering each chat request as
//! its [`Schedule`] says. Written on raw TCP, because resets, half-sent bodies and stalls
//! are what a well-behaved HTTP server library will not do.
//!
//! It counts what it saw (chat requests, probes, faults by kind) and the connections open,
//! so a test can compare the router's own counts with the upstream's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::schedule::{Decision, Fault, Schedule};

/// The wire format an upstream speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
}

/// What an upstream saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub chat_requests: AtomicU64,
    pub probes: AtomicU64,
    pub faults: [AtomicU64; Fault::ALL.len()],
    pub open_connections: AtomicI64,
    /// Request id to the number of times it arrived.
    arrivals: Mutex<HashMap<u64, u64>>,
}

impl Seen {
    pub fn faults(&self, fault: Fault) -> u64 {
        self.faults[fault.index()].load(SeqCst)
    }

    /// How many times request `id` arrived.
    pub fn arrivals(&self, id: u64) -> u64 {
        self.arrivals.lock().unwrap().get(&id).copied().unwrap_or(0)
    }

    fn arrival(&self, request: u64) -> u64 {
        let mut arrivals = self.arrivals.lock().unwrap();
        let count = arrivals.entry(request).or_default();
        *count += 1;
        *count - 1
    }
}

pub struct Upstream {
    addr: SocketAddr,
    pub seen: Arc<Seen>,
    accept: JoinHandle<()>,
}

impl Upstream {
    pub async fn start(dialect: Dialect, schedule: Schedule) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let shared = seen.clone();
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                let connection = Connection {
                    socket,
                    buffer: Vec::new(),
                    dialect,
                    schedule,
                    seen: shared.clone(),
                };
                tokio::spawn(connection.serve());
            }
        });
        Self { addr, seen, accept }
    }

    /// The base URL, with `path` appended (`/v1` for OpenAI accounts).
    pub fn base(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops accepting connections; the open ones end when their clients close them.
    pub fn stop_accepting(&self) {
        self.accept.abort();
    }
}

struct Request {
    path: String,
    streaming: bool,
    id: u64,
}

struct Connection {
    socket: TcpStream,
    buffer: Vec<u8>,
    dialect: Dialect,
    schedule: Schedule,
    seen: Arc<Seen>,
}

/// Counts a connection as open for as long as its task runs.
struct Open(Arc<Seen>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, SeqCst);
    }
}

impl Connection {
    async fn serve(mut self) {
        self.seen.open_connections.fetch_add(1, SeqCst);
        let _open = Open(self.seen.clone());
        while let Some(request) = self.read_request().await {
            if request.path.contains("/models") {
                self.seen.probes.fetch_add(1, SeqCst);
                if self
                    .send_json(200, "OK", "", r#"{"data":[]}"#)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            self.seen.chat_requests.fetch_add(1, SeqCst);
            let arrival = self.seen.arrival(request.id);
            let decision = self.schedule.decide(request.id, arrival);
            self.seen.faults[decision.fault.index()].fetch_add(1, SeqCst);
            match self.answer(&request, decision).await {
                Ok(true) => {}
                Ok(false) | Err(_) => return,
            }
        }
    }

    /// Reads one request (head and `content-length` body); `None` when the client closed
    /// the connection or sent something this server does not speak.
    async fn read_request(&mut self) -> Option<Request> {
        let head_end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end])
            .ok()?
            .to_owned();
        let mut lines = head.split("\r\n");
        let path = lines.next()?.split(' ').nth(1)?.to_owned();
        let length: usize = lines
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse().ok())
            .unwrap_or(0);
        while self.buffer.len() < head_end + length {
            self.fill().await?;
        }
        let body: Vec<u8> = self
            .buffer
            .drain(..head_end + length)
            .skip(head_end)
            .collect();
        Some(Request {
            path,
            streaming: find(&body, b"\"stream\":true").is_some(),
            id: request_id(&body).unwrap_or(u64::MAX),
        })
    }

    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0_u8; 8192];
        match self.socket.read(&mut chunk).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }

    /// Answers one chat request; `Ok(true)` when the connection can serve another.
    async fn answer(&mut self, request: &Request, decision: Decision) -> std::io::Result<bool> {
        let wire = Wire::new(self.dialect, request.id);
        match decision.fault {
            Fault::Ok if request.streaming => {
                self.stream(&wire.events(), None).await?;
                Ok(true)
            }
            Fault::Ok => {
                self.send_json(200, "OK", "", &wire.message()).await?;
                Ok(true)
            }
            Fault::RateLimited => {
                let wait = format!("retry-after-ms: {}\r\n", 1 + decision.bits % 40);
                let body = wire.error(429);
                self.send_json(429, "Too Many Requests", &wait, &body)
                    .await?;
                Ok(true)
            }
            Fault::ServerError => self.error(&wire, 500, "Internal Server Error").await,
            Fault::Unavailable => self.error(&wire, 503, "Service Unavailable").await,
            Fault::Overloaded => self.error(&wire, 529, "Overloaded").await,
            Fault::Hang if request.streaming && decision.bits % 2 == 0 => {
                let events = wire.events();
                let sent = 1 + (decision.bits >> 1) as usize % 2;
                self.write_stream_head().await?;
                for event in &events[..sent] {
                    self.write_chunk(event.as_bytes()).await?;
                }
                self.wait_for_close().await;
                Ok(false)
            }
            Fault::Hang => {
                self.wait_for_close().await;
                Ok(false)
            }
            Fault::Reset => {
                self.socket.set_zero_linger()?;
                Ok(false)
            }
            Fault::MalformedJson if request.streaming => {
                let events = wire.events();
                let at = 1 + (decision.bits % 3) as usize;
                self.stream(&events[..at], Some(&wire.broken_event()))
                    .await?;
                Ok(true)
            }
            Fault::MalformedJson => {
                let body = wire.message();
                self.send_json(200, "OK", "", &body[..body.len() / 2])
                    .await?;
                Ok(true)
            }
            Fault::Cut if request.streaming => {
                let events = wire.events();
                let sent = (decision.bits % 4) as usize;
                self.write_stream_head().await?;
                for event in &events[..sent] {
                    self.write_chunk(event.as_bytes()).await?;
                }
                // Half an event, then the connection goes without a final chunk.
                let half = &events[sent].as_bytes()[..events[sent].len() / 2];
                self.write_chunk(half).await?;
                Ok(false)
            }
            Fault::Cut => {
                let body = wire.message();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                self.socket.write_all(head.as_bytes()).await?;
                self.socket
                    .write_all(&body.as_bytes()[..body.len() / 3])
                    .await?;
                Ok(false)
            }
        }
    }

    async fn error(&mut self, wire: &Wire, status: u16, reason: &str) -> std::io::Result<bool> {
        self.send_json(status, reason, "", &wire.error(status))
            .await?;
        Ok(true)
    }

    async fn send_json(
        &mut self,
        status: u16,
        reason: &str,
        headers: &str,
        body: &str,
    ) -> std::io::Result<()> {
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}\r\n{body}",
            body.len()
        );
        self.socket.write_all(response.as_bytes()).await
    }

    async fn write_stream_head(&mut self) -> std::io::Result<()> {
        self.socket
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
            )
            .await
    }

    async fn write_chunk(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(b"\r\n");
        self.socket.write_all(&chunk).await?;
        self.socket.flush().await
    }

    /// A whole chunked event stream of `events`, with `last` (a broken event) after them.
    async fn stream(&mut self, events: &[String], last: Option<&str>) -> std::io::Result<()> {
        self.write_stream_head().await?;
        for event in events.iter().map(String::as_str).chain(last) {
            self.write_chunk(event.as_bytes()).await?;
        }
        self.socket.write_all(b"0\r\n\r\n").await
    }

    /// Holds the request until the client gives up and closes the connection (bounded,
    /// so a client that never does cannot keep this task alive).
    async fn wait_for_close(&mut self) {
        let mut sink = [0_u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(n) = self.socket.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The number after `req-` in the prompt.
fn request_id(body: &[u8]) -> Option<u64> {
    let start = find(body, b"req-")? + 4;
    let digits = body[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&body[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

/// The bodies and events of one answer, in one dialect.
struct Wire {
    dialect: Dialect,
    id: u64,
}

impl Wire {
    fn new(dialect: Dialect, id: u64) -> Self {
        Self { dialect, id }
    }

    /// Usage the upstream reports: never more than the router's worst case (a prompt of
    /// at least five tokens, `max_tokens` 64), so spend stays within the budget.
    fn usage(&self) -> (u64, u64) {
        usage_of(self.id)
    }

    fn message(&self) -> String {
        let (input, output) = self.usage();
        let id = self.id;
        match self.dialect {
            Dialect::OpenAi => format!(
                r#"{{"id":"chatcmpl-{id}","object":"chat.completion","created":1741569952,"model":"chaos","choices":[{{"index":0,"message":{{"role":"assistant","content":"answer {id}","refusal":null}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{input},"completion_tokens":{output},"total_tokens":{}}}}}"#,
                input + output
            ),
            Dialect::Anthropic => format!(
                r#"{{"id":"msg_{id}","type":"message","role":"assistant","model":"chaos","content":[{{"type":"text","text":"answer {id}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":{input},"output_tokens":{output}}}}}"#
            ),
        }
    }

    /// The events of a whole stream, one SSE event each; the text is `answer {id}`.
    fn events(&self) -> Vec<String> {
        let (input, output) = self.usage();
        let id = self.id;
        match self.dialect {
            Dialect::OpenAi => {
                let chunk = |choice: &str| {
                    format!(
                        "data: {{\"id\":\"chatcmpl-{id}\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"chaos\",\"choices\":[{choice}]}}\n\n"
                    )
                };
                vec![
                    chunk(
                        r#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#,
                    ),
                    chunk(r#"{"index":0,"delta":{"content":"answer"},"finish_reason":null}"#),
                    chunk(&format!(
                        r#"{{"index":0,"delta":{{"content":" {id}"}},"finish_reason":null}}"#
                    )),
                    chunk(r#"{"index":0,"delta":{},"finish_reason":"stop"}"#),
                    format!(
                        "data: {{\"id\":\"chatcmpl-{id}\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"chaos\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{input},\"completion_tokens\":{output},\"total_tokens\":{}}}}}\n\n",
                        input + output
                    ),
                    "data: [DONE]\n\n".to_owned(),
                ]
            }
            Dialect::Anthropic => {
                let event = |name: &str, data: String| format!("event: {name}\ndata: {data}\n\n");
                vec![
                    event(
                        "message_start",
                        format!(
                            r#"{{"type":"message_start","message":{{"id":"msg_{id}","type":"message","role":"assistant","model":"chaos","content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{input},"output_tokens":1}}}}}}"#
                        ),
                    ),
                    event(
                        "content_block_start",
                        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.to_owned(),
                    ),
                    event(
                        "content_block_delta",
                        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"answer"}}"#.to_owned(),
                    ),
                    event(
                        "content_block_delta",
                        format!(
                            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":" {id}"}}}}"#
                        ),
                    ),
                    event(
                        "content_block_stop",
                        r#"{"type":"content_block_stop","index":0}"#.to_owned(),
                    ),
                    event(
                        "message_delta",
                        format!(
                            r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{output}}}}}"#
                        ),
                    ),
                    event("message_stop", r#"{"type":"message_stop"}"#.to_owned()),
                ]
            }
        }
    }

    fn broken_event(&self) -> String {
        match self.dialect {
            Dialect::OpenAi => "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tru\n\n".to_owned(),
            Dialect::Anthropic => "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_\n\n".to_owned(),
        }
    }

    fn error(&self, status: u16) -> String {
        match (self.dialect, status) {
            (Dialect::OpenAi, 429) => r#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#.to_owned(),
            (Dialect::OpenAi, _) => r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#.to_owned(),
            (Dialect::Anthropic, 429) => r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit."}}"#.to_owned(),
            (Dialect::Anthropic, 500) => r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#.to_owned(),
            (Dialect::Anthropic, _) => r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.to_owned(),
        }
    }
}

/// Input and output tokens the upstreams report for request `id`.
pub fn usage_of(id: u64) -> (u64, u64) {
    (1 + id % 5, 1 + id % 17)
}
