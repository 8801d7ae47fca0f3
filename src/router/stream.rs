//! The attempt loop of a streaming request: fall back freely until the first content
//! event reaches the caller, and end with an error event after that.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use super::balance::InFlight;
use super::execution::{Admission, Answer, CallTime, Execution};
use super::plan::Candidate;
use super::recovery::{self, Overlap, Recovering};
use super::snapshot::Snapshot;
use super::telemetry;
use crate::budget::Usd;
use crate::error::Error;
use crate::policy::{Purpose, StepType, StreamRecovery};
use crate::provider::{ErrorKind, ProviderError, ProviderEvent, ProviderStream};
use crate::replay::{Ending, OwnedRequest, Recorder};
use crate::types::{
    Attempt, AttemptOutcome, ChatRequest, FinishReason, StreamEvent, TargetRef, ToolCall,
    ToolCallDelta, Usage,
};

/// The events of a routed stream, from [`Router::stream`](crate::Router::stream).
///
/// Yields text and tool-call deltas, then one [`StreamEvent::Done`] with the assembled
/// response. If the serving target breaks after content was sent, the last item is an
/// [`Error::StreamInterrupted`], unless the policy recovers streams
/// ([`Policy::stream_recovery`](crate::Policy::stream_recovery)) and another candidate
/// continues the answer. Dropping the stream cancels the provider call.
pub struct ChatStream {
    state: State,
    /// Where the stream opened: the policy, the target and the calls made to get there.
    opened: OpenedOn,
    /// The request's span: later events are polled in the caller's context.
    span: tracing::Span,
    /// Where the stream is recorded when it ends, if anywhere.
    recording: Option<Box<Recording>>,
}

/// A stream's record in the making: kept from its start until it ends, is dropped, or
/// fails to open.
pub(crate) struct Recording {
    recorder: Recorder,
    received: Instant,
    request: OwnedRequest,
}

impl Recording {
    pub(crate) fn new(recorder: Recorder, received: Instant, request: OwnedRequest) -> Box<Self> {
        Box::new(Self {
            recorder,
            received,
            request,
        })
    }

    fn record(self: Box<Self>, ending: &Ending<'_>) {
        self.recorder
            .record(self.received, Instant::now(), &self.request.view(), ending);
    }
}

/// The driver's way through a failure: it comes back with the error that ends the stream, if
/// any.
type Failing = Pin<Box<dyn Future<Output = (Box<Driver>, Option<Error>)> + Send>>;

enum State {
    /// Reading the active attempt's events, in place.
    Reading(Box<Driver>),
    /// Settling a broken attempt and opening the next (the rare path, so the driver moves
    /// into a boxed future).
    Failing(Failing),
    /// The stream has ended (the driver, and with it the execution, is dropped).
    Ended,
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = ready!(self.poll_events(cx));
        let ending = match &item {
            Some(Ok(StreamEvent::Done(response))) => Some(Ending::Answered(response)),
            Some(Err(error)) => Some(Ending::Failed(error)),
            _ => None,
        };
        if let Some(ending) = ending
            && let Some(recording) = self.recording.take()
        {
            recording.record(&ending);
        }
        Poll::Ready(item)
    }
}

impl Drop for ChatStream {
    /// Records a stream dropped before it ended, with the calls made so far (those of a
    /// failure being settled when it was dropped are not known here).
    fn drop(&mut self) {
        let Some(recording) = self.recording.take() else {
            return;
        };
        let attempts = self.calls_so_far();
        recording.record(&Ending::Abandoned {
            policy: &self.opened.policy,
            attempts: &attempts,
        });
    }
}

impl ChatStream {
    /// The calls made so far, the one being read as cancelled: what dropping the stream
    /// now leaves behind (those of a failure being settled are not known here).
    pub(crate) fn calls_so_far(&self) -> Vec<Attempt> {
        match &self.state {
            State::Reading(driver) => driver.abandoned(),
            State::Failing(_) | State::Ended => Vec::new(),
        }
    }

    fn poll_events(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<StreamEvent, Error>>> {
        let this = self;
        loop {
            // Taken out and put back: the driver moves into a future on a failure.
            match std::mem::replace(&mut this.state, State::Ended) {
                State::Reading(mut driver) => {
                    let read = {
                        let _entered = this.span.enter();
                        driver.poll_read(cx)
                    };
                    match read {
                        Poll::Pending => {
                            this.state = State::Reading(driver);
                            return Poll::Pending;
                        }
                        Poll::Ready(Read::Event(Some(event))) => {
                            this.state = State::Reading(driver);
                            return Poll::Ready(Some(event));
                        }
                        Poll::Ready(Read::Event(None)) => return Poll::Ready(None),
                        Poll::Ready(Read::Failed(failure)) => {
                            let failing = async move {
                                let error = driver.after_failure(failure).await;
                                (driver, error)
                            };
                            this.state =
                                State::Failing(Box::pin(failing.instrument(this.span.clone())));
                        }
                    }
                }
                State::Failing(mut failing) => match failing.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = State::Failing(failing);
                        return Poll::Pending;
                    }
                    Poll::Ready((mut driver, Some(error))) => {
                        driver.done = true;
                        this.state = State::Reading(driver);
                        return Poll::Ready(Some(Err(error)));
                    }
                    Poll::Ready((driver, None)) => this.state = State::Reading(driver),
                },
                State::Ended => return Poll::Ready(None),
            }
        }
    }
}

/// Where a [`ChatStream`] opened, kept for [`ChatStream::policy`] and friends.
struct OpenedOn {
    policy: Arc<str>,
    target: TargetRef,
    calls: usize,
}

impl ChatStream {
    /// The policy that matched the request.
    pub fn policy(&self) -> &str {
        &self.opened.policy
    }

    /// The target the stream opened on: the one serving when
    /// [`Router::stream`](crate::Router::stream) returned. A failure before the first content event still
    /// falls back, so the target that finishes the answer is the
    /// [`served_by`](crate::ChatResponse::served_by) of the final
    /// [`StreamEvent::Done`].
    ///
    /// ```
    /// use routewise::{Capabilities, ChatRequest, LogicalModel, Policy, ProviderAccount, Router, Target};
    /// use routewise::sim::SimProvider;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let router = Router::builder()
    ///     .account(ProviderAccount::new("down", SimProvider::new().always_fail()))
    ///     .account(ProviderAccount::new("up", SimProvider::new()))
    ///     .model(
    ///         LogicalModel::new("m")
    ///             .capabilities(Capabilities::STREAMING)
    ///             .target(Target::new("down", "x"))
    ///             .target(Target::new("up", "x")),
    ///     )
    ///     .policy(Policy::new("default").route(["m"]))
    ///     .build()?;
    /// let stream = router.stream_default(ChatRequest::user("hi")).await?;
    /// assert_eq!(stream.policy(), "default");
    /// assert_eq!(&*stream.target().account, "up");
    /// assert_eq!(stream.calls(), 2); // the failed open on `down`, then `up`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn target(&self) -> &TargetRef {
        &self.opened.target
    }

    /// The provider calls made to open the stream, the one that opened it included.
    pub fn calls(&self) -> usize {
        self.opened.calls
    }
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream").finish_non_exhaustive()
    }
}

/// Opens a routed stream of `request`, which arrived at `received`; `recording` records it
/// when it ends (or here, when it cannot be opened).
pub(crate) async fn stream(
    snapshot: Arc<Snapshot>,
    received: Instant,
    step: &StepType,
    purpose: &Purpose,
    request: ChatRequest,
    recording: Option<Box<Recording>>,
) -> Result<ChatStream, Error> {
    let opened = open_stream(snapshot, received, step, purpose, request).await;
    match opened {
        Ok((state, opened)) => Ok(ChatStream {
            state,
            opened,
            span: tracing::Span::current(),
            recording,
        }),
        Err(error) => {
            if let Some(recording) = recording {
                recording.record(&Ending::Failed(&error));
            }
            Err(error)
        }
    }
}

async fn open_stream(
    snapshot: Arc<Snapshot>,
    received: Instant,
    step: &StepType,
    purpose: &Purpose,
    request: ChatRequest,
) -> Result<(State, OpenedOn), Error> {
    // Boxed, as the driver below: inlined, planning's state and the driver would be laid
    // out in every stream's opening future (and copied wherever it moves, a spawned task
    // included), though each is needed once.
    let execution = Box::pin(Execution::start(
        snapshot, received, step, purpose, &request, true,
    ))
    .await?;
    let mut driver = Box::new(Driver {
        execution,
        request,
        active: None,
        text: String::new(),
        tool_calls: Vec::new(),
        sent_content: false,
        done: false,
        queued: None,
        recovery: Recovering::default(),
    });
    let candidate = Box::pin(driver.connect()).await?;
    let opened = OpenedOn {
        policy: driver.execution.policy_name().clone(),
        target: Execution::resolve(driver.execution.snapshot(), candidate)
            .target
            .target
            .clone(),
        calls: driver.execution.calls(),
    };
    Ok((State::Reading(driver), opened))
}

/// What reading the active attempt gave.
enum Read {
    /// An item for the caller (`None`: the stream is over).
    Event(Option<Result<StreamEvent, Error>>),
    /// The attempt failed; what follows is decided by [`Driver::after_failure`].
    Failed(ProviderError),
}

struct Driver {
    /// Declared before `execution`, so a dropped stream releases its call (reservations,
    /// in-flight count) before the execution's outcome guard counts the request cancelled.
    active: Option<Active>,
    execution: Execution,
    request: ChatRequest,
    /// Every piece of text sent to the caller.
    text: String,
    tool_calls: Vec<(u32, ToolCall)>,
    sent_content: bool,
    done: bool,
    /// An event to yield before reading on (the end, after text held back until then).
    queued: Option<Result<StreamEvent, Error>>,
    recovery: Recovering,
}

struct Active {
    candidate: Candidate,
    events: ProviderStream,
    started: Instant,
    admission: Admission,
    span: tracing::Span,
    _in_flight: InFlight,
    /// The continuation request sent, when this attempt continues a broken stream.
    continuation: Option<Box<ChatRequest>>,
    /// Bytes of text the attempt produced, repeats included (for its usage estimate).
    output_bytes: usize,
}

/// The attempt a stream was opened (or failed to open) in.
struct Opened {
    in_flight: InFlight,
    span: tracing::Span,
    started: Instant,
}

impl Driver {
    /// Opens a stream on the next candidate that accepts, falling back as the policy allows
    /// (no retries on the same target: a stream is retried by falling back); returns the
    /// candidate that opened.
    async fn connect(&mut self) -> Result<Candidate, Error> {
        while let Some(candidate) = self.execution.next_candidate(&self.request) {
            let Some(mut admission) = self.execution.admit_next(candidate).await else {
                continue;
            };
            admission.mark_sent();
            let (result, opened) = Self::open(&self.execution, candidate, &self.request).await;
            match result {
                Ok(events) => {
                    self.activate(candidate, admission, events, opened, None);
                    return Ok(candidate);
                }
                Err(error) => {
                    let latency = self.failed_to_open(candidate, admission, &opened, &error);
                    self.execution.fail_attempt(candidate, error, latency)?;
                }
            }
        }
        Err(self.execution.exhausted())
    }

    /// Records a stream that could not be opened on its span, its breaker, its account's
    /// health and limits; returns how long the attempt took.
    fn failed_to_open(
        &self,
        candidate: Candidate,
        admission: Admission,
        opened: &Opened,
        error: &ProviderError,
    ) -> Duration {
        telemetry::record_failure(&opened.span, error.kind());
        let time = CallTime::since(opened.started);
        self.execution
            .observe_failure(candidate, admission, error, time);
        time.latency
    }

    /// Calls `candidate`'s provider for a stream of `request`, within the deadline.
    async fn open(
        execution: &Execution,
        candidate: Candidate,
        request: &ChatRequest,
    ) -> (Result<ProviderStream, ProviderError>, Opened) {
        let started = Instant::now();
        let resolved = Execution::resolve(execution.snapshot(), candidate);
        let in_flight = resolved.target.load.begin();
        let adapted = execution.adaptation(candidate);
        let span = telemetry::attempt_span(&resolved, request, adapted.as_deref());
        telemetry::adapted(&span, &resolved, adapted.as_deref());
        let call = resolved
            .account
            .provider
            .stream(
                resolved
                    .request(request)
                    .with_adaptation(adapted.as_deref()),
            )
            .instrument(span.clone());
        let result = execution
            .deadline()
            .run_from(started, call)
            .await
            .unwrap_or_else(|timed_out| Err(timed_out.into()));
        let opened = Opened {
            in_flight,
            span,
            started,
        };
        (result, opened)
    }

    fn activate(
        &mut self,
        candidate: Candidate,
        admission: Admission,
        events: ProviderStream,
        opened: Opened,
        continuation: Option<Box<ChatRequest>>,
    ) {
        self.active = Some(Active {
            candidate,
            events,
            started: opened.started,
            admission,
            span: opened.span,
            _in_flight: opened.in_flight,
            continuation,
            output_bytes: 0,
        });
    }

    /// Reads on from the active attempt until an event is due for the caller, the stream
    /// ends (`None`), or the attempt fails.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Read> {
        if let Some(event) = self.queued.take() {
            return Poll::Ready(Read::Event(Some(event)));
        }
        if self.done {
            return Poll::Ready(Read::Event(None));
        }
        loop {
            let Some(active) = self.active.as_mut() else {
                return Poll::Ready(Read::Event(None));
            };
            let failure = match ready!(active.events.poll_next_unpin(cx)) {
                Some(Ok(ProviderEvent::TextDelta(text))) => {
                    active.output_bytes += text.len();
                    match self.release(text) {
                        Some(text) => {
                            return Poll::Ready(Read::Event(Some(Ok(self.send_text(text)))));
                        }
                        None => continue,
                    }
                }
                Some(Ok(ProviderEvent::ResponseInfo {
                    response_id,
                    response_model,
                })) => {
                    telemetry::record_response(
                        &active.span,
                        response_id.as_deref(),
                        response_model.as_deref(),
                    );
                    continue;
                }
                Some(Ok(ProviderEvent::ToolCallDelta(delta))) => {
                    let held = self.flush_overlap();
                    self.first_content();
                    merge_tool_call(&mut self.tool_calls, &delta);
                    let event = StreamEvent::ToolCallDelta(delta);
                    return Poll::Ready(Read::Event(Some(self.after_held(held, Ok(event)))));
                }
                Some(Ok(ProviderEvent::Finished {
                    finish_reason,
                    usage,
                })) => return Poll::Ready(Read::Event(self.finish(finish_reason, usage))),
                Some(Err(error)) => error,
                None => ProviderError::new(
                    ErrorKind::MalformedResponse,
                    "stream ended without a finish event",
                ),
            };
            return Poll::Ready(Read::Failed(failure));
        }
    }

    /// Settles the active attempt, which failed with `failure`, and goes on as the policy
    /// allows: recovering the stream, or falling back before content was sent. Returns
    /// the error that ends the stream, or `None` when another attempt is active.
    async fn after_failure(&mut self, failure: ProviderError) -> Option<Error> {
        let active = self.active.take()?;
        let time = CallTime::since(active.started);
        let latency = time.latency;
        telemetry::record_failure(&active.span, failure.kind());
        if self.sent_content && self.recoverable(&failure) {
            return self.recover(active, failure, time).await.err();
        }
        self.execution
            .observe_failure(active.candidate, active.admission, &failure, time);
        if self.sent_content {
            return Some(
                self.execution
                    .interrupted(active.candidate, failure, latency),
            );
        }
        let next = match self
            .execution
            .fail_attempt(active.candidate, failure, latency)
        {
            Ok(()) => self.connect().await.map(|_| ()),
            Err(error) => Err(error),
        };
        next.err()
    }

    /// Settles the successful attempt and yields the end (after any text held back).
    fn finish(
        &mut self,
        finish_reason: FinishReason,
        usage: Usage,
    ) -> Option<Result<StreamEvent, Error>> {
        let held = self.flush_overlap();
        if let Some(text) = &held {
            self.recovery.resumed();
            self.text.push_str(text);
        }
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
        let time = CallTime::since(active.started);
        let mut response = self
            .execution
            .succeed(active.candidate, active.admission, answer, time);
        self.recovery.complete(&mut response);
        let done = Ok(StreamEvent::Done(Box::new(response)));
        Some(match held {
            Some(text) => {
                self.queued = Some(done);
                Ok(StreamEvent::TextDelta { text })
            }
            None => done,
        })
    }
}

impl Driver {
    /// The calls of a stream dropped before it ended: those settled, and the active one
    /// as cancelled.
    fn abandoned(&self) -> Vec<Attempt> {
        let mut attempts = self.execution.attempts().to_vec();
        if let Some(active) = &self.active {
            let resolved = Execution::resolve(self.execution.snapshot(), active.candidate);
            attempts.push(Attempt {
                target: resolved.target.target.clone(),
                outcome: AttemptOutcome::Cancelled,
                latency: active.started.elapsed(),
                adaptations: Vec::new(),
            });
        }
        attempts
    }
}

/// Stream recovery: the steps that continue a broken stream on the next candidate.
impl Driver {
    /// Whether a stream that broke with `failure` after content was sent is continued
    /// elsewhere (see [`Policy::stream_recovery`](crate::Policy::stream_recovery)).
    fn recoverable(&self, failure: &ProviderError) -> bool {
        self.execution.stream_recovery() == StreamRecovery::Continue
            && self.execution.allows_fallback()
            && self.execution.falls_back_on(failure)
            && self.tool_calls.is_empty()
            && self.request.response_format.is_none()
    }

    /// Settles the broken attempt, which ended at `time` (charged with its estimated usage
    /// when it produced text), and opens a continuation on the next candidate that accepts.
    async fn recover(
        &mut self,
        active: Active,
        failure: ProviderError,
        time: CallTime,
    ) -> Result<(), Error> {
        let latency = time.latency;
        let candidate = active.candidate;
        let (usage, cost) = if active.output_bytes > 0 {
            let sent = active.continuation.as_deref().unwrap_or(&self.request);
            let usage = self
                .execution
                .estimated_usage(candidate, sent, active.output_bytes);
            let cost = self.execution.observe_broken_stream(
                candidate,
                active.admission,
                &failure,
                time,
                &usage,
            );
            (usage, cost)
        } else {
            self.execution
                .observe_failure(candidate, active.admission, &failure, time);
            (Usage::default(), Some(Usd::ZERO))
        };
        let target = self.execution.record_failure(candidate, &failure, latency);
        tracing::info!(
            routewise.target = %target,
            error.type = %failure.kind(),
            bytes_sent = self.text.len(),
            "stream broke after content was sent; continuing on the next candidate"
        );
        self.recovery.overlap = None;
        self.recovery
            .broke(target, failure, &self.text, usage, cost);
        self.reconnect().await
    }

    /// Opens a continuation of the text sent so far on the next candidate that accepts;
    /// if none does, the stream ends as interrupted by its latest break.
    async fn reconnect(&mut self) -> Result<(), Error> {
        while let Some(candidate) = self.execution.next_candidate(&self.request) {
            let Some(mut admission) = self.execution.admit_next(candidate).await else {
                continue;
            };
            admission.mark_sent();
            let resolved = Execution::resolve(self.execution.snapshot(), candidate);
            let prefill = resolved.account.provider.supports_assistant_prefill();
            let request = recovery::continuation(&self.request, &self.text, prefill);
            let (result, opened) = Self::open(&self.execution, candidate, &request).await;
            match result {
                Ok(events) => {
                    self.recovery.resumed_on = Some(self.execution.target_ref(candidate));
                    self.recovery.overlap = Some(Overlap::default());
                    let continuation = Some(Box::new(request));
                    self.activate(candidate, admission, events, opened, continuation);
                    return Ok(());
                }
                Err(error) => {
                    let latency = self.failed_to_open(candidate, admission, &opened, &error);
                    self.execution.record_failure(candidate, &error, latency);
                    if !self.execution.falls_back_on(&error) {
                        break;
                    }
                }
            }
        }
        let (target, error) = self
            .recovery
            .broke
            .take()
            .expect("a recovery starts from a break");
        Err(self.execution.stream_interrupted(target, error))
    }

    /// Passes text on, unless a continuation's start is held back to drop a repeat.
    fn release(&mut self, text: String) -> Option<String> {
        let text = match &mut self.recovery.overlap {
            None => text,
            Some(overlap) => {
                let released = overlap.push(&self.text, &text)?;
                self.recovery.overlap = None;
                self.recovery.dropped(released.dropped);
                released.text
            }
        };
        (!text.is_empty()).then_some(text)
    }

    /// Decides a held-back continuation start now; its text, if any is left to send.
    fn flush_overlap(&mut self) -> Option<String> {
        let released = self.recovery.overlap.take()?.finish(&self.text);
        self.recovery.dropped(released.dropped);
        (!released.text.is_empty()).then_some(released.text)
    }

    /// Sends text to the caller.
    fn send_text(&mut self, text: String) -> StreamEvent {
        self.recovery.resumed();
        self.first_content();
        self.text.push_str(&text);
        StreamEvent::TextDelta { text }
    }

    /// `event`, after the text `held` back, if any (then `event` is queued).
    fn after_held(
        &mut self,
        held: Option<String>,
        event: Result<StreamEvent, Error>,
    ) -> Result<StreamEvent, Error> {
        match held {
            Some(text) => {
                self.queued = Some(event);
                Ok(self.send_text(text))
            }
            None => event,
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
            let policy = &self.execution.policy().telemetry;
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
