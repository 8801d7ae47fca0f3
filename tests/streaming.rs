//! Streaming: silent fallback until the first content event, an error event after it.

mod support;

use futures::StreamExt;
use routewise::sim::{SimProvider, SimStep};
use routewise::{
    ChatRequest, ChatStream, Error, ErrorKind, FinishReason, Purpose, StepType, StreamEvent,
    ToolCall, Usage,
};
use support::one_model;

async fn open(router: &routewise::Router) -> Result<ChatStream, Error> {
    router
        .stream(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("tell me"),
        )
        .await
}

/// Collects the stream: concatenated text, the final response if any, the final error if any.
async fn drain(mut stream: ChatStream) -> (String, Option<routewise::ChatResponse>, Option<Error>) {
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::TextDelta { text: delta }) => text.push_str(&delta),
            Ok(StreamEvent::Done(response)) => return (text, Some(*response), None),
            Ok(_) => {}
            Err(error) => return (text, None, Some(error)),
        }
    }
    (text, None, None)
}

#[tokio::test]
async fn a_target_failing_before_the_stream_opens_is_replaced_silently() {
    let primary = SimProvider::new().script([SimStep::Fail(ErrorKind::Overloaded)]);
    let backup = SimProvider::new().reply("from the backup");
    let router = one_model(&[("primary", &primary), ("backup", &backup)])
        .build()
        .unwrap();
    let (text, done, error) = drain(open(&router).await.unwrap()).await;
    assert!(error.is_none());
    assert_eq!(text, "from the backup");
    let done = done.unwrap();
    assert_eq!(done.content, "from the backup");
    assert_eq!(done.fallbacks(), 1);
}

#[tokio::test]
async fn a_stream_failing_before_its_first_content_falls_back_without_the_caller_seeing_it() {
    let primary = SimProvider::new()
        .reply("never seen")
        .script([SimStep::FailMidStream {
            after_chunks: 0,
            kind: ErrorKind::RateLimited,
        }]);
    let backup = SimProvider::new().reply("clean answer");
    let router = one_model(&[("primary", &primary), ("backup", &backup)])
        .build()
        .unwrap();
    let (text, done, error) = drain(open(&router).await.unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text, "clean answer");
    assert_eq!(done.unwrap().attempts.len(), 2);
    assert_eq!(router.stats().policy("default").unwrap().fallbacks, 1);
}

#[tokio::test]
async fn a_stream_failing_after_content_ends_with_an_interrupted_error() {
    let primary = SimProvider::new()
        .reply("one two three four")
        .script([SimStep::FailMidStream {
            after_chunks: 2,
            kind: ErrorKind::Connection,
        }]);
    let backup = SimProvider::new();
    let router = one_model(&[("primary", &primary), ("backup", &backup)])
        .build()
        .unwrap();
    let (text, done, error) = drain(open(&router).await.unwrap()).await;
    assert_eq!(text, "one two");
    assert!(done.is_none());
    match error.unwrap() {
        Error::StreamInterrupted {
            target,
            error,
            attempts,
            ..
        } => {
            assert_eq!(&*target.account, "primary");
            assert_eq!(error.kind(), ErrorKind::Connection);
            assert_eq!(attempts.len(), 1);
        }
        other => panic!("expected StreamInterrupted, got {other:?}"),
    }
    assert_eq!(
        backup.calls(),
        0,
        "no fallback after content reached the caller"
    );
    let stats = router.stats();
    let policy = stats.policy("default").unwrap();
    assert_eq!((policy.matched, policy.succeeded, policy.failed), (1, 0, 1));
}

#[tokio::test]
async fn the_done_event_carries_the_assembled_answer_tool_calls_and_usage() {
    let sim = SimProvider::new()
        .reply("checking the weather")
        .usage(Usage::new(20, 9))
        .tool_call(ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Oslo"}"#.into(),
        });
    let router = one_model(&[("only", &sim)]).build().unwrap();
    let mut stream = open(&router).await.unwrap();
    let mut deltas = 0;
    let mut done = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::TextDelta { .. } | StreamEvent::ToolCallDelta(_) => deltas += 1,
            StreamEvent::Done(response) => done = Some(response),
            _ => {}
        }
    }
    let done = done.expect("a Done event");
    assert_eq!(deltas, 4, "three words and one tool call");
    assert_eq!(done.content, "checking the weather");
    assert_eq!(done.tool_calls.len(), 1);
    assert_eq!(done.tool_calls[0].arguments, r#"{"city":"Oslo"}"#);
    assert_eq!(done.finish_reason, FinishReason::ToolCalls);
    assert_eq!(done.usage, Usage::new(20, 9));
    assert!(stream.next().await.is_none(), "nothing after Done");
}

#[tokio::test]
async fn when_every_stream_fails_before_content_the_error_lists_every_attempt() {
    let a = SimProvider::new().always_fail();
    let b = SimProvider::new().script([SimStep::FailMidStream {
        after_chunks: 0,
        kind: ErrorKind::Timeout,
    }]);
    let router = one_model(&[("a", &a), ("b", &b)]).build().unwrap();
    let (_, _, error) = drain(open(&router).await.unwrap_or_else(|e| panic!("{e}"))).await;
    let error = error.expect("an error");
    assert!(matches!(error, Error::AllTargetsFailed { .. }), "{error:?}");
    assert_eq!(error.attempts().len(), 2);
}

#[tokio::test]
async fn dropping_a_stream_counts_the_request_as_cancelled() {
    let sim = SimProvider::new().reply("a b c");
    let router = one_model(&[("only", &sim)]).build().unwrap();
    let mut stream = open(&router).await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let stats = router.stats();
    let policy = stats.policy("default").unwrap();
    assert_eq!(
        (
            policy.matched,
            policy.succeeded,
            policy.failed,
            policy.cancelled
        ),
        (1, 0, 0, 1)
    );
}
