//! The Google Gemini adapter: the Gemini API's REST protocol (`v1beta`).
//!
//! [`Gemini`] calls `POST {base}/v1beta/models/{model}:generateContent` and, for streams,
//! `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`. The base defaults to
//! `https://generativelanguage.googleapis.com`; an account's
//! [`base_url`](crate::ProviderAccount::base_url) replaces it (scheme, host and any path
//! prefix, without `/v1beta`). The API key travels in the `x-goog-api-key` header, never in
//! the URL, so it cannot leak through a URL in an error or a log line; the account's extra
//! headers are sent too.
//!
//! # How requests map
//!
//! | canonical | Gemini |
//! |---|---|
//! | system messages | `systemInstruction`, one text part each |
//! | user / assistant / tool messages | `contents` with roles `user` / `model` / `user`; consecutive turns of one role merge into one |
//! | base64 image | `inlineData {mimeType, data}` |
//! | `data:` URL image | `inlineData`, decoded from the URL |
//! | other image URL | `fileData {mimeType, fileUri}`; the MIME type comes from the URL path's extension (`png`, `jpg`/`jpeg`, `webp`, `heic`, `heif`, `gif`) and is `image/jpeg` when there is none or it is unknown |
//! | assistant tool call | `functionCall {name, args}` (the arguments must be a JSON object) |
//! | tool result | `functionResponse {name, response}`: the name comes from the earlier assistant tool call with the same id; a result that is not a JSON object is wrapped as `{"result": ...}` |
//! | tools | `tools: [{functionDeclarations}]`, each schema sent as `parametersJsonSchema` (JSON Schema as given; a tool without one declares an object schema without properties) |
//! | tool choice auto / none / required / function | `toolConfig.functionCallingConfig.mode` `AUTO` / `NONE` / `ANY` / `ANY` with `allowedFunctionNames` |
//! | temperature, top_p, max_tokens, stop, seed | `generationConfig` `temperature`, `topP`, `maxOutputTokens`, `stopSequences`, `seed` |
//! | JSON object / JSON schema | `responseMimeType: application/json`, plus `responseJsonSchema` for a schema (the name and `strict` are not sent: Gemini always follows the schema). With tools, on a model whose [profile](crate::provider::profile) says it cannot combine them (Gemini 2.x): an answer function named after the schema (`json_object` for JSON object mode; a schema whose root is not an object wrapped in `value`) with mode `ANY`, whose call is returned as the text |
//! | reasoning control | `generationConfig.thinkingConfig`: `thinkingLevel` (`low` / `high`) where the profile says so (Gemini 3), else `thinkingBudget` |
//! | `extra` parameters | `safetySettings`, `cachedContent` and `toolConfig` go to the top level of the body; every other key goes into `generationConfig` (for example `topK`, `thinkingConfig`), replacing a value routewise set |
//!
//! Schemas go in the `...JsonSchema` fields because they take JSON Schema as it is; the older
//! `parameters` / `responseSchema` fields take an OpenAPI subset that refuses common JSON
//! Schema keywords (`$schema`, `$defs`, `const`). Image detail levels are not sent. Gemini pairs function responses with calls by name and
//! order, so tool call ids are not sent either.
//!
//! Gemini 3 models sign their function calls (`thoughtSignature`) and reject a replayed
//! call that lacks the signature. Canonical tool calls carry no signature, so the first
//! function call of each replayed assistant message carries Google's documented
//! placeholder, `skip_thought_signature_validator`: the request is accepted, and the model
//! does without its earlier reasoning for that step.
//!
//! # How responses map
//!
//! The first candidate's text parts join into the content (thought summaries are left out);
//! `functionCall` parts become tool calls, with ids `call_0`, `call_1`, ... when Gemini gives
//! none. `finishReason` `STOP` is [`FinishReason::Stop`](crate::FinishReason::Stop),
//! `MAX_TOKENS` is `Length`, `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`,
//! `SPII` and the image safety reasons are `ContentFilter`, any answer with a function call
//! is `ToolCalls`, and the rest is `Other` with Gemini's word. A prompt blocked by
//! `promptFeedback.blockReason` is an [`ErrorKind::ContentFiltered`](crate::ErrorKind)
//! error.
//!
//! Usage: input tokens are `promptTokenCount` (which includes cached content) plus
//! `toolUsePromptTokenCount`; cached input tokens are `cachedContentTokenCount`. Gemini counts
//! thinking apart from the answer, so output tokens are `candidatesTokenCount` plus
//! `thoughtsTokenCount`, and reasoning tokens are `thoughtsTokenCount`.
//!
//! A stream is a series of server-sent events, each a whole response chunk; it ends when the
//! connection closes. A stream whose chunks never carried a `finishReason` was cut short
//! and ends with an [`ErrorKind::MalformedResponse`](crate::ErrorKind) error.
//!
//! # Errors
//!
//! Gemini's error body is `{"error": {"code", "message", "status", "details"}}`; the
//! `status` decides the kind: `INVALID_ARGUMENT` is an invalid request (a context-length
//! overflow when the message says the input has too many tokens, an auth failure when the
//! API key is invalid), `FAILED_PRECONDITION` (billing not enabled, region not supported)
//! and `PERMISSION_DENIED` / `UNAUTHENTICATED` are auth failures, `NOT_FOUND` is not found,
//! `RESOURCE_EXHAUSTED` is rate limited (retry after the `retry-after` header or the
//! `google.rpc.RetryInfo` detail's `retryDelay`), `INTERNAL` a server error, `UNAVAILABLE`
//! overloaded and `DEADLINE_EXCEEDED` a timeout. Other statuses follow the HTTP status.
//! Messages keep Gemini's words with the account's secrets replaced by `[REDACTED]`.

mod error;
mod exchange;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
mod request;
mod response;
mod stream;

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;

#[cfg(feature = "vertex")]
pub(crate) use self::error::from_http as error_from_http;
pub(crate) use self::exchange::Exchange;
use super::client::AdapterClient;
use super::http;
use super::timeouts::{CallTimer, HttpTimeouts};
use super::{
    ErrorKind, Provider, ProviderError, ProviderRequest, ProviderResponse, ProviderStream,
};
use crate::account::AccountInfo;

/// Where the Gemini API lives unless an account says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// The adapter kind whose adapters share a client.
const KIND: &str = "gemini";

/// The Google Gemini API (`generativelanguage.googleapis.com`, REST `v1beta`).
///
/// Cheap to clone: clones share one connection pool. See the [module docs](self) for how
/// requests, responses and errors map.
///
/// ```
/// use routewise::provider::gemini::Gemini;
/// use routewise::{ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType, Target};
///
/// let router = Router::builder()
///     .account(ProviderAccount::new("google", Gemini::new()).api_key("AIza-example-key"))
///     .model(LogicalModel::new("fast").target(Target::new("google", "gemini-2.5-flash")))
///     .policy(Policy::new("chat").purposes([Purpose::Chat]).route(["fast"]))
///     .build()?;
/// let plan = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
/// assert_eq!(&*plan.candidates[0].provider_model, "gemini-2.5-flash");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Gemini {
    client: AdapterClient,
    timeouts: HttpTimeouts,
}

impl Gemini {
    /// An adapter with the default [`HttpTimeouts`].
    pub fn new() -> Self {
        Self::with_timeouts(HttpTimeouts::default())
    }

    /// An adapter with these timeouts: `connect` and `read` (first byte, and each later
    /// chunk of a stream) apply to every call, `total` to non-streaming calls and health
    /// checks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use routewise::provider::HttpTimeouts;
    /// use routewise::provider::gemini::Gemini;
    ///
    /// let gemini = Gemini::with_timeouts(HttpTimeouts::default().total(Duration::from_secs(30)));
    /// # let _ = gemini;
    /// ```
    pub fn with_timeouts(timeouts: HttpTimeouts) -> Self {
        Self {
            client: AdapterClient::shared(KIND, &timeouts),
            timeouts,
        }
    }

    /// Sends every call through `client` instead of the one routewise builds: for a
    /// corporate proxy or CA, mutual TLS, or one connection pool with the rest of your
    /// application.
    ///
    /// The adapter's timeouts still apply: the total one to each non-streaming call, and
    /// the read one to the wait for each answer. The connect timeout, and the read
    /// timeout between the chunks of a stream, are the client's own: set them on its
    /// builder.
    ///
    /// With routewise's default `rustls` feature alone, the reqwest in your build has no
    /// TLS crypto provider of its own (routewise configures its clients' TLS itself):
    /// enable reqwest's `rustls` or `native-tls` feature in your `Cargo.toml`, or install
    /// a provider (`rustls::crypto::ring::default_provider().install_default()`) before
    /// building your client.
    ///
    /// ```no_run
    /// use routewise::Gemini;
    ///
    /// let client = reqwest::Client::builder()
    ///     .proxy(reqwest::Proxy::https("http://proxy.internal:3128")?)
    ///     .build()?;
    /// let gemini = Gemini::new().http_client(client);
    /// # let _ = gemini;
    /// # Ok::<(), reqwest::Error>(())
    /// ```
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = AdapterClient::supplied(client);
        self
    }

    /// Sends `request` to the model's `method` and returns the successful response, or the
    /// classified error.
    async fn post(
        &self,
        request: &ProviderRequest<'_>,
        body: Vec<u8>,
        method: &str,
        timer: &mut CallTimer,
    ) -> Result<reqwest::Response, ProviderError> {
        let account = request.account();
        let url = format!(
            "{}/v1beta/{}:{method}",
            base_url(account),
            model_resource(request.model())?
        );
        let builder = self
            .client
            .get()
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        timer
            .limit(send(&self.client, authorize(builder, account)?, account))
            .await
    }
}

impl Default for Gemini {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Provider for Gemini {
    fn rate_limits_per_model(&self) -> bool {
        true
    }

    fn provider_name(&self) -> &str {
        "gemini"
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let account = request.account();
        let mut adaptation = None;
        let request = request.adapt_into(&mut adaptation);
        let mut exchange = Exchange::build(&request)?;
        let body = std::mem::take(&mut exchange.body);
        let mut timer = CallTimer::call(&self.timeouts);
        let response = self
            .post(&request, body, "generateContent", &mut timer)
            .await?;
        let max = self.timeouts.max_body_bytes;
        let body = http::read_body(response, account, max, &mut timer).await?;
        exchange.parse(&body, account)
    }

    async fn stream(&self, request: ProviderRequest<'_>) -> Result<ProviderStream, ProviderError> {
        let mut adaptation = None;
        let request = request.adapt_into(&mut adaptation);
        let mut exchange = Exchange::build(&request)?;
        let body = std::mem::take(&mut exchange.body);
        // A stream may outlive the total timeout; its chunks are bounded by the read one.
        let mut timer = CallTimer::stream(&self.timeouts);
        let response = self
            .post(&request, body, "streamGenerateContent?alt=sse", &mut timer)
            .await?;
        Ok(exchange.into_stream(response, request.account().clone(), timer))
    }

    /// Lists one model (`GET {base}/v1beta/models?pageSize=1`): cheap, and it proves the
    /// endpoint answers and the key is accepted.
    async fn health_check(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let url = format!("{}/v1beta/models?pageSize=1", base_url(account));
        let builder = self.client.get().get(url);
        let answer = send(&self.client, authorize(builder, account)?, account);
        CallTimer::call(&self.timeouts)
            .limit(answer)
            .await
            .map(drop)
    }

    /// `https://generativelanguage.googleapis.com`.
    fn default_base_url(&self) -> Option<&str> {
        Some(DEFAULT_BASE_URL)
    }

    /// Opens a connection to the account's endpoint (`HEAD {base}/v1beta/models`,
    /// without the key).
    async fn warm_up(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let base = base_url(account);
        let url = reqwest::Url::parse(&format!("{base}/v1beta/models")).map_err(|e| {
            ProviderError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "account `{}`: base URL `{base}` is not valid: {e}",
                    account.name()
                ),
            )
        })?;
        self.client
            .open_connection(url, &self.timeouts, account)
            .await
    }
}

fn base_url(account: &AccountInfo) -> &str {
    account
        .base_url()
        .unwrap_or(DEFAULT_BASE_URL)
        .trim_end_matches('/')
}

/// The model's resource name: `models/{id}` (a leading `models/` in the id is accepted) or
/// `tunedModels/{id}`. Ids are checked so they cannot reshape the URL.
fn model_resource(model: &str) -> Result<String, ProviderError> {
    let (collection, id) = match model.split_once('/') {
        Some(("tunedModels", id)) => ("tunedModels", id),
        Some(("models", id)) => ("models", id),
        _ => ("models", model),
    };
    let valid = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(format!("{collection}/{id}"))
    } else {
        Err(ProviderError::new(
            ErrorKind::NotFound,
            format!("model id `{model}` is not a Gemini model name"),
        ))
    }
}

/// Adds the API key and the account's extra headers.
fn authorize(
    mut builder: reqwest::RequestBuilder,
    account: &AccountInfo,
) -> Result<reqwest::RequestBuilder, ProviderError> {
    let invalid = |name: &str| {
        ProviderError::new(
            ErrorKind::InvalidRequest,
            format!(
                "account `{}`: header `{name}` is not a valid HTTP header",
                account.name()
            ),
        )
    };
    if let Some(key) = account.api_key() {
        let value = http::sensitive_value(key.expose()).ok_or_else(|| invalid("x-goog-api-key"))?;
        builder = builder.header("x-goog-api-key", value);
    }
    for (name, secret) in account.headers() {
        let name_value =
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?;
        let value = http::sensitive_value(secret.expose()).ok_or_else(|| invalid(name))?;
        builder = builder.header(name_value, value);
    }
    Ok(builder)
}

/// Sends the request; a non-success status becomes the classified error of its body.
async fn send(
    client: &AdapterClient,
    builder: reqwest::RequestBuilder,
    account: &AccountInfo,
) -> Result<reqwest::Response, ProviderError> {
    let failed = match http::answer(client, builder, account).await? {
        http::Answer::Success(response) => return Ok(response),
        http::Answer::Failed(failed) => failed,
    };
    let status = failed.status().as_u16();
    let headers = failed.headers().clone();
    match failed.bytes().await {
        Ok(body) => Err(error::from_http(status, &headers, &body, account)),
        Err(e) => Err(http::transport_error(&e, account).with_status(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_become_resource_names() {
        assert_eq!(
            model_resource("gemini-2.5-flash").unwrap(),
            "models/gemini-2.5-flash"
        );
        assert_eq!(
            model_resource("models/gemini-2.0-flash-001").unwrap(),
            "models/gemini-2.0-flash-001"
        );
        assert_eq!(
            model_resource("tunedModels/my_model-7").unwrap(),
            "tunedModels/my_model-7"
        );
    }

    #[test]
    fn model_ids_that_would_reshape_the_url_are_refused() {
        for bad in [
            "",
            "models/",
            "a/b",
            "x?key=1",
            "x#y",
            "x:streamGenerateContent",
            "a b",
        ] {
            let err = model_resource(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{bad}");
        }
    }

    #[test]
    fn base_url_defaults_to_google_and_loses_trailing_slashes() {
        let account = AccountInfo::new("a");
        assert_eq!(base_url(&account), DEFAULT_BASE_URL);
        let custom = crate::ProviderAccount::new("b", Gemini::new()).base_url("http://h:1/p/");
        assert_eq!(base_url(custom.info()), "http://h:1/p");
    }
}
