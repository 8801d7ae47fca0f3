//! Where requests go and how they authenticate: OpenAI (and compatible servers) or Azure.

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use super::preset::Preset;
use crate::account::AccountInfo;
use crate::provider::{ErrorKind, ProviderError, http};

/// OpenAI's own API, the default base URL of [`Endpoint::OpenAi`].
const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// The URL layout and auth header of a Chat Completions service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// `{base}/chat/completions`, `Authorization: Bearer <key>`.
    OpenAi,
    /// The same, for a known compatible host: its base URL when the account names none.
    Preset(Preset),
    /// `{base}/openai/deployments/{deployment}/chat/completions?api-version=...`,
    /// `api-key: <key>`.
    Azure {
        /// The data-plane API version.
        api_version: String,
    },
}

impl Endpoint {
    /// The chat completions URL for `model` (a deployment name on Azure).
    pub(super) fn chat_url(
        &self,
        account: &AccountInfo,
        model: &str,
    ) -> Result<Url, ProviderError> {
        match self {
            Endpoint::OpenAi | Endpoint::Preset(_) => self.url(account, &["chat", "completions"]),
            Endpoint::Azure { .. } => self.url(
                account,
                &["openai", "deployments", model, "chat", "completions"],
            ),
        }
    }

    /// Where calls go when the account names no base URL.
    pub(super) fn default_base_url(&self) -> Option<&'static str> {
        match self {
            Endpoint::OpenAi => Some(OPENAI_BASE_URL),
            Endpoint::Preset(preset) => Some(preset.base_url()),
            Endpoint::Azure { .. } => None,
        }
    }

    /// The model listing URL, the cheapest authenticated call, for health checks.
    pub(super) fn models_url(&self, account: &AccountInfo) -> Result<Url, ProviderError> {
        match self {
            Endpoint::OpenAi | Endpoint::Preset(_) => self.url(account, &["models"]),
            Endpoint::Azure { .. } => self.url(account, &["openai", "models"]),
        }
    }

    fn url(&self, account: &AccountInfo, segments: &[&str]) -> Result<Url, ProviderError> {
        let base = match (self, account.base_url()) {
            (_, Some(base)) => base,
            (Endpoint::OpenAi, None) => OPENAI_BASE_URL,
            (Endpoint::Preset(preset), None) => preset.base_url(),
            (Endpoint::Azure { .. }, None) => {
                return Err(misconfigured(
                    account,
                    "has no base url; azure openai needs the resource endpoint \
                     (https://<resource>.openai.azure.com)",
                ));
            }
        };
        let mut url = Url::parse(base)
            .map_err(|e| misconfigured(account, &format!("has an invalid base url: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| misconfigured(account, "has a base url that cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        if let Endpoint::Azure { api_version } = self {
            url.query_pairs_mut()
                .append_pair("api-version", api_version);
        }
        Ok(url)
    }

    /// The auth header for the account's key, then the account's own headers (which win,
    /// so an account can bring its own `Authorization`). Every value is marked sensitive.
    pub(super) fn headers(&self, account: &AccountInfo) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = account.api_key() {
            let (name, value) = match self {
                Endpoint::OpenAi | Endpoint::Preset(_) => {
                    (AUTHORIZATION, format!("Bearer {}", key.expose()))
                }
                Endpoint::Azure { .. } => {
                    (HeaderName::from_static("api-key"), key.expose().to_owned())
                }
            };
            headers.insert(name, sensitive(&value, account, "the api key")?);
        }
        for (name, value) in account.headers() {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                misconfigured(account, &format!("has an invalid header name `{name}`"))
            })?;
            let what = format!("header `{name}`");
            headers.insert(header, sensitive(value.expose(), account, &what)?);
        }
        Ok(headers)
    }
}

fn sensitive(value: &str, account: &AccountInfo, what: &str) -> Result<HeaderValue, ProviderError> {
    http::sensitive_value(value).ok_or_else(|| {
        misconfigured(
            account,
            &format!("has a value for {what} that is not a valid http header value"),
        )
    })
}

/// An account whose settings make every call fail before it is sent. Classified as a
/// connection failure: the endpoint cannot be reached, and another account may serve.
fn misconfigured(account: &AccountInfo, problem: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Connection,
        http::redact(&format!("account `{}` {problem}", account.name()), account),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderAccount;
    use crate::sim::SimProvider;

    fn account(base: Option<&str>) -> ProviderAccount {
        let account = ProviderAccount::new("acct", SimProvider::new()).api_key("sk-secret-key-123");
        match base {
            Some(base) => account.base_url(base),
            None => account,
        }
    }

    fn azure() -> Endpoint {
        Endpoint::Azure {
            api_version: "2024-10-21".into(),
        }
    }

    #[test]
    fn openai_urls_append_to_the_base_with_or_without_a_trailing_slash() {
        let default = account(None);
        assert_eq!(
            Endpoint::OpenAi
                .chat_url(default.info(), "gpt-4o")
                .unwrap()
                .as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        for base in ["http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1/"] {
            let local = account(Some(base));
            assert_eq!(
                Endpoint::OpenAi
                    .chat_url(local.info(), "m")
                    .unwrap()
                    .as_str(),
                "http://127.0.0.1:11434/v1/chat/completions"
            );
            assert_eq!(
                Endpoint::OpenAi.models_url(local.info()).unwrap().as_str(),
                "http://127.0.0.1:11434/v1/models"
            );
        }
    }

    #[test]
    fn azure_urls_name_the_deployment_and_the_api_version() {
        let resource = account(Some("https://res.openai.azure.com/"));
        assert_eq!(
            azure()
                .chat_url(resource.info(), "my gpt/4o")
                .unwrap()
                .as_str(),
            "https://res.openai.azure.com/openai/deployments/my%20gpt%2F4o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            azure().models_url(resource.info()).unwrap().as_str(),
            "https://res.openai.azure.com/openai/models?api-version=2024-10-21"
        );
    }

    #[test]
    fn azure_without_a_base_url_is_a_misconfigured_account() {
        let err = azure().chat_url(account(None).info(), "d").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection);
        assert!(err.message().contains("account `acct` has no base url"));
    }

    #[test]
    fn keys_go_in_the_endpoints_auth_header_and_account_headers_win() {
        let plain = account(None);
        let headers = Endpoint::OpenAi.headers(plain.info()).unwrap();
        assert_eq!(headers[AUTHORIZATION], "Bearer sk-secret-key-123");
        assert!(headers[AUTHORIZATION].is_sensitive());
        let headers = azure().headers(plain.info()).unwrap();
        assert_eq!(headers["api-key"], "sk-secret-key-123");
        assert!(!headers.contains_key(AUTHORIZATION));

        let entra = account(None).header("Authorization", "Bearer entra-token");
        let headers = azure().headers(entra.info()).unwrap();
        assert_eq!(headers[AUTHORIZATION], "Bearer entra-token");
    }

    #[test]
    fn invalid_header_values_are_reported_without_the_value() {
        let bad = account(None).header("x-token", "line\nbreak-secret");
        let err = Endpoint::OpenAi.headers(bad.info()).unwrap_err();
        assert!(err.message().contains("header `x-token`"));
        assert!(!err.message().contains("break-secret"));
    }
}
