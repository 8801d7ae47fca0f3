//! [`Batch`]: what the request path hands the recorder, kept as raw values in buffers
//! reserved up front and reused. The writer thread turns them into [`TrafficRecord`]s.
//!
//! A request's record is one fixed-size, plain-data [`Entry`], written field by field
//! into a slot of a table filled once when the batch is first used: its first call
//! inline (most requests make one), raw clock readings and durations (the writer
//! subtracts and converts), step type and purpose as codes, and target, policy and
//! custom names as indices into a table of the router's own `Arc<str>`s, cloned once per
//! batch (once per writer interval), not once per request. Only the model and tag text
//! is copied, into one byte buffer. In the steady state nothing is allocated, no
//! reference count moves between threads and nothing the request owns is freed
//! elsewhere.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::capture::{Ending, OUTCOME_ABANDONED, RequestView};
use super::record::{
    AttemptRecord, AttemptStatus, TrafficRecord, bit, broke_mid_stream, budget_refused, micros,
};
use crate::error::Error;
use crate::model::Capabilities;
use crate::policy::{Purpose, StepType};
use crate::provider::ErrorKind;
use crate::router::Sizing;
use crate::types::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, Message, RouteOptions, TargetRef, Usage,
};

/// Index of a name in [`Batch::names`] or a target in [`Batch::targets`]; `NONE` for
/// none.
type Index = u32;
const NONE: Index = u32::MAX;

/// One provider call, as the attempt left it.
#[derive(Clone, Copy)]
struct Call {
    latency: Duration,
    retry_after: Option<Duration>,
    target: Index,
    status: AttemptStatus,
    error: Option<ErrorKind>,
}

/// The first call of a request that made none.
const NO_CALL: Call = Call {
    latency: Duration::ZERO,
    retry_after: None,
    target: NONE,
    status: AttemptStatus::Cancelled,
    error: None,
};

/// One request. Its further calls, tag lengths, text and extra follow its predecessors'
/// in the batch's other buffers.
#[derive(Clone, Copy)]
struct Entry {
    arrived: Instant,
    ended: Instant,
    /// The first call, when `calls > 0`.
    first: Call,
    /// The answer's usage and cost, when `outcome` is [`OUTCOME_OK`](super::OUTCOME_OK):
    /// every call that succeeded gets them.
    usage: Usage,
    cost_usd: Option<f64>,
    outcome: &'static str,
    /// Which calls broke after their stream sent content (a bit per call).
    broken: u64,
    max_output_tokens: Option<u32>,
    input_tokens: u32,
    step: Code,
    purpose: Code,
    policy: Index,
    /// Bytes of model text in [`Batch::text`], `NONE` for no model.
    model_len: u32,
    tags: u32,
    calls: u32,
    needs: Capabilities,
    /// Whether an [`Extra`] of this request follows in [`Batch::extras`].
    extra: bool,
}

impl Entry {
    /// What a slot holds before its first request.
    fn blank(now: Instant) -> Self {
        Self {
            arrived: now,
            ended: now,
            first: NO_CALL,
            usage: Usage::default(),
            cost_usd: None,
            outcome: super::OUTCOME_OK,
            broken: 0,
            max_output_tokens: None,
            input_tokens: 0,
            step: 0,
            purpose: 0,
            policy: NONE,
            model_len: NONE,
            tags: 0,
            calls: 0,
            needs: Capabilities::NONE,
            extra: false,
        }
    }
}

/// What `complete` knows of a request: its step type, purpose, itself and its sizing.
pub(crate) type Parts<'a> = (&'a StepType, &'a Purpose, &'a ChatRequest, Sizing);

/// A step type or purpose: a built-in variant's number, or [`CUSTOM`] plus the index of
/// its name.
type Code = u32;
const CUSTOM: Code = 8;

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
    /// Every slot, the first `len` of them holding requests; empty until first used.
    entries: Vec<Entry>,
    len: usize,
    /// Every call but each request's first, in order.
    calls: Vec<Call>,
    tag_lens: Vec<u32>,
    /// Each request's model text, then its tags'.
    text: String,
    names: Vec<Arc<str>>,
    targets: Vec<TargetRef>,
    /// The names and target last looked up: consecutive requests mostly share them.
    last_name: Index,
    last_target: Index,
    extras: Vec<Extra>,
}

impl Batch {
    /// An empty batch with room for `records` requests.
    pub(crate) fn with_capacity(records: usize) -> Self {
        let mut batch = Self::default();
        batch.reserve(records);
        batch
    }

    /// Fills the table of `records` slots, and makes room for as many calls beyond each
    /// request's first and tags, so that recording them grows no buffer.
    #[cold]
    pub(crate) fn reserve(&mut self, records: usize) {
        self.entries = vec![Entry::blank(Instant::now()); records];
        self.calls.reserve(records);
        self.tag_lens.reserve(records);
        self.text.reserve(records * 16);
        self.names.reserve(4);
        self.targets.reserve(4);
    }

    /// Whether [`reserve`](Self::reserve) is still to be called.
    pub(crate) fn unreserved(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds one finished request, or returns `false` when every slot is taken.
    pub(crate) fn push(
        &mut self,
        times: (Instant, Instant),
        request: &RequestView<'_>,
        ending: &Ending<'_>,
        with_text: bool,
    ) -> bool {
        if self.len == self.entries.len() {
            return false;
        }
        match ending {
            // Most requests: answered by their one call, nothing extra to keep.
            Ending::Answered(response)
                if response.attempts.len() == 1
                    && response.recoveries.is_empty()
                    && !with_text
                    && request.options.is_empty() =>
            {
                self.push_answered(times, request, response, &response.attempts[0]);
            }
            _ => self.push_any(times, request, ending, with_text),
        }
        true
    }

    /// [`push`](Self::push) for the result of `complete`, from the request itself: a
    /// view of it is built only off the common path.
    #[inline(always)]
    pub(crate) fn push_result(
        &mut self,
        times: (Instant, Instant),
        (step, purpose, request, sizing): Parts<'_>,
        result: &Result<ChatResponse, Error>,
        with_text: bool,
    ) -> bool {
        if self.len == self.entries.len() {
            return false;
        }
        match result {
            Ok(response)
                if response.attempts.len() == 1
                    && response.recoveries.is_empty()
                    && !with_text
                    && request.options.is_empty() =>
            {
                let view = RequestView::of(step, purpose, request, sizing);
                self.push_answered(times, &view, response, &response.attempts[0]);
            }
            _ => self.push_other_result(times, (step, purpose, request, sizing), result, with_text),
        }
        true
    }

    /// [`push_result`](Self::push_result) off its common path: failures, fallbacks,
    /// hedges, recoveries, overrides, kept text.
    #[inline(never)]
    fn push_other_result(
        &mut self,
        times: (Instant, Instant),
        (step, purpose, request, sizing): Parts<'_>,
        result: &Result<ChatResponse, Error>,
        with_text: bool,
    ) {
        let view = RequestView::of(step, purpose, request, sizing);
        let ending = match result {
            Ok(response) => Ending::Answered(response),
            Err(error) => Ending::Failed(error),
        };
        self.push_any(times, &view, &ending, with_text);
    }

    /// [`push`](Self::push) for a request answered by its only call.
    #[inline(always)]
    fn push_answered(
        &mut self,
        times: (Instant, Instant),
        request: &RequestView<'_>,
        response: &ChatResponse,
        attempt: &Attempt,
    ) {
        let policy = self.intern(&response.policy);
        let first = self.call(attempt);
        let entry = self.push_request(times, request);
        entry.first = first;
        entry.usage = response.usage;
        entry.cost_usd = response.cost_usd;
        entry.outcome = super::OUTCOME_OK;
        entry.broken = 0;
        entry.policy = policy;
        entry.calls = 1;
        entry.extra = false;
    }

    /// [`push`](Self::push) for any request.
    #[inline(never)]
    fn push_any(
        &mut self,
        times: (Instant, Instant),
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
        let first = match attempts.split_first() {
            Some((first, rest)) => {
                for attempt in rest {
                    let call = self.call(attempt);
                    self.calls.push(call);
                }
                self.call(first)
            }
            None => NO_CALL,
        };
        let extra = with_text || !request.options.is_empty() || matches!(ending, Ending::Failed(_));
        if extra {
            self.push_extra(request, ending, response.filter(|_| with_text), with_text);
        }
        let entry = self.push_request(times, request);
        entry.first = first;
        if let Some(response) = response {
            entry.usage = response.usage;
            entry.cost_usd = response.cost_usd;
        }
        entry.outcome = outcome;
        entry.broken = broke_mid_stream(ending, attempts);
        entry.policy = policy;
        entry.calls = attempts.len() as u32;
        entry.extra = extra;
    }

    /// Takes the next slot and writes the request's part of it: the caller writes the
    /// ending's.
    #[inline(always)]
    fn push_request(
        &mut self,
        (arrived, ended): (Instant, Instant),
        request: &RequestView<'_>,
    ) -> &mut Entry {
        let model_len = request.model.map_or(NONE, |model| self.push_text(model));
        for tag in request.tags {
            let len = self.push_text(tag);
            self.tag_lens.push(len);
        }
        let step = self.step_code(request.step);
        let purpose = self.purpose_code(request.purpose);
        let entry = &mut self.entries[self.len];
        self.len += 1;
        entry.arrived = arrived;
        entry.ended = ended;
        entry.max_output_tokens = request.max_output_tokens;
        entry.input_tokens = request.input_tokens;
        entry.step = step;
        entry.purpose = purpose;
        entry.model_len = model_len;
        entry.tags = request.tags.len() as u32;
        entry.needs = request.needs;
        entry
    }

    #[inline(always)]
    fn step_code(&mut self, step: &StepType) -> Code {
        match step {
            StepType::Inference => 0,
            StepType::ToolCall => 1,
            StepType::Extraction => 2,
            StepType::Custom(name) => CUSTOM + self.intern(name),
        }
    }

    #[inline(always)]
    fn purpose_code(&mut self, purpose: &Purpose) -> Code {
        match purpose {
            Purpose::Chat => 0,
            Purpose::Summarization => 1,
            Purpose::Classification => 2,
            Purpose::Custom(name) => CUSTOM + self.intern(name),
        }
    }

    /// The parts of a request kept only when it has them: overrides, budget refusals (of
    /// a failed request) and text.
    #[cold]
    fn push_extra(
        &mut self,
        request: &RequestView<'_>,
        ending: &Ending<'_>,
        answer: Option<&ChatResponse>,
        with_text: bool,
    ) {
        self.extras.push(Extra {
            options: request.options.clone(),
            budget_refused: match ending {
                Ending::Failed(error) => budget_refused(error),
                _ => Vec::new(),
            },
            messages: with_text.then(|| request.messages.to_vec()),
            answer: answer.map(|r| r.content.clone()),
        });
    }

    #[inline(always)]
    fn call(&mut self, attempt: &Attempt) -> Call {
        let (status, error, retry_after) = match &attempt.outcome {
            AttemptOutcome::Success => (AttemptStatus::Success, None, None),
            AttemptOutcome::Failed { error } => (
                AttemptStatus::Failed,
                Some(error.kind()),
                error.retry_after(),
            ),
            AttemptOutcome::Cancelled => (AttemptStatus::Cancelled, None, None),
        };
        Call {
            latency: attempt.latency,
            retry_after,
            target: self.intern_target(&attempt.target),
            status,
            error,
        }
    }

    /// The index of `name` in the name table, adding it (one reference count) when this
    /// batch has not seen it yet. Names are compared by address: the router hands out
    /// the same `Arc` for the same policy on every request.
    #[inline(always)]
    fn intern(&mut self, name: &Arc<str>) -> Index {
        if let Some(last) = self.names.get(self.last_name as usize)
            && Arc::ptr_eq(last, name)
        {
            return self.last_name;
        }
        self.last_name = match self.names.iter().rposition(|n| Arc::ptr_eq(n, name)) {
            Some(index) => index as Index,
            None => self.add_name(name.clone()),
        };
        self.last_name
    }

    /// As [`intern`](Self::intern), for a name known only as text (an error's policy).
    fn intern_str(&mut self, name: &str) -> Index {
        match self.names.iter().rposition(|n| **n == *name) {
            Some(index) => index as Index,
            None => self.add_name(Arc::from(name)),
        }
    }

    #[cold]
    fn add_name(&mut self, name: Arc<str>) -> Index {
        self.names.push(name);
        (self.names.len() - 1) as Index
    }

    /// The index of `target` in the target table, adding it (three reference counts)
    /// when this batch has not seen it yet; compared by the addresses of its names.
    #[inline(always)]
    fn intern_target(&mut self, target: &TargetRef) -> Index {
        let same = |t: &TargetRef| {
            Arc::ptr_eq(&t.account, &target.account)
                && Arc::ptr_eq(&t.provider_model, &target.provider_model)
                && Arc::ptr_eq(&t.logical_model, &target.logical_model)
        };
        if let Some(last) = self.targets.get(self.last_target as usize)
            && same(last)
        {
            return self.last_target;
        }
        self.last_target = match self.targets.iter().rposition(same) {
            Some(index) => index as Index,
            None => self.add_target(target),
        };
        self.last_target
    }

    #[cold]
    fn add_target(&mut self, target: &TargetRef) -> Index {
        self.targets.push(target.clone());
        (self.targets.len() - 1) as Index
    }

    /// Appends `text`, returning its length.
    #[inline(always)]
    fn push_text(&mut self, text: &str) -> u32 {
        self.text.push_str(text);
        text.len() as u32
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
        let mut tag_lens = self.tag_lens.drain(..);
        let mut extras = self.extras.drain(..);
        let (names, targets) = (&self.names, &self.targets);
        let mut text = Text {
            text: &self.text,
            at: 0,
        };
        let name = |index: Index| names.get(index as usize).cloned();
        let custom = |code: Code| name(code - CUSTOM).unwrap_or_else(|| Arc::from(""));
        for entry in &self.entries[..self.len] {
            let answered = entry.outcome == super::OUTCOME_OK;
            let rest = calls
                .by_ref()
                .take((entry.calls as usize).saturating_sub(1));
            let attempts = (entry.calls > 0)
                .then_some(entry.first)
                .into_iter()
                .chain(rest)
                .enumerate()
                .filter_map(|(i, call)| {
                    let mut record = attempt_record(targets, call)?;
                    record.mid_stream = entry.broken & bit(i) != 0;
                    if answered && call.status == AttemptStatus::Success {
                        record.usage = Some(entry.usage);
                        record.cost_usd = entry.cost_usd;
                    }
                    Some(record)
                })
                .collect();
            let model = (entry.model_len != NONE).then(|| text.take(entry.model_len));
            let tags = tag_lens
                .by_ref()
                .take(entry.tags as usize)
                .map(|len| text.take(len))
                .collect();
            let extra = if entry.extra {
                extras.next().unwrap_or_default()
            } else {
                Extra::default()
            };
            let since_epoch = entry.arrived.saturating_duration_since(epoch).as_millis();
            each(TrafficRecord {
                unix_ms: epoch_unix_ms + u64::try_from(since_epoch).unwrap_or(u64::MAX),
                step: match entry.step {
                    0 => StepType::Inference,
                    1 => StepType::ToolCall,
                    2 => StepType::Extraction,
                    code => StepType::Custom(custom(code)),
                },
                purpose: match entry.purpose {
                    0 => Purpose::Chat,
                    1 => Purpose::Summarization,
                    2 => Purpose::Classification,
                    code => Purpose::Custom(custom(code)),
                },
                model,
                tags,
                needs: entry.needs,
                input_tokens: entry.input_tokens,
                max_output_tokens: entry.max_output_tokens,
                options: extra.options,
                policy: name(entry.policy),
                outcome: entry.outcome.into(),
                latency_us: micros(entry.ended.saturating_duration_since(entry.arrived)),
                attempts,
                budget_refused: extra.budget_refused,
                messages: extra.messages,
                answer: extra.answer,
            });
        }
        drop((calls, tag_lens, extras));
        self.len = 0;
        self.text.clear();
        self.names.clear();
        self.targets.clear();
        (self.last_name, self.last_target) = (NONE, NONE);
    }
}

/// A call as a record, without usage, cost or mid-stream mark.
fn attempt_record(targets: &[TargetRef], call: Call) -> Option<AttemptRecord> {
    let target = targets.get(call.target as usize)?;
    Some(AttemptRecord {
        model: target.logical_model.clone(),
        account: target.account.clone(),
        provider_model: target.provider_model.clone(),
        outcome: call.status,
        error: call.error,
        retry_after_ms: call
            .retry_after
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        latency_us: micros(call.latency),
        usage: None,
        cost_usd: None,
        mid_stream: false,
    })
}

/// Reads a batch's text back, piece after piece.
struct Text<'a> {
    text: &'a str,
    at: usize,
}

impl Text<'_> {
    fn take(&mut self, len: u32) -> String {
        let end = self.at + len as usize;
        let piece = self.text.get(self.at..end).unwrap_or_default().to_owned();
        self.at = end;
        piece
    }
}
