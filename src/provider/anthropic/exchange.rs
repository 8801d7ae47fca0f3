//! One Messages API call from body to answer, for this adapter and for the platforms that
//! serve Claude with the same wire format (Vertex AI's `rawPredict`).

#[cfg(feature = "vertex")]
use reqwest::header::HeaderMap;

#[cfg(feature = "vertex")]
use super::error;
#[cfg(feature = "vertex")]
use super::request::Dialect;
use super::request::{self, Options};
use super::{response, stream};
use crate::account::AccountInfo;
use crate::provider::timeouts::CallTimer;
use crate::provider::{ProviderError, ProviderRequest, ProviderResponse, ProviderStream};
use crate::provider::{body, event_stream, http};

/// A request body ready to send, and what reading its answer needs to know.
#[derive(Debug)]
pub(crate) struct Exchange {
    /// The JSON body.
    pub(crate) body: Vec<u8>,
    /// The JSON-mode answer tool, if the request asks for JSON.
    answer_tool: Option<String>,
    /// Whether the answer tool wraps the answer in `value`.
    wrapped_answer: bool,
}

impl Exchange {
    /// The exchange for `request` sent with `options`.
    pub(super) fn build(
        request: &ProviderRequest<'_>,
        options: &Options,
    ) -> Result<Self, ProviderError> {
        let prepared = request::build(request, options)?;
        Ok(Self {
            body: http::json_body(&prepared.body)?,
            answer_tool: prepared.answer_tool,
            wrapped_answer: prepared.wrapped_answer,
        })
    }

    #[cfg(feature = "vertex")]
    /// The exchange for Vertex AI's `rawPredict` / `streamRawPredict`: no `model` in the
    /// body (it is in the URL) and `anthropic_version` set to `version`.
    pub(crate) fn vertex(
        request: &ProviderRequest<'_>,
        version: &'static str,
        default_max_tokens: u32,
        stream: bool,
    ) -> Result<Self, ProviderError> {
        Self::build(
            request,
            &Options {
                default_max_tokens,
                sampling_params: true,
                stream,
                dialect: Dialect::Vertex(version),
            },
        )
    }

    /// The answer in a successful response's body.
    pub(crate) fn parse(
        &self,
        bytes: &[u8],
        account: &AccountInfo,
    ) -> Result<ProviderResponse, ProviderError> {
        let mut response = response::parse(bytes, self.answer_tool.as_deref(), account)?;
        if self.wrapped_answer {
            response.content = body::unwrap_answer(&response.content);
        }
        Ok(response)
    }

    /// The events of a successful streaming response.
    pub(crate) fn into_stream(
        self,
        response: reqwest::Response,
        account: AccountInfo,
        timer: CallTimer,
    ) -> ProviderStream {
        let decoder = stream::Decoder::new(self.answer_tool).wrapped(self.wrapped_answer);
        event_stream::decode_events(response, account, decoder, timer)
    }
}

#[cfg(feature = "vertex")]
/// The error an Anthropic error body means, or `None` when `body` is not one (a Google
/// `google.rpc.Status` from Vertex AI's front end, say).
pub(crate) fn error_body(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    account: &AccountInfo,
) -> Option<ProviderError> {
    error::is_error_body(body).then(|| error::from_response(status, headers, body, account))
}
