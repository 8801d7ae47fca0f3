//! The Anthropic Messages API adapter.
//!
//! [`Anthropic`] sends `POST {base}/v1/messages` with the account's API key in `x-api-key`,
//! an `anthropic-version` header ([`ApiVersion`]) and the account's extra headers (such as
//! `anthropic-beta`), which replace the adapter's own of the same name. The base URL is the
//! account's [`base_url`](crate::ProviderAccount::base_url) without `/v1`, or
//! [`DEFAULT_BASE_URL`].
//!
//! ## How canonical requests map
//!
//! - **System messages** are lifted out of the conversation into `system`, joined with a
//!   blank line, wherever they appear.
//! - **Turns**: user text and images (base64, `https:` URLs, and base64 `data:` URLs sent as
//!   base64) become content blocks; assistant tool calls become `tool_use` blocks, their
//!   argument text parsed into `input` (empty arguments mean `{}`; text that is not a JSON
//!   object is an [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest)); tool results become `tool_result` blocks
//!   of a user turn. Consecutive turns of one role are merged into one, as the API
//!   requires; empty text is left out.
//! - **Tools** keep their name and description; their parameters become `input_schema`
//!   (with `"type": "object"` added when missing). Tool choice `auto`, `required`, a named
//!   function and `none` become `auto`, `any`, `tool` and `none`; a tool choice without
//!   tools is not sent. A tool without a schema (`null`) gets an object schema without
//!   properties.
//! - **Parameters**: `max_tokens` is required by the API: the effective value (request over
//!   the logical model's default), else [`Anthropic::default_max_tokens`]. `stop` becomes
//!   `stop_sequences`. `temperature` and `top_p` are sent with API version 2023-06-01 and
//!   left out with 2026-10-21, which removed them. Anthropic has no seed; it is not sent.
//!   Extra parameters are added to the body as given (`top_k`, `metadata`, `thinking`,
//!   `output_config`, ...) but cannot replace a field the adapter sets.
//! - **JSON mode**: the adapter adds an *answer tool* whose `input_schema` is the requested
//!   schema (for `json_schema`: named after the schema, `strict` passed on; for
//!   `json_object`: named `json_object`, any object) and makes the model call it: forced
//!   outright, or as `any` when the request has tools of its own and lets the model choose,
//!   so the model either calls one of them or answers. The answer tool's input is returned
//!   as the response text (in a stream, its `input_json_delta`s arrive as text deltas) and
//!   a call to it finishes with [`FinishReason::Stop`](crate::FinishReason::Stop). In JSON
//!   mode the answer is that JSON alone: text blocks are left out (unless the model did not
//!   call the answer tool, which it may under extended thinking, where the tool is offered
//!   with `auto` because the API refuses a forced choice then). A schema whose root is not
//!   an object (`input_schema` must be one) is wrapped as the property `value` and the
//!   answer unwrapped. This works on every model that takes tools; for the API's own
//!   structured outputs instead, leave the response format unset and pass `output_config`
//!   as an extra parameter.
//! - **Reasoning**: the reasoning control becomes `thinking: {type: enabled,
//!   budget_tokens}`; an unset `max_tokens` is raised above the budget. Parameters the
//!   model's [profile](crate::provider::profile) refuses, or refuses together
//!   (`temperature` with `top_p` from Claude 4.5 on), and those extended thinking refuses,
//!   are left out and recorded as adaptations.
//!
//! ## How responses map
//!
//! Text blocks are concatenated; `tool_use` blocks become [`ToolCall`](crate::ToolCall)s
//! with `input` serialized as the arguments; other blocks (thinking, server tools) are
//! skipped. `end_turn` and `stop_sequence` finish with `Stop`, `max_tokens` with `Length`,
//! `tool_use` with `ToolCalls`, `refusal` with `ContentFilter`, anything else with
//! `Other`. Usage follows the API's own rule that the prompt is the sum of its parts:
//! `input_tokens` = `input_tokens` + `cache_read_input_tokens` +
//! `cache_creation_input_tokens`, of which the cache reads are `cached_input_tokens` and the
//! cache writes `cache_write_tokens`; `output_tokens_details.thinking_tokens` is
//! `reasoning_tokens`. A stream takes usage from `message_start` and updates it from
//! `message_delta`.
//!
//! ## Errors
//!
//! The error body's `type` decides the [`ErrorKind`](crate::ErrorKind), the HTTP status when the type is
//! unknown: `invalid_request_error` is `InvalidRequest` (`ContextLengthExceeded` when the
//! message says the prompt is too long), `authentication_error`,
//! `permission_error` and `billing_error` are `Auth`, `not_found_error` is `NotFound`,
//! `request_too_large` is `ContextLengthExceeded`, `rate_limit_error` is `RateLimited`,
//! `timeout_error` is `Timeout`, `api_error` is `ServerError`, `overloaded_error` is
//! `Overloaded`, also as an `error` event in the middle of a stream. The retry delay comes
//! from `retry-after`, else from the `anthropic-ratelimit-*-reset` timestamps (the latest
//! reset among limits with nothing remaining, else the earliest). Messages keep the
//! provider's words with the account's secrets removed. A stream that ends before
//! `message_stop` fails with `MalformedResponse`.

mod error;
mod exchange;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
mod request;
mod response;
mod stream;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

pub(crate) use self::exchange::Exchange;
#[cfg(feature = "vertex")]
pub(crate) use self::exchange::error_body;
use super::client::AdapterClient;
use super::http;
use super::timeouts::{CallTimer, HttpTimeouts};
use super::{Provider, ProviderError, ProviderRequest, ProviderResponse, ProviderStream};
use crate::account::AccountInfo;

/// Where the Anthropic API lives, when the account does not say otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The adapter kind whose adapters share a client.
const KIND: &str = "anthropic";

/// The `max_tokens` sent when neither the request nor the logical model sets one (the API
/// requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The `anthropic-version` the adapter speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiVersion {
    /// `2023-06-01`: accepts `temperature` and `top_p` (newer models may still refuse
    /// values other than their defaults).
    #[default]
    V2023_06_01,
    /// `2026-10-21`: removed `temperature`, `top_p` and `top_k`; the adapter leaves the
    /// first two out.
    V2026_10_21,
}

impl ApiVersion {
    /// The header value, such as `2023-06-01`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2023_06_01 => "2023-06-01",
            ApiVersion::V2026_10_21 => "2026-10-21",
        }
    }

    const fn accepts_sampling_params(self) -> bool {
        matches!(self, ApiVersion::V2023_06_01)
    }
}

/// The Anthropic Messages API as a [`Provider`]: complete, stream, health check.
///
/// Cheap to clone. Its HTTP client is built with the adapter (never on a request) and
/// shared with every other `Anthropic` adapter with the same connect timeout, connection pool
/// included; [`http_client`](Self::http_client) supplies your own instead. See the
/// [module docs](self) for how requests, responses, usage and errors map.
///
/// ```
/// use routewise::{LogicalModel, Policy, ProviderAccount, Router, Target};
/// use routewise::provider::anthropic::{Anthropic, ApiVersion};
///
/// let claude = ProviderAccount::new("claude", Anthropic::new().default_max_tokens(2048))
///     .api_key("sk-ant-example");
/// let claude_next = ProviderAccount::new(
///     "claude-next",
///     Anthropic::new().api_version(ApiVersion::V2026_10_21),
/// )
/// .api_key("sk-ant-example")
/// .header("anthropic-beta", "fast-mode-2026-02-01");
/// let router = Router::builder()
///     .account(claude)
///     .account(claude_next)
///     .model(
///         LogicalModel::new("smart")
///             .target(Target::new("claude", "claude-sonnet-4-6"))
///             .target(Target::new("claude-next", "claude-sonnet-5-5")),
///     )
///     .policy(Policy::new("default").route(["smart"]))
///     .build();
/// assert!(router.is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct Anthropic {
    client: AdapterClient,
    timeouts: HttpTimeouts,
    api_version: ApiVersion,
    default_max_tokens: u32,
}

impl Default for Anthropic {
    fn default() -> Self {
        Self::new()
    }
}

impl Anthropic {
    /// An adapter with default timeouts, API version 2023-06-01 and a fallback
    /// `max_tokens` of [`DEFAULT_MAX_TOKENS`].
    pub fn new() -> Self {
        Self::with_timeouts(HttpTimeouts::default())
    }

    /// An adapter with these timeouts from the start, so no client is built for the
    /// default ones.
    pub(crate) fn with_timeouts(timeouts: HttpTimeouts) -> Self {
        Self {
            client: AdapterClient::shared(KIND, &timeouts),
            timeouts,
            api_version: ApiVersion::default(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
        }
    }

    /// Sets the connect, read and total timeouts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use routewise::provider::HttpTimeouts;
    /// use routewise::provider::anthropic::Anthropic;
    ///
    /// let anthropic = Anthropic::new().timeouts(HttpTimeouts::default().read(Duration::from_secs(20)));
    /// # let _ = anthropic;
    /// ```
    #[must_use]
    pub fn timeouts(mut self, timeouts: HttpTimeouts) -> Self {
        if !self.client.is_supplied() {
            self.client = AdapterClient::shared(KIND, &timeouts);
        }
        self.timeouts = timeouts;
        self
    }

    /// Sends every call through `client` instead of the one routewise builds: for a
    /// corporate proxy or CA, mutual TLS, or one connection pool with the rest of your
    /// application.
    ///
    /// The adapter's [`timeouts`](Self::timeouts) still apply: the total one to each
    /// non-streaming call, and the read one to the wait for each answer. The connect
    /// timeout, and the read timeout between the chunks of a stream, are the client's
    /// own: set them on its builder.
    ///
    /// With routewise's default `rustls` feature alone, the reqwest in your build has no
    /// TLS crypto provider of its own (routewise configures its clients' TLS itself):
    /// enable reqwest's `rustls` or `native-tls` feature in your `Cargo.toml`, or install
    /// a provider (`rustls::crypto::ring::default_provider().install_default()`) before
    /// building your client.
    ///
    /// ```no_run
    /// use routewise::Anthropic;
    ///
    /// let client = reqwest::Client::builder()
    ///     .proxy(reqwest::Proxy::https("http://proxy.internal:3128")?)
    ///     .build()?;
    /// let anthropic = Anthropic::new().http_client(client);
    /// # let _ = anthropic;
    /// # Ok::<(), reqwest::Error>(())
    /// ```
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = AdapterClient::supplied(client);
        self
    }

    /// Sets the `anthropic-version` to speak.
    ///
    /// ```
    /// use routewise::provider::anthropic::{Anthropic, ApiVersion};
    ///
    /// let anthropic = Anthropic::new().api_version(ApiVersion::V2026_10_21);
    /// # let _ = anthropic;
    /// ```
    #[must_use]
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.api_version = version;
        self
    }

    /// Sets the `max_tokens` sent when neither the request nor the logical model sets one.
    /// The API refuses values below 1.
    ///
    /// ```
    /// use routewise::provider::anthropic::Anthropic;
    ///
    /// let anthropic = Anthropic::new().default_max_tokens(1024);
    /// # let _ = anthropic;
    /// ```
    #[must_use]
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens;
        self
    }

    fn body_options(&self, stream: bool) -> request::Options {
        request::Options {
            default_max_tokens: self.default_max_tokens,
            sampling_params: self.api_version.accepts_sampling_params(),
            stream,
            dialect: request::Dialect::Messages,
        }
    }

    /// The account's headers over the adapter's own.
    fn headers(&self, account: &AccountInfo) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(self.api_version.as_str()),
        );
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        if let Some(key) = account.api_key() {
            headers.insert(
                "x-api-key",
                http::secret_value(key.expose(), "x-api-key", account)?,
            );
        }
        for (name, value) in account.headers() {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                http::invalid_account(account, format!("header name `{name}` is not valid"))
            })?;
            headers.insert(header, http::secret_value(value.expose(), name, account)?);
        }
        Ok(headers)
    }

    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        account: &AccountInfo,
        timer: &mut CallTimer,
    ) -> Result<reqwest::Response, ProviderError> {
        let builder = builder.headers(self.headers(account)?);
        let answer = http::send(&self.client, builder, account, error::from_response);
        timer.limit(answer).await
    }

    async fn post_messages(
        &self,
        request: &ProviderRequest<'_>,
        body: Vec<u8>,
        timer: &mut CallTimer,
    ) -> Result<reqwest::Response, ProviderError> {
        let account = request.account();
        let builder = self
            .client
            .get()
            .post(endpoint(account, "messages")?)
            .body(body);
        self.send(builder, account, timer).await
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn provider_name(&self) -> &str {
        "anthropic"
    }

    /// The Messages API continues a trailing assistant message.
    fn rate_limits_per_model(&self) -> bool {
        true
    }

    fn supports_assistant_prefill(&self) -> bool {
        true
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let mut adaptation = None;
        let request = request.adapt_into(&mut adaptation);
        let mut exchange = Exchange::build(&request, &self.body_options(false))?;
        let body = std::mem::take(&mut exchange.body);
        let mut timer = CallTimer::call(&self.timeouts);
        let response = self.post_messages(&request, body, &mut timer).await?;
        let max = self.timeouts.max_body_bytes;
        let bytes = http::read_body(response, request.account(), max, &mut timer).await?;
        exchange.parse(&bytes, request.account())
    }

    async fn stream(&self, request: ProviderRequest<'_>) -> Result<ProviderStream, ProviderError> {
        let mut adaptation = None;
        let request = request.adapt_into(&mut adaptation);
        let mut exchange = Exchange::build(&request, &self.body_options(true))?;
        let body = std::mem::take(&mut exchange.body);
        // A stream may outlive the total timeout; its chunks are bounded by the read one.
        let mut timer = CallTimer::stream(&self.timeouts);
        let response = self.post_messages(&request, body, &mut timer).await?;
        Ok(exchange.into_stream(response, request.account().clone(), timer))
    }

    /// Lists one model (`GET {base}/v1/models?limit=1`): it needs a valid key and a
    /// reachable API, and costs no tokens.
    async fn health_check(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let url = endpoint(account, "models?limit=1")?;
        let builder = self.client.get().get(url);
        let mut timer = CallTimer::call(&self.timeouts);
        self.send(builder, account, &mut timer).await.map(drop)
    }

    /// `https://api.anthropic.com`.
    fn default_base_url(&self) -> Option<&str> {
        Some(DEFAULT_BASE_URL)
    }

    /// Opens a connection to the account's endpoint (`HEAD {base}/v1/models`, without
    /// the key).
    async fn warm_up(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let url = endpoint(account, "models")?;
        self.client
            .open_connection(url, &self.timeouts, account)
            .await
    }
}

/// `{base}/v1/{path}`, with the account's base URL checked.
fn endpoint(account: &AccountInfo, path: &str) -> Result<reqwest::Url, ProviderError> {
    let base = account
        .base_url()
        .unwrap_or(DEFAULT_BASE_URL)
        .trim_end_matches('/');
    reqwest::Url::parse(&format!("{base}/v1/{path}"))
        .map_err(|e| http::invalid_account(account, format!("base URL `{base}` is not valid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderAccount;
    use crate::provider::ErrorKind;

    #[test]
    fn bad_account_headers_and_base_urls_are_invalid_requests_that_hide_the_value() {
        let account = ProviderAccount::new("claude", Anthropic::new())
            .api_key("sk-ant-secret\nkey")
            .base_url("not a url");
        let error = Anthropic::new().headers(account.info()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        assert_eq!(
            error.message(),
            "account `claude`: value of header `x-api-key` is not a valid header value"
        );
        let error = endpoint(account.info(), "messages").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        assert!(error.message().contains("base URL `not a url`"), "{error}");
    }

    #[test]
    fn account_headers_replace_the_adapters_own_and_are_marked_sensitive() {
        let account = ProviderAccount::new("claude", Anthropic::new())
            .api_key("sk-ant-key")
            .header("anthropic-beta", "fast-mode-2026-02-01")
            .header("anthropic-version", "2026-10-21");
        let headers = Anthropic::new().headers(account.info()).unwrap();
        assert_eq!(headers["anthropic-version"], "2026-10-21");
        assert_eq!(headers["anthropic-beta"], "fast-mode-2026-02-01");
        assert!(headers["x-api-key"].is_sensitive());
    }
}
