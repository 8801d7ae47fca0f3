//! What every HTTP adapter shares: sending requests and reading answers, turning
//! statuses, headers and transport failures into classified [`ProviderError`]s, and
//! keeping secrets out of messages and `Debug` output.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};

use super::client::AdapterClient;
use super::timeouts::CallTimer;
use super::{ErrorKind, ProviderError};
use crate::account::AccountInfo;

/// The error kind an HTTP status means on its own; adapters refine it with the body (a
/// 400 that says the prompt is too long is [`ErrorKind::ContextLengthExceeded`]).
pub(crate) fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        413 => ErrorKind::ContextLengthExceeded,
        429 => ErrorKind::RateLimited,
        503 | 529 => ErrorKind::Overloaded,
        500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::InvalidRequest,
    }
}

/// When the provider says to try again: `retry-after-ms`, then `retry-after` (seconds or
/// an HTTP date), then the earliest of OpenAI's `x-ratelimit-reset-requests` /
/// `x-ratelimit-reset-tokens` (`1s`, `6m0s`, `250ms`).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // `try_from_secs_f64` refuses negative, NaN and absurdly large values, which a
    // header can hold and `from_secs_f64` would panic on.
    if let Some(wait) = text("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
    {
        return Some(wait);
    }
    if let Some(value) = text("retry-after") {
        if let Some(wait) = value
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        {
            return Some(wait);
        }
        if let Some(at) = parse_http_date(value) {
            let now = std::time::SystemTime::now();
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
        .into_iter()
        .filter_map(|name| text(name).and_then(parse_go_duration))
        .min()
}

/// Parses durations such as `1s`, `6m0s`, `1h2m3.5s`, `250ms`.
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form `retry-after` uses.
fn parse_http_date(text: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let year: u64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let secs = unix_seconds(year, month, day, h, m, s)?;
    std::time::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Parses an RFC 3339 timestamp (`2026-11-20T10:15:30Z`, `2026-11-20T10:15:30.25+01:00`),
/// the form Anthropic's `anthropic-ratelimit-*-reset` headers use.
pub(crate) fn parse_rfc3339(text: &str) -> Option<std::time::SystemTime> {
    let (date, time) = text.trim().split_once(['T', 't', ' '])?;
    let mut ymd = date.split('-').map(|p| p.parse::<u64>().ok());
    let (year, month, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let zone_at = time.find(['Z', 'z', '+', '-'])?;
    let (clock, zone) = time.split_at(zone_at);
    let offset_secs: i64 = match zone {
        "Z" | "z" => 0,
        _ => {
            let (hours, minutes) = zone[1..].split_once(':')?;
            let magnitude = hours
                .parse::<i64>()
                .ok()?
                .checked_mul(3600)?
                .checked_add(minutes.parse::<i64>().ok()?.checked_mul(60)?)?;
            if zone.starts_with('-') {
                -magnitude
            } else {
                magnitude
            }
        }
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let nanos = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        digits.parse::<u32>().ok()?
    };
    let local = i64::try_from(unix_seconds(year, month, day, h, m, s)?).ok()?;
    let utc = u64::try_from(local.checked_sub(offset_secs)?).ok()?;
    std::time::UNIX_EPOCH.checked_add(Duration::new(utc, nanos))
}

/// Seconds from 1970-01-01T00:00:00Z to a UTC civil date and time (Howard Hinnant's
/// days-from-civil algorithm); `None` for out-of-range fields or dates before 1970.
fn unix_seconds(year: u64, month: u64, day: u64, h: u64, m: u64, s: u64) -> Option<u64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let (y, mo) = if month <= 2 {
        (year.checked_sub(1)?, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // Checked: a header's year can be any number, and must not overflow.
    let days = era
        .checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)?;
    days.checked_mul(86_400)?.checked_add(h * 3600 + m * 60 + s)
}

/// Classifies a transport failure.
pub(crate) fn from_reqwest(error: &reqwest::Error) -> ProviderError {
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else if error.is_decode() && !failed_reading_body(error) {
        ErrorKind::MalformedResponse
    } else {
        ErrorKind::Connection
    };
    // reqwest's message names the URL, which carries no secret (keys go in headers).
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::new(kind, message)
}

/// Whether a decode error is really the connection failing while the body was read:
/// reqwest reports every failure of `bytes()` and `chunk()` (a body cut short, a
/// reset) as a decode error, with the transport's body or I/O error among its sources.
fn failed_reading_body(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let body_error = cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_body);
        if body_error || cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The chunks of `response`'s body as they arrive, each failure a `reqwest::Error` of the
/// body (what `Response::bytes_stream` gives, without reqwest's `stream` feature, which
/// would add `tokio-util` to every dependent's build). Polled in place: no future is kept
/// from one chunk to the next.
pub(crate) fn body_chunks(
    response: reqwest::Response,
) -> http_body_util::BodyDataStream<reqwest::Body> {
    http_body_util::BodyDataStream::new(reqwest::Body::from(response))
}

/// Classifies a transport failure with the account's secrets removed from its message.
pub(crate) fn transport_error(error: &reqwest::Error, account: &AccountInfo) -> ProviderError {
    redact_error(from_reqwest(error), account)
}

/// A request body as JSON bytes.
pub(crate) fn json_body(body: &impl serde::Serialize) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(body).map_err(|e| {
        ProviderError::new(
            ErrorKind::InvalidRequest,
            format!("request body could not be encoded: {e}"),
        )
    })
}

/// A header value marked sensitive, so it never shows in `Debug` output; `None` when
/// `value` cannot be a header value.
pub(crate) fn sensitive_value(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `value` as the value of the sensitive header `name` on `account`, or the
/// [`ErrorKind::InvalidRequest`] that names the header and never the value.
pub(crate) fn secret_value(
    value: &str,
    name: &str,
    account: &AccountInfo,
) -> Result<HeaderValue, ProviderError> {
    sensitive_value(value).ok_or_else(|| {
        invalid_account(
            account,
            format!("value of header `{name}` is not a valid header value"),
        )
    })
}

/// An [`ErrorKind::InvalidRequest`] for something wrong in `account`'s settings.
pub(crate) fn invalid_account(account: &AccountInfo, problem: String) -> ProviderError {
    ProviderError::new(
        ErrorKind::InvalidRequest,
        format!("account `{}`: {problem}", account.name()),
    )
}

/// Sends a request through `client` and returns the response when its status is a
/// success, else the error `classify` makes of the status, headers and body. A body that
/// cannot be read counts as empty: the status is the verdict, the body only adds details.
///
/// A redirect that reaches here (routewise's own clients follow none; a supplied client's
/// policy stopped) is an [`ErrorKind::InvalidRequest`] that names where it pointed: a
/// provider API that moved is a base URL to change, and following it would resend the
/// credentials to another address.
pub(crate) async fn send(
    client: &AdapterClient,
    request: reqwest::RequestBuilder,
    account: &AccountInfo,
    classify: fn(u16, &HeaderMap, &[u8], &AccountInfo) -> ProviderError,
) -> Result<reqwest::Response, ProviderError> {
    let failed = match answer(client, request, account).await? {
        Answer::Success(response) => return Ok(response),
        Answer::Failed(failed) => failed,
    };
    let status = failed.status().as_u16();
    let headers = failed.headers().clone();
    let body = failed.bytes().await.unwrap_or_default();
    Err(classify(status, &headers, &body, account))
}

/// What [`answer`] got back: a success, or a failure's head with its body still to read.
pub(crate) enum Answer {
    Success(reqwest::Response),
    Failed(reqwest::Response),
}

/// Sends a request through `client` and sorts its answer; a redirect is the error
/// [`send`] explains (routewise's own clients follow none; a supplied client's policy
/// stopped). What [`send`] and an adapter that reads failures its own way share.
pub(crate) async fn answer(
    client: &AdapterClient,
    request: reqwest::RequestBuilder,
    account: &AccountInfo,
) -> Result<Answer, ProviderError> {
    let response = client.execute(request, account).await?;
    let status = response.status();
    if status.is_success() {
        Ok(Answer::Success(response))
    } else if status.is_redirection() {
        Err(redirected(&response, account))
    } else {
        Ok(Answer::Failed(response))
    }
}

/// The error a redirect answer makes: its status and where it pointed.
fn redirected(response: &reqwest::Response, account: &AccountInfo) -> ProviderError {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("nowhere (no `location` header)");
    redact_error(
        ProviderError::new(
            ErrorKind::InvalidRequest,
            format!(
                "the provider answered {} redirecting to {location}; routewise follows no \
                 redirect: set the account's base URL to where the API is",
                response.status()
            ),
        ),
        account,
    )
}

/// The whole body of a successful response, of at most `limit` bytes, each chunk awaited
/// within `timer`'s deadlines; a failure to read it is a transport error, a larger body
/// a malformed response (nothing past the limit is read or kept).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    account: &AccountInfo,
    limit: usize,
    timer: &mut CallTimer,
) -> Result<impl std::ops::Deref<Target = [u8]>, ProviderError> {
    let oversized = || {
        ProviderError::new(
            ErrorKind::MalformedResponse,
            format!(
                "the answer's body is larger than the {limit}-byte limit (HttpTimeouts::max_body_bytes)"
            ),
        )
    };
    let declared = response.content_length().unwrap_or(0);
    if !usize::try_from(declared).is_ok_and(|declared| declared <= limit) {
        return Err(oversized());
    }
    let read = |e: reqwest::Error| transport_error(&e, account);
    let mut chunk = async || {
        let chunk = timer
            .limit(async { response.chunk().await.map_err(read) })
            .await;
        if matches!(chunk, Ok(Some(_))) {
            timer.read();
        }
        chunk
    };
    // Most answers arrive in one chunk: kept as it is, without a copy.
    let Some(first) = chunk().await? else {
        return Ok(Body::One(Default::default()));
    };
    if first.len() > limit {
        return Err(oversized());
    }
    let Some(second) = chunk().await? else {
        return Ok(Body::One(first));
    };
    let mut body = Vec::with_capacity(
        usize::try_from(declared)
            .unwrap_or(0)
            .max(first.len() + second.len()),
    );
    for chunk in [first, second] {
        body.extend_from_slice(&chunk);
    }
    loop {
        if body.len() > limit {
            return Err(oversized());
        }
        match chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => return Ok(Body::Many(body)),
        }
    }
}

/// A body read whole: the single chunk it came in, or the chunks put together.
enum Body<T> {
    One(T),
    Many(Vec<u8>),
}

impl<T: std::ops::Deref<Target = [u8]>> std::ops::Deref for Body<T> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Body::One(chunk) => chunk,
            Body::Many(bytes) => bytes,
        }
    }
}

/// Whether a provider's error message says the prompt does not fit the context window.
pub(crate) fn mentions_context_overflow(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "context_length_exceeded",
        "context length",
        "context window",
        "prompt is too long",
        "too many tokens",
        "maximum number of tokens",
        "input token count",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// Whether an error message says the model does not take a parameter or value of the
/// request (rather than that the request is malformed), in the words OpenAI, Anthropic
/// and Gemini use.
pub(crate) fn mentions_unsupported_parameter(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "unsupported parameter",
        "unsupported value",
        "cannot both be specified",
        "is not supported with this model",
        "is not supported by this model",
        "not supported when",
        "is unsupported",
        "does not support",
        "only the default (1) value is supported",
        "not supported for this model",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// Replaces every secret of `account` (API key, header values) in `text`.
pub(crate) fn redact(text: &str, account: &AccountInfo) -> String {
    let mut text = text.to_owned();
    let secrets = account
        .api_key()
        .into_iter()
        .chain(account.headers().iter().map(|(_, v)| v));
    for secret in secrets {
        let secret = secret.expose();
        // Short values (`1`, `true`) are not secrets worth hunting and would maul the text.
        if secret.len() >= 8 {
            text = text.replace(secret, "[REDACTED]");
        }
    }
    text
}

/// `error` with every secret of `account` replaced in its message; kind, status and retry
/// delay kept.
pub(crate) fn redact_error(error: ProviderError, account: &AccountInfo) -> ProviderError {
    let message = redact(error.message(), account);
    if message == error.message() {
        return error;
    }
    let mut clean = ProviderError::new(error.kind(), message);
    if let Some(status) = error.status() {
        clean = clean.with_status(status);
    }
    if let Some(after) = error.retry_after() {
        clean = clean.with_retry_after(after);
    }
    clean
}

/// Headers from `(name, value)` pairs, for tests of header parsing.
#[cfg(test)]
pub(crate) fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(kind_for_status(400), ErrorKind::InvalidRequest);
        assert_eq!(kind_for_status(401), ErrorKind::Auth);
        assert_eq!(kind_for_status(403), ErrorKind::Auth);
        assert_eq!(kind_for_status(404), ErrorKind::NotFound);
        assert_eq!(kind_for_status(413), ErrorKind::ContextLengthExceeded);
        assert_eq!(kind_for_status(429), ErrorKind::RateLimited);
        assert_eq!(kind_for_status(500), ErrorKind::ServerError);
        assert_eq!(kind_for_status(503), ErrorKind::Overloaded);
        assert_eq!(kind_for_status(529), ErrorKind::Overloaded);
    }

    #[test]
    fn retry_after_prefers_milliseconds_then_seconds_then_resets() {
        let both = header_map(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(retry_after(&both), Some(Duration::from_millis(1500)));
        assert_eq!(
            retry_after(&header_map(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        let resets = header_map(&[
            ("x-ratelimit-reset-requests", "6m0s"),
            ("x-ratelimit-reset-tokens", "250ms"),
        ]);
        assert_eq!(retry_after(&resets), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(&header_map(&[("retry-after", "soon")])), None);
        // Found by fuzzing: values too large for a Duration used to panic.
        for huge in ["1e300", "-5", "NaN", "inf"] {
            assert_eq!(
                retry_after(&header_map(&[("retry-after", huge)])),
                None,
                "{huge}"
            );
            assert_eq!(
                retry_after(&header_map(&[("retry-after-ms", huge)])),
                None,
                "{huge}"
            );
        }
        let far = "Sun, 06 Nov 18446744073709551615 08:49:37 GMT";
        assert_eq!(retry_after(&header_map(&[("retry-after", far)])), None);
        let far = "Sun, 06 Nov 584942417355 08:49:37 GMT";
        assert_eq!(retry_after(&header_map(&[("retry-after", far)])), None);
        assert_eq!(parse_go_duration("99999999999999999999999h"), None);
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00+99999999999999999:00"),
            None
        );
        let past = header_map(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
    }

    #[test]
    fn http_dates_parse_to_the_right_instant() {
        let at = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            784_111_777
        );
    }

    #[test]
    fn rfc3339_timestamps_parse_with_fractions_and_offsets() {
        let secs = |text: &str| {
            parse_rfc3339(text).map(|at| at.duration_since(std::time::UNIX_EPOCH).unwrap())
        };
        assert_eq!(
            secs("1994-11-06T08:49:37Z"),
            Some(Duration::from_secs(784_111_777))
        );
        assert_eq!(
            secs("1994-11-06T09:49:37.25+01:00"),
            Some(Duration::from_millis(784_111_777_250))
        );
        assert_eq!(
            secs("1994-11-06T07:49:37-01:00"),
            Some(Duration::from_secs(784_111_777))
        );
        assert_eq!(secs("1994-11-06T08:49:37"), None, "a zone is required");
        assert_eq!(secs("1994-13-06T08:49:37Z"), None);
        assert_eq!(secs("soon"), None);
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Some(Duration::from_secs_f64(3723.5))
        );
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn secrets_are_redacted() {
        let account = crate::ProviderAccount::new("a", crate::sim::SimProvider::new())
            .api_key("sk-very-secret-key")
            .header("x-token", "header-secret-value");
        let text = redact(
            "bad key sk-very-secret-key and header-secret-value",
            account.info(),
        );
        assert_eq!(text, "bad key [REDACTED] and [REDACTED]");
    }

    #[test]
    fn redacted_errors_keep_kind_status_and_retry_delay() {
        let account = crate::ProviderAccount::new("a", crate::sim::SimProvider::new())
            .api_key("sk-very-secret-key");
        let error = ProviderError::new(ErrorKind::RateLimited, "key sk-very-secret-key")
            .with_status(429)
            .with_retry_after(Duration::from_secs(3));
        let clean = redact_error(error, account.info());
        assert_eq!(clean.message(), "key [REDACTED]");
        assert_eq!(clean.kind(), ErrorKind::RateLimited);
        assert_eq!(clean.status(), Some(429));
        assert_eq!(clean.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn sensitive_values_stay_out_of_debug_and_bad_values_are_refused() {
        let value = sensitive_value("Bearer sk-very-secret-key").unwrap();
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains("sk-very-secret-key"));
        assert!(sensitive_value("line\nbreak").is_none());
    }

    #[test]
    fn context_overflow_messages_are_recognised() {
        assert!(mentions_context_overflow(
            "This model's maximum context length is 128000 tokens"
        ));
        assert!(mentions_context_overflow(
            "prompt is too long: 210000 tokens > 200000 maximum"
        ));
        assert!(!mentions_context_overflow("invalid value for temperature"));
    }
}
