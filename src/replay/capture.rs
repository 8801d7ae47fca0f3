//! What a recorder is handed when a request ends: the request's parts, borrowed
//! ([`RequestView`]) or kept for a stream ([`OwnedRequest`]), and how it ended
//! ([`Ending`]).

use std::sync::Arc;

use crate::error::Error;
use crate::model::Capabilities;
use crate::policy::{Purpose, StepType};
use crate::router::Sizing;
use crate::types::{Attempt, ChatRequest, ChatResponse, Message, RouteOptions};

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
