//! Responses and stream events read back from what they serialize to (caching, replay):
//! every field survives, the attempts' errors and latencies included.

mod support;

use futures::StreamExt;
use routewise::sim::SimProvider;
use routewise::{ChatRequest, ChatResponse, ErrorKind, Purpose, StepType, StreamEvent};
use serde_json::Value;

fn router() -> routewise::Router {
    let down = SimProvider::new().always_fail();
    let up = SimProvider::new().reply("hello there");
    support::one_model(&[("down", &down), ("up", &up)])
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_response_reads_back_from_its_json() {
    let response = router()
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    let written = serde_json::to_value(&response).unwrap();

    let read: ChatResponse = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(serde_json::to_value(&read).unwrap(), written);
    assert_eq!(read.content, "hello there");
    assert_eq!(&*read.served_by.account, "up");
    assert_eq!(read.attempts.len(), 2);
    // Latencies are written in whole microseconds.
    assert_eq!(
        read.attempts[1].latency.as_micros(),
        response.attempts[1].latency.as_micros()
    );
    let routewise::AttemptOutcome::Failed { error } = &read.attempts[0].outcome else {
        panic!("the first attempt failed: {:?}", read.attempts[0]);
    };
    let routewise::AttemptOutcome::Failed { error: original } = &response.attempts[0].outcome
    else {
        panic!("the first attempt failed");
    };
    assert_eq!(error.kind(), original.kind());
    assert_eq!(error.message(), original.message());
    assert_ne!(error.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn stream_events_read_back_from_their_json() {
    let stream = router()
        .stream(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    let events: Vec<StreamEvent> = stream.map(Result::unwrap).collect().await;
    assert!(matches!(events.last(), Some(StreamEvent::Done(_))));
    for event in &events {
        let written = serde_json::to_value(event).unwrap();
        let read: StreamEvent = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), written);
    }
    let Some(StreamEvent::Done(done)) = events.last() else {
        unreachable!("checked above")
    };
    assert_eq!(done.content, "hello there");
    assert_eq!(
        serde_json::to_value(events.last()).unwrap()["type"],
        Value::from("done")
    );
}

#[test]
fn an_unknown_error_kind_is_refused() {
    let text = r#"{"kind":"on_fire","message":"x","status":null,"retry_after_ms":null}"#;
    let error = serde_json::from_str::<routewise::ProviderError>(text).unwrap_err();
    assert!(
        error.to_string().contains("unknown variant `on_fire`"),
        "{error}"
    );
}
