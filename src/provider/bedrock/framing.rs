//! The AWS event-stream binary framing of a ConverseStream body, decoded by AWS's own
//! `aws-smithy-eventstream` (prelude, headers, payload and both CRCs), message by
//! message, into the [`Decoder`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::stream::{Decoder, Frame};
use crate::account::AccountInfo;
use crate::provider::event_stream::Flow;
use crate::provider::{ErrorKind, ProviderError, ProviderEvent, ProviderStream, http};

/// The largest message the event-stream format allows (16 MiB); a body that buffers more
/// without completing one is malformed, whatever its prelude claims.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The provider events of a ConverseStream answer on `account`: every event decoded
/// before a failure comes first, and nothing follows the failure or the final event.
pub(super) fn decode(
    response: reqwest::Response,
    account: AccountInfo,
    decoder: Decoder,
) -> ProviderStream {
    decode_chunks(response.bytes_stream(), account, decoder)
}

/// [`decode`] over any stream of body chunks.
pub(super) fn decode_chunks<S>(chunks: S, account: AccountInfo, decoder: Decoder) -> ProviderStream
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
{
    Box::pin(Framing {
        chunks: Box::pin(chunks),
        account,
        decoder,
        frames: MessageFrameDecoder::new(),
        buffer: BytesMut::new(),
        ready: VecDeque::new(),
        failure: None,
        ended: false,
    })
}

type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

struct Framing {
    chunks: Chunks,
    account: AccountInfo,
    decoder: Decoder,
    frames: MessageFrameDecoder,
    buffer: BytesMut,
    ready: VecDeque<ProviderEvent>,
    failure: Option<ProviderError>,
    ended: bool,
}

impl Framing {
    /// Decodes every whole message in the buffer; `Ok(None)` when more bytes are needed.
    fn drain(&mut self) -> Result<Option<Flow>, ProviderError> {
        loop {
            let frame = self.frames.decode_frame(&mut self.buffer).map_err(|e| {
                malformed(format!("the event stream is not valid AWS event-stream framing: {e}"))
            })?;
            let DecodedFrame::Complete(message) = frame else {
                return Ok(None);
            };
            let flow = self.decoder.decode(frame_of(&message)?, &mut self.ready)?;
            if flow == Flow::Finished {
                return Ok(Some(flow));
            }
        }
    }

    fn step(&mut self, chunk: Option<Result<Bytes, reqwest::Error>>) -> Result<Flow, ProviderError> {
        match chunk {
            Some(Ok(bytes)) => {
                self.buffer.extend_from_slice(&bytes);
                if let Some(flow) = self.drain()? {
                    return Ok(flow);
                }
                if self.buffer.len() > MAX_MESSAGE_BYTES {
                    return Err(malformed(format!(
                        "an event-stream message is larger than {MAX_MESSAGE_BYTES} bytes"
                    )));
                }
                Ok(Flow::More)
            }
            Some(Err(e)) => Err(http::transport_error(&e, &self.account)),
            None if !self.buffer.is_empty() => Err(malformed(
                "the event stream ended in the middle of a message".to_owned(),
            )),
            None => self.decoder.end().map(|last| {
                self.ready.push_back(last);
                Flow::Finished
            }),
        }
    }
}

impl Stream for Framing {
    type Item = Result<ProviderEvent, ProviderError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(failure) = this.failure.take() {
                this.ended = true;
                return Poll::Ready(Some(Err(http::redact_error(failure, &this.account))));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            let chunk = ready!(this.chunks.poll_next_unpin(cx));
            match this.step(chunk) {
                Ok(flow) => this.ended = flow == Flow::Finished,
                Err(failure) => this.failure = Some(failure),
            }
        }
    }
}

/// The message as a [`Frame`], by its `:message-type` header.
fn frame_of(message: &Message) -> Result<Frame<'_>, ProviderError> {
    let header = |name: &str| {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| match h.value() {
                HeaderValue::String(value) => Some(value.as_str()),
                _ => None,
            })
    };
    let payload = message.payload().as_ref();
    match header(":message-type") {
        Some("event") => Ok(Frame::Event {
            kind: header(":event-type").unwrap_or(""),
            payload,
        }),
        Some("exception") => Ok(Frame::Exception {
            kind: header(":exception-type").unwrap_or("unknownException"),
            payload,
        }),
        Some("error") => Ok(Frame::Error {
            code: header(":error-code").unwrap_or("UnknownError"),
            message: header(":error-message").unwrap_or(""),
        }),
        other => Err(malformed(format!(
            "an event-stream message has the message type {other:?}, not event, exception or error"
        ))),
    }
}

fn malformed(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::MalformedResponse, message)
}
