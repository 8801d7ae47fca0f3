//! One `generateContent` call from body to answer, for this adapter and for Vertex AI,
//! which serves Gemini with the same wire format.

use super::request::{self, AnswerFunction};
use super::{response, stream};
use crate::account::AccountInfo;
use crate::provider::timeouts::CallTimer;
use crate::provider::{ProviderError, ProviderRequest, ProviderResponse, ProviderStream};
use crate::provider::{event_stream, http};

/// A request body ready to send, and what reading its answer needs to know.
#[derive(Debug)]
pub(crate) struct Exchange {
    /// The JSON body.
    pub(crate) body: Vec<u8>,
    /// The function a JSON-mode answer comes through, if any.
    answer: Option<AnswerFunction>,
}

impl Exchange {
    /// The exchange for `request` (the same body for a call and a stream).
    pub(crate) fn build(request: &ProviderRequest<'_>) -> Result<Self, ProviderError> {
        let built = request::build(request)?;
        Ok(Self {
            body: http::json_body(&built.body)?,
            answer: built.answer,
        })
    }

    /// The answer in a successful response's body.
    pub(crate) fn parse(
        &self,
        bytes: &[u8],
        account: &AccountInfo,
    ) -> Result<ProviderResponse, ProviderError> {
        let response = response::parse(bytes, account)?;
        Ok(match &self.answer {
            Some(answer) => response::take_answer(response, answer),
            None => response,
        })
    }

    /// The events of a successful `alt=sse` streaming response.
    pub(crate) fn into_stream(
        self,
        response: reqwest::Response,
        account: AccountInfo,
        timer: CallTimer,
    ) -> ProviderStream {
        let progress = stream::Progress::answering(self.answer);
        event_stream::decode_events(response, account, progress, timer)
    }
}
