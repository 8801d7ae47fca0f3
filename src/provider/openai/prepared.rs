//! The parts of a chat call that depend only on the account, the URL and the headers,
//! made on the account's first call and reused while its settings stay the same.
//!
//! Parsing the base URL and building the header map took a third of what the adapter
//! adds to an HTTP call; now a call clones them.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use super::endpoint::Endpoint;
use crate::account::AccountInfo;
use crate::provider::ProviderError;

/// The URL and headers of a chat call to the account they were made for.
struct Prepared {
    /// The account's settings they were made from.
    account: AccountInfo,
    /// `None` on Azure, whose URL names each target's deployment.
    url: Option<Url>,
    /// The endpoint's auth header, the account's headers and the JSON content type.
    headers: HeaderMap,
}

/// The prepared parts of the last account an adapter called.
///
/// Each adapter value keeps its own, and a clone starts empty. An adapter usually serves
/// one account, which is then prepared once; one shared by accounts stays correct and
/// prepares again whenever the account changes. Failures are not kept: a misconfigured
/// account reports its problem on every call, as before.
#[derive(Default)]
pub(super) struct PreparedCalls(ArcSwapOption<Prepared>);

impl PreparedCalls {
    /// The URL and headers of a chat call to `model` through `account`, with the errors,
    /// and in the order, [`Endpoint::chat_url`] and [`Endpoint::headers`] give them.
    pub(super) fn chat(
        &self,
        endpoint: &Endpoint,
        account: &AccountInfo,
        model: &str,
    ) -> Result<(Url, HeaderMap), ProviderError> {
        if let Some(prepared) = &*self.0.load()
            && same_settings(&prepared.account, account)
        {
            let url = match &prepared.url {
                Some(url) => url.clone(),
                None => endpoint.chat_url(account, model)?,
            };
            return Ok((url, prepared.headers.clone()));
        }
        let url = endpoint.chat_url(account, model)?;
        let mut headers = endpoint.headers(account)?;
        headers.append(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.0.store(Some(Arc::new(Prepared {
            account: account.clone(),
            url: matches!(endpoint, Endpoint::OpenAi | Endpoint::Preset(_)).then(|| url.clone()),
            headers: headers.clone(),
        })));
        Ok((url, headers))
    }
}

/// Whether two accounts' settings make the same URL and headers.
fn same_settings(a: &AccountInfo, b: &AccountInfo) -> bool {
    a.base_url() == b.base_url()
        && a.api_key().map(|k| k.expose()) == b.api_key().map(|k| k.expose())
        && a.headers().len() == b.headers().len()
        && a.headers()
            .iter()
            .zip(b.headers())
            .all(|((an, av), (bn, bv))| an == bn && av.expose() == bv.expose())
}

impl Clone for PreparedCalls {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl fmt::Debug for PreparedCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedCalls").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderAccount;
    use crate::sim::SimProvider;

    fn account(key: &str) -> AccountInfo {
        ProviderAccount::new("acct", SimProvider::new())
            .api_key(key)
            .base_url("http://127.0.0.1:9/v1")
            .header("x-team", "search")
            .info()
            .clone()
    }

    fn fresh(endpoint: &Endpoint, account: &AccountInfo, model: &str) -> (Url, HeaderMap) {
        let mut headers = endpoint.headers(account).unwrap();
        headers.append(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        (endpoint.chat_url(account, model).unwrap(), headers)
    }

    #[test]
    fn a_prepared_call_is_what_the_endpoint_builds_afresh() {
        let calls = PreparedCalls::default();
        let (endpoint, account) = (Endpoint::OpenAi, account("sk-1"));
        for _ in 0..2 {
            let (url, headers) = calls.chat(&endpoint, &account, "m").unwrap();
            let (fresh_url, fresh_headers) = fresh(&endpoint, &account, "m");
            assert_eq!(url, fresh_url);
            assert_eq!(headers, fresh_headers);
            assert!(headers["authorization"].is_sensitive());
        }
    }

    #[test]
    fn another_account_on_the_same_adapter_gets_its_own_headers() {
        let calls = PreparedCalls::default();
        let (endpoint, first, second) = (Endpoint::OpenAi, account("sk-1"), account("sk-2"));
        calls.chat(&endpoint, &first, "m").unwrap();
        let (_, headers) = calls.chat(&endpoint, &second, "m").unwrap();
        assert_eq!(headers["authorization"], "Bearer sk-2");
        let (_, headers) = calls.chat(&endpoint, &first, "m").unwrap();
        assert_eq!(headers["authorization"], "Bearer sk-1");
    }

    #[test]
    fn azure_urls_name_each_calls_deployment() {
        let calls = PreparedCalls::default();
        let endpoint = Endpoint::Azure {
            api_version: "2024-10-21".into(),
        };
        let account = account("k");
        for deployment in ["first", "second"] {
            let (url, _) = calls.chat(&endpoint, &account, deployment).unwrap();
            assert_eq!(url, fresh(&endpoint, &account, deployment).0);
        }
    }

    #[test]
    fn a_misconfigured_account_fails_every_call() {
        let calls = PreparedCalls::default();
        let bad = ProviderAccount::new("acct", SimProvider::new())
            .api_key("k")
            .header("x-token", "line\nbreak")
            .info()
            .clone();
        for _ in 0..2 {
            let err = calls.chat(&Endpoint::OpenAi, &bad, "m").unwrap_err();
            assert!(err.message().contains("header `x-token`"));
        }
    }
}
