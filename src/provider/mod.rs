//! The [`Provider`] trait: one backend's wire protocol.
//!
//! The router speaks canonical types; a provider translates them for one backend. Built-in
//! providers live beside this module; implement the trait for your own backend:
//!
//! ```
//! use routewise::{
//!     async_trait, ErrorKind, FinishReason, Provider, ProviderError, ProviderRequest, ProviderResponse, Usage,
//! };
//!
//! /// Answers every request by shouting the last message back.
//! struct Shouty;
//!
//! #[async_trait]
//! impl Provider for Shouty {
//!     fn provider_name(&self) -> &str {
//!         "shouty"
//!     }
//!
//!     async fn complete(&self, request: ProviderRequest<'_>) -> Result<ProviderResponse, ProviderError> {
//!         let last = request
//!             .messages()
//!             .last()
//!             .ok_or_else(|| ProviderError::new(ErrorKind::InvalidRequest, "no messages"))?;
//!         Ok(ProviderResponse::text(last.text().to_uppercase(), Usage::new(3, 3)))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use routewise::{AccountInfo, ChatRequest, SamplingParams};
//! let account = AccountInfo::new("local");
//! let chat = ChatRequest::user("hello");
//! let defaults = SamplingParams::default();
//! let response = Shouty.complete(ProviderRequest::new("v1", &account, &chat, &defaults)).await.unwrap();
//! assert_eq!(response.content, "HELLO");
//! assert_eq!(response.finish_reason, FinishReason::Stop);
//! # });
//! ```

pub mod anthropic;
#[cfg(feature = "bedrock")]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
pub mod bedrock;
mod body;
pub(crate) mod client;
mod direct;
mod error;
mod event_stream;
pub mod gemini;
pub(crate) mod http;
pub mod openai;
pub mod profile;
pub mod sse;
mod timeouts;
mod tls;
mod tool_use;
mod turns;
#[cfg(feature = "vertex")]
#[cfg_attr(docsrs, doc(cfg(feature = "vertex")))]
pub mod vertex;

use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use futures::Stream;
use serde_json::{Map, Value};

pub use error::{ErrorKind, ErrorKindSet, ProviderError};
pub use timeouts::{DEFAULT_MAX_BODY_BYTES, HttpTimeouts};

use crate::account::AccountInfo;
use crate::provider::profile::{Adapted, ModelProfile, ProfileTable};
use crate::types::{
    ChatRequest, EffectiveParams, FinishReason, Message, ResponseFormat, SamplingParams, Tool,
    ToolCall, ToolCallDelta, ToolChoice, Usage,
};

/// A stream of provider events, as returned by [`Provider::stream`].
pub type ProviderStream = Pin<Box<dyn Stream<Item = Result<ProviderEvent, ProviderError>> + Send>>;

/// One backend's wire protocol.
///
/// Implementations must be cheap to share: the router keeps one behind an `Arc` per
/// account and calls it from many tasks at once. They must not retry or fall back on their
/// own (the router does that, across targets) and must classify every failure with an
/// [`ErrorKind`], because routing decisions depend on it.
///
/// The trait is object safe; the router stores `Arc<dyn Provider>`.
///
/// # Implementing it
///
/// The trait is written with [`async_trait`](macro@crate::async_trait) (re-exported, so you
/// need no dependency of your own), which is why the signatures below show boxed
/// futures. Write the methods as plain `async fn`s under `#[routewise::async_trait]`;
/// only `provider_name` and `complete` are required:
///
/// ```text
/// #[routewise::async_trait]
/// impl Provider for MyBackend {
///     fn provider_name(&self) -> &str;
///     async fn complete(&self, request: ProviderRequest<'_>) -> Result<ProviderResponse, ProviderError>;
///
///     // Optional, with defaults:
///     async fn stream(&self, request: ProviderRequest<'_>) -> Result<ProviderStream, ProviderError>;
///     async fn health_check(&self, account: &AccountInfo) -> Result<(), ProviderError>;
///     async fn warm_up(&self, account: &AccountInfo) -> Result<(), ProviderError>;
///     fn supports_assistant_prefill(&self) -> bool;
///     fn estimate_input_tokens(&self, request: &ProviderRequest<'_>) -> u32;
/// }
/// ```
///
/// The [module docs](self) have a complete example, and `examples/custom_provider.rs`
/// routes to one.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider's name for telemetry (`gen_ai.provider.name`), such as `openai`,
    /// `anthropic` or `groq`. (Formerly `system()`, after the attribute's old
    /// name `gen_ai.system`.)
    fn provider_name(&self) -> &str;

    /// Sends one request and waits for the whole answer.
    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError>;

    /// Sends one request and returns its events as they arrive. A successful stream ends
    /// with exactly one [`ProviderEvent::Finished`].
    ///
    /// The default calls [`complete`](Self::complete) and replays the answer as one text
    /// delta, one delta per tool call and the final event, for backends that cannot stream.
    async fn stream(&self, request: ProviderRequest<'_>) -> Result<ProviderStream, ProviderError> {
        let response = self.complete(request).await?;
        Ok(Box::pin(futures::stream::iter(
            response.into_events().into_iter().map(Ok),
        )))
    }

    /// A cheap check that the account can be reached (for example listing models). The
    /// default reports healthy without calling anything.
    async fn health_check(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let _ = account;
        Ok(())
    }

    /// Prepares for the first call on `account`: opens a connection, fetches a token,
    /// whatever would otherwise slow that call down.
    /// [`Router::warm_up`](crate::Router::warm_up) calls it for every account. The HTTP
    /// adapters open a connection to the account's endpoint (an unauthenticated `HEAD`,
    /// whatever its status), so the first request finds it in the pool. The default does
    /// nothing.
    async fn warm_up(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let _ = account;
        Ok(())
    }

    /// Where calls go when the account sets no [base URL](crate::ProviderAccount::base_url),
    /// such as `https://api.openai.com/v1`; traces report its host and port
    /// (`server.address`, `server.port`). The default is `None`: an account without a
    /// base URL then reports neither.
    fn default_base_url(&self) -> Option<&str> {
        None
    }

    /// Whether the backend continues a conversation's trailing assistant message in place
    /// (assistant prefill), as Anthropic's Messages API does. A recovering stream
    /// ([`Policy::stream_recovery`](crate::Policy::stream_recovery)) then sends the
    /// partial answer as that message, without trailing whitespace; otherwise it adds
    /// [`CONTINUE_PROMPT`](crate::CONTINUE_PROMPT) as a user message after it. The
    /// default is `false`.
    fn supports_assistant_prefill(&self) -> bool {
        false
    }

    /// Whether the backend's rate limits (and so its HTTP 429s) apply per model rather
    /// than to the whole account, as OpenAI's, Anthropic's and Gemini's do. A 429 then
    /// cools down only the account × provider model that received it, and the account's
    /// other models stay in rotation; otherwise the whole account cools down. The default
    /// is `false`, the cautious choice for an unknown backend.
    fn rate_limits_per_model(&self) -> bool {
        false
    }

    /// Request parameters the backend refuses for every model, by their
    /// [profile](profile::ModelProfile::unsupported) names (`seed`, `logit_bias`, ...): the
    /// router adds them to the profile of every target on an account it serves, so they
    /// are left out (and the adaptation recorded) before the call. The default is none;
    /// [`OpenAi::preset`](crate::OpenAi::preset) adapters return their host's.
    fn refused_parameters(&self) -> &[&str] {
        &[]
    }

    /// Estimates the prompt tokens of a request, for limits and context windows. The
    /// default counts about four characters per token, which is close for English text on
    /// most tokenizers and errs high for code.
    fn estimate_input_tokens(&self, request: &ProviderRequest<'_>) -> u32 {
        request.estimate_input_tokens()
    }
}

/// What a provider is asked to do: one request for one provider model on one account, with
/// the logical model's defaults layered under the request's parameters.
///
/// Cheap to copy: it only borrows.
#[derive(Clone, Copy, Debug)]
pub struct ProviderRequest<'a> {
    model: &'a str,
    account: &'a AccountInfo,
    request: &'a ChatRequest,
    defaults: &'a SamplingParams,
    profile: Option<&'a Arc<ModelProfile>>,
    /// What the router adapted, once it has looked (`Some(None)`: nothing to change).
    adapted: Option<Option<&'a Adapted>>,
}

impl<'a> ProviderRequest<'a> {
    /// A request for `model` on `account`, with `defaults` filling unset parameters of
    /// `request`.
    pub fn new(
        model: &'a str,
        account: &'a AccountInfo,
        request: &'a ChatRequest,
        defaults: &'a SamplingParams,
    ) -> Self {
        Self {
            model,
            account,
            request,
            defaults,
            profile: None,
            adapted: None,
        }
    }

    /// The same request with the profile of its model given, instead of the shipped
    /// table's ([`ProfileTable::builtin`]).
    #[must_use]
    pub fn with_profile(mut self, profile: &'a Arc<ModelProfile>) -> Self {
        self.profile = Some(profile);
        self
    }

    /// The same request as adapted to its model (`None`: it needs no change). The
    /// parameters, tool choice and JSON-mode strategy the adapter reads are then the
    /// adapted ones, and the adapter does not adapt again.
    #[must_use]
    pub fn with_adaptation(mut self, adapted: Option<&'a Adapted>) -> Self {
        self.adapted = Some(adapted);
        self
    }

    /// The profile of the model: the one given with [`with_profile`](Self::with_profile),
    /// else the shipped table's, else one that refuses nothing.
    pub fn profile(&self) -> Arc<ModelProfile> {
        static UNKNOWN: LazyLock<Arc<ModelProfile>> = LazyLock::new(Arc::default);
        match self.profile {
            Some(profile) => profile.clone(),
            None => ProfileTable::builtin()
                .lookup(self.model)
                .unwrap_or_else(|| UNKNOWN.clone()),
        }
    }

    /// The adaptation this request needs for its model, when nobody has adapted it yet
    /// (an adapter called directly, without the router): what the adapter then sends.
    pub fn adaptation(&self) -> Option<Adapted> {
        match self.adapted {
            Some(_) => None,
            None => profile::adapt(&self.profile(), self),
        }
    }

    /// The request as an adapter sends it: adapted to its model, the adaptation kept in
    /// `slot`, when nobody has adapted it yet (an adapter called directly, without the
    /// router); else this request as it is. The one call an adapter makes before
    /// building its body.
    ///
    /// ```
    /// use routewise::{AccountInfo, ChatRequest, ProviderRequest, SamplingParams};
    ///
    /// let account = AccountInfo::new("main");
    /// let chat = ChatRequest::user("hi").temperature(0.2);
    /// let defaults = SamplingParams::new();
    /// // o3-mini refuses `temperature`: the request sent leaves it out, and says so.
    /// let request = ProviderRequest::new("o3-mini", &account, &chat, &defaults);
    /// let mut slot = None;
    /// let sent = request.adapt_into(&mut slot);
    /// assert_eq!(sent.params().temperature(), None);
    /// assert!(sent.adapted().is_some());
    /// // Adapted once: asking again changes nothing more.
    /// let mut again = None;
    /// assert!(sent.adapt_into(&mut again).adapted().is_some() && again.is_none());
    /// ```
    pub fn adapt_into<'s>(&self, slot: &'s mut Option<Adapted>) -> ProviderRequest<'s>
    where
        'a: 's,
    {
        *slot = self.adaptation();
        let request: ProviderRequest<'s> = *self;
        match slot {
            Some(adapted) => request.with_adaptation(Some(adapted)),
            None => request,
        }
    }

    /// The adaptation applied, if any.
    pub fn adapted(&self) -> Option<&'a Adapted> {
        self.adapted.flatten()
    }

    /// The request's own parameters, without the logical model's defaults.
    pub(crate) fn request_params(&self) -> &'a SamplingParams {
        &self.request.params
    }

    /// The provider's model id.
    pub fn model(&self) -> &'a str {
        self.model
    }

    /// The account to call through.
    pub fn account(&self) -> &'a AccountInfo {
        self.account
    }

    /// The conversation.
    pub fn messages(&self) -> &'a [Message] {
        &self.request.messages
    }

    /// The tools the model may call.
    pub fn tools(&self) -> &'a [Tool] {
        &self.request.tools
    }

    /// How the model should choose among tools (as adapted, when adapted).
    pub fn tool_choice(&self) -> Option<&'a ToolChoice> {
        match self.adapted() {
            Some(adapted) => adapted.tool_choice.as_ref(),
            None => self.request.tool_choice.as_ref(),
        }
    }

    /// The requested response format.
    pub fn response_format(&self) -> Option<&'a ResponseFormat> {
        self.request.response_format.as_ref()
    }

    /// The effective sampling parameters (request over defaults, as adapted when
    /// adapted).
    pub fn params(&self) -> EffectiveParams<'a> {
        match self.adapted() {
            Some(adapted) => EffectiveParams::new(&adapted.params, crate::types::no_params()),
            None => EffectiveParams::new(&self.request.params, self.defaults),
        }
    }

    /// The request's metadata.
    pub fn metadata(&self) -> &'a Map<String, Value> {
        &self.request.metadata
    }

    /// About four characters per token over every text, tool definition and image (an
    /// image counts as a flat 1,000 characters), plus a few tokens per message.
    pub fn estimate_input_tokens(&self) -> u32 {
        crate::limits::estimate_prompt_tokens(self.messages(), self.tools())
    }
}

/// A provider's whole answer to one request.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProviderResponse {
    /// The generated text.
    pub content: String,
    /// Tool calls the model made.
    pub tool_calls: Vec<ToolCall>,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Token usage.
    pub usage: Usage,
    /// The provider's id of this answer (`gen_ai.response.id`), when it gives one.
    pub response_id: Option<String>,
    /// The model that answered (`gen_ai.response.model`), when the provider says: often
    /// a dated version of the requested one (`gpt-4o-2024-08-06`).
    pub response_model: Option<String>,
}

impl ProviderResponse {
    /// A response with text, a `stop` finish reason and `usage`.
    pub fn text(content: impl Into<String>, usage: Usage) -> Self {
        Self {
            content: content.into(),
            tool_calls: Vec::new(),
            finish_reason: FinishReason::Stop,
            usage,
            response_id: None,
            response_model: None,
        }
    }

    /// Records the provider's id of the answer and the model that gave it, each when
    /// known.
    #[must_use]
    pub fn answered_as(mut self, id: Option<String>, model: Option<String>) -> Self {
        self.response_id = id;
        self.response_model = model;
        self
    }

    /// Adds a tool call, setting the finish reason to `tool_calls`.
    #[must_use]
    pub fn tool_call(mut self, call: ToolCall) -> Self {
        self.tool_calls.push(call);
        self.finish_reason = FinishReason::ToolCalls;
        self
    }

    /// Sets the finish reason.
    #[must_use]
    pub fn finish_reason(mut self, reason: FinishReason) -> Self {
        self.finish_reason = reason;
        self
    }

    /// The response as the events a stream would have carried.
    pub fn into_events(self) -> Vec<ProviderEvent> {
        let mut events = Vec::with_capacity(self.tool_calls.len() + 3);
        if self.response_id.is_some() || self.response_model.is_some() {
            events.push(ProviderEvent::ResponseInfo {
                response_id: self.response_id,
                response_model: self.response_model,
            });
        }
        if !self.content.is_empty() {
            events.push(ProviderEvent::TextDelta(self.content));
        }
        for (index, call) in self.tool_calls.into_iter().enumerate() {
            events.push(ProviderEvent::ToolCallDelta(ToolCallDelta {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                id: Some(call.id),
                name: Some(call.name),
                arguments: call.arguments,
            }));
        }
        events.push(ProviderEvent::Finished {
            finish_reason: self.finish_reason,
            usage: self.usage,
        });
        events
    }
}

/// One event of a provider stream.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ProviderEvent {
    /// More text.
    TextDelta(String),
    /// A fragment of a tool call.
    ToolCallDelta(ToolCallDelta),
    /// Which answer this is, once the stream says (OpenAI and Gemini on their first chunk,
    /// Anthropic in `message_start`): recorded on the attempt's span as
    /// `gen_ai.response.id` and `gen_ai.response.model`, as
    /// [`ProviderResponse::response_id`] and [`ProviderResponse::response_model`] are for
    /// a whole answer. At most once, before [`ProviderEvent::Finished`]; a stream without
    /// it is complete all the same.
    ResponseInfo {
        /// The provider's id of this answer, when it gives one.
        response_id: Option<String>,
        /// The model that answers, when the provider says.
        response_model: Option<String>,
    },
    /// The end of a successful stream.
    Finished {
        /// Why generation ended.
        finish_reason: FinishReason,
        /// Token usage of the whole stream.
        usage: Usage,
    },
}

impl ProviderEvent {
    /// The [`ProviderEvent::ResponseInfo`] of an id and a model as a stream gives them,
    /// with empty strings read as absent; `None` when neither is there.
    pub(crate) fn response_info(id: Option<String>, model: Option<String>) -> Option<Self> {
        let id = id.filter(|id| !id.is_empty());
        let model = model.filter(|model| !model.is_empty());
        (id.is_some() || model.is_some()).then_some(Self::ResponseInfo {
            response_id: id,
            response_model: model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_is_object_safe() {
        fn takes(_: &dyn Provider) {}
        let _ = takes;
        let _: Option<std::sync::Arc<dyn Provider>> = None;
    }

    #[test]
    fn token_estimate_grows_with_the_prompt() {
        let account = AccountInfo::new("a");
        let defaults = SamplingParams::default();
        let short = ChatRequest::user("hi");
        let long = ChatRequest::user("hi ".repeat(400));
        let short_est =
            ProviderRequest::new("m", &account, &short, &defaults).estimate_input_tokens();
        let long_est =
            ProviderRequest::new("m", &account, &long, &defaults).estimate_input_tokens();
        assert!(short_est >= 1);
        assert_eq!(long_est, (1200 + 16_u32).div_ceil(4));
    }
}
