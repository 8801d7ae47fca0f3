//! Fetching an access token from a [`Source`], with failures classified: a refused grant
//! is [`ErrorKind::Auth`] (so the account's credentials count as rejected), an endpoint
//! that fails or cannot be reached is transient.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::jwt::{self, Claims};
use super::source::{METADATA_TOKEN_PATH, Source};
use crate::account::AccountInfo;
use crate::provider::HttpTimeouts;
use crate::provider::http;
use crate::provider::{ErrorKind, ProviderError};

/// How much of a token endpoint's error body goes into a message.
const MAX_DETAIL_CHARS: usize = 300;

/// A token as the endpoint issued it.
pub(super) struct Fetched {
    pub(super) access_token: String,
    pub(super) expires_in: Duration,
}

/// The token endpoint's answer (RFC 6749 section 5.1; the metadata server's is the same).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// An OAuth error answer (RFC 6749 section 5.2).
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Asks `source` for a new token through `client`, on behalf of `account` (named in
/// errors, its secrets kept out of them).
pub(super) async fn fetch(
    source: &Source,
    client: &reqwest::Client,
    timeouts: &HttpTimeouts,
    account: &AccountInfo,
) -> Result<Fetched, ProviderError> {
    let (request, endpoint) = match source {
        Source::ServiceAccount(key) => {
            let issued_at = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let claims = Claims {
                issuer: &key.client_email,
                audience: &key.token_url,
                key_id: key.key_id.as_deref(),
                issued_at,
            };
            let assertion = jwt::assertion(&claims, &key.key).ok_or_else(|| {
                refused(
                    account,
                    "the service-account key could not sign a token request",
                )
            })?;
            let form = form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                .append_pair("assertion", &assertion)
                .finish();
            (
                form_post(client, &key.token_url, form),
                key.token_url.as_str(),
            )
        }
        Source::AuthorizedUser(user) => {
            let form = form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "refresh_token")
                .append_pair("client_id", &user.client_id)
                .append_pair("client_secret", user.client_secret.expose())
                .append_pair("refresh_token", user.refresh_token.expose())
                .finish();
            (
                form_post(client, &user.token_url, form),
                user.token_url.as_str(),
            )
        }
        Source::Metadata { url } => {
            let request = client
                .get(format!(
                    "{}{METADATA_TOKEN_PATH}",
                    url.trim_end_matches('/')
                ))
                .header("metadata-flavor", "Google");
            (request, url.as_str())
        }
    };
    // A token request is small and not streamed: the total timeout bounds all of it.
    let request = match timeouts.total {
        Some(total) => request.timeout(total),
        None => request,
    };
    let response = request
        .send()
        .await
        .map_err(|e| unreachable_endpoint(endpoint, &http::transport_error(&e, account)))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| unreachable_endpoint(endpoint, &http::transport_error(&e, account)))?;
    if !(200..300).contains(&status) {
        return Err(refusal(status, &body, endpoint, account));
    }
    let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
        let what = if e.is_data() {
            "no `access_token` and `expires_in`"
        } else {
            "not JSON"
        };
        ProviderError::new(
            ErrorKind::MalformedResponse,
            format!(
                "account `{}`: the token endpoint {endpoint} answered without a token \
                 ({what}, line {} column {})",
                account.name(),
                e.line(),
                e.column()
            ),
        )
    })?;
    Ok(Fetched {
        access_token: answer.access_token,
        expires_in: Duration::from_secs(answer.expires_in),
    })
}

fn form_post(client: &reqwest::Client, url: &str, form: String) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
}

/// The error a token endpoint's non-success answer means: 400, 401, 403 and 404 refuse
/// the credentials (`invalid_grant`, a deleted or disabled key, no service account on
/// the machine), 429 is rate limited, anything else a server error.
fn refusal(status: u16, body: &[u8], endpoint: &str, account: &AccountInfo) -> ProviderError {
    let detail = match serde_json::from_slice::<OAuthError>(body) {
        Ok(error) if error.error_description.is_empty() => error.error,
        Ok(error) => format!("{}: {}", error.error, error.error_description),
        Err(_) => String::from_utf8_lossy(body)
            .trim()
            .chars()
            .take(MAX_DETAIL_CHARS)
            .collect(),
    };
    let (kind, what) = match status {
        400 | 401 | 403 | 404 => (
            ErrorKind::Auth,
            "refused the credentials; check the key, its account and its roles",
        ),
        429 => (ErrorKind::RateLimited, "is rate limiting token requests"),
        _ => (ErrorKind::ServerError, "failed"),
    };
    let message = format!(
        "account `{}`: the token endpoint {endpoint} {what} (HTTP {status}: {detail})",
        account.name()
    );
    ProviderError::new(kind, http::redact(&message, account)).with_status(status)
}

/// A token request that never got an answer: the transport error's kind, with the
/// endpoint named.
fn unreachable_endpoint(endpoint: &str, error: &ProviderError) -> ProviderError {
    ProviderError::new(
        error.kind(),
        format!("token endpoint {endpoint}: {}", error.message()),
    )
}

fn refused(account: &AccountInfo, problem: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Auth,
        format!("account `{}`: {problem}", account.name()),
    )
}
