//! What the fuzz targets share: the account whose secrets no output may show, the input
//! layouts, HTTP answers built in memory, and the checks every parser's output must pass.

use std::pin::pin;

use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue};
use routewise::{AccountInfo, ProviderError, ProviderEvent, ProviderResponse, ProviderStream};

/// The account's API key: planted in inputs by the seed corpus, never to be shown.
pub const KEY: &str = "sk-fuzz-key-5f0c2a9d7e4b1836";
/// A secret account header value, likewise.
pub const HEADER_SECRET: &str = "hdr-fuzz-secret-93ab71c0";

/// The account every target parses for.
pub fn account() -> AccountInfo {
    routewise::ProviderAccount::new("fuzz", routewise::sim::SimProvider::new())
        .api_key(KEY)
        .header("x-fuzz-token", HEADER_SECRET)
        .info()
        .clone()
}

/// Statuses an error input picks from (by its second byte).
const STATUSES: [u16; 12] = [400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 529];

/// One input of a `*_response` target: `[mode, status, rest...]`. Mode bit 0 makes it
/// an error answer with that status; bit 1 takes `rest`'s first line as a `retry-after`
/// header; the remainder is the body. Bit 2 is free for the target (JSON mode).
pub struct ResponseInput<'a> {
    pub error_status: Option<u16>,
    pub headers: HeaderMap,
    pub body: &'a [u8],
    pub flag: bool,
}

impl<'a> ResponseInput<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let [mode, status, rest @ ..] = data else {
            return None;
        };
        let mut headers = HeaderMap::new();
        let mut body = rest;
        if mode & 2 != 0 {
            let line_end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            if let Ok(value) = HeaderValue::from_bytes(&rest[..line_end]) {
                headers.insert("retry-after", value);
            }
            body = rest.get(line_end + 1..).unwrap_or_default();
        }
        Some(Self {
            error_status: (mode & 1 != 0).then(|| STATUSES[usize::from(*status) % STATUSES.len()]),
            headers,
            body,
            flag: mode & 4 != 0,
        })
    }
}

/// One input of a `*_stream` target: `[mode, body...]`. The body arrives in chunks of
/// `1 + mode % 64` bytes, so event and line boundaries fall anywhere, even inside a
/// character; mode bit 7 is free for the target (JSON mode).
pub fn stream_response(data: &[u8]) -> Option<(reqwest::Response, bool)> {
    let [mode, body @ ..] = data else {
        return None;
    };
    let size = 1 + usize::from(*mode % 64);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = body
        .chunks(size)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let mut response = http::Response::new(body);
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    Some((reqwest::Response::from(response), mode & 0x80 != 0))
}

/// No output may show a secret of the account.
pub fn assert_no_secret(text: &str) {
    assert!(
        !text.contains(KEY) && !text.contains(HEADER_SECRET),
        "a secret leaked: {text}"
    );
}

/// Checks a parsed answer: when it is an error, the error passes [`check_error`]. (An
/// answer's content may quote a secret: that is what the provider sent.)
pub fn check_result(result: &Result<ProviderResponse, ProviderError>) {
    if let Err(error) = result {
        check_error(error);
    }
}

/// An error names what went wrong and shows no secret, in `Display` and `Debug`.
pub fn check_error(error: &ProviderError) {
    assert_no_secret(&error.to_string());
    assert_no_secret(&format!("{error:?}"));
}

/// Reads a provider stream to its end, checking the `Provider::stream` contract: at most
/// one `Finished`, and nothing after it or after an error; errors show no secret.
pub fn drain(stream: ProviderStream) {
    futures::executor::block_on(async {
        let mut stream = pin!(stream);
        let mut ended = false;
        while let Some(item) = stream.next().await {
            assert!(!ended, "an item after the end: {item:?}");
            match item {
                Ok(ProviderEvent::Finished { .. }) => ended = true,
                Ok(_) => {}
                Err(error) => {
                    check_error(&error);
                    ended = true;
                }
            }
        }
    });
}

