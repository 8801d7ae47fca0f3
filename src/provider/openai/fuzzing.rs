//! Entry points for the fuzz targets in `fuzz/`: the adapter's private parsers behind the
//! signatures the adapter itself calls them with. Compiled only under `--cfg fuzzing`
//! (which `cargo fuzz` sets) and in unit tests; not part of the public API.

use reqwest::header::HeaderMap;

use crate::account::AccountInfo;
use crate::provider::timeouts::CallTimer;
use crate::provider::{ProviderError, ProviderResponse, ProviderStream, event_stream};

/// Parses a chat completion body.
pub fn response(body: &[u8], account: &AccountInfo) -> Result<ProviderResponse, ProviderError> {
    super::response::parse(body, account)
}

/// Classifies an unsuccessful answer (status, headers and body).
pub fn error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    account: &AccountInfo,
) -> ProviderError {
    super::error::from_response(status, headers, body, account)
}

/// The events of a streaming answer.
pub fn stream(response: reqwest::Response, account: AccountInfo) -> ProviderStream {
    event_stream::decode_events(
        response,
        account,
        super::stream::Decoder::default(),
        CallTimer::off(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_reach_the_real_parsers() {
        let account = AccountInfo::new("fuzz");
        let body = include_bytes!("../../../tests/fixtures/openai/chat_text.json");
        assert_eq!(response(body, &account).unwrap().usage.input_tokens, 2006);
    }
}
