//! The AWS Bedrock adapter: the Converse and ConverseStream APIs (feature `bedrock`).
//!
//! [`Bedrock`] sends `POST {base}/model/{modelId}/converse` (and `/converse-stream`),
//! signed with SigV4 for the service `bedrock` by AWS's own `aws-sigv4` crate. The base
//! URL is the account's [`base_url`](crate::ProviderAccount::base_url), else
//! `https://bedrock-runtime.{region}.amazonaws.com`. The model id is percent-encoded in
//! the path, so every form Bedrock takes works as a target's model: a base model id
//! (`anthropic.claude-sonnet-4-5-20250929-v1:0`, `meta.llama3-3-70b-instruct-v1:0`), a
//! cross-region inference profile (`us.anthropic.claude-...`, `eu.`, `apac.`,
//! `global.`), or an ARN (a provisioned model, an application inference profile).
//!
//! ## Credentials and region
//!
//! A [`CredentialSource`] says where the keys come from: by default the order the AWS
//! SDKs and CLI use (the `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//! `AWS_SESSION_TOKEN` environment variables, else the profile named by `AWS_PROFILE` or
//! `default` in `~/.aws/credentials` and `~/.aws/config`), or a named profile, or the
//! environment only, or explicit [`AwsCredentials`]. Profiles that need SSO, an assumed
//! role or a credential process are not resolved: the error says how to export their
//! keys. The region is the adapter's [`region`](Bedrock::region), else `AWS_REGION`,
//! `AWS_DEFAULT_REGION`, else the profile's `region`. What is found is kept for five
//! minutes, then read again (so rotated keys in the files are picked up); a failure is
//! an [`ErrorKind::Auth`] (no credentials) or [`ErrorKind::InvalidRequest`] (no region)
//! on the call, never a panic.
//!
//! An account with an [`api_key`](crate::ProviderAccount::api_key) uses it as a Bedrock
//! API key (`Authorization: Bearer`, what `AWS_BEARER_TOKEN_BEDROCK` holds for the AWS
//! SDKs) instead of signing. Credentials never appear in `Debug`, errors or traces: the
//! signer's own trace events, which would carry the canonical request and the session
//! token, are not emitted.
//!
//! ## How canonical requests map
//!
//! - **System messages** become `system` text blocks, wherever they appear.
//! - **Turns**: user text and images (base64 and `data:` URLs as `bytes`, `s3://` URLs as
//!   `s3Location`; PNG, JPEG, GIF and WebP, as Converse takes; web URLs are an
//!   [`ErrorKind::InvalidRequest`]: Converse does not fetch them) become content blocks;
//!   assistant tool calls become `toolUse` blocks (arguments parsed into `input`);
//!   tool results become `toolResult` blocks of a user turn. Consecutive turns of one
//!   role are merged, empty text left out.
//! - **Tools** become `toolConfig.tools[].toolSpec` with the parameters as
//!   `inputSchema.json`. Tool choice `auto`, `required` and a named function become
//!   `auto`, `any` and `tool`. Converse has no `none`: the tools are left out, unless the
//!   conversation holds tool blocks (Converse then requires the tool config), where the
//!   choice is left to the model. Bedrock takes `any` and `tool` only for the model
//!   families that support them (Anthropic, Mistral Large, Amazon Nova).
//! - **Parameters**: `max_tokens`, `temperature`, `top_p` and `stop` become
//!   `inferenceConfig.maxTokens`, `temperature`, `topP` and `stopSequences`. Extra
//!   parameters named like a Converse member (`guardrailConfig`, `performanceConfig`,
//!   `requestMetadata`, `promptVariables`, `serviceTier`,
//!   `additionalModelResponseFieldPaths`, `outputConfig`) are sent as given; every other
//!   one (`top_k`, `anthropic_beta`, ...) goes into `additionalModelRequestFields`, the
//!   model's own request fields (an extra `additionalModelRequestFields` object is
//!   merged into it).
//! - **JSON mode** works as on the Anthropic adapter: an answer tool whose input schema
//!   is the requested schema, forced (or `any` beside the request's own tools), its input
//!   returned as the text.
//! - **Reasoning**, for models of the Anthropic family (by their
//!   [profile](crate::provider::profile)), becomes `thinking` in
//!   `additionalModelRequestFields` (an unset `max_tokens` is raised above the budget);
//!   for other families it is an [`ErrorKind::UnsupportedParameter`]: pass the model's
//!   own field as an extra parameter.
//!
//! ## How responses map
//!
//! Text blocks are concatenated, `toolUse` blocks become tool calls, reasoning and other
//! blocks are skipped. `end_turn` and `stop_sequence` finish with `Stop`, `max_tokens`
//! and `model_context_window_exceeded` with `Length`, `tool_use` with `ToolCalls`,
//! `guardrail_intervened` and `content_filtered` with `ContentFilter`, others with
//! `Other`. The prompt's tokens are `inputTokens` + `cacheReadInputTokens` +
//! `cacheWriteInputTokens`, of which the reads are cached and the writes cache writes. A
//! stream is AWS event-stream binary framing, decoded by `aws-smithy-eventstream`; it
//! finishes with the `metadata` event after `messageStop`.
//!
//! ## Errors
//!
//! The error type (`x-amzn-ErrorType`, or the body's `__type`; an exception event in a
//! stream) decides the [`ErrorKind`], the status when it is unknown:
//! `ThrottlingException` and `ServiceQuotaExceededException` are `RateLimited`,
//! `ServiceUnavailableException` and `ModelNotReadyException` `Overloaded`,
//! `ModelTimeoutException` `Timeout`, `ValidationException` `ContextLengthExceeded` when
//! its message says the input is too long (`UnsupportedParameter` when it says a
//! parameter is not supported), else `InvalidRequest`; `AccessDeniedException` and the
//! signature and token errors are `Auth`, `ResourceNotFoundException` `NotFound`,
//! `InternalServerException`, `ModelErrorException` and `ModelStreamErrorException`
//! `ServerError`. A `retry-after` header, where given, becomes the retry delay.

mod credentials;
mod error;
mod framing;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
mod request;
mod response;
mod shared_files;
mod signing;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

pub use credentials::{AwsCredentials, CredentialSource};

use self::credentials::{ProcessEnvironment, Resolved};
use super::client::AdapterClient;
use super::http;
use super::timeouts::{CallTimer, HttpTimeouts};
use super::{
    ErrorKind, Provider, ProviderError, ProviderRequest, ProviderResponse, ProviderStream,
};
use crate::account::AccountInfo;

/// The adapter kind whose adapters share a client.
const KIND: &str = "bedrock";

/// How long resolved credentials are used before the environment and files are read
/// again.
const CREDENTIALS_TTL: Duration = Duration::from_secs(300);

/// AWS Bedrock's Converse API as a [`Provider`]: complete, stream, health check.
///
/// Cheap to clone (clones share resolved credentials). See the [module docs](self) for
/// how credentials, requests, responses and errors map.
///
/// ```
/// use routewise::{LogicalModel, Policy, ProviderAccount, Router, Target};
/// use routewise::provider::bedrock::{AwsCredentials, Bedrock, CredentialSource};
///
/// // Keys from the environment or ~/.aws, in us-east-1.
/// let standard = ProviderAccount::new("bedrock-us", Bedrock::new().region("us-east-1"));
/// // A named profile of the shared files, in its own region.
/// let profile = ProviderAccount::new(
///     "bedrock-eu",
///     Bedrock::new().credentials(CredentialSource::Profile("prod".into())),
/// );
/// // Explicit temporary keys.
/// let keys = AwsCredentials::new("AKIDEXAMPLE", "secret").session_token("token");
/// let fixed = ProviderAccount::new(
///     "bedrock-fixed",
///     Bedrock::new().region("us-west-2").credentials(CredentialSource::Static(keys)),
/// );
/// let router = Router::builder()
///     .account(standard)
///     .account(profile)
///     .account(fixed)
///     .model(
///         LogicalModel::new("claude")
///             .target(Target::new("bedrock-us", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"))
///             .target(Target::new("bedrock-eu", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"))
///             .target(Target::new("bedrock-fixed", "anthropic.claude-sonnet-4-5-20250929-v1:0")),
///     )
///     .policy(Policy::new("default").route(["claude"]))
///     .build();
/// assert!(router.is_ok());
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
pub struct Bedrock {
    client: AdapterClient,
    timeouts: HttpTimeouts,
    region: Option<String>,
    source: CredentialSource,
    resolved: Arc<ArcSwapOption<Cached>>,
}

/// Resolved credentials and when they were resolved.
#[derive(Debug)]
struct Cached {
    resolved: Resolved,
    at: Instant,
}

impl Default for Bedrock {
    fn default() -> Self {
        Self::new()
    }
}

impl Bedrock {
    /// An adapter with default timeouts, the standard credential order and the region
    /// from the environment or the profile.
    pub fn new() -> Self {
        Self::with_timeouts(HttpTimeouts::default())
    }

    /// An adapter with these timeouts from the start.
    pub(crate) fn with_timeouts(timeouts: HttpTimeouts) -> Self {
        Self {
            client: AdapterClient::shared(KIND, &timeouts),
            timeouts,
            region: None,
            source: CredentialSource::default(),
            resolved: Arc::default(),
        }
    }

    /// Sets the AWS region (`us-east-1`), over `AWS_REGION` and the profile's.
    ///
    /// ```
    /// use routewise::provider::bedrock::Bedrock;
    ///
    /// let bedrock = Bedrock::new().region("eu-central-1");
    /// # let _ = bedrock;
    /// ```
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self.resolved = Arc::default();
        self
    }

    /// Sets where the credentials come from (default [`CredentialSource::Standard`]).
    ///
    /// ```
    /// use routewise::provider::bedrock::{Bedrock, CredentialSource};
    ///
    /// let bedrock = Bedrock::new().credentials(CredentialSource::Profile("analytics".into()));
    /// # let _ = bedrock;
    /// ```
    #[must_use]
    pub fn credentials(mut self, source: CredentialSource) -> Self {
        self.source = source;
        self.resolved = Arc::default();
        self
    }

    /// Sets the connect, read and total timeouts.
    #[must_use]
    pub fn timeouts(mut self, timeouts: HttpTimeouts) -> Self {
        if !self.client.is_supplied() {
            self.client = AdapterClient::shared(KIND, &timeouts);
        }
        self.timeouts = timeouts;
        self
    }

    /// Sends every call through `client` instead of the one routewise builds (see
    /// [`Anthropic::http_client`](crate::Anthropic::http_client) for what stays the
    /// adapter's).
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = AdapterClient::supplied(client);
        self
    }

    /// The credentials and region in force, resolved again once they are older than
    /// [`CREDENTIALS_TTL`].
    fn resolve(&self) -> Result<Arc<Cached>, ProviderError> {
        if let Some(cached) = self.resolved.load_full()
            && cached.at.elapsed() < CREDENTIALS_TTL
        {
            return Ok(cached);
        }
        let resolved =
            credentials::resolve(&self.source, self.region.as_deref(), &ProcessEnvironment)?;
        let cached = Arc::new(Cached {
            resolved,
            at: Instant::now(),
        });
        self.resolved.store(Some(cached.clone()));
        Ok(cached)
    }

    /// The region for an account signing with a Bedrock API key, which needs no AWS
    /// credentials: the adapter's, else the environment's.
    fn bearer_region(&self) -> Option<String> {
        use self::credentials::Environment;
        self.region.clone().or_else(|| {
            ProcessEnvironment
                .var("AWS_REGION")
                .or_else(|| ProcessEnvironment.var("AWS_DEFAULT_REGION"))
        })
    }

    /// `{base}/model/{modelId}/{operation}`, the model id percent-encoded.
    fn url(
        &self,
        account: &AccountInfo,
        region: Option<&str>,
        model: &str,
        operation: &str,
    ) -> Result<reqwest::Url, ProviderError> {
        let base = base_url(account, region)?;
        let url = format!("{base}/model/{}/{operation}", encode_path_segment(model));
        reqwest::Url::parse(&url).map_err(|e| {
            http::invalid_account(account, format!("base URL `{base}` is not valid: {e}"))
        })
    }

    async fn post(
        &self,
        request: &ProviderRequest<'_>,
        body: Vec<u8>,
        operation: &str,
        timer: &mut CallTimer,
    ) -> Result<(reqwest::Response, Option<AwsCredentials>), ProviderError> {
        let account = request.account();
        let (url, headers, credentials) =
            self.signed(account, request.model(), operation, &body)?;
        let builder = self.client.get().post(url).headers(headers).body(body);
        let answer = http::send(&self.client, builder, account, error::from_response);
        let response = timer
            .limit(answer)
            .await
            .map_err(|e| redact(e, credentials.as_ref()))?;
        Ok((response, credentials))
    }

    /// The URL and headers of a call, signed (or with the account's API key), and the
    /// credentials it was signed with.
    fn signed(
        &self,
        account: &AccountInfo,
        model: &str,
        operation: &str,
        body: &[u8],
    ) -> Result<(reqwest::Url, HeaderMap, Option<AwsCredentials>), ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        for (name, value) in account.headers() {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                http::invalid_account(account, format!("header name `{name}` is not valid"))
            })?;
            headers.insert(header, http::secret_value(value.expose(), name, account)?);
        }
        if let Some(key) = account.api_key() {
            let region = self.bearer_region();
            let url = self.url(account, region.as_deref(), model, operation)?;
            let bearer = format!("Bearer {}", key.expose());
            headers.insert(
                "authorization",
                http::secret_value(&bearer, "authorization", account)?,
            );
            return Ok((url, headers, None));
        }
        let cached = self.resolve()?;
        let resolved = &cached.resolved;
        let url = self.url(account, Some(&resolved.region), model, operation)?;
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
            .collect();
        let unsigned = signing::Unsigned {
            method: "POST",
            url: url.as_str(),
            headers: &pairs,
            body,
        };
        // The signer traces the canonical request (with the session token) and the key
        // id: its events go nowhere.
        let signed = tracing::subscriber::with_default(
            tracing::subscriber::NoSubscriber::default(),
            || {
                signing::sign_request(
                    &unsigned,
                    &resolved.credentials,
                    &resolved.region,
                    signing::SERVICE,
                    SystemTime::now(),
                )
            },
        )?;
        for header in signed {
            let mut value = HeaderValue::from_str(&header.value).map_err(|_| {
                http::invalid_account(
                    account,
                    format!("the signed `{}` header is not valid", header.name),
                )
            })?;
            value.set_sensitive(header.sensitive);
            headers.insert(header.name, value);
        }
        Ok((url, headers, Some(resolved.credentials.clone())))
    }
}

#[async_trait]
impl Provider for Bedrock {
    /// `aws.bedrock`, the OpenTelemetry GenAI name.
    fn provider_name(&self) -> &str {
        "aws.bedrock"
    }

    /// Bedrock's quotas are per model and region.
    fn rate_limits_per_model(&self) -> bool {
        true
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let mut adaptation = None;
        let request = request.adapt_into(&mut adaptation);
        let prepared = request::build(&request)?;
        let body = http::json_body(&prepared.body)?;
        let mut timer = CallTimer::call(&self.timeouts);
        let (response, credentials) = self.post(&request, body, "converse", &mut timer).await?;
        let account = request.account();
        let max = self.timeouts.max_body_bytes;
        let bytes = http::read_body(response, account, max, &mut timer)
            .await
            .map_err(|e| redact(e, credentials.as_ref()))?;
        let mut response = response::parse(&bytes, prepared.answer_tool.as_deref(), account)
            .map_err(|e| redact(e, credentials.as_ref()))?;
        if prepared.wrapped_answer {
            response.content = crate::provider::body::unwrap_answer(&response.content);
        }
        Ok(response)
    }

    async fn stream(&self, request: ProviderRequest<'_>) -> Result<ProviderStream, ProviderError> {
        let mut adaptation = None;
        let request = request.adapt_into(&mut adaptation);
        let prepared = request::build(&request)?;
        let body = http::json_body(&prepared.body)?;
        // A stream may outlive the total timeout; its chunks are bounded by the read one.
        let mut timer = CallTimer::stream(&self.timeouts);
        let (response, credentials) = self
            .post(&request, body, "converse-stream", &mut timer)
            .await?;
        let decoder = stream::Decoder::new(prepared.answer_tool, prepared.wrapped_answer);
        let account = request.account().clone();
        let events = framing::decode(response, account, decoder, timer);
        Ok(match credentials {
            Some(credentials) => Box::pin(futures::StreamExt::map(events, move |item| {
                item.map_err(|e| error::redact(e, &credentials))
            })),
            None => events,
        })
    }

    /// Resolves the credentials and region (reading the environment and the shared
    /// files if they are not fresh), calling nothing: Bedrock's runtime API has no call
    /// that costs nothing, and the model list lives on another API that a runtime-only
    /// role may not be allowed to call.
    async fn health_check(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        if account.api_key().is_some() {
            return Ok(());
        }
        self.resolve().map(drop)
    }

    /// `https://bedrock-runtime.{region}.amazonaws.com` needs a region, so there is no
    /// single default.
    fn default_base_url(&self) -> Option<&str> {
        None
    }

    /// Opens a connection to the account's endpoint (`HEAD {base}/`, unsigned).
    async fn warm_up(&self, account: &AccountInfo) -> Result<(), ProviderError> {
        let region = match account.api_key() {
            Some(_) => self.bearer_region(),
            None => Some(self.resolve()?.resolved.region.clone()),
        };
        let base = base_url(account, region.as_deref())?;
        let url = reqwest::Url::parse(&format!("{base}/")).map_err(|e| {
            http::invalid_account(account, format!("base URL `{base}` is not valid: {e}"))
        })?;
        self.client
            .open_connection(url, &self.timeouts, account)
            .await
    }
}

/// The account's base URL, else the regional endpoint.
fn base_url(account: &AccountInfo, region: Option<&str>) -> Result<String, ProviderError> {
    if let Some(base) = account.base_url() {
        return Ok(base.trim_end_matches('/').to_owned());
    }
    let region = region.ok_or_else(|| {
        ProviderError::new(
            ErrorKind::InvalidRequest,
            format!(
                "account `{}`: no AWS region: set one on the adapter or AWS_REGION",
                account.name()
            ),
        )
    })?;
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(http::invalid_account(
            account,
            format!("`{region}` is not an AWS region name (such as `us-east-1`)"),
        ));
    }
    Ok(format!("https://bedrock-runtime.{region}.amazonaws.com"))
}

/// `segment` with every byte outside the unreserved set percent-encoded, as the AWS
/// SDKs write a model id (or ARN) into the path.
fn encode_path_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn redact(error: ProviderError, credentials: Option<&AwsCredentials>) -> ProviderError {
    match credentials {
        Some(credentials) => error::redact(error, credentials),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderAccount;

    #[test]
    fn model_ids_and_arns_are_percent_encoded_into_one_path_segment() {
        assert_eq!(
            encode_path_segment("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
        );
        assert_eq!(
            encode_path_segment(
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
            ),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc"
        );
    }

    #[test]
    fn the_endpoint_is_regional_unless_the_account_sets_a_base_url() {
        let account = ProviderAccount::new("b", Bedrock::new());
        let url = Bedrock::new()
            .url(
                account.info(),
                Some("eu-west-3"),
                "meta.llama3-3-70b-instruct-v1:0",
                "converse",
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://bedrock-runtime.eu-west-3.amazonaws.com/model/meta.llama3-3-70b-instruct-v1%3A0/converse"
        );
        let account = ProviderAccount::new("b", Bedrock::new()).base_url("http://127.0.0.1:9/");
        let url = Bedrock::new()
            .url(account.info(), None, "m", "converse-stream")
            .unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/model/m/converse-stream");
        let account = ProviderAccount::new("b", Bedrock::new());
        let error = base_url(account.info(), Some("us-east-1/../evil")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn an_api_key_is_sent_as_a_sensitive_bearer_token_without_signing() {
        let account = ProviderAccount::new("b", Bedrock::new())
            .api_key("bedrock-api-key-123")
            .base_url("http://127.0.0.1:9");
        let (_, headers, credentials) = Bedrock::new()
            .signed(account.info(), "m", "converse", b"{}")
            .unwrap();
        assert_eq!(headers["authorization"], "Bearer bedrock-api-key-123");
        assert!(headers["authorization"].is_sensitive());
        assert!(credentials.is_none());
        assert!(!headers.contains_key("x-amz-date"));
    }

    #[test]
    fn signed_headers_mark_the_signature_and_token_sensitive() {
        let keys =
            AwsCredentials::new("AKIDEXAMPLE", "secret-key-value").session_token("session-token");
        let bedrock = Bedrock::new()
            .region("us-east-1")
            .credentials(CredentialSource::Static(keys));
        let account =
            ProviderAccount::new("b", Bedrock::new()).header("x-amzn-bedrock-trace", "ENABLED");
        let (url, headers, _) = bedrock
            .signed(account.info(), "m", "converse", b"{}")
            .unwrap();
        assert_eq!(
            url.host_str(),
            Some("bedrock-runtime.us-east-1.amazonaws.com")
        );
        let authorization = headers["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{authorization}"
        );
        assert!(
            authorization.contains("/us-east-1/bedrock/aws4_request"),
            "{authorization}"
        );
        assert!(authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amzn-bedrock-trace"), "{authorization}");
        assert!(headers["authorization"].is_sensitive());
        assert!(headers["x-amz-security-token"].is_sensitive());
    }
}
