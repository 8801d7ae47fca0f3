//! The plumbing every streaming adapter shares: server-sent events in, provider events
//! out, with one adapter-specific [`EventDecoder`] saying what each event's data means.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::{Stream, StreamExt};

use super::timeouts::CallTimer;
use super::{ProviderError, ProviderEvent, ProviderStream, http, sse};
use crate::account::AccountInfo;

/// Whether a stream goes on after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// More events may follow.
    More,
    /// The stream is complete: its final event has been decoded, and nothing after it is
    /// read.
    Finished,
}

/// What one adapter makes of its stream's events.
pub(crate) trait EventDecoder: Send + Unpin + 'static {
    /// Decodes one event's data, appending the provider events it carries to `out`, with
    /// `account`'s secrets kept out of errors. Events appended before an error are still
    /// delivered, ahead of the error.
    fn decode(
        &mut self,
        data: &str,
        account: &AccountInfo,
        out: &mut VecDeque<ProviderEvent>,
    ) -> Result<Flow, ProviderError>;

    /// The body ended before [`decode`](Self::decode) said [`Flow::Finished`]: the final
    /// event, or why the stream is incomplete.
    fn end(&mut self) -> Result<ProviderEvent, ProviderError>;
}

/// The provider events of a streaming response on `account`. The stream ends after the
/// final event, or after its first error (a transport failure, an unreadable event, an
/// error the provider reports, `timer` expiring between chunks), which comes after every
/// event decoded before it.
pub(crate) fn decode_events(
    response: reqwest::Response,
    account: AccountInfo,
    decoder: impl EventDecoder,
    timer: CallTimer,
) -> ProviderStream {
    Box::pin(Decoding {
        events: sse::timed_events(response, timer),
        account,
        decoder,
        ready: VecDeque::new(),
        failure: None,
        ended: false,
    })
}

/// The stream behind [`decode_events`], polled in place (no state moves per event).
struct Decoding<S, D> {
    events: S,
    account: AccountInfo,
    decoder: D,
    ready: VecDeque<ProviderEvent>,
    failure: Option<ProviderError>,
    ended: bool,
}

impl<S, D> Stream for Decoding<S, D>
where
    S: Stream<Item = Result<sse::SseEvent, ProviderError>> + Unpin,
    D: EventDecoder,
{
    type Item = Result<ProviderEvent, ProviderError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(failure) = this.failure.take() {
                this.ended = true;
                return Poll::Ready(Some(Err(failure)));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            let step = match ready!(this.events.poll_next_unpin(cx)) {
                Some(Ok(event)) => this
                    .decoder
                    .decode(&event.data, &this.account, &mut this.ready),
                Some(Err(failure)) => Err(http::redact_error(failure, &this.account)),
                None => this.decoder.end().map(|last| {
                    this.ready.push_back(last);
                    Flow::Finished
                }),
            };
            match step {
                Ok(flow) => this.ended = flow == Flow::Finished,
                Err(failure) => this.failure = Some(failure),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::provider::ErrorKind;

    /// Text events; `stop` finishes the stream, `fail` fails after the text before it.
    struct Words;

    impl EventDecoder for Words {
        fn decode(
            &mut self,
            data: &str,
            _: &AccountInfo,
            out: &mut VecDeque<ProviderEvent>,
        ) -> Result<Flow, ProviderError> {
            for word in data.split(' ') {
                match word {
                    "stop" => return Ok(Flow::Finished),
                    "fail" => return Err(ProviderError::new(ErrorKind::ServerError, "failed")),
                    _ => out.push_back(ProviderEvent::TextDelta(word.into())),
                }
            }
            Ok(Flow::More)
        }

        fn end(&mut self) -> Result<ProviderEvent, ProviderError> {
            Err(ProviderError::new(ErrorKind::MalformedResponse, "cut"))
        }
    }

    async fn run(body: &'static str) -> Vec<Result<String, ErrorKind>> {
        let response = reqwest::Response::from(axum::http::Response::new(body));
        decode_events(response, AccountInfo::new("a"), Words, CallTimer::off())
            .map(|item| match item {
                Ok(ProviderEvent::TextDelta(text)) => Ok(text),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(error) => Err(error.kind()),
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn events_before_an_error_come_first_and_nothing_follows_the_error() {
        let items = run("data: a b fail c\n\ndata: d\n\n").await;
        assert_eq!(
            items,
            [Ok("a".into()), Ok("b".into()), Err(ErrorKind::ServerError)]
        );
    }

    #[tokio::test]
    async fn nothing_after_the_finishing_event_is_read() {
        let items = run("data: a stop\n\ndata: fail\n\n").await;
        assert_eq!(items, [Ok("a".into())]);
    }

    #[tokio::test]
    async fn a_body_that_ends_early_gets_the_decoders_verdict() {
        let items = run("data: a\n\n").await;
        assert_eq!(items, [Ok("a".into()), Err(ErrorKind::MalformedResponse)]);
    }
}
