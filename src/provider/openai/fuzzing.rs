//! Entry points for the fuzz targets in `fuzz/`: the adapter's private parsers behind the
//! signatures the adapter itself calls them with. Compiled only under `--cfg fuzzing`
//! (which `cargo fuzz` sets) and in unit tests; not part of the public API.

use crate::account::AccountInfo;
use crate::provider::{ProviderError, ProviderResponse, ProviderStream};

/// Parses a chat completion body.
pub fn response(body: &[u8], account: &AccountInfo) -> Result<ProviderResponse, ProviderError> {
    super::response::parse(body, account)
}

/// Classifies an unsuccessful answer (status, headers and body).
pub async fn error(response: reqwest::Response, account: &AccountInfo) -> ProviderError {
    super::error::from_response(response, account).await
}

/// The events of a streaming answer.
pub fn stream(response: reqwest::Response, account: AccountInfo) -> ProviderStream {
    super::stream::events(response, account)
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
