//! Streaming: the request asks for a stream with usage; chunks become text and tool-call
//! deltas and one final event with the finish reason and usage.

use routewise::provider::openai::OpenAi;
use routewise::{ErrorKind, FinishReason, ProviderEvent, ToolCallDelta, Usage};
use serde_json::json;

use super::support::openai_cases::case;
use super::support::wire::{assert_secret_free, finish_count, text_of};
use super::support::wire_server::{RecordingServer, Reply, fixture};
use super::{SECRETS, account_at, stream};

#[tokio::test]
async fn a_text_stream_asks_for_usage_and_yields_deltas_then_usage() {
    let server = RecordingServer::start([Reply::sse(fixture("openai/stream_text.sse"))]).await;
    let (events, error) = stream(&OpenAi::new(), &account_at(&server), &case("plain")).await;
    assert!(error.is_none(), "{error:?}");

    let body = server.single_request().body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Say hello."}])
    );

    assert_eq!(text_of(&events), "Hello! How can I help you today?");
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, ProviderEvent::TextDelta(t) if t.is_empty())),
        "empty deltas are not events"
    );
    assert_eq!(
        events.last(),
        Some(&ProviderEvent::Finished {
            finish_reason: FinishReason::Stop,
            usage: Usage::new(19, 10),
        })
    );
    assert_eq!(finish_count(&events), 1);
}

#[tokio::test]
async fn parallel_tool_calls_stream_as_fragments_by_index() {
    let server =
        RecordingServer::start([Reply::sse(fixture("openai/stream_tool_calls.sse"))]).await;
    let (events, error) = stream(&OpenAi::new(), &account_at(&server), &case("tools")).await;
    assert!(error.is_none(), "{error:?}");

    let fragment = |index, id: Option<&str>, name: Option<&str>, arguments: &str| {
        ProviderEvent::ToolCallDelta(ToolCallDelta {
            index,
            id: id.map(Into::into),
            name: name.map(Into::into),
            arguments: arguments.into(),
        })
    };
    assert_eq!(
        events,
        [
            fragment(
                0,
                Some("call_Dn2RJJSxzDm49vlVTehseJ0k"),
                Some("get_weather"),
                ""
            ),
            fragment(0, None, None, "{\"lo"),
            fragment(0, None, None, "cation\":"),
            fragment(0, None, None, " \"Oslo\"}"),
            fragment(
                1,
                Some("call_WnmXhqgeRoLLc1Y8sTEtaKuM"),
                Some("get_time"),
                ""
            ),
            fragment(1, None, None, "{\"timezone\":"),
            fragment(1, None, None, " \"Europe/Oslo\"}"),
            ProviderEvent::Finished {
                finish_reason: FinishReason::ToolCalls,
                usage: Usage {
                    cached_input_tokens: 64,
                    ..Usage::new(82, 51)
                },
            },
        ]
    );
}

#[tokio::test]
async fn stream_usage_can_be_left_out_of_the_request() {
    let server = RecordingServer::start([Reply::sse(fixture("openai/stream_text.sse"))]).await;
    let (_, error) = stream(
        &OpenAi::new().stream_usage(false),
        &account_at(&server),
        &case("plain"),
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    let body = server.single_request().body;
    assert_eq!(body["stream"], true);
    assert!(body.get("stream_options").is_none());
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_is_replayed_as_events() {
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let (events, error) = stream(&OpenAi::new(), &account_at(&server), &case("plain")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "Hello! How can I assist you today?");
    assert!(matches!(
        events.last(),
        Some(ProviderEvent::Finished { finish_reason: FinishReason::Stop, usage }) if usage.input_tokens == 2006
    ));
}

#[tokio::test]
async fn an_error_chunk_ends_the_stream_with_that_error_after_the_text_so_far() {
    let server = RecordingServer::start([Reply::sse(fixture("openai/stream_error.sse"))]).await;
    let (events, error) = stream(&OpenAi::new(), &account_at(&server), &case("plain")).await;
    assert_eq!(text_of(&events), "The answer is");
    assert_eq!(finish_count(&events), 0);
    let error = error.expect("the stream fails");
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert!(error.message().contains("The server had an error"));
    assert_secret_free(&error, &SECRETS);
}

#[tokio::test]
async fn a_content_filter_finish_ends_the_stream_with_content_filtered() {
    let server =
        RecordingServer::start([Reply::sse(fixture("openai/stream_content_filter.sse"))]).await;
    let (events, error) = stream(&OpenAi::new(), &account_at(&server), &case("plain")).await;
    assert_eq!(text_of(&events), "Once upon");
    assert_eq!(error.unwrap().kind(), ErrorKind::ContentFiltered);
}

#[tokio::test]
async fn a_stream_without_done_is_malformed() {
    let server = RecordingServer::start([Reply::sse(fixture("openai/stream_truncated.sse"))]).await;
    let (events, error) = stream(&OpenAi::new(), &account_at(&server), &case("plain")).await;
    assert_eq!(text_of(&events), "Hello! How can I help you today?");
    assert_eq!(finish_count(&events), 0);
    let error = error.expect("a stream cut before [DONE] fails");
    assert_eq!(error.kind(), ErrorKind::MalformedResponse);
    assert!(error.message().contains("[DONE]"), "{error}");
}

#[tokio::test]
async fn a_stream_cut_inside_an_event_is_malformed() {
    let whole = fixture("openai/stream_text.sse");
    let cut = &whole[..whole.find("\"content\":\"Hello\"").unwrap()];
    let server = RecordingServer::start([Reply::sse(cut)]).await;
    let (events, error) = stream(&OpenAi::new(), &account_at(&server), &case("plain")).await;
    assert!(text_of(&events).is_empty());
    assert_eq!(error.unwrap().kind(), ErrorKind::MalformedResponse);
}

#[tokio::test]
async fn a_chunk_that_is_not_json_is_malformed() {
    let server = RecordingServer::start([Reply::sse(
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {not json}\n\ndata: [DONE]\n\n",
    )])
    .await;
    let (events, error) = stream(&OpenAi::new(), &account_at(&server), &case("plain")).await;
    assert_eq!(text_of(&events), "Hi");
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::MalformedResponse);
    assert!(error.message().contains("stream chunk"), "{error}");
}

#[tokio::test]
async fn an_http_error_fails_the_stream_before_it_opens() {
    let server =
        RecordingServer::start([
            Reply::json(429, fixture("openai/error_rate_limit.json")).header("retry-after", "3")
        ])
        .await;
    let (events, error) = stream(&OpenAi::new(), &account_at(&server), &case("plain")).await;
    assert!(events.is_empty());
    let error = error.unwrap();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(3)));
}
