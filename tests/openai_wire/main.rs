//! The OpenAI adapter against a local server that speaks the Chat Completions wire format:
//! what goes out (path, headers, body), how answers, streams and failures come back.

#[path = "../support/mod.rs"]
mod support;

mod azure_and_headers;
mod errors;
mod requests;
mod router;
mod streams;
mod transport;

use routewise::provider::openai::OpenAi;
use routewise::{
    AccountInfo, Provider, ProviderAccount, ProviderError, ProviderEvent, ProviderRequest,
    ProviderResponse,
};

use support::openai_cases::Case;
use support::wire::collect_events;
use support::wire_server::RecordingServer;

/// The test API key; no error may ever show it.
pub const KEY: &str = "sk-test-4f9c2e7d1b8a6053-secret";
/// A secret account header value; no error may ever show it either.
pub const HEADER_SECRET: &str = "hdr-secret-7a1c9e3f5b";
/// Every secret of the test accounts.
pub const SECRETS: [&str; 2] = [KEY, HEADER_SECRET];

/// An account named `openai-test` with the test key, pointing at `base`.
pub fn account(base: impl Into<String>) -> AccountInfo {
    ProviderAccount::new("openai-test", OpenAi::new())
        .api_key(KEY)
        .base_url(base)
        .info()
        .clone()
}

/// The account at the server's `/v1`.
pub fn account_at(server: &RecordingServer) -> AccountInfo {
    account(server.base("/v1"))
}

/// A non-streaming call of `case`.
pub async fn complete(
    openai: &OpenAi,
    account: &AccountInfo,
    case: &Case,
) -> Result<ProviderResponse, ProviderError> {
    openai
        .complete(ProviderRequest::new(
            case.model,
            account,
            &case.request,
            &case.defaults,
        ))
        .await
}

/// A streaming call of `case`: every event until the stream ends, and the error that
/// ended it, if any (also an error opening the stream).
pub async fn stream(
    openai: &OpenAi,
    account: &AccountInfo,
    case: &Case,
) -> (Vec<ProviderEvent>, Option<ProviderError>) {
    let request = ProviderRequest::new(case.model, account, &case.request, &case.defaults);
    collect_events(openai.stream(request).await).await
}
