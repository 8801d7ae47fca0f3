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
use crate::provider::timeouts::CallTimer;
use crate::provider::{ErrorKind, ProviderError, ProviderEvent, ProviderStream, http};

/// The largest message the event-stream format allows (16 MiB); a body that buffers more
/// without completing one is malformed, whatever its prelude claims.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The provider events of a ConverseStream answer on `account`: every event decoded
/// before a failure comes first, and nothing follows the failure or the final event.
/// Each wait for the next chunk is bounded by `timer` (the adapter's read timeout).
pub(super) fn decode(
    response: reqwest::Response,
    account: AccountInfo,
    decoder: Decoder,
    timer: CallTimer,
) -> ProviderStream {
    decode_chunks(http::body_chunks(response), account, decoder, timer)
}

/// [`decode`] over any stream of body chunks.
pub(super) fn decode_chunks<S>(
    chunks: S,
    account: AccountInfo,
    decoder: Decoder,
    timer: CallTimer,
) -> ProviderStream
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
{
    Box::pin(Framing {
        chunks: Box::pin(chunks),
        timer,
        account,
        decoder,
        frames: MessageFrameDecoder::new(),
        buffer: BytesMut::new(),
        partial: false,
        ready: VecDeque::new(),
        failure: None,
        ended: false,
    })
}

type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

struct Framing {
    chunks: Chunks,
    /// Noted on every chunk; polled only while the body has none ready.
    timer: CallTimer,
    account: AccountInfo,
    decoder: Decoder,
    frames: MessageFrameDecoder,
    buffer: BytesMut,
    /// Whether part of a message has arrived: bytes in the buffer, or a prelude the
    /// frame decoder has already taken out of it.
    partial: bool,
    ready: VecDeque<ProviderEvent>,
    failure: Option<ProviderError>,
    ended: bool,
}

impl Framing {
    /// Decodes every whole message in the buffer; `Ok(None)` when more bytes are needed.
    fn drain(&mut self) -> Result<Option<Flow>, ProviderError> {
        loop {
            let had_bytes = !self.buffer.is_empty();
            let frame = self.frames.decode_frame(&mut self.buffer).map_err(|e| {
                malformed(format!(
                    "the event stream is not valid AWS event-stream framing: {e}"
                ))
            })?;
            let DecodedFrame::Complete(message) = frame else {
                self.partial |= had_bytes;
                return Ok(None);
            };
            self.partial = false;
            let flow = self.decoder.decode(frame_of(&message)?, &mut self.ready)?;
            if flow == Flow::Finished {
                return Ok(Some(flow));
            }
        }
    }

    fn step(
        &mut self,
        chunk: Option<Result<Bytes, reqwest::Error>>,
    ) -> Result<Flow, ProviderError> {
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
            None if self.partial => Err(malformed(
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
            let chunk = match this.chunks.poll_next_unpin(cx) {
                Poll::Ready(chunk) => chunk,
                Poll::Pending => {
                    let timeout = ready!(this.timer.poll_expired(cx));
                    this.ended = true;
                    return Poll::Ready(Some(Err(timeout)));
                }
            };
            if matches!(chunk, Some(Ok(_))) {
                this.timer.read();
            }
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

#[cfg(test)]
mod tests {
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::Header;
    use futures::StreamExt;
    use serde_json::json;

    use super::*;
    use crate::types::{FinishReason, Usage};

    fn event(kind: &str, payload: serde_json::Value) -> Vec<u8> {
        let headers = [(":message-type", "event"), (":event-type", kind)]
            .into_iter()
            .map(|(n, v)| Header::new(n, HeaderValue::String(v.to_owned().into())))
            .collect();
        let message = Message::new_from_parts(headers, payload.to_string().into_bytes());
        let mut bytes = Vec::new();
        write_message_to(&message, &mut bytes).unwrap();
        bytes
    }

    async fn run(chunks: Vec<Vec<u8>>) -> Vec<Result<ProviderEvent, ErrorKind>> {
        let chunks = futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c))));
        let decoder = Decoder::new(None, false);
        let stream = decode_chunks(chunks, AccountInfo::new("a"), decoder, CallTimer::off());
        stream
            .map(|item| item.map_err(|e| e.kind()))
            .collect()
            .await
    }

    fn body() -> Vec<u8> {
        [
            event("messageStart", json!({"role": "assistant"})),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Hé"}}),
            ),
            event("contentBlockStop", json!({"contentBlockIndex": 0})),
            event("messageStop", json!({"stopReason": "end_turn"})),
            event(
                "metadata",
                json!({"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}}),
            ),
        ]
        .concat()
    }

    #[tokio::test]
    async fn a_body_cut_at_every_byte_boundary_decodes_the_same() {
        let body = body();
        let whole = run(vec![body.clone()]).await;
        assert_eq!(
            whole,
            [
                Ok(ProviderEvent::TextDelta("Hé".into())),
                Ok(ProviderEvent::Finished {
                    finish_reason: FinishReason::Stop,
                    usage: Usage::new(1, 2)
                })
            ]
        );
        for cut in 1..body.len() {
            let parts = vec![body[..cut].to_vec(), body[cut..].to_vec()];
            assert_eq!(run(parts).await, whole, "cut at {cut}");
        }
        let bytes: Vec<Vec<u8>> = body.iter().map(|b| vec![*b]).collect();
        assert_eq!(run(bytes).await, whole);
    }

    #[tokio::test]
    async fn a_body_cut_short_anywhere_is_an_error_never_a_finish() {
        let body = body();
        // Before the end of `messageStop` the stream is incomplete; a cut inside the
        // final `metadata` frame leaves a partial message. (Ending right after
        // `messageStop` finishes without usage: the decoder's own test.)
        let after_stop = body.len()
            - event(
                "metadata",
                json!({"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}}),
            )
            .len();
        for len in (0..body.len()).filter(|len| *len != after_stop) {
            let items = run(vec![body[..len].to_vec()]).await;
            let finished = items
                .iter()
                .any(|i| matches!(i, Ok(ProviderEvent::Finished { .. })));
            assert!(!finished, "a body of {len} bytes finished");
            assert_eq!(
                items.last(),
                Some(&Err(ErrorKind::MalformedResponse)),
                "{len}"
            );
        }
    }

    #[tokio::test]
    async fn an_oversized_message_claim_fails_instead_of_buffering_forever() {
        let mut prelude = (u32::MAX).to_be_bytes().to_vec();
        prelude.extend([0; 8]);
        let chunks = std::iter::once(prelude)
            .chain(std::iter::repeat_n(vec![0; 1024 * 1024], 17))
            .collect();
        assert_eq!(run(chunks).await, [Err(ErrorKind::MalformedResponse)]);
    }

    #[tokio::test]
    async fn the_fuzz_seeds_built_in_python_decode_as_the_fixture_does() {
        let seed = include_bytes!("../../../fuzz/corpus/bedrock_stream/seed-stream_text-0");
        let items = run(vec![seed[1..].to_vec()]).await;
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(matches!(items[2], Ok(ProviderEvent::Finished { .. })));
    }
}
