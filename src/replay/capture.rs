//! [`Captured`]: what the request path hands the recorder. It takes over the parts of the
//! request it needs instead of copying them and allocates nothing for a request answered
//! in one call; the writer thread turns it into a [`TrafficRecord`] and serializes it.

use std::sync::Arc;
use std::time::Duration;

use super::record::{AttemptRecord, TrafficRecord, attempt_record, budget_refused, micros};
use crate::error::Error;
use crate::model::Capabilities;
use crate::policy::{Purpose, StepType};
use crate::types::{ChatRequest, ChatResponse, Message, RouteOptions};

pub(crate) struct Captured {
    unix_ms: u64,
    latency: Duration,
    step: StepType,
    purpose: Purpose,
    model: Option<String>,
    tags: Vec<String>,
    needs: Capabilities,
    input_tokens: u32,
    max_output_tokens: Option<u32>,
    options: RouteOptions,
    policy: Option<Arc<str>>,
    outcome: &'static str,
    /// The first call kept inline, so a request answered at once needs no vector.
    first: Option<AttemptRecord>,
    more: Vec<AttemptRecord>,
    budget_refused: Vec<Arc<str>>,
    messages: Option<Vec<Message>>,
    answer: Option<String>,
}

impl Captured {
    /// Captures a finished request; `with_text` keeps its messages and the answer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        unix_ms: u64,
        latency: Duration,
        step: StepType,
        purpose: Purpose,
        mut request: ChatRequest,
        result: &Result<ChatResponse, Error>,
        with_text: bool,
    ) -> Self {
        let (policy, outcome, attempts, response, refused) = match result {
            Ok(response) => (
                Some(response.policy.clone()),
                super::OUTCOME_OK,
                &response.attempts[..],
                Some(response),
                Vec::new(),
            ),
            Err(error) => (
                error.policy().map(Arc::from),
                crate::router::error_code(error),
                error.attempts(),
                None,
                budget_refused(error),
            ),
        };
        let mut calls = attempts.iter().map(|a| attempt_record(a, response));
        let first = calls.next();
        let more = calls.collect();
        Self {
            unix_ms,
            latency,
            step,
            purpose,
            needs: request.required_capabilities(),
            input_tokens: crate::limits::estimate_prompt_tokens(&request.messages, &request.tools),
            max_output_tokens: request.params.max_tokens,
            model: request.model.take(),
            tags: std::mem::take(&mut request.tags),
            options: std::mem::take(&mut request.options),
            policy,
            outcome,
            first,
            more,
            budget_refused: refused,
            messages: with_text.then(|| std::mem::take(&mut request.messages)),
            answer: response.filter(|_| with_text).map(|r| r.content.clone()),
        }
    }

    pub(crate) fn into_record(self) -> TrafficRecord {
        let mut attempts = Vec::with_capacity(1 + self.more.len());
        attempts.extend(self.first);
        attempts.extend(self.more);
        TrafficRecord {
            unix_ms: self.unix_ms,
            step: self.step,
            purpose: self.purpose,
            model: self.model,
            tags: self.tags,
            needs: self.needs,
            input_tokens: self.input_tokens,
            max_output_tokens: self.max_output_tokens,
            options: self.options,
            policy: self.policy,
            outcome: self.outcome.into(),
            latency_us: micros(self.latency),
            attempts,
            budget_refused: self.budget_refused,
            messages: self.messages,
            answer: self.answer,
        }
    }
}
