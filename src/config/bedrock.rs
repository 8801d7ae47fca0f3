//! Settings of the AWS Bedrock adapter (feature `bedrock`): [`BedrockSettings`].

use serde::{Deserialize, Serialize};

use super::adapters::HttpTimeoutSettings;
use super::problems::Problems;
use crate::provider::bedrock::{Bedrock, CredentialSource};

/// Settings of a [`Bedrock`] account (`kind = "bedrock"`). Every field is optional: by
/// default the credentials come from the environment or the shared AWS files, in the
/// order the AWS SDKs use, and the region from `AWS_REGION` or the profile.
///
/// ```toml
/// provider = { kind = "bedrock", region = "us-east-1" }
/// provider = { kind = "bedrock", profile = "prod" }               # ~/.aws/credentials and config
/// provider = { kind = "bedrock", region = "eu-west-1", credentials = "environment" }
/// ```
///
/// An account `api_key` (`api_key = "${AWS_BEARER_TOKEN_BEDROCK}"`) is used as a Bedrock
/// API key instead of signing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
#[non_exhaustive]
pub struct BedrockSettings {
    /// The AWS region, such as `us-east-1` (over `AWS_REGION` and the profile's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A profile of the shared credentials and config files to take the keys (and the
    /// region, if not set here) from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Where the keys come from when no `profile` is named: `standard` (the
    /// environment, then the shared files; the default) or `environment` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<BedrockCredentials>,
    /// Connect, read and total timeouts.
    pub timeouts: HttpTimeoutSettings,
}

/// Where a Bedrock account's keys come from (see [`CredentialSource`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
#[non_exhaustive]
pub enum BedrockCredentials {
    /// `AWS_ACCESS_KEY_ID` and the rest, else the `AWS_PROFILE` (or `default`) profile.
    Standard,
    /// The environment variables only.
    Environment,
}

impl BedrockSettings {
    /// Builds the adapter, reporting bad settings under `path`.
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> Bedrock {
        let timeouts = self.timeouts.build(&format!("{path}.timeouts"), problems);
        let mut bedrock = Bedrock::with_timeouts(timeouts);
        if let Some(region) = &self.region {
            if region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                problems.push(
                    format!("{path}.region"),
                    format!("`{region}` is not an AWS region name (such as \"us-east-1\")"),
                );
            }
            bedrock = bedrock.region(region.as_str());
        }
        let source = match (&self.profile, self.credentials) {
            (Some(_), Some(BedrockCredentials::Environment)) => {
                problems.push(
                    format!("{path}.credentials"),
                    "`environment` and a `profile` contradict each other; keep one",
                );
                CredentialSource::Environment
            }
            (Some(profile), _) if profile.trim().is_empty() => {
                problems.push(format!("{path}.profile"), "must not be empty");
                CredentialSource::Standard
            }
            (Some(profile), _) => CredentialSource::Profile(profile.clone()),
            (None, Some(BedrockCredentials::Environment)) => CredentialSource::Environment,
            (None, _) => CredentialSource::Standard,
        };
        bedrock.credentials(source)
    }
}
