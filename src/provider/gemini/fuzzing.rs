//! Entry points for the fuzz targets in `fuzz/`: the adapter's private parsers behind the
//! signatures the adapter itself calls them with. Compiled only under `--cfg fuzzing`
//! (which `cargo fuzz` sets) and in unit tests; not part of the public API.

use reqwest::header::HeaderMap;

use crate::account::AccountInfo;
use crate::provider::timeouts::CallTimer;
use crate::provider::{ProviderError, ProviderResponse, ProviderStream, event_stream};

/// Parses a `generateContent` response body.
pub fn response(body: &[u8], account: &AccountInfo) -> Result<ProviderResponse, ProviderError> {
    super::response::parse(body, account)
}

/// Classifies an unsuccessful answer.
pub fn error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    account: &AccountInfo,
) -> ProviderError {
    super::error::from_http(status, headers, body, account)
}

/// The events of a streaming (`alt=sse`) answer.
pub fn stream(response: reqwest::Response, account: AccountInfo) -> ProviderStream {
    event_stream::decode_events(
        response,
        account,
        super::stream::Progress::default(),
        CallTimer::off(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_reach_the_real_parsers() {
        let account = AccountInfo::new("fuzz");
        let body = include_bytes!("../../../tests/fixtures/gemini/text.json");
        assert!(response(body, &account).is_ok());
        let error = error(503, &HeaderMap::new(), b"{}", &account);
        assert_eq!(error.kind(), crate::ErrorKind::Overloaded);
    }
}
