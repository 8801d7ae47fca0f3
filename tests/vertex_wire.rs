//! The Vertex AI adapter against two local servers: one that speaks Vertex AI's REST
//! wire format (Gemini's `generateContent` and Claude's `rawPredict` under a project,
//! location and publisher), and a Google token endpoint and metadata server that check
//! the adapter's signed assertions and count the tokens they issue.
#![cfg(feature = "vertex")]

mod support;

#[path = "vertex_wire/auth.rs"]
mod auth;
#[path = "vertex_wire/config.rs"]
mod config;
#[path = "vertex_wire/conformance.rs"]
mod conformance;
#[path = "vertex_wire/errors.rs"]
mod errors;

use routewise::provider::vertex::Vertex;
use routewise::{
    ChatRequest, FinishReason, Message, Provider, ProviderError, ProviderEvent, ProviderRequest,
    ProviderResponse, ResponseFormat, SamplingParams,
};
use serde_json::{Value, json};

use support::vertex::{TokenServer, account, assert_signed_grant, model_path};
use support::wire::{collect_events, finish_count, text_of};
use support::wire_server::{RecordingServer, Reply, fixture};

pub const GEMINI: &str = "gemini-2.5-flash";
pub const CLAUDE: &str = "claude-sonnet-4-5@20250929";

#[tokio::test]
async fn gemini_models_get_the_gemini_body_at_their_publisher_path_with_a_fetched_token() {
    let api = RecordingServer::start([Reply::json(200, fixture("gemini/text.json"))]).await;
    let tokens = TokenServer::start().await;
    let account = account(&api, &tokens, "vertex");
    let vertex = Vertex::new("routewise-tests", "us-east5", tokens.service_account());
    let chat = ChatRequest::user("What is the capital of Norway?");
    let defaults = SamplingParams::new().temperature(0.2).max_tokens(64);
    let response = vertex
        .complete(ProviderRequest::new(
            GEMINI,
            account.info(),
            &chat,
            &defaults,
        ))
        .await
        .unwrap();
    assert_eq!(response.content, "Oslo is the capital of Norway.");
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert_eq!(response.usage.input_tokens, 12);

    let sent = api.single_request();
    assert_eq!(sent.path, model_path("google", GEMINI, "generateContent"));
    assert_eq!(sent.header("authorization"), Some("Bearer tok-1"));
    assert_eq!(sent.header("x-goog-api-key"), None);
    assert_eq!(
        sent.body,
        json!({
            "contents": [{"role": "user", "parts": [{"text": "What is the capital of Norway?"}]}],
            "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64}
        })
    );
    let [grant] = tokens.requests().try_into().unwrap();
    assert_eq!(grant.path, "/token");
    assert_signed_grant(&grant, &tokens.token_url());
}

#[tokio::test]
async fn claude_models_get_the_messages_body_with_the_vertex_version_and_no_model() {
    let api =
        RecordingServer::start([Reply::json(200, fixture("anthropic/message_text.json"))]).await;
    let tokens = TokenServer::start().await;
    let account =
        account(&api, &tokens, "vertex").header("anthropic-beta", "context-1m-2025-08-07");
    let vertex = Vertex::new("routewise-tests", "us-east5", tokens.service_account())
        .default_max_tokens(512);
    let chat = ChatRequest::new()
        .message(Message::system("Be brief."))
        .message(Message::user("Hello"));
    let response = vertex
        .complete(ProviderRequest::new(
            CLAUDE,
            account.info(),
            &chat,
            &SamplingParams::default(),
        ))
        .await
        .unwrap();
    assert_eq!(response.content, "Hello! How can I help you today?");
    assert_eq!(response.usage.output_tokens, 14);

    let sent = api.single_request();
    assert_eq!(sent.path, model_path("anthropic", CLAUDE, "rawPredict"));
    assert_eq!(sent.header("authorization"), Some("Bearer tok-1"));
    assert_eq!(sent.header("anthropic-beta"), Some("context-1m-2025-08-07"));
    assert_eq!(sent.header("anthropic-version"), None);
    assert_eq!(
        sent.body,
        json!({
            "anthropic_version": "vertex-2023-10-16",
            "max_tokens": 512,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
        })
    );
}

#[tokio::test]
async fn an_explicit_publisher_prefix_picks_the_wire_format() {
    let api = RecordingServer::start([
        Reply::json(200, fixture("anthropic/message_text.json")),
        Reply::json(200, fixture("gemini/text.json")),
    ])
    .await;
    let tokens = TokenServer::start().await;
    let account = account(&api, &tokens, "vertex");
    let vertex = Vertex::new("routewise-tests", "us-east5", tokens.service_account());
    let chat = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    for model in ["anthropic/claude-opus-4-1", "google/gemini-2.5-pro"] {
        vertex
            .complete(ProviderRequest::new(
                model,
                account.info(),
                &chat,
                &defaults,
            ))
            .await
            .unwrap();
    }
    let paths: Vec<String> = api.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            model_path("anthropic", "claude-opus-4-1", "rawPredict"),
            model_path("google", "gemini-2.5-pro", "generateContent"),
        ]
    );
    assert_eq!(tokens.issued(), 1, "one token serves both publishers");
}

#[tokio::test]
async fn json_mode_on_claude_goes_through_the_anthropic_answer_tool() {
    let api = RecordingServer::start([Reply::json(
        200,
        fixture("anthropic/message_json_object.json"),
    )])
    .await;
    let tokens = TokenServer::start().await;
    let chat = ChatRequest::user("a colour as JSON").response_format(ResponseFormat::JsonObject);
    let response = complete_at(&api, &tokens, CLAUDE, &chat).await.unwrap();
    assert!(serde_json::from_str::<Value>(&response.content).is_ok());
    let body = api.single_request().body;
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "json_object"})
    );
    assert!(body.get("model").is_none());
}

/// One `complete` call for `model` through a Vertex account on `api`, with tokens from
/// `tokens`.
pub async fn complete_at(
    api: &RecordingServer,
    tokens: &TokenServer,
    model: &str,
    chat: &ChatRequest,
) -> Result<ProviderResponse, ProviderError> {
    let account = account(api, tokens, "vertex");
    Vertex::new("routewise-tests", "us-east5", tokens.service_account())
        .complete(ProviderRequest::new(
            model,
            account.info(),
            chat,
            &SamplingParams::default(),
        ))
        .await
}

/// A stream of `fixture` for `model`, sent in pieces of `piece` bytes.
async fn stream_in_pieces(
    model: &str,
    fixture_name: &str,
    piece: usize,
) -> (Vec<ProviderEvent>, Option<ProviderError>, RecordingServer) {
    let api = RecordingServer::start([Reply::sse(fixture(fixture_name)).in_pieces(piece)]).await;
    let tokens = TokenServer::start().await;
    let account = account(&api, &tokens, "vertex");
    let vertex = Vertex::new("routewise-tests", "us-east5", tokens.service_account());
    let chat = ChatRequest::user("hi");
    let defaults = SamplingParams::default();
    let opened = vertex
        .stream(ProviderRequest::new(
            model,
            account.info(),
            &chat,
            &defaults,
        ))
        .await;
    let (events, error) = collect_events(opened).await;
    (events, error, api)
}

#[tokio::test]
async fn gemini_streams_decode_whatever_the_pieces_they_arrive_in() {
    let (whole, error, api) = stream_in_pieces(GEMINI, "gemini/stream_text.sse", 1 << 20).await;
    assert!(error.is_none(), "{error:?}");
    let sent = api.single_request();
    assert_eq!(
        sent.path_and_query(),
        format!(
            "{}?alt=sse",
            model_path("google", GEMINI, "streamGenerateContent")
        )
    );
    for piece in [1, 2, 3, 7] {
        let (events, error, _) = stream_in_pieces(GEMINI, "gemini/stream_text.sse", piece).await;
        assert!(error.is_none(), "pieces of {piece}: {error:?}");
        assert_eq!(text_of(&events), text_of(&whole), "pieces of {piece}");
        assert_eq!(finish_count(&events), 1);
    }
}

#[tokio::test]
async fn claude_streams_decode_whatever_the_pieces_they_arrive_in() {
    let (whole, error, api) = stream_in_pieces(CLAUDE, "anthropic/stream_text.sse", 1 << 20).await;
    assert!(error.is_none(), "{error:?}");
    let sent = api.single_request();
    assert_eq!(
        sent.path,
        model_path("anthropic", CLAUDE, "streamRawPredict")
    );
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["anthropic_version"], "vertex-2023-10-16");
    assert!(!text_of(&whole).is_empty());
    for piece in [1, 2, 3, 7] {
        let (events, error, _) = stream_in_pieces(CLAUDE, "anthropic/stream_text.sse", piece).await;
        assert!(error.is_none(), "pieces of {piece}: {error:?}");
        assert_eq!(text_of(&events), text_of(&whole), "pieces of {piece}");
        assert_eq!(finish_count(&events), 1);
    }
}

#[tokio::test]
async fn a_stream_cut_at_any_byte_fails_as_incomplete_instead_of_finishing() {
    for (model, name) in [
        (GEMINI, "gemini/stream_text.sse"),
        (CLAUDE, "anthropic/stream_text.sse"),
    ] {
        let text = fixture(name);
        let last_event = text.rfind("data:").unwrap();
        let tokens = TokenServer::start().await;
        let vertex = Vertex::new("routewise-tests", "us-east5", tokens.service_account());
        // Every cut inside the last event (the one that finishes the stream).
        for cut in last_event + 1..text.trim_end().len() {
            let api =
                RecordingServer::start([Reply::sse(text[..cut].to_owned()).unchecked()]).await;
            let account = account(&api, &tokens, "vertex");
            let chat = ChatRequest::user("hi");
            let defaults = SamplingParams::default();
            let opened = vertex
                .stream(ProviderRequest::new(
                    model,
                    account.info(),
                    &chat,
                    &defaults,
                ))
                .await;
            let (events, error) = collect_events(opened).await;
            assert_eq!(finish_count(&events), 0, "{name} cut at {cut}");
            assert!(error.is_some(), "{name} cut at {cut}");
        }
    }
}
