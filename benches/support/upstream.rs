//! A fast local OpenAI-compatible upstream for benchmarks.
//!
//! It answers `POST {prefix}/v1/chat/completions` in the OpenAI wire format, streaming
//! (`"stream": true`, SSE) and not, with a configurable delay before the answer, answer
//! size, chunk count and failure rate. Every answer is rendered once at start-up, so a
//! request costs the server little more than reading the body and writing bytes: the server
//! must never be what a benchmark measures. `GET /stats` reports requests served and the
//! CPU time its own threads used, so a run can show the server's ceiling next to the
//! client's throughput.
//!
//! Requests under the `/fail` prefix always answer 500, for fallback scenarios: a router
//! gets a failing primary and a healthy fallback from one server.
//!
//! Shared by `examples/bench_upstream.rs` (standalone, for the peer scripts) and the
//! benches (in process), through `#[path]`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde::Deserialize;
use serde_json::json;

/// The name every thread of the upstream carries, so its CPU time can be told apart from
/// the client's when both share a process.
const THREAD_NAME: &str = "bench-upstream";

/// How the upstream answers.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    /// Delay before the answer (before the first byte of a stream).
    pub latency: Duration,
    /// Bytes of generated text in each answer.
    pub content_bytes: usize,
    /// Content chunks a streamed answer is split into.
    pub chunks: usize,
    /// Delay between streamed chunks.
    pub chunk_interval: Duration,
    /// Fraction of requests (outside `/fail`) answered with a 500, spread evenly.
    pub fail_rate: f64,
    /// Runtime worker threads; 1 runs the server on a single thread.
    pub threads: usize,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            content_bytes: 256,
            chunks: 8,
            chunk_interval: Duration::ZERO,
            fail_rate: 0.0,
            threads: 1,
        }
    }
}

/// A server running on its own threads.
pub struct RunningUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server thread; it runs until the process ends.
    pub thread: std::thread::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl RunningUpstream {
    /// Requests served so far and the CPU time the server used.
    pub fn stats(&self) -> UpstreamStats {
        self.shared.stats()
    }
}

/// Starts the upstream on `port` (0: any free port) of 127.0.0.1 on threads of its own.
pub fn spawn(config: UpstreamConfig, port: u16) -> std::io::Result<RunningUpstream> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = if config.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(config.threads);
        builder
    }
    .enable_all()
    .thread_name(THREAD_NAME)
    .build()?;
    let shared = Arc::new(Shared::new(&config));
    let app = app(shared.clone());
    let thread = std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            runtime.block_on(async move {
                // Clients send small requests and wait for each answer: Nagle's algorithm
                // would hold answers back for the peer's delayed ACK.
                let listener = tokio::net::TcpListener::from_std(listener)
                    .expect("a listener bound by this process converts")
                    .tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                axum::serve(listener, app)
                    .await
                    .expect("the benchmark upstream serves until the process ends");
            });
        })?;
    Ok(RunningUpstream {
        addr,
        thread,
        shared,
    })
}

/// CPU time used so far by the upstream's threads in this process (from
/// `/proc/self/task/*/schedstat`, in nanoseconds of run time).
fn cpu_time() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut total_ns: u64 = 0;
    for task in tasks.flatten() {
        let path = task.path();
        let is_upstream = std::fs::read_to_string(path.join("comm"))
            .is_ok_and(|comm| comm.trim_end().starts_with(THREAD_NAME));
        if !is_upstream {
            continue;
        }
        if let Ok(schedstat) = std::fs::read_to_string(path.join("schedstat")) {
            total_ns += schedstat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(total_ns)
}

/// Requests served so far, and the CPU the server used for them.
#[derive(Clone, Copy, Debug, Default)]
pub struct UpstreamStats {
    /// Requests answered (any status).
    pub requests: u64,
    /// CPU time of the upstream's threads.
    pub cpu: Duration,
}

impl UpstreamStats {
    /// The requests per second one core could serve at the CPU cost seen since `earlier`.
    pub fn ceiling_per_core(&self, earlier: &UpstreamStats) -> f64 {
        let requests = self.requests.saturating_sub(earlier.requests) as f64;
        let cpu = self.cpu.saturating_sub(earlier.cpu).as_secs_f64();
        if cpu == 0.0 {
            f64::INFINITY
        } else {
            requests / cpu
        }
    }
}

struct Shared {
    latency: Duration,
    chunk_interval: Duration,
    fail_rate: f64,
    requests: AtomicU64,
    completion: Bytes,
    chunks: Vec<Bytes>,
    usage_chunk: Bytes,
    error: Bytes,
}

impl Shared {
    fn new(config: &UpstreamConfig) -> Self {
        let content = filler_text(config.content_bytes);
        let pieces = split_evenly(&content, config.chunks.max(1));
        let completion_tokens = content.len().div_ceil(4);
        let usage = json!({
            "prompt_tokens": 12,
            "completion_tokens": completion_tokens,
            "total_tokens": 12 + completion_tokens,
        });
        let completion = json!({
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "bench-model",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": null},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": usage,
        });
        let mut chunks = vec![sse(&chunk(
            json!({"role": "assistant", "content": ""}),
            None,
        ))];
        chunks.extend(
            pieces
                .iter()
                .map(|piece| sse(&chunk(json!({"content": piece}), None))),
        );
        chunks.push(sse(&chunk(json!({}), Some("stop"))));
        let mut usage_chunk = chunk(json!({}), None);
        usage_chunk["choices"] = json!([]);
        usage_chunk["usage"] = usage;
        Self {
            latency: config.latency,
            chunk_interval: config.chunk_interval,
            fail_rate: config.fail_rate,
            requests: AtomicU64::new(0),
            completion: Bytes::from(completion.to_string()),
            chunks,
            usage_chunk: sse(&usage_chunk),
            error: Bytes::from(
                json!({"error": {
                    "message": "the benchmark upstream was told to fail",
                    "type": "server_error",
                    "param": null,
                    "code": null,
                }})
                .to_string(),
            ),
        }
    }

    fn stats(&self) -> UpstreamStats {
        UpstreamStats {
            requests: self.requests.load(Relaxed),
            cpu: cpu_time(),
        }
    }

    /// Spreads failures evenly: request `n` fails when `floor((n + 1) * rate)` steps up.
    fn should_fail(&self, n: u64) -> bool {
        self.fail_rate > 0.0
            && ((n + 1) as f64 * self.fail_rate).floor() > (n as f64 * self.fail_rate).floor()
    }
}

fn app(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/fail/v1/chat/completions", post(always_fail))
        .route("/stats", get(stats))
        .with_state(shared)
}

#[derive(Deserialize)]
struct ChatBody {
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

async fn chat(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let n = shared.requests.fetch_add(1, Relaxed);
    let Ok(request) = serde_json::from_slice::<ChatBody>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "request body is not a chat request",
        )
            .into_response();
    };
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    if shared.should_fail(n) {
        return error_response(&shared);
    }
    if !request.stream {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            shared.completion.clone(),
        )
            .into_response();
    }
    let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
    let mut frames = shared.chunks.clone();
    if include_usage {
        frames.push(shared.usage_chunk.clone());
    }
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let body = if shared.chunk_interval.is_zero() {
        Body::from(frames.concat())
    } else {
        let interval = shared.chunk_interval;
        Body::from_stream(futures::stream::unfold(
            (frames.into_iter(), true),
            move |(mut frames, first)| async move {
                if !first {
                    tokio::time::sleep(interval).await;
                }
                let frame = frames.next()?;
                Some((Ok::<_, std::convert::Infallible>(frame), (frames, false)))
            },
        ))
    };
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

async fn always_fail(State(shared): State<Arc<Shared>>) -> Response {
    shared.requests.fetch_add(1, Relaxed);
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    error_response(&shared)
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let stats = shared.stats();
    axum::Json(json!({
        "requests": stats.requests,
        "cpu_seconds": stats.cpu.as_secs_f64(),
    }))
    .into_response()
}

fn error_response(shared: &Shared) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        shared.error.clone(),
    )
        .into_response()
}

fn chunk(delta: serde_json::Value, finish_reason: Option<&str>) -> serde_json::Value {
    json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "bench-model",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    })
}

fn sse(value: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// `bytes` of plain words.
fn filler_text(bytes: usize) -> String {
    const WORDS: &str = "the quick brown fox jumps over the lazy dog ";
    WORDS.repeat(bytes / WORDS.len() + 1)[..bytes].to_owned()
}

/// `text` cut into `parts` pieces of nearly equal length (ASCII, so any cut is valid).
fn split_evenly(text: &str, parts: usize) -> Vec<String> {
    let size = text.len().div_ceil(parts).max(1);
    text.as_bytes()
        .chunks(size)
        .map(|piece| String::from_utf8_lossy(piece).into_owned())
        .collect()
}
