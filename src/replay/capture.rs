//! [`Batch`]: what the request path hands the recorder, kept as plain values in buffers
//! that one routing thread owns and reuses. The writer thread turns it into
//! [`TrafficRecord`]s and serializes them.
//!
//! Recording a request copies a few numbers, its model and tag text into the batch's
//! byte buffer, and refers to target and policy names by index into a table of the
//! router's own `Arc<str>`s: a name is cloned once per batch (once per writer interval),
//! not once per request. In the steady state nothing is allocated, no reference count
//! moves between threads and nothing the request owns is freed elsewhere.

use std::sync::Arc;

use tokio::time::Instant;

use super::record::{AttemptRecord, AttemptStatus, TrafficRecord, budget_refused, micros};
use crate::error::Error;
use crate::model::Capabilities;
use crate::policy::{Purpose, StepType};
use crate::provider::ErrorKind;
use crate::router::Sizing;
use crate::types::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, Message, RouteOptions, TargetRef, Usage,
};

/// The outcome code of a stream dropped before it ended.
pub(crate) const OUTCOME_ABANDONED: &str = "cancelled";

/// How a recorded request ended.
pub(crate) enum Ending<'a> {
    /// It was answered.
    Answered(&'a ChatResponse),
    /// It failed with this error.
    Failed(&'a Error),
    /// Its caller dropped it (a stream) after these calls, under this policy.
    Abandoned {
        policy: &'a Arc<str>,
        attempts: &'a [Attempt],
    },
}

/// The parts of a request a record keeps, borrowed.
pub(crate) struct RequestView<'a> {
    pub(crate) step: &'a StepType,
    pub(crate) purpose: &'a Purpose,
    pub(crate) model: Option<&'a str>,
    pub(crate) tags: &'a [String],
    pub(crate) needs: Capabilities,
    pub(crate) input_tokens: u32,
    pub(crate) max_output_tokens: Option<u32>,
    pub(crate) options: &'a RouteOptions,
    pub(crate) messages: &'a [Message],
}

impl<'a> RequestView<'a> {
    /// A stream's request needs streaming besides what [`of`](Self::of) finds.
    pub(crate) fn streamed(mut self) -> Self {
        self.needs |= Capabilities::STREAMING;
        self
    }

    /// `sizing` is the request's, as routing found it.
    pub(crate) fn of(
        step: &'a StepType,
        purpose: &'a Purpose,
        request: &'a ChatRequest,
        sizing: Sizing,
    ) -> Self {
        Self {
            step,
            purpose,
            model: request.model.as_deref(),
            tags: &request.tags,
            needs: sizing.needs,
            input_tokens: sizing.prompt_tokens,
            max_output_tokens: request.params.max_tokens,
            options: &request.options,
            messages: &request.messages,
        }
    }
}

/// The same parts, owned: a stream keeps them until it ends, since its request moves
/// into the stream's driver.
pub(crate) struct OwnedRequest {
    step: StepType,
    purpose: Purpose,
    model: Option<String>,
    tags: Vec<String>,
    needs: Capabilities,
    input_tokens: u32,
    max_output_tokens: Option<u32>,
    options: RouteOptions,
    messages: Vec<Message>,
}

impl OwnedRequest {
    /// Copies what a record needs; the messages only when they are recorded.
    pub(crate) fn of(view: &RequestView<'_>, with_text: bool) -> Self {
        Self {
            step: view.step.clone(),
            purpose: view.purpose.clone(),
            model: view.model.map(str::to_owned),
            tags: view.tags.to_vec(),
            needs: view.needs,
            input_tokens: view.input_tokens,
            max_output_tokens: view.max_output_tokens,
            options: view.options.clone(),
            messages: if with_text {
                view.messages.to_vec()
            } else {
                Vec::new()
            },
        }
    }

    pub(crate) fn view(&self) -> RequestView<'_> {
        RequestView {
            step: &self.step,
            purpose: &self.purpose,
            model: self.model.as_deref(),
            tags: &self.tags,
            needs: self.needs,
            input_tokens: self.input_tokens,
            max_output_tokens: self.max_output_tokens,
            options: &self.options,
            messages: &self.messages,
        }
    }
}

/// Index of a name in [`Batch::names`]; `NONE` for no name.
type Name = u32;
const NONE: Name = u32::MAX;

/// A byte range of [`Batch::text`].
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

/// One request of a batch; its calls, tags and extras follow its predecessors' in the
/// batch's other buffers.
struct Head {
    arrived: Instant,
    ended: Instant,
    step: StepType,
    purpose: Purpose,
    model: Option<Span>,
    tags: u32,
    needs: Capabilities,
    input_tokens: u32,
    max_output_tokens: Option<u32>,
    policy: Name,
    outcome: &'static str,
    calls: u32,
    /// Whether an [`Extra`] of this request follows in [`Batch::extras`].
    extra: bool,
}

/// One provider call, its target by index into [`Batch::targets`].
struct Call {
    target: u32,
    outcome: AttemptStatus,
    error: Option<ErrorKind>,
    retry_after_ms: Option<u64>,
    latency_us: u64,
    usage: Option<Usage>,
    cost_usd: Option<f64>,
    mid_stream: bool,
}

/// What few requests have and must be owned: overrides, budget refusals, text.
#[derive(Default)]
struct Extra {
    options: RouteOptions,
    budget_refused: Vec<Arc<str>>,
    messages: Option<Vec<Message>>,
    answer: Option<String>,
}

/// The requests one routing thread recorded since the writer last took them.
#[derive(Default)]
pub(crate) struct Batch {
    heads: Vec<Head>,
    calls: Vec<Call>,
    tags: Vec<Span>,
    text: String,
    names: Vec<Arc<str>>,
    targets: Vec<TargetRef>,
    extras: Vec<Extra>,
}

impl Batch {
    /// An empty batch with room for `records` requests of one call each.
    pub(crate) fn with_capacity(records: usize) -> Self {
        Self {
            heads: Vec::with_capacity(records),
            calls: Vec::with_capacity(records),
            tags: Vec::with_capacity(records),
            text: String::with_capacity(records * 16),
            names: Vec::with_capacity(4),
            targets: Vec::with_capacity(4),
            ..Self::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heads.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// Adds one finished request.
    pub(crate) fn push(
        &mut self,
        (arrived, ended): (Instant, Instant),
        request: &RequestView<'_>,
        ending: &Ending<'_>,
        with_text: bool,
    ) {
        let (policy, outcome, attempts, response) = match ending {
            Ending::Answered(response) => (
                self.intern(&response.policy),
                super::OUTCOME_OK,
                &response.attempts[..],
                Some(*response),
            ),
            Ending::Failed(error) => (
                error.policy().map_or(NONE, |p| self.intern_str(p)),
                crate::router::error_code(error),
                error.attempts(),
                None,
            ),
            Ending::Abandoned { policy, attempts } => {
                (self.intern(policy), OUTCOME_ABANDONED, *attempts, None)
            }
        };
        let broken = match ending {
            Ending::Answered(response) if response.recoveries.is_empty() => 0,
            _ => super::record::broke_mid_stream(ending, attempts),
        };
        for (i, attempt) in attempts.iter().enumerate() {
            let mid_stream = broken & super::record::bit(i) != 0;
            self.push_call(attempt, response, mid_stream);
        }
        let model = request.model.map(|m| self.push_text(m));
        for tag in request.tags {
            let span = self.push_text(tag);
            self.tags.push(span);
        }
        let refused = match ending {
            Ending::Failed(error) => budget_refused(error),
            _ => Vec::new(),
        };
        let extra = !request.options.is_empty() || !refused.is_empty() || with_text;
        if extra {
            self.extras.push(Extra {
                options: request.options.clone(),
                budget_refused: refused,
                messages: with_text.then(|| request.messages.to_vec()),
                answer: response.filter(|_| with_text).map(|r| r.content.clone()),
            });
        }
        self.heads.push(Head {
            arrived,
            ended,
            step: request.step.clone(),
            purpose: request.purpose.clone(),
            model,
            tags: u32::try_from(request.tags.len()).unwrap_or(u32::MAX),
            needs: request.needs,
            input_tokens: request.input_tokens,
            max_output_tokens: request.max_output_tokens,
            policy,
            outcome,
            calls: u32::try_from(attempts.len()).unwrap_or(u32::MAX),
            extra,
        });
    }

    fn push_call(&mut self, attempt: &Attempt, response: Option<&ChatResponse>, mid_stream: bool) {
        let (outcome, error, retry_after) = match &attempt.outcome {
            AttemptOutcome::Success => (AttemptStatus::Success, None, None),
            AttemptOutcome::Failed { error } => (
                AttemptStatus::Failed,
                Some(error.kind()),
                error
                    .retry_after()
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            ),
            AttemptOutcome::Cancelled => (AttemptStatus::Cancelled, None, None),
        };
        let answered = response.filter(|_| outcome == AttemptStatus::Success);
        let call = Call {
            target: self.intern_target(&attempt.target),
            outcome,
            error,
            retry_after_ms: retry_after,
            latency_us: micros(attempt.latency),
            usage: answered.map(|r| r.usage),
            cost_usd: answered.and_then(|r| r.cost_usd),
            mid_stream,
        };
        self.calls.push(call);
    }

    /// The index of `name` in the name table, adding it (one reference count) when this
    /// batch has not seen it yet. Names are compared by address: the router hands out
    /// the same `Arc` for the same target on every request.
    fn intern(&mut self, name: &Arc<str>) -> Name {
        let found = self.names.iter().rposition(|n| Arc::ptr_eq(n, name));
        let index = found.unwrap_or_else(|| {
            self.names.push(name.clone());
            self.names.len() - 1
        });
        u32::try_from(index).unwrap_or(NONE)
    }

    /// The index of `target` in the target table, adding it (three reference counts)
    /// when this batch has not seen it yet; compared by the addresses of its names.
    fn intern_target(&mut self, target: &TargetRef) -> u32 {
        let same = |t: &TargetRef| {
            Arc::ptr_eq(&t.account, &target.account)
                && Arc::ptr_eq(&t.provider_model, &target.provider_model)
                && Arc::ptr_eq(&t.logical_model, &target.logical_model)
        };
        let found = self.targets.iter().rposition(same);
        let index = found.unwrap_or_else(|| {
            self.targets.push(target.clone());
            self.targets.len() - 1
        });
        u32::try_from(index).unwrap_or(NONE)
    }

    /// As [`intern`](Self::intern), for a name known only as text (an error's policy).
    fn intern_str(&mut self, name: &str) -> Name {
        let found = self.names.iter().rposition(|n| **n == *name);
        let index = found.unwrap_or_else(|| {
            self.names.push(Arc::from(name));
            self.names.len() - 1
        });
        u32::try_from(index).unwrap_or(NONE)
    }

    fn push_text(&mut self, text: &str) -> Span {
        let start = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.text.push_str(text);
        Span {
            start,
            len: u32::try_from(text.len()).unwrap_or(0),
        }
    }

    /// Hands every request to `each` as a [`TrafficRecord`], in the order recorded, and
    /// empties the batch keeping its buffers. `epoch` is an instant of the router's clock
    /// and the wall time (Unix milliseconds) it stood for.
    pub(crate) fn drain(
        &mut self,
        (epoch, epoch_unix_ms): (Instant, u64),
        mut each: impl FnMut(TrafficRecord),
    ) {
        let mut calls = self.calls.drain(..);
        let mut tags = self.tags.drain(..);
        let mut extras = self.extras.drain(..);
        let names = &self.names;
        let targets = &self.targets;
        let text = &self.text;
        let name = |index: Name| names.get(index as usize).cloned();
        let slice = |span: Span| {
            let start = span.start as usize;
            text.get(start..start + span.len as usize)
                .unwrap_or_default()
                .to_owned()
        };
        for head in self.heads.drain(..) {
            let attempts = calls
                .by_ref()
                .take(head.calls as usize)
                .filter_map(|call| {
                    let target = targets.get(call.target as usize)?;
                    Some(AttemptRecord {
                        model: target.logical_model.clone(),
                        account: target.account.clone(),
                        provider_model: target.provider_model.clone(),
                        outcome: call.outcome,
                        error: call.error,
                        retry_after_ms: call.retry_after_ms,
                        latency_us: call.latency_us,
                        usage: call.usage,
                        cost_usd: call.cost_usd,
                        mid_stream: call.mid_stream,
                    })
                })
                .collect();
            let tags = tags.by_ref().take(head.tags as usize).map(slice).collect();
            let extra = if head.extra {
                extras.next().unwrap_or_default()
            } else {
                Extra::default()
            };
            each(TrafficRecord {
                unix_ms: epoch_unix_ms
                    + u64::try_from(head.arrived.saturating_duration_since(epoch).as_millis())
                        .unwrap_or(u64::MAX),
                step: head.step,
                purpose: head.purpose,
                model: head.model.map(slice),
                tags,
                needs: head.needs,
                input_tokens: head.input_tokens,
                max_output_tokens: head.max_output_tokens,
                options: extra.options,
                policy: name(head.policy),
                outcome: head.outcome.into(),
                latency_us: micros(head.ended.saturating_duration_since(head.arrived)),
                attempts,
                budget_refused: extra.budget_refused,
                messages: extra.messages,
                answer: extra.answer,
            });
        }
        drop((calls, tags, extras));
        self.text.clear();
        self.names.clear();
        self.targets.clear();
    }
}
