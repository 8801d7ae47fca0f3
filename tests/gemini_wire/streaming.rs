//! `streamGenerateContent?alt=sse`: deltas, tool calls, usage, and every way a stream can
//! end badly.

use std::time::Duration;

use routewise::provider::HttpTimeouts;
use routewise::provider::gemini::Gemini;
use routewise::{
    ChatRequest, ErrorKind, FinishReason, Provider, ProviderError, ProviderEvent, ProviderRequest,
    SamplingParams, ToolCallDelta, Usage,
};
use serde_json::json;

use crate::MODEL;
use crate::support::conformance::assert_conforms;
use crate::support::gemini::{
    API_KEY, account, account_at, check, error_reply, fixture, sse_items, sse_reply,
};
use crate::support::wire::{assert_secret_free, collect_events};
use crate::support::wire_server::{End, Hangup, RecordingServer, Reply, raw_server};

/// What a stream yielded: its events, and the error that ended it, if one did.
#[derive(Debug)]
struct Streamed {
    events: Vec<ProviderEvent>,
    error: Option<ProviderError>,
}

impl Streamed {
    fn error(&self) -> &ProviderError {
        let error = self.error.as_ref().expect("the stream failed");
        assert_secret_free(error, &[API_KEY]);
        error
    }
}

async fn stream_with(
    gemini: &Gemini,
    account: &routewise::ProviderAccount,
) -> Result<Streamed, ProviderError> {
    let chat = ChatRequest::user("Tell me a pangram.");
    let defaults = SamplingParams::default();
    let stream = gemini
        .stream(ProviderRequest::new(
            MODEL,
            account.info(),
            &chat,
            &defaults,
        ))
        .await?;
    let (events, error) = collect_events(Ok(stream)).await;
    Ok(Streamed { events, error })
}

async fn stream(server: &RecordingServer) -> Streamed {
    stream_with(&Gemini::new(), &account(server, "google"))
        .await
        .expect("the stream starts")
}

fn text(delta: &str) -> ProviderEvent {
    ProviderEvent::TextDelta(delta.into())
}

#[tokio::test]
async fn a_text_stream_yields_deltas_then_the_finish_with_final_usage() {
    let server = RecordingServer::start([sse_reply("stream_text.sse")]).await;

    let streamed = stream(&server).await;

    assert!(streamed.error.is_none());
    assert_eq!(
        streamed.events,
        [
            text("The quick"),
            text(" brown fox jumps over"),
            text(" the lazy dog."),
            ProviderEvent::Finished {
                finish_reason: FinishReason::Stop,
                usage: Usage::new(9, 14),
            },
        ]
    );
    let request = &server.requests()[0];
    assert_eq!(
        request.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(request.query.as_deref(), Some("alt=sse"));
    assert_eq!(
        request.body["contents"],
        json!([{"role": "user", "parts": [{"text": "Tell me a pangram."}]}])
    );
    check(&server);
}

#[tokio::test]
async fn streamed_function_calls_arrive_whole_with_thinking_in_the_usage() {
    let server = RecordingServer::start([sse_reply("stream_function_call.sse")]).await;

    let streamed = stream(&server).await;

    let call = |index: u32, name: &str, arguments: &str| {
        ProviderEvent::ToolCallDelta(ToolCallDelta {
            index,
            id: Some(format!("call_{index}")),
            name: Some(name.into()),
            arguments: arguments.into(),
        })
    };
    let mut usage = Usage::new(58, 21 + 35);
    usage.reasoning_tokens = 35;
    assert!(streamed.error.is_none());
    assert_eq!(
        streamed.events,
        [
            text("Let me check."),
            call(0, "get_weather", r#"{"city":"Oslo"}"#),
            call(1, "get_time", r#"{"zone":"Europe/Oslo"}"#),
            ProviderEvent::Finished {
                finish_reason: FinishReason::ToolCalls,
                usage,
            },
        ]
    );
    check(&server);
}

#[tokio::test]
async fn a_stream_that_closes_without_a_finish_reason_is_an_error() {
    let server = RecordingServer::start([sse_reply("stream_truncated.sse")]).await;

    let streamed = stream(&server).await;

    assert_eq!(streamed.events, [text("The quick"), text(" brown fox")]);
    assert_eq!(streamed.error().kind(), ErrorKind::MalformedResponse);
    check(&server);
}

#[tokio::test]
async fn a_stream_cut_inside_an_event_is_malformed() {
    let server = RecordingServer::start([sse_reply("stream_cut_inside_event.sse")]).await;

    let streamed = stream(&server).await;

    assert_eq!(streamed.events, [text("The quick")]);
    assert_eq!(streamed.error().kind(), ErrorKind::MalformedResponse);
    check(&server);
}

#[tokio::test]
async fn an_error_event_inside_a_stream_is_classified_by_its_status() {
    let server = RecordingServer::start([sse_reply("stream_error.sse")]).await;

    let streamed = stream(&server).await;

    assert_eq!(streamed.events, [text("The quick")]);
    let error = streamed.error();
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert_eq!(error.status(), Some(500));
    assert!(
        error.message().starts_with("INTERNAL: An internal error"),
        "{error}"
    );
    check(&server);
}

#[tokio::test]
async fn a_prompt_blocked_at_the_start_of_a_stream_is_content_filtered() {
    let server = RecordingServer::start([sse_reply("stream_blocked.sse")]).await;

    let streamed = stream(&server).await;

    assert!(streamed.events.is_empty());
    let error = streamed.error();
    assert_eq!(error.kind(), ErrorKind::ContentFiltered);
    assert!(error.message().contains("PROHIBITED_CONTENT"), "{error}");
    check(&server);
}

#[tokio::test]
async fn an_error_status_before_the_stream_starts_is_returned_by_stream() {
    let server = RecordingServer::start([error_reply(503, "unavailable")]).await;

    let error = stream_with(&Gemini::new(), &account(&server, "google"))
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Overloaded);
    assert_eq!(error.status(), Some(503));
    assert_secret_free(&error, &[API_KEY]);
    check(&server);
}

#[tokio::test]
async fn a_connection_dropped_mid_stream_is_a_connection_error() {
    let events = fixture("stream_text.sse");
    let first_event = &events[..events.find("\r\n\r\n").unwrap() + 4];
    let mut answer =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    answer.extend_from_slice(format!("{:x}\r\n{first_event}\r\n", first_event.len()).as_bytes());
    let url = raw_server(answer, Hangup::Close).await;
    let account = account_at(url);

    let streamed = stream_with(&Gemini::new(), &account).await.unwrap();

    assert_eq!(streamed.events, [text("The quick")]);
    assert_eq!(streamed.error().kind(), ErrorKind::Connection);
    assert_conforms(&sse_items(first_event));
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_stalls_between_chunks_times_out() {
    let server =
        RecordingServer::start([Reply::sse(fixture("stream_truncated.sse")).then(End::Stall)])
            .await;
    let gemini = Gemini::with_timeouts(HttpTimeouts::default().read(Duration::from_secs(20)));

    let streamed = stream_with(&gemini, &account(&server, "google"))
        .await
        .unwrap();

    assert_eq!(streamed.events, [text("The quick"), text(" brown fox")]);
    assert_eq!(streamed.error().kind(), ErrorKind::Timeout);
    check(&server);
}
