//! The OpenAI Chat Completions adapter, for OpenAI itself, every OpenAI-compatible
//! endpoint and Azure OpenAI.
//!
//! [`OpenAi`] sends `POST {base}/chat/completions` with the account's API key as
//! `Authorization: Bearer <key>`, plus the account's extra headers. The base URL is the
//! account's [`base_url`](crate::ProviderAccount::base_url), `https://api.openai.com/v1`
//! when unset.
//!
//! # OpenAI-compatible endpoints
//!
//! Servers that speak the Chat Completions wire format need no adapter of their own: give
//! their account the base URL below (the adapter appends `/chat/completions`) and use their
//! model ids in targets. [`OpenAi::preset`] knows the common hosts by name ([`Preset`]:
//! Mistral, Groq, DeepSeek, Together, Fireworks, OpenRouter, xAI, Ollama, vLLM, LM Studio)
//! with their base URL, telemetry name and the parameters they refuse.
//!
//! | endpoint | base URL | notes |
//! | --- | --- | --- |
//! | OpenAI | `https://api.openai.com/v1` (default) | organization / project via the `OpenAI-Organization` / `OpenAI-Project` headers |
//! | Ollama | `http://localhost:11434/v1` | no API key needed |
//! | vLLM | `http://localhost:8000/v1` | key only if the server was started with `--api-key` |
//! | Groq | `https://api.groq.com/openai/v1` | |
//! | Together AI | `https://api.together.xyz/v1` | |
//! | Mistral | `https://api.mistral.ai/v1` | refuses `stream_options` ([`Preset::Mistral`] turns [`stream_usage`](OpenAi::stream_usage) off) |
//! | DeepSeek | `https://api.deepseek.com/v1` | |
//! | OpenRouter | `https://openrouter.ai/api/v1` | model ids such as `openai/gpt-4o`; `HTTP-Referer` / `X-Title` as account headers |
//!
//! For a backend that names itself differently in telemetry, set
//! [`with_provider_name`](OpenAi::with_provider_name) (for example `groq`).
//!
//! # Azure OpenAI
//!
//! [`OpenAi::azure`] switches the same adapter to Azure's URLs and auth: the account's base
//! URL is the resource endpoint (`https://<resource>.openai.azure.com`), a target's model id
//! is the **deployment name**, requests go to
//! `{base}/openai/deployments/{deployment}/chat/completions?api-version=...`, and the key is
//! sent as `api-key`. For Microsoft Entra ID, leave the key unset and give the account an
//! `Authorization: Bearer <token>` header instead (account headers override the adapter's).
//!
//! # Mapping
//!
//! * Messages, image parts (URLs; inline images as `data:` URLs, with `detail`), tools,
//!   tool choice, tool calls and results, `response_format` (`json_object`, `json_schema`
//!   with `strict`), temperature, top-p, stop, seed, and the request's extra parameters,
//!   which are passed through verbatim unless the adapter already sets that key.
//! * The token limit goes out as the model's [profile](crate::provider::profile) says:
//!   `max_completion_tokens` for the o1, o3, o4, gpt-5 and gpt-6 families, which refuse
//!   `max_tokens`, and `max_tokens` for every other model id (what compatible servers
//!   understand); [`OpenAi::max_tokens_field`] overrides this.
//! * Parameters the model's profile says it refuses (a reasoning model's `temperature`,
//!   `top_p`, `stop`, penalties) are left out, and recorded as adaptations; the reasoning
//!   control goes out as `reasoning_effort`. A tool without a schema declares an object
//!   schema without properties; a tool choice without tools is not sent.
//! * Streams ask for usage in the final chunk (`stream_options.include_usage`); tool-call
//!   fragments keep OpenAI's per-call `index`.
//! * Usage includes cached prompt tokens, cache writes and reasoning tokens.
//! * A `content_filter` finish reason, like a `content_policy_violation` or
//!   `content_filter` error code, is an [`ErrorKind::ContentFiltered`](crate::ErrorKind)
//!   error. A model's refusal (`refusal`) is returned as its text.
//! * Errors keep OpenAI's message, type, code and param, with the account's secrets
//!   removed, and are classified by status, code and message; 429s carry the wait from
//!   `retry-after-ms`, `retry-after` or `x-ratelimit-reset-*`.

mod endpoint;
mod error;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
mod max_tokens;
mod prepared;
mod preset;
mod request;
mod response;
mod stream;

use async_trait::async_trait;
use reqwest::Method;

use self::endpoint::Endpoint;
pub use self::max_tokens::MaxTokensField;
use self::prepared::PreparedCalls;
pub use self::preset::{Preset, UnknownPreset};
use super::client::AdapterClient;
use super::event_stream;
use super::http;
use super::timeouts::{CallTimer, HttpTimeouts};
use super::{Provider, ProviderError, ProviderRequest, ProviderResponse, ProviderStream};
use crate::account::AccountInfo;

/// The OpenAI Chat Completions adapter (also for compatible endpoints and Azure OpenAI).
///
/// Cheap to clone. Its HTTP client is built with the adapter (never on a request) and
/// shared with every other `OpenAi` adapter with the same connect timeout, connection pool
/// included; [`http_client`](Self::http_client) supplies your own instead.
///
/// ```
/// use routewise::{LogicalModel, OpenAi, ProviderAccount, Target};
///
/// let openai = ProviderAccount::new("openai", OpenAi::new()).api_key("sk-...");
/// let groq = ProviderAccount::new("groq", OpenAi::new().with_provider_name("groq"))
///     .api_key("gsk-...")
///     .base_url("https://api.groq.com/openai/v1");
/// let azure = ProviderAccount::new("azure-eu", OpenAi::azure("2024-10-21"))
///     .api_key("...")
///     .base_url("https://my-resource.openai.azure.com");
/// let model = LogicalModel::new("primary-llm")
///     .target(Target::new("openai", "gpt-4o"))
///     .target(Target::new("azure-eu", "my-gpt-4o-deployment"))
///     .target(Target::new("groq", "llama-3.3-70b-versatile"));
/// # let _ = (openai, groq, azure, model);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct OpenAi {
    endpoint: Endpoint,
    provider_name: String,
    max_tokens_field: Option<MaxTokensField>,
    stream_usage: bool,
    timeouts: HttpTimeouts,
    client: AdapterClient,
    /// The URL and headers of the account called last.
    prepared: PreparedCalls,
}

impl Default for OpenAi {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenAi {
    /// The adapter for OpenAI and OpenAI-compatible endpoints.
    pub fn new() -> Self {
        Self::with_endpoint(Endpoint::OpenAi, "openai", HttpTimeouts::default())
    }

    /// The adapter for an OpenAI-compatible host known by name: its base URL (which an
    /// account's `base_url` still replaces), its telemetry name, the parameters it refuses
    /// (left out of every request, see [`Preset`]) and whether it takes `stream_options`.
    ///
    /// ```
    /// use routewise::provider::openai::Preset;
    /// use routewise::{OpenAi, Provider, ProviderAccount};
    ///
    /// let groq = ProviderAccount::new("groq", OpenAi::preset(Preset::Groq)).api_key("gsk-...");
    /// let local = ProviderAccount::new("vllm", OpenAi::preset(Preset::Vllm))
    ///     .base_url("http://gpu-box:9000/v1");
    /// assert_eq!(OpenAi::preset(Preset::Mistral).provider_name(), "mistral_ai");
    /// # let _ = (groq, local);
    /// ```
    pub fn preset(preset: Preset) -> Self {
        Self::preset_with_timeouts(preset, HttpTimeouts::default())
    }

    pub(crate) fn preset_with_timeouts(preset: Preset, timeouts: HttpTimeouts) -> Self {
        Self::with_endpoint(Endpoint::Preset(preset), preset.provider_name(), timeouts)
            .stream_usage(preset.takes_stream_options())
    }

    /// The adapter a config file describes: Azure when it names an `api-version`, with
    /// its timeouts from the start, so no client is built for the default ones.
    pub(crate) fn configured(azure_api_version: Option<&str>, timeouts: HttpTimeouts) -> Self {
        match azure_api_version {
            Some(api_version) => Self::with_endpoint(
                Endpoint::Azure {
                    api_version: api_version.to_owned(),
                },
                "az.ai.openai",
                timeouts,
            ),
            None => Self::with_endpoint(Endpoint::OpenAi, "openai", timeouts),
        }
    }

    /// The adapter for Azure OpenAI with a data-plane `api-version` such as `2024-10-21`.
    /// Targets name deployments; accounts name the resource endpoint as their base URL.
    ///
    /// ```
    /// use routewise::{OpenAi, Provider};
    ///
    /// assert_eq!(OpenAi::azure("2024-10-21").provider_name(), "az.ai.openai");
    /// ```
    pub fn azure(api_version: impl Into<String>) -> Self {
        Self::with_endpoint(
            Endpoint::Azure {
                api_version: api_version.into(),
            },
            "az.ai.openai",
            HttpTimeouts::default(),
        )
    }

    fn with_endpoint(endpoint: Endpoint, provider_name: &str, timeouts: HttpTimeouts) -> Self {
        Self {
            endpoint,
            provider_name: provider_name.to_owned(),
            max_tokens_field: None,
            stream_usage: true,
            timeouts,
            client: AdapterClient::shared(KIND, &timeouts),
            prepared: PreparedCalls::default(),
        }
    }

    /// Sets the name reported as `gen_ai.provider.name` (default `openai`, or `az.ai.openai` for
    /// Azure).
    ///
    /// ```
    /// use routewise::{OpenAi, Provider};
    ///
    /// assert_eq!(OpenAi::new().with_provider_name("deepseek").provider_name(), "deepseek");
    /// ```
    pub fn with_provider_name(mut self, name: impl Into<String>) -> Self {
        self.provider_name = name.into();
        self
    }

    /// Always sends the token limit in this field, instead of choosing by model id (see
    /// [`MaxTokensField::for_model`]). Useful for Azure deployments, whose names need not
    /// follow the model's.
    ///
    /// ```
    /// use routewise::OpenAi;
    /// use routewise::provider::openai::MaxTokensField;
    ///
    /// let azure = OpenAi::azure("2024-10-21").max_tokens_field(MaxTokensField::MaxCompletionTokens);
    /// # let _ = azure;
    /// ```
    pub fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.max_tokens_field = Some(field);
        self
    }

    /// Whether streams ask for usage in their last chunk with
    /// `stream_options.include_usage` (default on). Turn it off for servers that refuse the
    /// option; their streams then report the usage they send on their own, if any.
    ///
    /// ```
    /// use routewise::OpenAi;
    ///
    /// let mistral = OpenAi::new().with_provider_name("mistral_ai").stream_usage(false);
    /// # let _ = mistral;
    /// ```
    pub fn stream_usage(mut self, enabled: bool) -> Self {
        self.stream_usage = enabled;
        self
    }

    /// Sets the connect, read (first byte and between stream chunks) and total timeouts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use routewise::OpenAi;
    /// use routewise::provider::HttpTimeouts;
    ///
    /// let openai = OpenAi::new().timeouts(HttpTimeouts::default().read(Duration::from_secs(30)));
    /// # let _ = openai;
    /// ```
    pub fn timeouts(mut self, timeouts: HttpTimeouts) -> Self {
        self.timeouts = timeouts;
        if !self.client.is_supplied() {
            self.client = AdapterClient::shared(KIND, &timeouts);
        }
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
    /// use std::time::Duration;
    /// use routewise::OpenAi;
    ///
    /// let client = reqwest::Client::builder()
    ///     .proxy(reqwest::Proxy::https("http://proxy.internal:3128")?)
    ///     .connect_timeout(Duration::from_secs(5))
    ///     .build()?;
    /// let openai = OpenAi::new().http_client(client);
    /// # let _ = openai;
    /// # Ok::<(), reqwest::Error>(())
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = AdapterClient::supplied(client);
        self
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get()
    }

    fn body(&self, request: &ProviderRequest<'_>, stream: bool) -> Vec<u8> {
        let field = self
            .max_tokens_field
            .unwrap_or_else(|| request.profile().max_tokens_field);
        let stream = stream.then_some(request::Streaming {
            include_usage: self.stream_usage,
        });
        request::body(request, field, stream)
    }

    /// Sends a chat completion request and returns the response if its status is a
    /// success, or the classified error the status and body make.
    async fn send(
        &self,
        request: &ProviderRequest<'_>,
        stream: bool,
        timer: &mut CallTimer,
    ) -> Result<reqwest::Response, ProviderError> {
        let account = request.account();
        let (url, headers) = self
            .prepared
            .chat(&self.endpoint, account, request.model())?;
        let mut adaptation = None;
        let body = self.body(&request.adapt_into(&mut adaptation), stream);
        let call = if url.has_host() {
            // What `post(url).headers(headers).body(body)` builds, without merging the
            // headers one by one into an empty map.
            let mut built = reqwest::Request::new(Method::POST, url);
            *built.headers_mut() = headers;
            *built.body_mut() = Some(body.into());
            reqwest::RequestBuilder::from_parts(self.client().clone(), built)
        } else {
            // reqwest refuses a URL without a host when the call is sent; let it say so.
            self.client().post(url).headers(headers).body(body)
        };
        timer
            .limit(http::send(
                &self.client,
                call,
                account,
                error::from_response,
            ))
            .await
    }
}

/// The adapter kind whose adapters share a client.
const KIND: &str = "openai";

#[async_trait]
impl Provider for OpenAi {
    fn rate_limits_per_model(&self) -> bool {
        true
    }

    fn provider_name(&self) -> &str {
        &self.provider_name
    }

    /// The preset host's refusals (see [`Preset::refused_parameters`]); none otherwise.
    fn refused_parameters(&self) -> &[&str] {
        match self.endpoint {
            Endpoint::Preset(preset) => preset.refused_parameters(),
            _ => &[],
        }
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let account = request.account();
        let mut timer = CallTimer::call(&self.timeouts);
        let response = self.send(&request, false, &mut timer).await?;
        let max = self.timeouts.max_body_bytes;
        let body = http::read_body(response, account, max, &mut timer).await?;
        response::parse(&body, account)
    }

    async fn stream(&self, request: ProviderRequest<'_>) -> Result<ProviderStream, ProviderError> {
        let account = request.account();
        let mut timer = CallTimer::stream(&self.timeouts);
        let response = self.send(&request, true, &mut timer).await?;
        if stream::is_json(&response) {
            // The server ignored `stream: true` (or reported an error with a 200) and sent
            // one JSON body: replay it as events.
            let max = self.timeouts.max_body_bytes;
            let body = http::read_body(response, account, max, &mut timer).await?;
            let events = response::parse(&body, account)?.into_events();
            return Ok(Box::pin(futures::stream::iter(events.into_iter().map(Ok))));
        }
        let decoder = stream::Decoder::default();
        Ok(event_stream::decode_events(
            response,
            account.clone(),
            decoder,
            timer,
        ))
    }

    async fn health_check(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let call = self
            .client()
            .get(self.endpoint.models_url(account)?)
            .headers(self.endpoint.headers(account)?);
        let answer = http::send(&self.client, call, account, error::from_response);
        CallTimer::call(&self.timeouts)
            .limit(answer)
            .await
            .map(drop)
    }

    /// `https://api.openai.com/v1`, a preset's base URL; Azure has no default (the
    /// account names its resource).
    fn default_base_url(&self) -> Option<&str> {
        self.endpoint.default_base_url()
    }

    /// Opens a connection to the account's endpoint (`HEAD` on the model listing URL,
    /// without the key).
    async fn warm_up(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let url = self.endpoint.models_url(account)?;
        self.client
            .open_connection(url, &self.timeouts, account)
            .await
    }
}
