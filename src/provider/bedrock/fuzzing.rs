//! Entry points for the fuzz targets in `fuzz/`: the adapter's private parsers behind the
//! signatures the adapter itself calls them with. Compiled only under `--cfg fuzzing`
//! (which `cargo fuzz` sets) and in unit tests; not part of the public API.

use reqwest::header::HeaderMap;

use crate::account::AccountInfo;
use crate::provider::{ProviderError, ProviderResponse, ProviderStream};

/// Parses a Converse response body; `answer_tool` is the JSON-mode answer tool, if the
/// request had one.
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

/// The events of a ConverseStream answer (AWS event-stream framing); `wrapped` when the
/// answer tool's input wraps the answer in `value`.
pub fn stream(
    response: reqwest::Response,
    answer_tool: Option<String>,
    wrapped: bool,
    account: AccountInfo,
) -> ProviderStream {
    super::framing::decode(
        response,
        account,
        super::stream::Decoder::new(answer_tool, wrapped),
        crate::provider::timeouts::CallTimer::off(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_reach_the_real_parsers() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":14,"totalTokens":17},"metrics":{"latencyMs":1}}"#;
        let account = AccountInfo::new("fuzz");
        assert_eq!(
            response(body, None, &account).unwrap().usage.output_tokens,
            14
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-errortype", "ModelTimeoutException".parse().unwrap());
        let error = error(408, &headers, br#"{"message":"slow"}"#, &account);
        assert_eq!(error.kind(), crate::ErrorKind::Timeout);
    }
}
