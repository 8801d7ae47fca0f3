//! [`GoogleCredentials`]: OAuth access tokens for Google Cloud, from a service-account
//! key, application default credentials or the metadata server.

mod adc;
mod cache;
mod fetch;
mod jwt;
mod source;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::header::HeaderValue;

use self::cache::TokenCache;
use self::source::Source;
use crate::account::AccountInfo;
use crate::provider::HttpTimeouts;
use crate::provider::ProviderError;

/// Where [`Vertex`](super::Vertex) gets its OAuth access tokens (scope `cloud-platform`).
///
/// Tokens are cached and shared by every clone: each call reads the current one without a
/// lock, and one call at a time fetches a new one, five minutes before the old one
/// expires (halfway through a token that lives less than ten), while the others keep
/// using the old one. A token endpoint that refuses the credentials (HTTP 400, 401, 403,
/// 404: a revoked or deleted key, a disabled account, no service account on the machine)
/// fails the call with [`ErrorKind::Auth`](crate::ErrorKind::Auth), which takes the
/// account out of rotation like a rejected API key
/// ([`CredentialsBackoff`](crate::resilience::CredentialsBackoff)); an endpoint that is
/// down or unreachable fails it as a transient error. A token the API refuses (HTTP 401)
/// is dropped, so the next call fetches a new one.
///
/// Keys, refresh tokens and access tokens never show in `Debug`, errors or traces.
///
/// ```
/// use routewise::provider::vertex::GoogleCredentials;
///
/// // On Google Cloud (GCE, GKE, Cloud Run): the machine's service account.
/// let on_gcp = GoogleCredentials::metadata_server();
/// assert!(format!("{on_gcp:?}").contains("metadata.google.internal"));
/// ```
#[derive(Clone)]
pub struct GoogleCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    cache: TokenCache,
}

impl GoogleCredentials {
    fn from_source(source: Source) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                cache: TokenCache::default(),
            }),
        }
    }

    /// A service-account key file (JSON, as the Cloud console downloads it), or gcloud's
    /// `authorized_user` credentials file.
    ///
    /// # Errors
    ///
    /// [`CredentialsError`] when the file cannot be read, is not a credentials file, or
    /// its key is not an RSA key in PKCS #8 PEM.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, CredentialsError> {
        Source::from_file(path.as_ref()).map(Self::from_source)
    }

    /// The contents of a service-account key file (or an `authorized_user` file), for
    /// keys kept in a secret store rather than on disk.
    ///
    /// # Errors
    ///
    /// [`CredentialsError`] when `json` is not a credentials file or its key is not an RSA
    /// key in PKCS #8 PEM. The error never quotes the key.
    ///
    /// ```
    /// use routewise::provider::vertex::GoogleCredentials;
    ///
    /// let error = GoogleCredentials::from_json(r#"{"type": "service_account"}"#).unwrap_err();
    /// assert!(error.to_string().contains("needs `client_email`"));
    /// ```
    pub fn from_json(json: &str) -> Result<Self, CredentialsError> {
        Source::from_json(json, "the credentials JSON").map(Self::from_source)
    }

    /// Application default credentials, found the way Google's client libraries find
    /// them: the file `GOOGLE_APPLICATION_CREDENTIALS` names; else gcloud's
    /// `application_default_credentials.json` (`gcloud auth application-default login`,
    /// under `CLOUDSDK_CONFIG` or `~/.config/gcloud`); else the metadata server (at
    /// `GCE_METADATA_HOST` when set).
    ///
    /// # Errors
    ///
    /// [`CredentialsError`] when the file found cannot be read or used. Finding no file
    /// is not an error: the metadata server is the last resort, and a machine without one
    /// fails its first call as unreachable.
    pub fn application_default() -> Result<Self, CredentialsError> {
        adc::find(|name| std::env::var_os(name)).map(Self::from_source)
    }

    /// The metadata server of the Google Cloud machine this runs on, at
    /// `GCE_METADATA_HOST` when set: the tokens of the machine's service account.
    pub fn metadata_server() -> Self {
        Self::metadata_server_at(adc::metadata_url(&|name| std::env::var_os(name)))
    }

    /// A metadata server at `base_url` (such as `http://127.0.0.1:8089`), which serves
    /// `/computeMetadata/v1/instance/service-accounts/default/token`.
    pub fn metadata_server_at(base_url: impl Into<String>) -> Self {
        Self::from_source(Source::Metadata {
            url: base_url.into(),
        })
    }

    /// The same credentials with their token requests sent to `url` instead of the
    /// key file's `token_uri` (or `https://oauth2.googleapis.com/token`): for a private
    /// endpoint, or a test server. No effect on the metadata server. The token cache
    /// starts empty.
    ///
    /// ```
    /// use routewise::provider::vertex::GoogleCredentials;
    ///
    /// let local = GoogleCredentials::metadata_server_at("http://127.0.0.1:8089")
    ///     .token_url("http://127.0.0.1:8090/token");
    /// # let _ = local;
    /// ```
    #[must_use]
    pub fn token_url(self, url: impl Into<String>) -> Self {
        let mut source = self.inner.source.clone();
        source.set_token_url(url.into());
        Self::from_source(source)
    }

    /// The project the credentials belong to (a key file's `project_id`, gcloud's
    /// `quota_project_id`), if they say.
    pub fn project_id(&self) -> Option<&str> {
        self.inner.source.project_id()
    }

    /// The `Authorization` value for a call on `account`: a cached token, or a new one.
    pub(super) async fn bearer(
        &self,
        client: &reqwest::Client,
        timeouts: &HttpTimeouts,
        account: &AccountInfo,
    ) -> Result<HeaderValue, ProviderError> {
        self.inner
            .cache
            .bearer(|| fetch::fetch(&self.inner.source, client, timeouts, account))
            .await
    }

    /// Drops `bearer`, which the API refused, unless a newer token replaced it already.
    pub(super) fn forget(&self, bearer: &HeaderValue) {
        self.inner.cache.forget(bearer);
    }
}

impl fmt::Debug for GoogleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GoogleCredentials")
            .field(&self.inner.source)
            .finish()
    }
}

/// Credentials that cannot be used: a file that cannot be read, or is not a Google
/// credentials file, or holds a key that cannot sign. Messages never quote a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The file cannot be read.
    #[error("cannot read the Google credentials file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The contents are not usable credentials.
    #[error("{origin} is not usable Google credentials: {reason}")]
    Invalid {
        /// The file, or `the credentials JSON`.
        origin: String,
        /// What is wrong, and what would be right.
        reason: String,
    },
}

impl CredentialsError {
    fn invalid(origin: &str, reason: impl Into<String>) -> Self {
        CredentialsError::Invalid {
            origin: origin.to_owned(),
            reason: reason.into(),
        }
    }
}
