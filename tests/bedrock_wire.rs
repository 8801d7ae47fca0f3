//! The Bedrock adapter against a local server speaking Converse / ConverseStream: what it
//! sends (signed), how it reads answers and event streams. Errors are in
//! `bedrock_errors.rs`; conformance with botocore's service model in
//! `bedrock_conformance.rs`.
#![cfg(feature = "bedrock")]

mod support;

use routewise::{
    FinishReason, Provider, ProviderEvent, ProviderRequest, SamplingParams, ToolCall,
    ToolCallDelta, Usage,
};
use serde_json::{Value, json};
use support::bedrock::{
    self as aws, MODEL_IN_PATH, assert_signed, bedrock, event, fixture, shape, stream_body,
};
use support::wire::{finish_count, text_of};
use support::wire_server::{RecordingServer, Reply};

fn eventstream(body: Vec<u8>) -> Reply {
    Reply::raw(200, "application/vnd.amazon.eventstream", body)
}

/// The body of the one request `name` produced, answered with `reply`.
async fn sent_body(name: &str) -> Value {
    let server = RecordingServer::start([Reply::json(200, fixture("converse_text.json"))]).await;
    aws::complete(&bedrock(), &aws::account(server.url()), &shape(name))
        .await
        .unwrap();
    let request = server.single_request();
    assert_signed(&request);
    request.body
}

#[tokio::test]
async fn complete_posts_a_signed_converse_request_to_the_encoded_model_path() {
    let server = RecordingServer::start([Reply::json(200, fixture("converse_text.json"))]).await;
    let response = aws::complete(&bedrock(), &aws::account(server.url()), &shape("plain"))
        .await
        .unwrap();
    let request = server.single_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/model/{MODEL_IN_PATH}/converse"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_signed(&request);
    assert_eq!(
        request.body,
        json!({"messages": [{"role": "user", "content": [{"text": "Hello, Claude"}]}]})
    );
    assert_eq!(response.content, "Hello! How can I help you today?");
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
async fn system_messages_become_system_blocks_and_same_role_turns_merge() {
    assert_eq!(
        sent_body("system_and_turns").await,
        json!({
            "system": [{"text": "You are terse."}, {"text": "Answer in English."}],
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}]},
                {"role": "assistant", "content": [{"text": "Hello."}]},
                {"role": "user", "content": [{"text": "Bonjour ?"}, {"text": "Still there?"}]}
            ]
        })
    );
}

#[tokio::test]
async fn parameters_go_to_inference_config_and_extras_to_the_model_or_the_converse_members() {
    // Llama takes `temperature` and `top_p` together (Claude 4.5 does not: see below).
    let server = RecordingServer::start([Reply::json(200, fixture("converse_text.json"))]).await;
    let account = aws::account(server.url());
    let request = shape("inference_config");
    let defaults = SamplingParams::default();
    let llama = ProviderRequest::new(
        "meta.llama3-3-70b-instruct-v1:0",
        &account,
        &request,
        &defaults,
    );
    bedrock().complete(llama).await.unwrap();
    let sent = server.single_request();
    assert_signed(&sent);
    assert_eq!(
        sent.body,
        json!({
            "messages": [{"role": "user", "content": [{"text": "Count to three."}]}],
            "inferenceConfig": {
                "maxTokens": 300,
                "temperature": 0.25,
                "topP": 0.5,
                "stopSequences": ["\n\nHuman:", "END"]
            },
            "additionalModelRequestFields": {"top_k": 40},
            "performanceConfig": {"latency": "optimized"}
        })
    );
}

#[tokio::test]
async fn claude_4_5_on_bedrock_gets_temperature_or_top_p_never_both() {
    // Its profile (found from the inference-profile id) makes the pair exclusive, as on
    // Anthropic's own API: the request's `top_p` is left out, its `temperature` kept.
    let body = sent_body("inference_config").await;
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 300, "temperature": 0.25, "stopSequences": ["\n\nHuman:", "END"]})
    );
}

#[tokio::test]
async fn images_are_sent_as_bytes_or_s3_locations_with_their_format() {
    let body = sent_body("images").await;
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"text": "What is in these images?"},
            {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}}},
            {"image": {"format": "gif", "source": {"bytes": "R0lGODlhAQABAAAAACw="}}},
            {"image": {"format": "webp", "source": {"s3Location": {"uri": "s3://my-bucket/photos/cat.webp"}}}}
        ])
    );
}

#[tokio::test]
async fn tools_and_every_tool_choice_map_to_the_tool_config() {
    let body = sent_body("tools_required").await;
    assert_eq!(
        body["toolConfig"],
        json!({
            "tools": [
                {"toolSpec": {
                    "name": "get_weather",
                    "description": "The current weather in a city.",
                    "inputSchema": {"json": {
                        "type": "object",
                        "properties": {
                            "city": {"type": "string"},
                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
                        },
                        "required": ["city"]
                    }}
                }},
                {"toolSpec": {"name": "get_time", "inputSchema": {"json": {"type": "object"}}}}
            ],
            "toolChoice": {"any": {}}
        })
    );
    assert_eq!(
        sent_body("tools_auto").await["toolConfig"]["toolChoice"],
        json!({"auto": {}})
    );
    assert_eq!(
        sent_body("tools_function").await["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "get_weather"}})
    );
    // Converse has no `none`: without tool blocks in the conversation the tools are left out.
    assert_eq!(sent_body("tools_none").await.get("toolConfig"), None);
}

#[tokio::test]
async fn tool_calls_and_results_round_trip_and_keep_the_tool_config_converse_requires() {
    let body = sent_body("tool_round_trip").await;
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "Weather in Oslo, and the time?"}]},
            {"role": "assistant", "content": [
                {"text": "I'll check both."},
                {"toolUse": {"toolUseId": "tooluse_A", "name": "get_weather", "input": {"city": "Oslo", "unit": "celsius"}}},
                {"toolUse": {"toolUseId": "tooluse_B", "name": "get_time", "input": {}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "tooluse_A", "content": [{"text": "4°C, cloudy"}]}},
                {"toolResult": {"toolUseId": "tooluse_B", "content": [{"text": "09:30"}]}},
                {"text": "Thanks! Do I need a coat?"}
            ]}
        ])
    );
    // The request said `none`, but the conversation has tool blocks: tools stay, unforced.
    assert_eq!(body["toolConfig"]["tools"].as_array().unwrap().len(), 2);
    assert_eq!(body["toolConfig"].get("toolChoice"), None);
}

#[tokio::test]
async fn json_mode_forces_an_answer_tool_and_returns_its_input_as_the_text() {
    let server =
        RecordingServer::start([Reply::json(200, fixture("converse_json_answer.json"))]).await;
    let response = aws::complete(
        &bedrock(),
        &aws::account(server.url()),
        &shape("json_schema"),
    )
    .await
    .unwrap();
    let body = server.single_request().body;
    assert_eq!(
        body["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "weather_report"}})
    );
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
        aws::weather_report_schema()
    );
    let answer: Value = serde_json::from_str(&response.content).unwrap();
    assert_eq!(answer, json!({"city": "Oslo", "temperature_c": 4}));
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert!(response.tool_calls.is_empty());
    // Beside the request's own tools the model may choose: `any`.
    assert_eq!(
        sent_body("json_schema_with_tools").await["toolConfig"]["toolChoice"],
        json!({"any": {}})
    );
}

#[tokio::test]
async fn tool_use_answers_become_tool_calls_and_stop_reasons_map() {
    let server = RecordingServer::start([
        Reply::json(200, fixture("converse_tool_use.json")),
        Reply::json(200, fixture("converse_reasoning.json")),
        Reply::json(200, fixture("converse_guardrail.json")),
    ])
    .await;
    let account = aws::account(server.url());
    let response = aws::complete(&bedrock(), &account, &shape("tools_auto"))
        .await
        .unwrap();
    assert_eq!(response.content, "I'll check the weather.");
    assert_eq!(
        response.tool_calls,
        [
            ToolCall {
                id: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Oslo","unit":"celsius"}"#.into(),
            },
            ToolCall {
                id: "tooluse_2".into(),
                name: "get_time".into(),
                arguments: "{}".into()
            }
        ]
    );
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    let reasoning = aws::complete(&bedrock(), &account, &shape("plain"))
        .await
        .unwrap();
    assert_eq!(reasoning.content, "One, two, three.");
    assert_eq!(reasoning.finish_reason, FinishReason::Length);
    let filtered = aws::complete(&bedrock(), &account, &shape("plain"))
        .await
        .unwrap();
    assert_eq!(filtered.finish_reason, FinishReason::ContentFilter);
}

#[tokio::test]
async fn a_stream_posts_to_converse_stream_and_decodes_event_stream_frames_sent_byte_by_byte() {
    let server =
        RecordingServer::start([eventstream(stream_body("stream_text.json")).in_pieces(1)]).await;
    let (events, error) =
        aws::stream(&bedrock(), &aws::account(server.url()), &shape("plain")).await;
    assert!(error.is_none(), "{error:?}");
    let request = server.single_request();
    assert_eq!(
        request.path,
        format!("/model/{MODEL_IN_PATH}/converse-stream")
    );
    assert_signed(&request);
    assert_eq!(text_of(&events), "Hello, wörld ✓");
    assert_eq!(
        events.last(),
        Some(&ProviderEvent::Finished {
            finish_reason: FinishReason::Stop,
            usage: Usage::new(12, 6)
        })
    );
    assert_eq!(finish_count(&events), 1);
}

#[tokio::test]
async fn streams_decode_the_same_in_pieces_of_every_size() {
    let body = stream_body("stream_tool_use.json");
    let server = RecordingServer::start([]).await;
    for piece in 1..=40 {
        server.reply(eventstream(body.clone()).in_pieces(piece));
    }
    let account = aws::account(server.url());
    let mut first = None;
    for piece in 1..=40 {
        let (events, error) = aws::stream(&bedrock(), &account, &shape("tools_auto")).await;
        assert!(error.is_none(), "pieces of {piece}: {error:?}");
        match &first {
            None => first = Some(events),
            Some(expected) => assert_eq!(&events, expected, "pieces of {piece}"),
        }
    }
    let events = first.unwrap();
    assert_eq!(text_of(&events), "Checking.");
    let delta = |index, id: Option<&str>, name: Option<&str>, arguments: &str| {
        ProviderEvent::ToolCallDelta(ToolCallDelta {
            index,
            id: id.map(Into::into),
            name: name.map(Into::into),
            arguments: arguments.into(),
        })
    };
    assert_eq!(
        events[1..],
        [
            delta(0, Some("tooluse_A"), Some("get_weather"), ""),
            delta(0, None, None, "{\"city\": "),
            delta(0, None, None, "\"Oslo\"}"),
            delta(1, Some("tooluse_B"), Some("get_time"), ""),
            delta(1, None, None, "{}"),
            ProviderEvent::Finished {
                finish_reason: FinishReason::ToolCalls,
                usage: Usage::new(300, 40)
            },
        ]
    );
}

#[tokio::test]
async fn a_json_mode_stream_sends_the_answer_tools_input_as_text() {
    let server =
        RecordingServer::start([eventstream(stream_body("stream_json_answer.json"))]).await;
    let (events, error) = aws::stream(
        &bedrock(),
        &aws::account(server.url()),
        &shape("json_schema"),
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    let answer: Value = serde_json::from_str(&text_of(&events)).unwrap();
    assert_eq!(answer, json!({"city": "Oslo", "temperature_c": 4}));
    assert!(matches!(
        events.last(),
        Some(ProviderEvent::Finished {
            finish_reason: FinishReason::Stop,
            ..
        })
    ));
}

#[tokio::test]
async fn an_exception_mid_stream_ends_it_with_its_kind_after_the_text_before_it() {
    let mut body = Vec::new();
    body.extend(event("messageStart", &json!({"role": "assistant"})));
    body.extend(event(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
    ));
    body.extend(aws::exception(
        "throttlingException",
        "Too many tokens, please wait.",
    ));
    body.extend(event(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "never"}}),
    ));
    let server = RecordingServer::start([eventstream(body).in_pieces(5)]).await;
    let (events, error) =
        aws::stream(&bedrock(), &aws::account(server.url()), &shape("plain")).await;
    assert_eq!(text_of(&events), "Hel");
    assert_eq!(finish_count(&events), 0);
    let error = error.unwrap();
    assert_eq!(error.kind(), routewise::ErrorKind::RateLimited);
    assert!(error.message().contains("Too many tokens"), "{error}");
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_or_mid_frame_is_malformed() {
    let full = stream_body("stream_text.json");
    let events = aws::stream_events("stream_text.json");
    let before_stop: Vec<u8> = events[..4].iter().flat_map(|(k, p)| event(k, p)).collect();
    let server = RecordingServer::start([
        eventstream(before_stop),
        eventstream(full[..full.len() - 3].to_vec()),
    ])
    .await;
    let account = aws::account(server.url());
    for _ in 0..2 {
        let (events, error) = aws::stream(&bedrock(), &account, &shape("plain")).await;
        assert_eq!(finish_count(&events), 0);
        assert_eq!(
            error.unwrap().kind(),
            routewise::ErrorKind::MalformedResponse
        );
    }
}

#[tokio::test]
async fn a_corrupted_frame_fails_its_checksum_instead_of_being_read() {
    let mut body = stream_body("stream_text.json");
    // Flip a byte inside the first message's payload.
    body[40] ^= 0x20;
    let server = RecordingServer::start([eventstream(body)]).await;
    let (events, error) =
        aws::stream(&bedrock(), &aws::account(server.url()), &shape("plain")).await;
    assert!(events.is_empty());
    let error = error.unwrap();
    assert_eq!(error.kind(), routewise::ErrorKind::MalformedResponse);
    assert!(error.message().contains("event-stream"), "{error}");
}

#[tokio::test]
#[should_panic(expected = "the signature does not cover the request as received")]
async fn the_signature_check_fails_for_a_body_other_than_the_signed_one() {
    let server = RecordingServer::start([Reply::json(200, fixture("converse_text.json"))]).await;
    aws::complete(&bedrock(), &aws::account(server.url()), &shape("plain"))
        .await
        .unwrap();
    let mut request = server.single_request();
    request.raw_body = b"{\"messages\":[]}".to_vec().into();
    assert_signed(&request);
}

#[tokio::test]
async fn claude_on_bedrock_takes_its_profile_thinking_and_refusals_from_the_anthropic_family() {
    let request = routewise::ChatRequest::user("Think first.").params(
        routewise::SamplingParams::new()
            .reasoning_budget(2048)
            .temperature(0.3)
            .top_p(0.9),
    );
    let server =
        RecordingServer::start([Reply::json(200, fixture("converse_reasoning.json"))]).await;
    let response = aws::complete(&bedrock(), &aws::account(server.url()), &request)
        .await
        .unwrap();
    assert_eq!(response.content, "One, two, three.");
    let body = server.single_request().body;
    assert_eq!(
        body["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})
    );
    // Extended thinking refuses sampling parameters; the budget leaves room to answer.
    assert_eq!(body["inferenceConfig"], json!({"maxTokens": 2048 + 4096}));
}
