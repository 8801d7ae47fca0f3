//! Failures below the API: timeouts, refused and reset connections, bodies cut short.
//!
//! Timeouts use short real timeouts on loopback: a paused clock would also advance while
//! the client waits for real socket I/O, firing timeouts the server did not earn.

use std::time::Duration;

use routewise::provider::HttpTimeouts;
use routewise::provider::openai::OpenAi;
use routewise::{ErrorKind, Provider};
use tokio::time::Instant;

use super::support::openai_cases::case;
use super::support::wire::{assert_secret_free, finish_count, text_of};
use super::support::wire_server::{
    End, Hangup, RecordingServer, Reply, fixture, raw_server, refused_url,
};
use super::{SECRETS, account, account_at, complete, stream};

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(30);
/// How long a late server waits before answering: well past [`SHORT`].
const LATE: Duration = Duration::from_millis(700);

#[tokio::test]
async fn a_server_that_never_answers_times_out_at_the_first_byte() {
    let server = RecordingServer::start([Reply::hang(), Reply::hang()]).await;
    let openai = OpenAi::new().timeouts(HttpTimeouts::default().read(SHORT).total(LONG));
    let started = Instant::now();
    let error = complete(&openai, &account_at(&server), &case("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(
        started.elapsed() < LONG / 2,
        "the read timeout fired, not the total one"
    );
    assert_secret_free(&error, &SECRETS);

    let (events, error) = stream(&openai, &account_at(&server), &case("plain")).await;
    assert!(events.is_empty());
    assert_eq!(error.unwrap().kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn a_body_that_trickles_past_the_total_timeout_times_out() {
    let whole = fixture("openai/chat_text.json");
    let server = RecordingServer::start([Reply::json(200, &whole[..40]).then(End::Stall)]).await;
    let openai = OpenAi::new().timeouts(HttpTimeouts::default().read(LONG).total(SHORT));
    let started = Instant::now();
    let error = complete(&openai, &account_at(&server), &case("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(started.elapsed() < LONG / 2);
}

#[tokio::test]
async fn a_late_answer_times_out_on_a_short_total_and_arrives_with_the_total_timeout_off() {
    let late = Reply::json(200, fixture("openai/chat_text.json")).after(LATE);
    let server = RecordingServer::start([late.clone(), late]).await;
    let timeouts = HttpTimeouts::default().total(SHORT);

    let error = complete(
        &OpenAi::new().timeouts(timeouts),
        &account_at(&server),
        &case("plain"),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");

    let response = complete(
        &OpenAi::new().timeouts(timeouts.without_total()),
        &account_at(&server),
        &case("plain"),
    )
    .await
    .unwrap();
    assert_eq!(response.content, "Hello! How can I assist you today?");
}

#[tokio::test]
async fn a_late_first_byte_times_out_on_a_short_read_and_arrives_with_the_read_timeout_off() {
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/chat_text.json")).after(LATE),
        Reply::json(200, fixture("openai/chat_text.json")).after(LATE),
        Reply::sse(fixture("openai/stream_text.sse")).after(LATE),
        Reply::sse(fixture("openai/stream_text.sse")).after(LATE),
    ])
    .await;
    let short_read = OpenAi::new().timeouts(HttpTimeouts::default().read(SHORT));
    let read_off = OpenAi::new().timeouts(HttpTimeouts::default().read(SHORT).without_read());

    let error = complete(&short_read, &account_at(&server), &case("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    let response = complete(&read_off, &account_at(&server), &case("plain"))
        .await
        .unwrap();
    assert_eq!(response.content, "Hello! How can I assist you today?");

    let (events, error) = stream(&short_read, &account_at(&server), &case("plain")).await;
    assert!(events.is_empty());
    assert_eq!(error.unwrap().kind(), ErrorKind::Timeout);
    let (events, error) = stream(&read_off, &account_at(&server), &case("plain")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "Hello! How can I help you today?");
    assert_eq!(finish_count(&events), 1);
}

// A paused clock is safe here, unlike above: with both timeouts off the client sets no
// timer once connected, so the clock can only jump to the server's hour. A timer left
// on would fire first.
#[tokio::test(start_paused = true)]
async fn with_read_and_total_off_no_timer_ends_a_call_an_hour_late() {
    let hour = Duration::from_secs(3600);
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/chat_text.json")).after(hour),
        Reply::json(200, fixture("openai/models.json")).after(hour),
    ])
    .await;
    let openai = OpenAi::new().timeouts(HttpTimeouts::default().without_read().without_total());

    let response = complete(&openai, &account_at(&server), &case("plain"))
        .await
        .unwrap();
    assert_eq!(response.content, "Hello! How can I assist you today?");
    openai.health_check(&account_at(&server)).await.unwrap();
}

#[tokio::test]
async fn a_stream_that_stalls_times_out_after_the_events_so_far() {
    let whole = fixture("openai/stream_text.sse");
    let first_three: String = whole.split_inclusive("\n\n").take(3).collect();
    let server = RecordingServer::start([Reply::sse(first_three).then(End::Stall)]).await;
    // The total timeout does not apply to streams: only the gap between chunks does. The
    // gap allowed is long enough for the first events to arrive on a busy machine.
    let openai = OpenAi::new().timeouts(
        HttpTimeouts::default()
            .read(Duration::from_secs(1))
            .total(Duration::from_millis(50)),
    );
    let (events, error) = stream(&openai, &account_at(&server), &case("plain")).await;
    assert_eq!(text_of(&events), "Hello!");
    assert_eq!(finish_count(&events), 0);
    assert_eq!(error.unwrap().kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error() {
    let error = complete(
        &OpenAi::new(),
        &account(format!("{}/v1", refused_url().await)),
        &case("plain"),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    assert_secret_free(&error, &SECRETS);
}

#[tokio::test]
async fn a_reset_connection_is_a_connection_error() {
    let url = raw_server(Vec::new(), Hangup::Reset).await;
    let error = complete(&OpenAi::new(), &account(url), &case("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    assert_secret_free(&error, &SECRETS);
}

// A connection closed before the body is complete is a transport fault, whatever the
// HTTP client calls it (reqwest reports an undecodable body).
#[tokio::test]
async fn a_body_cut_short_of_its_length_is_a_connection_error() {
    let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"id\":\"chatcmpl-1\",\"choices\":[";
    let url = raw_server(answer.to_vec(), Hangup::Close).await;
    let error = complete(&OpenAi::new(), &account(url), &case("plain"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    assert_secret_free(&error, &SECRETS);
}

#[tokio::test]
async fn a_chunked_stream_cut_mid_event_is_a_connection_error() {
    let event = "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"id\":\"x\",\"cho";
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
        event.len()
    );
    let url = raw_server(answer, Hangup::Close).await;
    let (events, error) = stream(&OpenAi::new(), &account(url), &case("plain")).await;
    assert_eq!(text_of(&events), "Hi");
    assert_eq!(error.unwrap().kind(), ErrorKind::Connection);
}

#[tokio::test]
async fn a_connection_that_cannot_be_made_in_time_times_out() {
    // A listener that never accepts, with its queue full: further handshakes go unanswered.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(address),
        )
        .await
        {
            queued.push(stream);
        }
    }
    let openai = OpenAi::new().timeouts(
        HttpTimeouts::default()
            .connect(SHORT)
            .read(LONG)
            .total(LONG),
    );
    let started = Instant::now();
    let error = complete(
        &openai,
        &account(format!("http://{address}/v1")),
        &case("plain"),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(started.elapsed() < LONG / 2, "the connect timeout fired");
    drop(listener);
}
