//! [`VertexSettings`]: a Google Vertex AI account as written in a config file.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::adapters::HttpTimeoutSettings;
use super::problems::Problems;
use crate::provider::Provider;

/// Settings of a [`Vertex`](crate::provider::vertex::Vertex) account (`kind = "vertex"`,
/// feature `vertex`): Gemini and Claude models of one Google Cloud project and location.
///
/// Tokens come from the service-account key file `service_account_file` names, else from
/// the metadata server when `metadata_server = true` (or a `metadata_url` is given), else
/// from application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
/// `application_default_credentials.json`, then the metadata server). The account's
/// `base_url` replaces the regional endpoint.
///
/// ```toml
/// provider = { kind = "vertex", project = "acme-prod", location = "us-east5" }
/// provider = { kind = "vertex", project = "acme-prod", location = "global", service_account_file = "/etc/keys/vertex.json" }
/// provider = { kind = "vertex", project = "acme-prod", location = "europe-west1", metadata_server = true, default_max_tokens = 2048 }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct VertexSettings {
    /// The Google Cloud project id, such as `acme-prod`.
    pub project: String,
    /// The region, such as `us-east5` or `europe-west1`, or `global`.
    pub location: String,
    /// A service-account key file (JSON), or gcloud's `authorized_user` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_file: Option<PathBuf>,
    /// Take tokens from the metadata server of the Google Cloud machine this runs on.
    #[serde(default)]
    pub metadata_server: bool,
    /// The metadata server's base URL (default `http://metadata.google.internal`, or
    /// `GCE_METADATA_HOST`); implies `metadata_server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_url: Option<String>,
    /// Where token requests go instead of the key file's `token_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// The `max_tokens` sent to Claude models when neither the request nor the logical
    /// model sets one (default 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_tokens: Option<u32>,
    /// Connect, read and total timeouts.
    #[serde(default)]
    pub timeouts: HttpTimeoutSettings,
}

impl VertexSettings {
    /// Builds the adapter, reporting bad settings under `path`; `None` when the
    /// credentials cannot be used (or the `vertex` feature is off).
    #[cfg(feature = "vertex")]
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> Option<Arc<dyn Provider>> {
        use crate::provider::vertex::{GoogleCredentials, Vertex};

        for (field, value) in [("project", &self.project), ("location", &self.location)] {
            if value.trim().is_empty() {
                problems.push(
                    format!("{path}.{field}"),
                    "must not be empty; Vertex AI needs a project id and a location such as \
                     \"us-east5\" or \"global\"",
                );
            }
        }
        let metadata = self.metadata_server || self.metadata_url.is_some();
        if metadata && self.service_account_file.is_some() {
            problems.push(
                format!("{path}.service_account_file"),
                "cannot be combined with `metadata_server` or `metadata_url`; choose one source",
            );
        }
        let credentials = match (&self.service_account_file, &self.metadata_url) {
            (Some(file), _) => GoogleCredentials::from_file(file)
                .map_err(|e| (format!("{path}.service_account_file"), e.to_string())),
            (None, Some(url)) => Ok(GoogleCredentials::metadata_server_at(url.clone())),
            (None, None) if metadata => Ok(GoogleCredentials::metadata_server()),
            (None, None) => GoogleCredentials::application_default()
                .map_err(|e| (format!("{path}.provider"), e.to_string())),
        };
        let mut credentials = match credentials {
            Ok(credentials) => credentials,
            Err((at, message)) => {
                problems.push(at, message);
                return None;
            }
        };
        if let Some(url) = &self.token_url {
            credentials = credentials.token_url(url.clone());
        }
        let timeouts = self.timeouts.build(&format!("{path}.timeouts"), problems);
        let mut vertex =
            Vertex::with_timeouts(&self.project, &self.location, credentials, timeouts);
        if let Some(max_tokens) = self.default_max_tokens {
            if max_tokens == 0 {
                problems.push(format!("{path}.default_max_tokens"), "must be at least 1");
            }
            vertex = vertex.default_max_tokens(max_tokens);
        }
        Some(Arc::new(vertex))
    }

    /// Without the `vertex` feature: a problem saying so.
    #[cfg(not(feature = "vertex"))]
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> Option<Arc<dyn Provider>> {
        problems.push(
            format!("{path}.kind"),
            "kind `vertex` needs routewise's `vertex` feature",
        );
        None
    }
}
