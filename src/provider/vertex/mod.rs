//! The Google Vertex AI adapter: Gemini and Claude on Google Cloud.
//!
//! [`Vertex`] serves one project and location. A target's model id picks the publisher,
//! and with it the wire format, reused from the [Gemini](super::gemini) and
//! [Anthropic](super::anthropic) adapters:
//!
//! | model id | publisher | calls |
//! |---|---|---|
//! | `gemini-2.5-flash`, `google/gemini-2.5-pro` | Google | `POST {base}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`, `:streamGenerateContent?alt=sse` |
//! | `claude-sonnet-4-5@20250929`, `anthropic/claude-opus-4-1` | Anthropic | `POST .../publishers/anthropic/models/{m}:rawPredict`, `:streamRawPredict` |
//!
//! The base is `https://{location}-aiplatform.googleapis.com` (`https://aiplatform.googleapis.com`
//! for the `global` location); an account's [`base_url`](crate::ProviderAccount::base_url)
//! replaces it. Ids are checked so they cannot reshape the URL.
//!
//! Gemini requests and answers map exactly as the [Gemini adapter's](super::gemini) do.
//! Claude requests map as the [Anthropic adapter's](super::anthropic) do, with the model in
//! the URL instead of the body and `"anthropic_version": "vertex-2023-10-16"` in the body
//! instead of a header; the account's headers (an `anthropic-beta`, say) are sent too.
//!
//! # Auth
//!
//! Every call carries `Authorization: Bearer <token>`, an OAuth access token from the
//! adapter's [`GoogleCredentials`]: a service-account key, application default credentials
//! or the metadata server. Tokens are cached and refreshed before they expire; a token
//! endpoint that refuses the credentials fails the call as [`ErrorKind::Auth`], which
//! takes the account out of rotation as a rejected key does. The account's
//! [`api_key`](crate::ProviderAccount::api_key) is not used.
//!
//! # Errors
//!
//! Vertex AI's front end answers with Google's `{"error": {"code", "message", "status"}}`,
//! classified as the Gemini adapter does (`RESOURCE_EXHAUSTED` rate limited with its retry
//! delay, `PERMISSION_DENIED` and `UNAUTHENTICATED` auth failures, `NOT_FOUND` not found,
//! `UNAVAILABLE` overloaded, context overflows by their message, ...); an error the Claude
//! model itself reports (`{"type": "error", "error": {"type", "message"}}`, also in the
//! middle of a stream) is classified as the Anthropic adapter does. A 401 also drops the
//! cached token, so the next call fetches a new one.

mod credentials;
mod endpoint;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName};

pub use self::credentials::{CredentialsError, GoogleCredentials};
use self::endpoint::{Location, Publisher};
use super::client::AdapterClient;
use super::http;
use super::timeouts::{CallTimer, HttpTimeouts};
use super::{
    ErrorKind, Provider, ProviderError, ProviderRequest, ProviderResponse, ProviderStream,
    anthropic, gemini,
};
use crate::account::AccountInfo;

/// The `anthropic_version` Vertex AI's Claude models take.
pub const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// The adapter kind whose adapters share a client.
const KIND: &str = "vertex";

/// Google Vertex AI: Gemini (Google) and Claude (Anthropic) models of one project and
/// location, with OAuth tokens from [`GoogleCredentials`].
///
/// Cheap to clone: clones share one connection pool and one token cache. See the
/// [module docs](self) for the URLs, the wire formats and the errors.
///
/// ```
/// use routewise::provider::vertex::{GoogleCredentials, Vertex};
/// use routewise::{ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType, Target};
///
/// let vertex = Vertex::new("acme-prod", "us-east5", GoogleCredentials::metadata_server());
/// let router = Router::builder()
///     .account(ProviderAccount::new("vertex", vertex))
///     .model(
///         LogicalModel::new("smart")
///             .target(Target::new("vertex", "claude-sonnet-4-5@20250929"))
///             .target(Target::new("vertex", "gemini-2.5-pro")),
///     )
///     .policy(Policy::new("chat").purposes([Purpose::Chat]).route(["smart"]))
///     .build()?;
/// let plan = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
/// assert_eq!(&*plan.candidates[1].provider_model, "gemini-2.5-pro");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "vertex")))]
pub struct Vertex {
    client: AdapterClient,
    timeouts: HttpTimeouts,
    credentials: GoogleCredentials,
    location: Location,
    default_max_tokens: u32,
}

impl Vertex {
    /// An adapter for `project` (its id, such as `acme-prod`) in `location` (a region
    /// such as `us-east5` or `europe-west1`, or `global`), with default timeouts.
    pub fn new(
        project: impl Into<String>,
        location: impl Into<String>,
        credentials: GoogleCredentials,
    ) -> Self {
        Self::with_timeouts(project, location, credentials, HttpTimeouts::default())
    }

    /// An adapter with these timeouts from the start, so no client is built for the
    /// default ones.
    pub(crate) fn with_timeouts(
        project: impl Into<String>,
        location: impl Into<String>,
        credentials: GoogleCredentials,
        timeouts: HttpTimeouts,
    ) -> Self {
        Self {
            client: AdapterClient::shared(KIND, &timeouts),
            timeouts,
            credentials,
            location: Location::new(project.into(), location.into()),
            default_max_tokens: anthropic::DEFAULT_MAX_TOKENS,
        }
    }

    /// Sets the connect, read and total timeouts (token requests included).
    ///
    /// ```
    /// use std::time::Duration;
    /// use routewise::provider::HttpTimeouts;
    /// use routewise::provider::vertex::{GoogleCredentials, Vertex};
    ///
    /// let vertex = Vertex::new("acme-prod", "global", GoogleCredentials::metadata_server())
    ///     .timeouts(HttpTimeouts::default().read(Duration::from_secs(20)));
    /// # let _ = vertex;
    /// ```
    #[must_use]
    pub fn timeouts(mut self, timeouts: HttpTimeouts) -> Self {
        if !self.client.is_supplied() {
            self.client = AdapterClient::shared(KIND, &timeouts);
        }
        self.timeouts = timeouts;
        self
    }

    /// Sends every call, token requests included, through `client` instead of the one
    /// routewise builds (see [`Gemini::http_client`](crate::Gemini::http_client) for how
    /// timeouts and TLS apply).
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = AdapterClient::supplied(client);
        self
    }

    /// Sets the `max_tokens` sent to Claude models when neither the request nor the
    /// logical model sets one (default
    /// [`anthropic::DEFAULT_MAX_TOKENS`]).
    ///
    /// ```
    /// use routewise::provider::vertex::{GoogleCredentials, Vertex};
    ///
    /// let vertex = Vertex::new("acme-prod", "us-east5", GoogleCredentials::metadata_server())
    ///     .default_max_tokens(2048);
    /// # let _ = vertex;
    /// ```
    #[must_use]
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens;
        self
    }

    /// The credentials tokens come from.
    pub fn credentials(&self) -> &GoogleCredentials {
        &self.credentials
    }

    /// Sends `body` to `url` with a token and the account's headers; a non-success
    /// answer is the classified error (a 401 also drops the token).
    async fn post(
        &self,
        url: reqwest::Url,
        body: Vec<u8>,
        account: &AccountInfo,
        timer: &mut CallTimer,
    ) -> Result<reqwest::Response, ProviderError> {
        let builder = self
            .client
            .get()
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        self.send(builder, account, timer).await
    }

    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        account: &AccountInfo,
        timer: &mut CallTimer,
    ) -> Result<reqwest::Response, ProviderError> {
        let bearer = self
            .credentials
            .bearer(self.client.get(), &self.timeouts, account)
            .await?;
        let builder = builder.headers(headers(bearer.clone(), account)?);
        let answer = http::send(&self.client, builder, account, classify);
        let result = timer.limit(answer).await;
        if let Err(error) = &result
            && error.status() == Some(401)
        {
            self.credentials.forget(&bearer);
        }
        result
    }

    async fn complete_claude(
        &self,
        request: &ProviderRequest<'_>,
        model: &str,
    ) -> Result<ProviderResponse, ProviderError> {
        let account = request.account();
        let mut exchange = anthropic::Exchange::vertex(
            request,
            ANTHROPIC_VERSION,
            self.default_max_tokens,
            false,
        )?;
        let url = self
            .location
            .method_url(account, Publisher::Anthropic, model, "rawPredict")?;
        let body = std::mem::take(&mut exchange.body);
        let mut timer = CallTimer::call(&self.timeouts);
        let response = self.post(url, body, account, &mut timer).await?;
        let max = self.timeouts.max_body_bytes;
        let bytes = http::read_body(response, account, max, &mut timer).await?;
        exchange.parse(&bytes, account)
    }

    async fn complete_gemini(
        &self,
        request: &ProviderRequest<'_>,
        model: &str,
    ) -> Result<ProviderResponse, ProviderError> {
        let account = request.account();
        let mut exchange = gemini::Exchange::build(request)?;
        let url = self
            .location
            .method_url(account, Publisher::Google, model, "generateContent")?;
        let body = std::mem::take(&mut exchange.body);
        let mut timer = CallTimer::call(&self.timeouts);
        let response = self.post(url, body, account, &mut timer).await?;
        let max = self.timeouts.max_body_bytes;
        let bytes = http::read_body(response, account, max, &mut timer).await?;
        exchange.parse(&bytes, account)
    }
}

#[async_trait]
impl Provider for Vertex {
    /// `gcp.vertex_ai`, OpenTelemetry's name for Vertex AI.
    fn provider_name(&self) -> &str {
        "gcp.vertex_ai"
    }

    /// Vertex AI's quotas are per model and region.
    fn rate_limits_per_model(&self) -> bool {
        true
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let mut adaptation = None;
        let request = request.adapt_into(&mut adaptation);
        match endpoint::publisher_model(request.model())? {
            (Publisher::Anthropic, model) => self.complete_claude(&request, model).await,
            (Publisher::Google, model) => self.complete_gemini(&request, model).await,
        }
    }

    async fn stream(&self, request: ProviderRequest<'_>) -> Result<ProviderStream, ProviderError> {
        let mut adaptation = None;
        let request = request.adapt_into(&mut adaptation);
        let account = request.account();
        match endpoint::publisher_model(request.model())? {
            (Publisher::Anthropic, model) => {
                let mut exchange = anthropic::Exchange::vertex(
                    &request,
                    ANTHROPIC_VERSION,
                    self.default_max_tokens,
                    true,
                )?;
                let url = self.location.method_url(
                    account,
                    Publisher::Anthropic,
                    model,
                    "streamRawPredict",
                )?;
                let body = std::mem::take(&mut exchange.body);
                // A stream may outlive the total timeout; its chunks are bounded by the
                // read one.
                let mut timer = CallTimer::stream(&self.timeouts);
                let response = self.post(url, body, account, &mut timer).await?;
                Ok(exchange.into_stream(response, account.clone(), timer))
            }
            (Publisher::Google, model) => {
                let mut exchange = gemini::Exchange::build(&request)?;
                let mut url = self.location.method_url(
                    account,
                    Publisher::Google,
                    model,
                    "streamGenerateContent",
                )?;
                url.set_query(Some("alt=sse"));
                let body = std::mem::take(&mut exchange.body);
                // A stream may outlive the total timeout; its chunks are bounded by the
                // read one.
                let mut timer = CallTimer::stream(&self.timeouts);
                let response = self.post(url, body, account, &mut timer).await?;
                Ok(exchange.into_stream(response, account.clone(), timer))
            }
        }
    }

    /// Fetches a token (or finds one cached) and reads the location
    /// (`GET {base}/v1/projects/{p}/locations/{l}`): it proves the credentials, the
    /// project and the endpoint, and costs no tokens.
    async fn health_check(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let url = endpoint::parse(&self.location.resource(account)?, account)?;
        let mut timer = CallTimer::call(&self.timeouts);
        self.send(self.client.get().get(url), account, &mut timer)
            .await
            .map(drop)
    }

    /// The regional endpoint, such as `https://us-east5-aiplatform.googleapis.com`.
    fn default_base_url(&self) -> Option<&str> {
        Some(&self.location.default_base_url)
    }

    /// Fetches the first token and opens a connection to the account's endpoint.
    async fn warm_up(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        self.credentials
            .bearer(self.client.get(), &self.timeouts, account)
            .await?;
        let url = endpoint::parse(&self.location.resource(account)?, account)?;
        self.client
            .open_connection(url, &self.timeouts, account)
            .await
    }
}

/// The token, then the account's own headers (which win), every value marked sensitive.
fn headers(
    bearer: reqwest::header::HeaderValue,
    account: &AccountInfo,
) -> Result<HeaderMap, ProviderError> {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, bearer);
    for (name, value) in account.headers() {
        let invalid = || {
            ProviderError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "account `{}`: header `{name}` is not a valid HTTP header",
                    account.name()
                ),
            )
        };
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let value = http::sensitive_value(value.expose()).ok_or_else(invalid)?;
        headers.insert(header, value);
    }
    Ok(headers)
}

/// A Claude model's own error body as the Anthropic adapter reads it; anything else
/// (Vertex AI's `google.rpc.Status`, a proxy's page) as the Gemini adapter does.
fn classify(status: u16, headers: &HeaderMap, body: &[u8], account: &AccountInfo) -> ProviderError {
    anthropic::error_body(status, headers, body, account)
        .unwrap_or_else(|| gemini::error_from_http(status, headers, body, account))
}
