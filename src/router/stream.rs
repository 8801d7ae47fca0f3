//! The attempt loop of a streaming request: fall back freely until the first content
//! event reaches the caller, and end with an error event after that.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use super::balance::InFlight;
use super::execution::{Admission, Answer, Execution};
use super::plan::Candidate;
use super::snapshot::Snapshot;
use super::telemetry;
use crate::error::Error;
use crate::policy::{Purpose, StepType};
use crate::provider::{ErrorKind, ProviderError, ProviderEvent, ProviderStream};
use crate::types::{ChatRequest, StreamEvent, ToolCall, ToolCallDelta};

/// The events of a routed stream, from [`Router::stream`](crate::Router::stream).
///
/// Yields text and tool-call deltas, then one [`StreamEvent::Done`] with the assembled
/// response. If the serving target breaks after content was sent, the last item is an
/// [`Error::StreamInterrupted`]. Dropping the stream cancels the provider call.
pub struct ChatStream {
    inner: Pin<Box<dyn Stream<Item = Result<StreamEvent, Error>> + Send>>,
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream").finish_non_exhaustive()
    }
}

pub(crate) async fn stream(
    snapshot: Arc<Snapshot>,
    step: &StepType,
    purpose: &Purpose,
    request: ChatRequest,
) -> Result<ChatStream, Error> {
    let execution = Execution::start(snapshot, step, purpose, &request, true).await?;
    let mut driver = Driver {
        execution,
        request,
        active: None,
        text: String::new(),
        tool_calls: Vec::new(),
        sent_content: false,
        done: false,
    };
    driver.connect().await?;
    // Later events are polled in the caller's context: keep them in the request's span.
    let span = tracing::Span::current();
    let events = futures::stream::unfold(driver, move |mut driver| {
        async move {
            let event = driver.next_event().await?;
            Some((event, driver))
        }
        .instrument(span.clone())
    });
    Ok(ChatStream {
        // Fused: polling again after the end keeps answering `None`.
        inner: Box::pin(events.fuse()),
    })
}

struct Driver {
    execution: Execution,
    request: ChatRequest,
    active: Option<Active>,
    text: String,
    tool_calls: Vec<(u32, ToolCall)>,
    sent_content: bool,
    done: bool,
}

struct Active {
    candidate: Candidate,
    events: ProviderStream,
    started: Instant,
    admission: Admission,
    span: tracing::Span,
    _in_flight: InFlight,
}

impl Driver {
    /// Opens a stream on the next candidate that accepts, falling back as the policy allows
    /// (no retries on the same target: a stream is retried by falling back).
    async fn connect(&mut self) -> Result<(), Error> {
        while let Some(candidate) = self.execution.next_candidate() {
            let Some(admission) = self.execution.admit(candidate).await else {
                continue;
            };
            let started = Instant::now();
            let (result, in_flight, span) = {
                let resolved = Execution::resolve(self.execution.snapshot(), candidate);
                let in_flight = resolved.target.load.begin();
                let span = telemetry::attempt_span(&resolved, &self.request);
                let call = resolved
                    .account
                    .provider
                    .stream(resolved.request(&self.request))
                    .instrument(span.clone());
                let result = self
                    .execution
                    .deadline()
                    .run(call)
                    .await
                    .unwrap_or_else(|timed_out| Err(timed_out.into()));
                (result, in_flight, span)
            };
            match result {
                Ok(events) => {
                    self.active = Some(Active {
                        candidate,
                        events,
                        started,
                        admission,
                        span,
                        _in_flight: in_flight,
                    });
                    return Ok(());
                }
                Err(error) => {
                    telemetry::record_failure(&span, error.kind());
                    let latency = started.elapsed();
                    self.execution
                        .observe_failure(candidate, admission, &error, latency);
                    self.execution.fail_attempt(candidate, error, latency)?;
                }
            }
        }
        Err(self.execution.exhausted())
    }

    async fn next_event(&mut self) -> Option<Result<StreamEvent, Error>> {
        if self.done {
            return None;
        }
        loop {
            let active = self.active.as_mut()?;
            let failure = match active.events.next().await {
                Some(Ok(ProviderEvent::TextDelta(text))) => {
                    if text.is_empty() {
                        continue;
                    }
                    self.first_content();
                    self.text.push_str(&text);
                    return Some(Ok(StreamEvent::TextDelta { text }));
                }
                Some(Ok(ProviderEvent::ToolCallDelta(delta))) => {
                    self.first_content();
                    merge_tool_call(&mut self.tool_calls, &delta);
                    return Some(Ok(StreamEvent::ToolCallDelta(delta)));
                }
                Some(Ok(ProviderEvent::Finished {
                    finish_reason,
                    usage,
                })) => {
                    self.done = true;
                    let active = self.active.take()?;
                    telemetry::record_answer(&active.span, &usage, &finish_reason);
                    let answer = Answer {
                        content: std::mem::take(&mut self.text),
                        tool_calls: std::mem::take(&mut self.tool_calls)
                            .into_iter()
                            .map(|(_, call)| call)
                            .collect(),
                        finish_reason,
                        usage,
                    };
                    let latency = active.started.elapsed();
                    let response =
                        self.execution
                            .succeed(active.candidate, active.admission, answer, latency);
                    return Some(Ok(StreamEvent::Done(Box::new(response))));
                }
                Some(Err(error)) => error,
                None => ProviderError::new(
                    ErrorKind::MalformedResponse,
                    "stream ended without a finish event",
                ),
            };
            let active = self.active.take()?;
            let latency = active.started.elapsed();
            telemetry::record_failure(&active.span, failure.kind());
            self.execution
                .observe_failure(active.candidate, active.admission, &failure, latency);
            if self.sent_content {
                self.done = true;
                return Some(Err(self.execution.interrupted(
                    active.candidate,
                    failure,
                    latency,
                )));
            }
            let next = match self
                .execution
                .fail_attempt(active.candidate, failure, latency)
            {
                Ok(()) => self.connect().await,
                Err(error) => Err(error),
            };
            if let Err(error) = next {
                self.done = true;
                return Some(Err(error));
            }
        }
    }
}

impl Driver {
    /// Marks content as sent; the first time, reports the time to the first chunk.
    fn first_content(&mut self) {
        if self.sent_content {
            return;
        }
        self.sent_content = true;
        if let Some(active) = &self.active {
            let resolved = Execution::resolve(self.execution.snapshot(), active.candidate);
            let policy = self.execution.policy_name();
            telemetry::first_chunk(policy, &resolved, active.started.elapsed());
        }
    }
}

/// Folds a tool-call fragment into the calls assembled so far. Calls are found by their
/// stream index (not used as a position, so a hostile index cannot force a huge allocation).
fn merge_tool_call(calls: &mut Vec<(u32, ToolCall)>, delta: &ToolCallDelta) {
    let position = match calls.iter().position(|(index, _)| *index == delta.index) {
        Some(position) => position,
        None => {
            calls.push((
                delta.index,
                ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                },
            ));
            calls.len() - 1
        }
    };
    let call = &mut calls[position].1;
    if let Some(id) = &delta.id {
        call.id.clone_from(id);
    }
    if let Some(name) = &delta.name {
        call.name.clone_from(name);
    }
    call.arguments.push_str(&delta.arguments);
}
