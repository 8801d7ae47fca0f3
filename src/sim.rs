//! A simulated provider whose behaviour you script: latency, failures, rate limits,
//! outages, canned answers.
//!
//! Use it to try policies against outages before production does, and in tests. It
//! answers instantly by default, follows `tokio`'s clock (so a paused test clock controls
//! its latency and outage windows), and counts its calls.
//!
//! ```
//! use std::time::Duration;
//! use routewise::ErrorKind;
//! use routewise::sim::{SimProvider, SimStep};
//!
//! // Two server errors, then a 429 asking for 5 s, then normal answers after 20 ms.
//! let flaky = SimProvider::new()
//!     .reply("ok")
//!     .latency(Duration::from_millis(20))
//!     .script([
//!         SimStep::Fail(ErrorKind::ServerError),
//!         SimStep::Fail(ErrorKind::ServerError),
//!         SimStep::RateLimited(Duration::from_secs(5)),
//!     ]);
//! # let _ = flaky;
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::time::Instant;

use crate::account::AccountInfo;
use crate::provider::{
    ErrorKind, Provider, ProviderError, ProviderEvent, ProviderRequest, ProviderResponse,
    ProviderStream,
};
use crate::types::{ToolCall, Usage};

/// One scripted behaviour of a [`SimProvider`] call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SimStep {
    /// Answer normally.
    Reply,
    /// Fail with this kind of error.
    Fail(ErrorKind),
    /// Answer 429 with this retry-after.
    RateLimited(Duration),
    /// Never answer (until the caller gives up and drops the call).
    Hang,
    /// Answer normally after this extra delay.
    Delay(Duration),
    /// Stream this many text chunks, then fail with `kind` (a non-streaming call fails
    /// with `kind` at once).
    FailMidStream {
        /// Chunks sent before the failure.
        after_chunks: usize,
        /// The failure.
        kind: ErrorKind,
    },
}

/// A scripted, in-process [`Provider`]. Cheap to clone; clones share their call counter
/// and script position, so a test can keep one clone and inspect it.
///
/// Each call takes the next [`SimStep`] of the script; once the script is used up, calls
/// answer normally, except during an outage window, while [`set_down`](Self::set_down)
/// is on, or when the random failure rate strikes.
#[derive(Clone, Debug)]
pub struct SimProvider {
    config: Arc<SimConfig>,
    state: Arc<SimState>,
}

#[derive(Clone, Debug)]
struct SimConfig {
    system: String,
    reply: String,
    echo: bool,
    tool_calls: Vec<ToolCall>,
    usage: Option<Usage>,
    latency: Duration,
    chunk_delay: Duration,
    failure_rate: f64,
    failure_kind: ErrorKind,
    script: Vec<SimStep>,
    outages: Vec<(Duration, Duration)>,
}

#[derive(Debug)]
struct SimState {
    created: Instant,
    calls: AtomicU64,
    probes: AtomicU64,
    cursor: AtomicUsize,
    rng: AtomicU64,
    down: AtomicBool,
}

impl Default for SimProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl SimProvider {
    /// A provider that answers "ok" at once.
    pub fn new() -> Self {
        Self {
            config: Arc::new(SimConfig {
                system: "sim".to_owned(),
                reply: "ok".to_owned(),
                echo: false,
                tool_calls: Vec::new(),
                usage: None,
                latency: Duration::ZERO,
                chunk_delay: Duration::ZERO,
                failure_rate: 0.0,
                failure_kind: ErrorKind::ServerError,
                script: Vec::new(),
                outages: Vec::new(),
            }),
            state: Arc::new(SimState {
                created: Instant::now(),
                calls: AtomicU64::new(0),
                probes: AtomicU64::new(0),
                cursor: AtomicUsize::new(0),
                rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
                down: AtomicBool::new(false),
            }),
        }
    }

    fn config(&mut self) -> &mut SimConfig {
        Arc::make_mut(&mut self.config)
    }

    /// The name reported as `gen_ai.provider.name` (default `sim`).
    #[must_use]
    pub fn with_provider_name(mut self, name: impl Into<String>) -> Self {
        self.config().system = name.into();
        self
    }

    /// The text every answer carries.
    #[must_use]
    pub fn reply(mut self, text: impl Into<String>) -> Self {
        self.config().reply = text.into();
        self
    }

    /// Answer with the text of the last message instead of a fixed reply.
    #[must_use]
    pub fn echo(mut self) -> Self {
        self.config().echo = true;
        self
    }

    /// Adds a tool call to every answer (the finish reason becomes `tool_calls`).
    #[must_use]
    pub fn tool_call(mut self, call: ToolCall) -> Self {
        self.config().tool_calls.push(call);
        self
    }

    /// Reports this usage for every answer, instead of an estimate from the text.
    #[must_use]
    pub fn usage(mut self, usage: Usage) -> Self {
        self.config().usage = Some(usage);
        self
    }

    /// Waits this long before answering (or before the first stream chunk).
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.config().latency = latency;
        self
    }

    /// Waits this long between stream chunks.
    #[must_use]
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.config().chunk_delay = delay;
        self
    }

    /// Fails this share of unscripted calls (`0.0..=1.0`), with the kind set by
    /// [`failure_kind`](Self::failure_kind). Deterministic for a given [`seed`](Self::seed).
    #[must_use]
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.config().failure_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Fails every unscripted call.
    #[must_use]
    pub fn always_fail(self) -> Self {
        self.failure_rate(1.0)
    }

    /// The kind of error random failures, outages and [`set_down`](Self::set_down) give
    /// (default: server error).
    #[must_use]
    pub fn failure_kind(mut self, kind: ErrorKind) -> Self {
        self.config().failure_kind = kind;
        self
    }

    /// Seeds the random failures.
    #[must_use]
    pub fn seed(self, seed: u64) -> Self {
        // xorshift must not start at zero.
        self.state.rng.store(seed | 1, Relaxed);
        self
    }

    /// Behaviours for the next calls, one step per call, in order.
    #[must_use]
    pub fn script(mut self, steps: impl IntoIterator<Item = SimStep>) -> Self {
        self.config().script.extend(steps);
        self
    }

    /// Fails every call between `from` and `until` after the provider was created.
    #[must_use]
    pub fn outage(mut self, from: Duration, until: Duration) -> Self {
        self.config().outages.push((from, until));
        self
    }

    /// Turns a manual outage on or off, affecting every clone.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Relaxed);
    }

    /// Calls received so far (complete and stream), across clones.
    pub fn calls(&self) -> u64 {
        self.state.calls.load(Relaxed)
    }

    /// Health probes received so far, across clones.
    pub fn probes(&self) -> u64 {
        self.state.probes.load(Relaxed)
    }

    /// Decides what this call does.
    fn next_step(&self) -> SimStep {
        self.state.calls.fetch_add(1, Relaxed);
        let config = &self.config;
        if !config.script.is_empty() {
            let position = self.state.cursor.fetch_add(1, Relaxed);
            if let Some(step) = config.script.get(position) {
                return step.clone();
            }
        }
        let failing = self.state.down.load(Relaxed)
            || self.in_outage()
            || (config.failure_rate > 0.0 && self.random_unit() < config.failure_rate);
        if failing {
            SimStep::Fail(config.failure_kind)
        } else {
            SimStep::Reply
        }
    }

    fn in_outage(&self) -> bool {
        if self.config.outages.is_empty() {
            return false;
        }
        let age = self.state.created.elapsed();
        self.config
            .outages
            .iter()
            .any(|(from, until)| (*from..*until).contains(&age))
    }

    /// A uniform draw from `0.0..1.0` (xorshift64*, lock-free).
    fn random_unit(&self) -> f64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        let previous = self
            .state
            .rng
            .fetch_update(Relaxed, Relaxed, |x| Some(step(x)))
            .unwrap_or_else(|x| x);
        let value = step(previous).wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }

    fn failure(kind: ErrorKind) -> ProviderError {
        let error = ProviderError::new(kind, "simulated failure");
        match kind {
            ErrorKind::RateLimited => error.with_status(429),
            ErrorKind::ServerError => error.with_status(500),
            ErrorKind::Overloaded => error.with_status(529),
            ErrorKind::Auth => error.with_status(401),
            ErrorKind::InvalidRequest
            | ErrorKind::ContextLengthExceeded
            | ErrorKind::UnsupportedParameter => error.with_status(400),
            ErrorKind::NotFound => error.with_status(404),
            _ => error,
        }
    }

    fn answer(&self, request: &ProviderRequest<'_>) -> ProviderResponse {
        let config = &self.config;
        let content = if config.echo {
            request
                .messages()
                .last()
                .map(crate::types::Message::text)
                .unwrap_or_default()
        } else {
            config.reply.clone()
        };
        let usage = config.usage.unwrap_or_else(|| {
            let output = u32::try_from(content.len().div_ceil(4)).unwrap_or(u32::MAX);
            Usage::new(request.estimate_input_tokens(), output.max(1))
        });
        let mut response = ProviderResponse::text(content, usage);
        for call in &config.tool_calls {
            response = response.tool_call(call.clone());
        }
        response
    }

    async fn begin(&self, step: &SimStep) -> Result<(), ProviderError> {
        let latency = match step {
            SimStep::Delay(extra) => self.config.latency + *extra,
            _ => self.config.latency,
        };
        // Zero latency answers without touching the timer, so the sim costs next to
        // nothing in benchmarks.
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match step {
            SimStep::Hang => std::future::pending().await,
            SimStep::Fail(kind) => Err(Self::failure(*kind)),
            SimStep::RateLimited(after) => {
                Err(Self::failure(ErrorKind::RateLimited).with_retry_after(*after))
            }
            SimStep::Reply | SimStep::Delay(_) | SimStep::FailMidStream { .. } => Ok(()),
        }
    }
}

#[async_trait]
impl Provider for SimProvider {
    fn provider_name(&self) -> &str {
        &self.config.system
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let step = self.next_step();
        self.begin(&step).await?;
        if let SimStep::FailMidStream { kind, .. } = step {
            return Err(Self::failure(kind));
        }
        Ok(self.answer(&request))
    }

    async fn stream(&self, request: ProviderRequest<'_>) -> Result<ProviderStream, ProviderError> {
        let step = self.next_step();
        self.begin(&step).await?;
        let response = self.answer(&request);
        let fail_after = match step {
            SimStep::FailMidStream { after_chunks, kind } => Some((after_chunks, kind)),
            _ => None,
        };
        let mut events: Vec<Result<ProviderEvent, ProviderError>> = Vec::new();
        for (i, chunk) in word_chunks(&response.content).enumerate() {
            if let Some((after, kind)) = fail_after
                && i == after
            {
                events.push(Err(Self::failure(kind)));
                break;
            }
            events.push(Ok(ProviderEvent::TextDelta(chunk.to_owned())));
        }
        if let Some((after, kind)) = fail_after
            && events.len() <= after
            && events.last().is_none_or(Result::is_ok)
        {
            events.push(Err(Self::failure(kind)));
        }
        if fail_after.is_none() {
            let finish_reason = response.finish_reason.clone();
            let usage = response.usage;
            let mut tail =
                ProviderResponse::text(String::new(), usage).finish_reason(finish_reason);
            tail.tool_calls = response.tool_calls;
            events.extend(tail.into_events().into_iter().map(Ok));
        }
        let delay = self.config.chunk_delay;
        let stream = futures::stream::iter(events).then(move |event| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            event
        });
        Ok(Box::pin(stream))
    }

    /// Fails with a connection error while the sim is down (by [`set_down`](Self::set_down)
    /// or in an outage window), as an unreachable endpoint would. Not counted as a call.
    async fn health_check(&self, _account: &AccountInfo) -> Result<(), ProviderError> {
        self.state.probes.fetch_add(1, Relaxed);
        if self.state.down.load(Relaxed) || self.in_outage() {
            Err(ProviderError::new(
                ErrorKind::Connection,
                "simulated outage",
            ))
        } else {
            Ok(())
        }
    }
}

/// Splits text into words, each chunk after the first keeping its leading space.
fn word_chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let start = rest.len() - rest.trim_start().len();
        let end = rest[start..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |i| start + i);
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountInfo;
    use crate::types::{ChatRequest, FinishReason, SamplingParams};

    fn call<'a>(
        account: &'a AccountInfo,
        request: &'a ChatRequest,
        defaults: &'a SamplingParams,
    ) -> ProviderRequest<'a> {
        ProviderRequest::new("m", account, request, defaults)
    }

    #[test]
    fn word_chunks_keep_every_character() {
        let text = "  one two\tthree ";
        let chunks: Vec<&str> = word_chunks(text).collect();
        assert_eq!(chunks.concat(), text);
        assert_eq!(chunks, ["  one", " two", "\tthree", " "]);
    }

    #[tokio::test]
    async fn script_runs_in_order_then_calls_answer_normally() {
        let sim = SimProvider::new().reply("fine").script([
            SimStep::Fail(ErrorKind::Timeout),
            SimStep::RateLimited(Duration::from_secs(3)),
        ]);
        let (account, request, defaults) = (
            AccountInfo::new("a"),
            ChatRequest::user("hi"),
            SamplingParams::new(),
        );
        let first = sim
            .complete(call(&account, &request, &defaults))
            .await
            .unwrap_err();
        assert_eq!(first.kind(), ErrorKind::Timeout);
        let second = sim
            .complete(call(&account, &request, &defaults))
            .await
            .unwrap_err();
        assert_eq!(second.kind(), ErrorKind::RateLimited);
        assert_eq!(second.retry_after(), Some(Duration::from_secs(3)));
        let third = sim
            .complete(call(&account, &request, &defaults))
            .await
            .unwrap();
        assert_eq!(third.content, "fine");
        assert_eq!(sim.calls(), 3);
    }

    #[tokio::test]
    async fn failure_rate_is_close_to_its_setting_and_repeatable() {
        let (account, request, defaults) = (
            AccountInfo::new("a"),
            ChatRequest::user("hi"),
            SamplingParams::new(),
        );
        let mut failures = Vec::new();
        for _ in 0..2 {
            let sim = SimProvider::new().failure_rate(0.3).seed(42);
            let mut failed = 0;
            for _ in 0..2_000 {
                if sim
                    .complete(call(&account, &request, &defaults))
                    .await
                    .is_err()
                {
                    failed += 1;
                }
            }
            failures.push(failed);
        }
        assert_eq!(failures[0], failures[1], "same seed, same failures");
        assert!((500..700).contains(&failures[0]), "{} of 2000", failures[0]);
    }

    #[tokio::test(start_paused = true)]
    async fn outage_window_follows_the_tokio_clock() {
        let sim = SimProvider::new().outage(Duration::from_secs(10), Duration::from_secs(20));
        let (account, request, defaults) = (
            AccountInfo::new("a"),
            ChatRequest::user("hi"),
            SamplingParams::new(),
        );
        assert!(
            sim.complete(call(&account, &request, &defaults))
                .await
                .is_ok()
        );
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!(
            sim.complete(call(&account, &request, &defaults))
                .await
                .is_err()
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(
            sim.complete(call(&account, &request, &defaults))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn mid_stream_failure_comes_after_the_promised_chunks() {
        let sim = SimProvider::new()
            .reply("a b c d")
            .script([SimStep::FailMidStream {
                after_chunks: 2,
                kind: ErrorKind::Connection,
            }]);
        let (account, request, defaults) = (
            AccountInfo::new("a"),
            ChatRequest::user("hi"),
            SamplingParams::new(),
        );
        let events: Vec<_> = sim
            .stream(call(&account, &request, &defaults))
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[0].as_ref().unwrap(),
            &ProviderEvent::TextDelta("a".into())
        );
        assert_eq!(
            events[1].as_ref().unwrap(),
            &ProviderEvent::TextDelta(" b".into())
        );
        assert_eq!(
            events[2].as_ref().unwrap_err().kind(),
            ErrorKind::Connection
        );
    }

    #[tokio::test]
    async fn a_stream_ends_with_usage() {
        let sim = SimProvider::new().reply("x y").usage(Usage::new(5, 2));
        let (account, request, defaults) = (
            AccountInfo::new("a"),
            ChatRequest::user("hi"),
            SamplingParams::new(),
        );
        let events: Vec<_> = sim
            .stream(call(&account, &request, &defaults))
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(
            events.last().unwrap().as_ref().unwrap(),
            &ProviderEvent::Finished {
                finish_reason: FinishReason::Stop,
                usage: Usage::new(5, 2)
            }
        );
    }
}
