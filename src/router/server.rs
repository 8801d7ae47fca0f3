//! Where an account's calls go, as traces name it (`server.address`, `server.port`).

use std::sync::Arc;

use crate::account::ProviderAccount;

/// The host and port an account's calls go to (`server.address`, `server.port`): its
/// base URL, else its provider's default; `None` when neither is a URL with a host.
pub(super) fn server_of(account: &ProviderAccount) -> Option<(Arc<str>, u16)> {
    let base = account
        .info
        .base_url()
        .or_else(|| account.provider.default_base_url())?;
    let url = reqwest::Url::parse(base).ok()?;
    Some((url.host_str()?.into(), url.port_or_known_default()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Anthropic, OpenAi};

    #[test]
    fn the_server_is_the_base_url_else_the_providers_default() {
        let server = |account: ProviderAccount| server_of(&account);
        assert_eq!(
            server(ProviderAccount::new("a", OpenAi::new())),
            Some(("api.openai.com".into(), 443))
        );
        assert_eq!(
            server(ProviderAccount::new("a", Anthropic::new()).base_url("http://10.0.0.7:8080")),
            Some(("10.0.0.7".into(), 8080))
        );
        assert_eq!(
            server(ProviderAccount::new("a", OpenAi::azure("2024-10-21"))),
            None
        );
        assert_eq!(
            server(ProviderAccount::new("a", crate::sim::SimProvider::new())),
            None
        );
    }
}
