//! A small incremental parser for Server-Sent Events, the framing every streaming provider
//! API uses.
//!
//! It follows the WHATWG event-stream rules: lines end in LF, CRLF or CR (also when a CRLF
//! is split across chunks); `data:` lines accumulate, joined with newlines; lines starting
//! with `:` are comments; a blank line dispatches the event; an event cut off by the end of
//! the stream is dropped. Bytes may arrive in any chunking, including mid-character.
//!
//! ```
//! use routewise::provider::sse::SseParser;
//!
//! let mut parser = SseParser::new();
//! let mut events = Vec::new();
//! parser.push(b"event: ping\r\ndata: {\"a\":", &mut events).unwrap();
//! parser.push(b"1}\r\n\r\n: comment\n\ndata: [DONE]\n\n", &mut events).unwrap();
//! assert_eq!(events[0].event.as_deref(), Some("ping"));
//! assert_eq!(events[0].data, "{\"a\":1}");
//! assert_eq!(events[1].data, "[DONE]");
//! ```

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::{Stream, StreamExt};

use super::timeouts::CallTimer;
use super::{ErrorKind, ProviderError};

/// Lines longer than this are refused, so a hostile stream cannot grow memory unbounded.
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

/// Incremental event-stream parser. Feed it bytes as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `bytes`, appending every event they complete to `out`.
    ///
    /// # Errors
    ///
    /// A [`ProviderError`] of kind [`ErrorKind::MalformedResponse`] for a line that is not
    /// UTF-8 or is longer than 16 MiB.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ProviderError> {
        // Whole runs between line ends are found with `memchr2` (many bytes a step) and
        // copied at once rather than byte by byte.
        while let Some((&first, rest)) = bytes.split_first() {
            if self.after_cr && first == b'\n' {
                self.after_cr = false;
                bytes = rest;
                continue;
            }
            let run = memchr::memchr2(b'\n', b'\r', bytes).unwrap_or(bytes.len());
            if run > 0 {
                self.after_cr = false;
                if self.line.len() + run > MAX_LINE_BYTES {
                    return Err(malformed("event-stream line longer than 16 MiB"));
                }
                self.line.extend_from_slice(&bytes[..run]);
            }
            let Some(&end) = bytes.get(run) else {
                break;
            };
            self.after_cr = end == b'\r';
            self.end_line(out)?;
            bytes = &bytes[run + 1..];
        }
        Ok(())
    }

    /// Whether an event was begun but not dispatched: at the end of the stream this means
    /// the stream was cut.
    pub fn has_partial_event(&self) -> bool {
        self.has_data || !self.line.is_empty()
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), ProviderError> {
        // The buffer goes back cleared, keeping its capacity for the next line.
        let mut line = std::mem::take(&mut self.line);
        let result = self.dispatch_line(&line, out);
        line.clear();
        self.line = line;
        result
    }

    fn dispatch_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ProviderError> {
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                    id: self.id.take(),
                });
            }
            self.event = None;
            self.has_data = false;
            return Ok(());
        }
        let line =
            std::str::from_utf8(line).map_err(|_| malformed("event-stream line is not UTF-8"))?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            _ => {}
        }
        Ok(())
    }
}

fn malformed(message: &str) -> ProviderError {
    ProviderError::new(ErrorKind::MalformedResponse, message)
}

/// The events of an HTTP response body. Read errors become classified [`ProviderError`]s;
/// a body that ends in the middle of an event yields a final malformed-response error.
pub fn events(
    response: reqwest::Response,
) -> impl Stream<Item = Result<SseEvent, ProviderError>> + Send + Unpin + 'static {
    timed_events(response, CallTimer::off())
}

/// [`events`], each wait for the next chunk bounded by `timer` (an adapter's read
/// timeout): when it expires, the stream ends with its timeout error.
pub(crate) fn timed_events(
    response: reqwest::Response,
    timer: CallTimer,
) -> impl Stream<Item = Result<SseEvent, ProviderError>> + Send + Unpin + 'static {
    Events {
        body: super::http::body_chunks(response),
        timer,
        parser: SseParser::new(),
        ready: Vec::new(),
        next: 0,
        finished: false,
    }
}

/// The stream behind [`events`]: polled in place, so no state moves from one event to the
/// next, and the events of a chunk wait in a buffer kept from chunk to chunk.
struct Events<B> {
    body: B,
    /// Noted on every chunk; polled only while the body has none ready.
    timer: CallTimer,
    parser: SseParser,
    /// The events of the latest chunk; those before `next` were taken.
    ready: Vec<SseEvent>,
    next: usize,
    finished: bool,
}

impl<B, T> Stream for Events<B>
where
    B: Stream<Item = reqwest::Result<T>> + Unpin,
    T: AsRef<[u8]>,
{
    type Item = Result<SseEvent, ProviderError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.ready.get_mut(this.next) {
                this.next += 1;
                return Poll::Ready(Some(Ok(std::mem::take(event))));
            }
            this.ready.clear();
            this.next = 0;
            if this.finished {
                return Poll::Ready(None);
            }
            let chunk = match this.body.poll_next_unpin(cx) {
                Poll::Ready(chunk) => chunk,
                Poll::Pending => {
                    let timeout = ready!(this.timer.poll_expired(cx));
                    this.finished = true;
                    return Poll::Ready(Some(Err(timeout)));
                }
            };
            match chunk {
                Some(Ok(bytes)) => {
                    this.timer.read();
                    if let Err(error) = this.parser.push(bytes.as_ref(), &mut this.ready) {
                        // As if the chunk never came: none of its events are delivered.
                        this.ready.clear();
                        this.finished = true;
                        return Poll::Ready(Some(Err(error)));
                    }
                }
                Some(Err(error)) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(super::http::from_reqwest(&error))));
                }
                None => {
                    this.finished = true;
                    if this.parser.has_partial_event() {
                        let error = malformed("event stream ended inside an event");
                        return Poll::Ready(Some(Err(error)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(input: &[u8], chunk: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            parser.push(piece, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn any_chunking_gives_the_same_events() {
        let input = "data: first\r\n\r\nevent: delta\ndata: line one\ndata: line two\n\n: keep-alive\n\ndata:no-space\r\rdata: é😀\n\n".as_bytes();
        let whole = parse_in_chunks(input, input.len());
        for size in 1..8 {
            assert_eq!(parse_in_chunks(input, size), whole, "chunk size {size}");
        }
        let data: Vec<&str> = whole.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["first", "line one\nline two", "no-space", "é😀"]);
        assert_eq!(whole[1].event.as_deref(), Some("delta"));
        assert_eq!(whole[0].event, None);
    }

    #[test]
    fn comments_and_empty_events_dispatch_nothing() {
        assert!(parse_in_chunks(b": ping\n\n\n\nevent: x\n\n", 3).is_empty());
    }

    #[test]
    fn a_cut_off_event_is_reported_as_partial() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.push(b"data: {\"half\":", &mut out).unwrap();
        assert!(out.is_empty());
        assert!(parser.has_partial_event());
    }

    /// The items of [`events`] over a body that arrives in `chunks`.
    async fn stream_items(chunks: &[&'static [u8]]) -> Vec<Result<String, ErrorKind>> {
        let chunks: Vec<&'static [u8]> = chunks.to_vec();
        let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        let response = axum::http::Response::new(reqwest::Body::wrap_stream(body));
        let mut stream = events(reqwest::Response::from(response));
        let mut items = Vec::new();
        while let Some(item) = stream.next().await {
            items.push(item.map(|e| e.data).map_err(|e| e.kind()));
        }
        // Polled again after its end, it stays ended.
        assert!(stream.next().await.is_none());
        items
    }

    #[tokio::test]
    async fn events_split_across_chunks_mid_line_and_mid_character() {
        let items = stream_items(&[
            b"data: a\r",
            b"\n\r\ndata: \xc3",
            b"\xa9\n",
            b"\ndata: b\n\n",
        ])
        .await;
        assert_eq!(items, [Ok("a".into()), Ok("\u{e9}".into()), Ok("b".into())]);
    }

    #[tokio::test]
    async fn an_unreadable_chunk_ends_the_stream_with_none_of_its_events() {
        let items =
            stream_items(&[b"data: a\n\n", b"data: b\n\ndata: \xff\n\n", b"data: c\n\n"]).await;
        assert_eq!(items, [Ok("a".into()), Err(ErrorKind::MalformedResponse)]);
    }

    #[tokio::test]
    async fn a_body_ending_inside_an_event_ends_with_an_error() {
        let items = stream_items(&[b"data: a\n\ndata: b"]).await;
        assert_eq!(items, [Ok("a".into()), Err(ErrorKind::MalformedResponse)]);
    }

    #[test]
    fn invalid_utf8_is_a_malformed_response() {
        let mut parser = SseParser::new();
        let err = parser
            .push(b"data: \xff\xfe\n\n", &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    }
}
