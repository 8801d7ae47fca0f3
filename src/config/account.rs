//! [`AccountConfig`]: one provider account as written in a config file.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::path;
use super::problems::Problems;
use super::provider::ProviderConfig;
use super::secret::SecretValue;
use crate::account::ProviderAccount;
use crate::sim::SimProvider;

/// A provider account: its backend, credentials and endpoint (see
/// [`ProviderAccount`]).
///
/// ```toml
/// [[accounts]]
/// name = "openai-main"
/// provider = { kind = "sim" }
/// api_key = "${OPENAI_API_KEY}"
/// base_url = "http://127.0.0.1:8080/v1"
/// headers = { "x-team" = "search", authorization = "Bearer ${GATEWAY_TOKEN}" }
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct AccountConfig {
    /// A unique name; targets refer to the account by it.
    pub name: String,
    /// The backend and its settings.
    pub provider: ProviderConfig,
    /// The API key, from the environment: `"${OPENAI_API_KEY}"` or
    /// `{ env = "OPENAI_API_KEY" }`. A key written into the file is rejected.
    #[serde(default)]
    pub api_key: Option<SecretValue>,
    /// Overrides the provider's default base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Headers sent with every request; values may read the environment (`"${TOKEN}"`).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretValue>,
}

impl AccountConfig {
    /// The account, with secrets read through `env`. Problems are reported under `at`
    /// (such as `accounts[1]`); the account is built even then, so the rest of the
    /// configuration can still be checked.
    pub(crate) fn to_account(
        &self,
        at: &str,
        env: &dyn Fn(&str) -> Option<String>,
        problems: &mut Problems,
    ) -> ProviderAccount {
        let provider = self
            .provider
            .build(&format!("{at}.provider"), problems)
            // Stands in only so the remaining checks can run: a config with a problem
            // never becomes a router.
            .unwrap_or_else(|| std::sync::Arc::new(SimProvider::new()));
        let mut account = ProviderAccount::with_shared_provider(self.name.as_str(), provider);
        if let Some(key) = &self.api_key {
            let key_path = format!("{at}.api_key");
            if key.variables().next().is_none() {
                problems.push(
                    key_path,
                    "an API key must not be written into the file; set an environment variable and write `api_key = \"${NAME}\"`",
                );
            } else if let Some(key) = key.resolve(env, &key_path, problems) {
                account = account.api_key(key);
            }
        }
        if let Some(url) = &self.base_url {
            account = account.base_url(url.as_str());
        }
        for (name, value) in &self.headers {
            let mut header_path = format!("{at}.headers");
            path::push_key(&mut header_path, name);
            if let Some(value) = value.resolve(env, &header_path, problems) {
                account = account.header(name.as_str(), value);
            }
        }
        account
    }
}
