//! What every adapter's wire tests share: collecting streams, checking errors for secrets,
//! and a router that falls back from one provider target to another.

use futures::StreamExt;
use routewise::{
    Capabilities, ChatResponse, ChatStream, LogicalModel, Policy, ProviderAccount, ProviderError,
    ProviderEvent, ProviderStream, Purpose, Router, SamplingParams, StreamEvent, Target,
};

/// Every event of a provider stream but its `ResponseInfo`, and the error that ended it,
/// if any (also an error opening it). A stream must end after its error, and name its
/// answer (if it does) once, before anything else.
pub async fn collect_events(
    opened: Result<ProviderStream, ProviderError>,
) -> (Vec<ProviderEvent>, Option<ProviderError>) {
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(error) => return (Vec::new(), Some(error)),
    };
    let mut events = Vec::new();
    let mut named = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(ProviderEvent::ResponseInfo { .. }) => {
                assert!(
                    !named && events.is_empty(),
                    "a stream names its answer once, first: {events:?}"
                );
                named = true;
            }
            Ok(event) => events.push(event),
            Err(error) => {
                assert!(
                    stream.next().await.is_none(),
                    "a stream must end after its error"
                );
                return (events, Some(error));
            }
        }
    }
    (events, None)
}

/// The concatenated text deltas of a stream.
pub fn text_of(events: &[ProviderEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ProviderEvent::TextDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// How many `Finished` events a stream yielded: one for a complete stream, none for a
/// failed one.
pub fn finish_count(events: &[ProviderEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ProviderEvent::Finished { .. }))
        .count()
}

/// Asserts none of `secrets` shows in the error's Display, Debug or message.
pub fn assert_secret_free(error: &ProviderError, secrets: &[&str]) {
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        error.message().to_owned(),
    ] {
        for secret in secrets {
            assert!(!shown.contains(secret), "a secret leaked: {shown}");
        }
    }
}

/// A router for chat steps whose logical model `llm` (streaming and tools, with
/// `defaults`) tries `primary`'s account and provider model, then `backup`'s.
pub fn fallback_router(
    primary: (ProviderAccount, &str),
    backup: (ProviderAccount, &str),
    defaults: SamplingParams,
) -> Router {
    let model = LogicalModel::new("llm")
        .capabilities(Capabilities::STREAMING | Capabilities::TOOLS)
        .defaults(defaults)
        .target(Target::new(primary.0.name(), primary.1))
        .target(Target::new(backup.0.name(), backup.1));
    Router::builder()
        .account(primary.0)
        .account(backup.0)
        .model(model)
        .policy(Policy::new("chat").purposes([Purpose::Chat]).route(["llm"]))
        .build()
        .unwrap()
}

/// The text of a routed stream and the response it ended with; any event but text
/// deltas and the end fails the test.
pub async fn collect_routed(mut stream: ChatStream) -> (String, ChatResponse) {
    let mut text = String::new();
    let mut done = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::TextDelta { text: delta } => text.push_str(&delta),
            StreamEvent::Done(response) => done = Some(*response),
            other => panic!("unexpected event {other:?}"),
        }
    }
    (text, done.expect("the stream completes"))
}
