//! Entry points for the fuzz targets in `fuzz/`: the adapter's private parsers behind the
//! signatures the adapter itself calls them with. Compiled only under `--cfg fuzzing`
//! (which `cargo fuzz` sets) and in unit tests; not part of the public API.

use reqwest::header::HeaderMap;

use crate::account::AccountInfo;
use crate::provider::timeouts::CallTimer;
use crate::provider::{ProviderError, ProviderResponse, ProviderStream, event_stream};

/// Parses a Messages API response body; `answer_tool` is the JSON-mode answer tool, if
/// the request had one.
pub fn response(
    body: &[u8],
    answer_tool: Option<&str>,
    account: &AccountInfo,
) -> Result<ProviderResponse, ProviderError> {
    super::response::parse(body, answer_tool, account)
}

/// Classifies an unsuccessful answer.
pub fn error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    account: &AccountInfo,
) -> ProviderError {
    super::error::from_response(status, headers, body, account)
}

/// The events of a streaming answer.
pub fn stream(
    response: reqwest::Response,
    answer_tool: Option<String>,
    account: AccountInfo,
) -> ProviderStream {
    event_stream::decode_events(
        response,
        account,
        super::stream::Decoder::new(answer_tool),
        CallTimer::off(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_reach_the_real_parsers() {
        let body = include_bytes!("../../../tests/fixtures/anthropic/message_text.json");
        assert_eq!(
            response(body, None, &AccountInfo::new("fuzz"))
                .unwrap()
                .usage
                .output_tokens,
            14
        );
        let body = include_bytes!("../../../tests/fixtures/anthropic/error_overloaded.json");
        let error = error(529, &HeaderMap::new(), body, &AccountInfo::new("fuzz"));
        assert_eq!(error.kind(), crate::ErrorKind::Overloaded);
    }
}
