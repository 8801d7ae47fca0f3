//! The Anthropic adapter against a local server speaking the Messages API wire format:
//! what it sends, how it reads answers and streams. Errors, timeouts and routing are in
//! `anthropic_errors.rs`; SDK conformance of every body in `anthropic_conformance.rs`.

mod support;

use routewise::provider::anthropic::{Anthropic, ApiVersion};
use routewise::{
    AccountInfo, ChatRequest, ErrorKind, FinishReason, Message, Provider, ProviderEvent,
    ProviderRequest, SamplingParams, ToolCall, Usage,
};
use serde_json::{Value, json};
use support::anthropic::{
    self as claude, API_KEY, HEADER_SECRET, MODEL, fixture, shape, weather_report_schema,
};
use support::wire::{finish_count, text_of};
use support::wire_server::{RecordingServer, Reply};

async fn server() -> (RecordingServer, AccountInfo) {
    let server = RecordingServer::start([]).await;
    let account = claude::account(server.url());
    (server, account)
}

/// The body of the one request `shape` produced, answered with `reply`.
async fn sent_body(anthropic: &Anthropic, name: &str, reply: &str) -> Value {
    let (server, account) = server().await;
    server.reply(Reply::json(200, fixture(reply)));
    claude::complete(anthropic, &account, &shape(name))
        .await
        .unwrap();
    server.single_request().body
}

fn user_text(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

#[tokio::test]
async fn complete_posts_the_conversation_with_key_version_and_account_headers() {
    let (server, account) = server().await;
    server.reply(Reply::json(200, fixture("message_text.json")));
    let response = claude::complete(&Anthropic::new(), &account, &shape("plain"))
        .await
        .unwrap();
    let request = server.single_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path_and_query(), "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some(API_KEY));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-team-token"), Some(HEADER_SECRET));
    assert_eq!(
        request.body,
        json!({
            "model": MODEL,
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": [user_text("Hello, Claude")]}]
        })
    );
    assert_eq!(response.content, "Hello! How can I help you today?");
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 12 + 2048 + 1500,
            output_tokens: 14,
            cached_input_tokens: 2048,
            cache_write_tokens: 1500,
            reasoning_tokens: 0,
        }
    );
}

#[tokio::test]
async fn a_trailing_slash_on_the_base_url_is_ignored() {
    let server = RecordingServer::start([]).await;
    let account = claude::account(&format!("{}/", server.url()));
    server.reply(Reply::json(200, fixture("message_text.json")));
    claude::complete(&Anthropic::new(), &account, &shape("plain"))
        .await
        .unwrap();
    assert_eq!(server.single_request().path_and_query(), "/v1/messages");
}

#[tokio::test]
async fn sampling_params_stop_sequences_and_extra_params_are_sent_but_no_seed() {
    let body = sent_body(&Anthropic::new(), "sampling", "message_stop_sequence.json").await;
    assert_eq!(body["temperature"], json!(0.25));
    // The model's profile: Claude Sonnet 4.6 refuses `temperature` with `top_p`.
    assert!(body.get("top_p").is_none(), "{body}");
    assert_eq!(body["max_tokens"], json!(300));
    assert_eq!(body["stop_sequences"], json!(["\n\nHuman:"]));
    assert_eq!(body["service_tier"], json!("auto"));
    assert_eq!(body["metadata"], json!({"user_id": "user-1234"}));
    assert!(body.get("seed").is_none(), "Anthropic has no seed: {body}");
}

#[tokio::test]
async fn api_version_2026_10_21_is_sent_and_leaves_temperature_and_top_p_out() {
    let (server, account) = server().await;
    server.reply(Reply::json(200, fixture("message_text.json")));
    let anthropic = Anthropic::new().api_version(ApiVersion::V2026_10_21);
    claude::complete(&anthropic, &account, &shape("sampling"))
        .await
        .unwrap();
    let request = server.single_request();
    assert_eq!(request.header("anthropic-version"), Some("2026-10-21"));
    assert!(request.body.get("temperature").is_none());
    assert!(request.body.get("top_p").is_none());
    assert_eq!(request.body["stop_sequences"], json!(["\n\nHuman:"]));
    assert_eq!(request.body["max_tokens"], json!(300));
}

#[tokio::test]
async fn max_tokens_comes_from_the_request_then_the_logical_model_then_the_adapter() {
    let (server, account) = server().await;
    server.reply(Reply::json(200, fixture("message_text.json")));
    server.reply(Reply::json(200, fixture("message_text.json")));
    let anthropic = Anthropic::new().default_max_tokens(1234);
    let request = shape("plain");
    let model_defaults = SamplingParams::new().max_tokens(512);
    anthropic
        .complete(ProviderRequest::new(
            MODEL,
            &account,
            &request,
            &model_defaults,
        ))
        .await
        .unwrap();
    claude::complete(&anthropic, &account, &request)
        .await
        .unwrap();
    let sent: Vec<Value> = server
        .requests()
        .iter()
        .map(|r| r.body["max_tokens"].clone())
        .collect();
    assert_eq!(sent, [json!(512), json!(1234)]);
}

#[tokio::test]
async fn system_messages_are_lifted_out_of_the_conversation() {
    let body = sent_body(&Anthropic::new(), "system_lifted", "message_text.json").await;
    assert_eq!(
        body["system"],
        json!("You are terse.\n\nAnswer in English.")
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [user_text("Hi")]},
            {"role": "assistant", "content": [user_text("Hello.")]},
            {"role": "user", "content": [user_text("Bonjour ?")]}
        ])
    );
}

#[tokio::test]
async fn consecutive_turns_of_one_role_are_merged_and_empty_text_left_out() {
    let body = sent_body(&Anthropic::new(), "consecutive_turns", "message_text.json").await;
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [user_text("First question."), user_text("Second question.")]},
            {"role": "assistant", "content": [user_text("First answer."), user_text("Second answer.")]},
            {"role": "user", "content": [user_text("Thanks.")]}
        ])
    );
}

#[tokio::test]
async fn images_are_sent_as_base64_and_url_sources() {
    let body = sent_body(&Anthropic::new(), "images", "message_text.json").await;
    let content = &body["messages"][0]["content"];
    assert_eq!(content[0], user_text("What is in these images?"));
    assert_eq!(content[1]["type"], "image");
    assert_eq!(content[1]["source"]["type"], "base64");
    assert_eq!(content[1]["source"]["media_type"], "image/png");
    assert!(
        content[1]["source"]["data"]
            .as_str()
            .unwrap()
            .starts_with("iVBORw0KGgo")
    );
    assert_eq!(
        content[2],
        json!({"type": "image", "source": {"type": "url",
            "url": "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"}})
    );
    assert_eq!(
        content[3],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/gif",
            "data": "R0lGODlhAQABAAAAACw="}}),
        "a data: URL is sent inline, since the API fetches only https URLs"
    );
}

#[tokio::test]
async fn tools_and_every_tool_choice_are_mapped() {
    let anthropic = Anthropic::new();
    let body = sent_body(&anthropic, "tools_auto", "message_tool_use.json").await;
    assert_eq!(
        body["tools"],
        json!([
            {
                "name": "get_weather",
                "description": "The current weather in a city.",
                "input_schema": shape("tools_auto").tools[0].parameters
            },
            {"name": "get_time", "input_schema": {"type": "object"}}
        ])
    );
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
    for (name, expected) in [
        ("tools_required", json!({"type": "any"})),
        (
            "tools_function",
            json!({"type": "tool", "name": "get_weather"}),
        ),
        ("tools_none", json!({"type": "none"})),
    ] {
        let body = sent_body(&anthropic, name, "message_text.json").await;
        assert_eq!(body["tool_choice"], expected, "{name}");
    }
}

#[tokio::test]
async fn a_tool_round_trip_sends_tool_use_and_merged_tool_results_and_reads_tool_calls() {
    let (server, account) = server().await;
    server.reply(Reply::json(200, fixture("message_tool_use.json")));
    let response = claude::complete(&Anthropic::new(), &account, &shape("tool_round_trip"))
        .await
        .unwrap();
    assert_eq!(
        server.single_request().body["messages"],
        json!([
            {"role": "user", "content": [user_text("Weather in Oslo, and the time?")]},
            {"role": "assistant", "content": [
                user_text("I'll check both."),
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather",
                 "input": {"city": "Oslo", "unit": "celsius"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "4°C, cloudy"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "09:30"},
                user_text("Thanks! Do I need a coat?")
            ]}
        ])
    );
    assert_eq!(response.content, "I'll check the weather in both cities.");
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    let calls: Vec<(&str, &str, Value)> = response
        .tool_calls
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.name.as_str(),
                serde_json::from_str(&c.arguments).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            (
                "toolu_01A09q90qw90lq917835lq9",
                "get_weather",
                json!({"city": "Oslo", "unit": "celsius"})
            ),
            (
                "toolu_01B11r22st33uv44wx55yz6",
                "get_weather",
                json!({"city": "Bergen", "unit": "celsius"})
            ),
        ]
    );
    assert_eq!(response.usage, Usage::new(512, 96));
}

#[tokio::test]
async fn tool_call_arguments_that_are_not_json_are_an_invalid_request_and_nothing_is_sent() {
    let (server, account) = server().await;
    let request = ChatRequest::user("hi").message(Message::assistant_tool_calls([ToolCall {
        id: "toolu_bad".into(),
        name: "get_weather".into(),
        arguments: "{\"city\": \"Os".into(),
    }]));
    let anthropic = Anthropic::new();
    let error = claude::complete(&anthropic, &account, &request)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert!(error.message().contains("toolu_bad"), "{error}");
    let (events, stream_error) = claude::stream(&anthropic, &account, &request).await;
    assert!(events.is_empty());
    assert_eq!(stream_error.unwrap().kind(), ErrorKind::InvalidRequest);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn json_schema_mode_forces_an_answer_tool_and_returns_its_input_as_the_text() {
    let (server, account) = server().await;
    server.reply(Reply::json(200, fixture("message_json_answer.json")));
    let response = claude::complete(&Anthropic::new(), &account, &shape("json_schema"))
        .await
        .unwrap();
    let body = server.single_request().body;
    assert_eq!(
        body["tools"],
        json!([{
            "name": "weather_report",
            "description": "Give your final answer as this tool's input.",
            "input_schema": weather_report_schema(),
            "strict": true
        }])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "weather_report"})
    );
    let answer: Value = serde_json::from_str(&response.content).unwrap();
    assert_eq!(
        answer,
        json!({"city": "Oslo", "temperature_c": 4.5, "conditions": ["cloudy", "windy"]})
    );
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.finish_reason, FinishReason::Stop);
}

#[tokio::test]
async fn json_object_mode_uses_an_answer_tool_taking_any_object() {
    let (server, account) = server().await;
    server.reply(Reply::json(200, fixture("message_json_object.json")));
    let response = claude::complete(&Anthropic::new(), &account, &shape("json_object"))
        .await
        .unwrap();
    let body = server.single_request().body;
    assert_eq!(body["tools"][0]["name"], "json_object");
    assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "json_object"})
    );
    let answer: Value = serde_json::from_str(&response.content).unwrap();
    assert_eq!(answer, json!({"sentiment": "positive", "score": 0.92}));
    assert_eq!(response.finish_reason, FinishReason::Stop);
}

#[tokio::test]
async fn json_mode_with_own_tools_lets_the_model_call_one_of_them_or_answer() {
    let body = sent_body(
        &Anthropic::new(),
        "json_schema_with_tools",
        "message_tool_use.json",
    )
    .await;
    let names: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["get_weather", "get_time", "weather_report"]);
    assert_eq!(body["tool_choice"], json!({"type": "any"}));
}

#[tokio::test]
async fn stop_reasons_map_to_finish_reasons_and_thinking_is_skipped() {
    let (server, account) = server().await;
    let anthropic = Anthropic::new();
    let cases = [
        ("message_max_tokens.json", FinishReason::Length),
        ("message_stop_sequence.json", FinishReason::Stop),
        ("message_refusal.json", FinishReason::ContentFilter),
        ("message_thinking.json", FinishReason::Stop),
    ];
    for (name, _) in &cases {
        server.reply(Reply::json(200, fixture(name)));
    }
    for (name, expected) in cases {
        let response = claude::complete(&anthropic, &account, &shape("plain"))
            .await
            .unwrap();
        assert_eq!(response.finish_reason, expected, "{name}");
        if name == "message_thinking.json" {
            assert_eq!(response.content, "42");
            assert_eq!(response.usage.reasoning_tokens, 110);
        }
    }
}

/// Tool calls assembled from their deltas, by index: (id, name, arguments).
fn tool_calls_of(events: &[ProviderEvent]) -> Vec<(String, String, String)> {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for event in events {
        if let ProviderEvent::ToolCallDelta(delta) = event {
            let index = delta.index as usize;
            if index == calls.len() {
                calls.push(Default::default());
            }
            let call = &mut calls[index];
            if let Some(id) = &delta.id {
                call.0 = id.clone();
            }
            if let Some(name) = &delta.name {
                call.1 = name.clone();
            }
            call.2.push_str(&delta.arguments);
        }
    }
    calls
}

#[tokio::test]
async fn streaming_text_yields_deltas_then_usage_and_skips_pings() {
    let (server, account) = server().await;
    server.reply(Reply::sse(fixture("stream_text.sse")));
    let (events, error) = claude::stream(&Anthropic::new(), &account, &shape("plain")).await;
    assert!(error.is_none(), "{error:?}");
    let request = server.single_request();
    assert_eq!(request.path_and_query(), "/v1/messages");
    assert_eq!(request.body["stream"], json!(true));
    assert_eq!(text_of(&events), "Hello, world! é😀");
    assert_eq!(
        events.last(),
        Some(&ProviderEvent::Finished {
            finish_reason: FinishReason::Stop,
            usage: Usage {
                input_tokens: 25 + 1024,
                output_tokens: 15,
                cached_input_tokens: 1024,
                ..Usage::default()
            },
        })
    );
    assert_eq!(finish_count(&events), 1);
}

#[tokio::test]
async fn streaming_tool_use_assembles_input_json_deltas_per_call() {
    let (server, account) = server().await;
    server.reply(Reply::sse(fixture("stream_tool_use.sse")));
    let (events, error) = claude::stream(&Anthropic::new(), &account, &shape("tools_auto")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "Let me check the weather.");
    let calls = tool_calls_of(&events);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_eq!(calls[0].1, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].2).unwrap(),
        json!({"city": "Oslo", "unit": "celsius"})
    );
    assert_eq!(calls[1].1, "get_time");
    assert_eq!(
        calls[1].2, "{}",
        "a call without input fragments has empty input"
    );
    assert_eq!(
        events.last(),
        Some(&ProviderEvent::Finished {
            finish_reason: FinishReason::ToolCalls,
            usage: Usage::new(472, 89),
        })
    );
}

#[tokio::test]
async fn streaming_json_mode_streams_the_answer_as_text() {
    let (server, account) = server().await;
    server.reply(Reply::sse(fixture("stream_json_answer.sse")));
    let (events, error) = claude::stream(&Anthropic::new(), &account, &shape("json_schema")).await;
    assert!(error.is_none(), "{error:?}");
    assert!(tool_calls_of(&events).is_empty());
    assert_eq!(
        serde_json::from_str::<Value>(&text_of(&events)).unwrap(),
        json!({"city": "Oslo", "temperature_c": 4.5, "conditions": ["cloudy"]})
    );
    assert!(matches!(
        events.last(),
        Some(ProviderEvent::Finished {
            finish_reason: FinishReason::Stop,
            ..
        })
    ));
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_the_stream_with_a_classified_error() {
    let (server, account) = server().await;
    server.reply(Reply::sse(fixture("stream_overloaded.sse")));
    let (events, error) = claude::stream(&Anthropic::new(), &account, &shape("plain")).await;
    assert_eq!(events, [ProviderEvent::TextDelta("Hel".into())]);
    let error = error.expect("the stream fails");
    assert_eq!(error.kind(), ErrorKind::Overloaded);
    assert_eq!(error.message(), "overloaded_error: Overloaded");
    assert_eq!(error.status(), None);
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_is_a_malformed_response() {
    let text = fixture("stream_text.sse");
    let before_stop = &text[..text.find("event: message_stop").unwrap()];
    let inside_an_event = &text[..text.find("\"text\":\"Hello\"").unwrap()];
    let anthropic = Anthropic::new();
    for cut in [before_stop, inside_an_event] {
        let (server, account) = server().await;
        server.reply(Reply::sse(cut));
        let (events, error) = claude::stream(&anthropic, &account, &shape("plain")).await;
        assert_eq!(
            finish_count(&events),
            0,
            "a cut stream must not finish: {events:?}"
        );
        assert_eq!(
            error.expect("the stream fails").kind(),
            ErrorKind::MalformedResponse
        );
    }
}

#[tokio::test]
async fn health_check_lists_one_model_with_the_account_credentials() {
    let (server, account) = server().await;
    server.reply(Reply::json(200, fixture("models_list.json")));
    server.reply(Reply::json(401, fixture("error_authentication.json")));
    let anthropic = Anthropic::new();
    anthropic.health_check(&account).await.unwrap();
    let request = server.single_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path_and_query(), "/v1/models?limit=1");
    assert_eq!(request.header("x-api-key"), Some(API_KEY));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    let error = anthropic.health_check(&account).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
}
