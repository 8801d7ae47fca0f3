//! Where tokens come from: a service-account key, a user's refresh token (gcloud's
//! application default credentials), or the metadata server of the machine.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use ring::signature::RsaKeyPair;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

use super::CredentialsError;
use crate::account::SecretString;

/// Google's OAuth token endpoint, when a credentials file names none.
pub(super) const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// The metadata server of Google Cloud machines (GCE, GKE, Cloud Run, Cloud Functions).
pub(super) const METADATA_URL: &str = "http://metadata.google.internal";

/// Where the metadata server hands out the default service account's tokens.
pub(super) const METADATA_TOKEN_PATH: &str =
    "/computeMetadata/v1/instance/service-accounts/default/token";

/// Where tokens come from.
#[derive(Clone)]
pub(super) enum Source {
    /// A service account's key: a signed assertion traded at the token endpoint.
    ServiceAccount(ServiceAccount),
    /// A user's OAuth refresh token (`gcloud auth application-default login`).
    AuthorizedUser(AuthorizedUser),
    /// The metadata server at this base URL.
    Metadata { url: String },
}

#[derive(Clone)]
pub(super) struct ServiceAccount {
    pub(super) client_email: String,
    pub(super) key_id: Option<String>,
    pub(super) key: Arc<RsaKeyPair>,
    pub(super) token_url: String,
    pub(super) project_id: Option<String>,
}

#[derive(Clone)]
pub(super) struct AuthorizedUser {
    pub(super) client_id: String,
    pub(super) client_secret: SecretString,
    pub(super) refresh_token: SecretString,
    pub(super) token_url: String,
    pub(super) project_id: Option<String>,
}

impl fmt::Debug for Source {
    /// Names the source and its account, never a key or token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::ServiceAccount(account) => f
                .debug_struct("ServiceAccount")
                .field("client_email", &account.client_email)
                .field("token_url", &account.token_url)
                .finish_non_exhaustive(),
            Source::AuthorizedUser(user) => f
                .debug_struct("AuthorizedUser")
                .field("client_id", &user.client_id)
                .field("token_url", &user.token_url)
                .finish_non_exhaustive(),
            Source::Metadata { url } => f.debug_struct("Metadata").field("url", url).finish(),
        }
    }
}

/// A Google credentials file as written: `type` decides which fields matter.
#[derive(Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type")]
    kind: String,
    project_id: Option<String>,
    quota_project_id: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    token_uri: Option<String>,
}

impl Source {
    /// The source a credentials file (`service_account` or `authorized_user` JSON)
    /// describes; `origin` names it in errors.
    pub(super) fn from_json(json: &str, origin: &str) -> Result<Self, CredentialsError> {
        let file: CredentialsFile = serde_json::from_str(json).map_err(|e| {
            // serde_json's message for a missing field or a wrong type names no value.
            let reason = if e.is_data() {
                e.to_string()
            } else {
                format!("not JSON (line {}, column {})", e.line(), e.column())
            };
            CredentialsError::invalid(origin, reason)
        })?;
        let missing = |field: &str| {
            CredentialsError::invalid(
                origin,
                format!("a `{}` credentials file needs `{field}`", file.kind),
            )
        };
        let token_url = file
            .token_uri
            .clone()
            .unwrap_or_else(|| GOOGLE_TOKEN_URL.to_owned());
        match file.kind.as_str() {
            "service_account" => {
                let client_email = file
                    .client_email
                    .clone()
                    .ok_or_else(|| missing("client_email"))?;
                let pem = file
                    .private_key
                    .as_ref()
                    .ok_or_else(|| missing("private_key"))?;
                let key = signing_key(pem).map_err(|reason| {
                    CredentialsError::invalid(
                        origin,
                        format!("the private key of `{client_email}` {reason}"),
                    )
                })?;
                Ok(Source::ServiceAccount(ServiceAccount {
                    client_email,
                    key_id: file.private_key_id,
                    key: Arc::new(key),
                    token_url,
                    project_id: file.project_id,
                }))
            }
            "authorized_user" => Ok(Source::AuthorizedUser(AuthorizedUser {
                client_id: file.client_id.clone().ok_or_else(|| missing("client_id"))?,
                client_secret: file
                    .client_secret
                    .clone()
                    .map(SecretString::from)
                    .ok_or_else(|| missing("client_secret"))?,
                refresh_token: file
                    .refresh_token
                    .clone()
                    .map(SecretString::from)
                    .ok_or_else(|| missing("refresh_token"))?,
                token_url,
                project_id: file.quota_project_id,
            })),
            other => Err(CredentialsError::invalid(
                origin,
                format!(
                    "credentials of type `{other}` are not supported; use a service-account key \
                     (`service_account`), gcloud's application default credentials \
                     (`authorized_user`) or the metadata server"
                ),
            )),
        }
    }

    /// The source in the credentials file at `path`.
    pub(super) fn from_file(path: &Path) -> Result<Self, CredentialsError> {
        let origin = path.display().to_string();
        let json = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&json, &origin)
    }

    /// Sends token requests to `url` (the metadata server has no token endpoint).
    pub(super) fn set_token_url(&mut self, url: String) {
        match self {
            Source::ServiceAccount(account) => account.token_url = url,
            Source::AuthorizedUser(user) => user.token_url = url,
            Source::Metadata { .. } => {}
        }
    }

    /// The project the credentials belong to, if they say.
    pub(super) fn project_id(&self) -> Option<&str> {
        match self {
            Source::ServiceAccount(account) => account.project_id.as_deref(),
            Source::AuthorizedUser(user) => user.project_id.as_deref(),
            Source::Metadata { .. } => None,
        }
    }
}

/// The RSA key of a PKCS #8 PEM block (`-----BEGIN PRIVATE KEY-----`), or why not.
fn signing_key(pem: &str) -> Result<RsaKeyPair, String> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| "is not a PEM `PRIVATE KEY` block".to_owned())?;
    RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| format!("is not an RSA key ring can sign with ({e})"))
}
