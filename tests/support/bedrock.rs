//! What the Bedrock wire, error and conformance tests share: the test credentials, the
//! request shapes every test sends, AWS event-stream encoding (with the same smithy
//! crate the adapter decodes with), and a check that the signature the server received
//! covers exactly the request it received.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as EventMessage};
use routewise::provider::bedrock::{AwsCredentials, Bedrock, CredentialSource};
use routewise::{
    AccountInfo, ChatRequest, ContentPart, Message, Provider, ProviderAccount, ProviderError,
    ProviderEvent, ProviderRequest, ProviderResponse, ResponseFormat, SamplingParams, ToolChoice,
};
use serde_json::{Value, json};

use super::requests::{PNG_BASE64, find_shape, tool_round_trip, with_tools};
use super::wire::collect_events;
use super::wire_server::{self, Recorded};

pub const ACCESS_KEY_ID: &str = "AKIDBEDROCKTEST0001";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/bedrock-test-secret-0123";
pub const SESSION_TOKEN: &str = "FwoGZXIvYXdzEBedrockTestSessionToken0123456789";
/// Every secret of the test credentials.
pub const SECRETS: [&str; 3] = [ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN];
pub const REGION: &str = "us-west-2";
/// A cross-region inference profile id, with the `:` that must be percent-encoded.
pub const MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
/// [`MODEL`] as it appears in the request path.
pub const MODEL_IN_PATH: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0";

/// The adapter with the test's temporary credentials in [`REGION`].
pub fn bedrock() -> Bedrock {
    let keys = AwsCredentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY).session_token(SESSION_TOKEN);
    Bedrock::new()
        .region(REGION)
        .credentials(CredentialSource::Static(keys))
}

/// An account at `base_url`.
pub fn account(base_url: &str) -> AccountInfo {
    ProviderAccount::new("bedrock", Bedrock::new())
        .base_url(base_url)
        .info()
        .clone()
}

/// The text of a fixture under `tests/fixtures/bedrock/`.
pub fn fixture(name: &str) -> String {
    wire_server::fixture(&format!("bedrock/{name}"))
}

/// Every fixture's file name, sorted.
pub fn fixture_names() -> Vec<String> {
    wire_server::fixture_names("bedrock")
}

/// Calls `complete` for [`MODEL`] with no logical-model defaults.
pub async fn complete(
    bedrock: &Bedrock,
    account: &AccountInfo,
    request: &ChatRequest,
) -> Result<ProviderResponse, ProviderError> {
    let defaults = SamplingParams::default();
    bedrock
        .complete(ProviderRequest::new(MODEL, account, request, &defaults))
        .await
}

/// Calls `stream` and collects its events up to the end or the first error.
pub async fn stream(
    bedrock: &Bedrock,
    account: &AccountInfo,
    request: &ChatRequest,
) -> (Vec<ProviderEvent>, Option<ProviderError>) {
    let defaults = SamplingParams::default();
    let opened = bedrock
        .stream(ProviderRequest::new(MODEL, account, request, &defaults))
        .await;
    collect_events(opened).await
}

/// One event-stream message with these headers and payload, framed.
fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let headers = headers
        .iter()
        .map(|(name, value)| {
            Header::new(
                name.to_string(),
                HeaderValue::String(value.to_string().into()),
            )
        })
        .collect();
    let message = EventMessage::new_from_parts(headers, payload.to_vec());
    let mut bytes = Vec::new();
    write_message_to(&message, &mut bytes).unwrap();
    bytes
}

/// An `event` message of type `kind` with a JSON payload.
pub fn event(kind: &str, payload: &Value) -> Vec<u8> {
    frame(
        &[
            (":message-type", "event"),
            (":event-type", kind),
            (":content-type", "application/json"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// An `exception` message (`throttlingException`, ...) with a message.
pub fn exception(kind: &str, message: &str) -> Vec<u8> {
    frame(
        &[
            (":message-type", "exception"),
            (":exception-type", kind),
            (":content-type", "application/json"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}

/// The events of a stream fixture (`[[event type, payload], ...]`).
pub fn stream_events(name: &str) -> Vec<(String, Value)> {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// A stream fixture as the framed body Bedrock sends.
pub fn stream_body(name: &str) -> Vec<u8> {
    stream_events(name)
        .iter()
        .flat_map(|(kind, payload)| event(kind, payload))
        .collect()
}

/// Asserts `recorded` carries a SigV4 signature, for [`REGION`] and the service
/// `bedrock`, with the test credentials, that covers the method, path, signed headers
/// and body bytes the server received: recomputed here from what arrived.
pub fn assert_signed(recorded: &Recorded) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_smithy_runtime_api::client::identity::Identity;

    let authorization = recorded
        .header("authorization")
        .expect("an authorization header");
    let signed_headers = authorization
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("SignedHeaders in the authorization");
    assert!(
        authorization.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{}/{REGION}/bedrock/aws4_request, ",
            &recorded.header("x-amz-date").unwrap()[..8]
        )),
        "{authorization}"
    );
    for required in ["host", "x-amz-date", "x-amz-security-token", "content-type"] {
        assert!(
            signed_headers.split(';').any(|h| h == required),
            "{required} unsigned: {signed_headers}"
        );
    }
    let headers: Vec<(&str, &str)> = signed_headers
        .split(';')
        .filter(|h| *h != "x-amz-date" && *h != "x-amz-security-token")
        .map(|h| (h, recorded.header(h).unwrap()))
        .collect();
    let url = format!(
        "http://{}{}",
        recorded.header("host").unwrap(),
        recorded.path_and_query()
    );
    let time = parse_amz_date(recorded.header("x-amz-date").unwrap());
    let identity: Identity = aws_credential_types::Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        Some(SESSION_TOKEN.to_owned()),
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("bedrock")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        recorded.method.as_str(),
        url,
        headers.into_iter(),
        SignableBody::Bytes(&recorded.raw_body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let expected = instructions
        .headers()
        .find(|(name, _)| *name == "authorization")
        .map(|(_, value)| value.to_owned())
        .unwrap();
    assert_eq!(
        authorization, expected,
        "the signature does not cover the request as received"
    );
    assert_eq!(recorded.header("x-amz-security-token"), Some(SESSION_TOKEN));
}

/// `20150830T123600Z` as a time.
fn parse_amz_date(text: &str) -> SystemTime {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let (year, month, day) = (n(0..4), n(4..6), n(6..8));
    let (hour, minute, second) = (n(9..11), n(11..13), n(13..15));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

/// The schema of the JSON-mode tests.
pub fn weather_report_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "temperature_c": {"type": "number"}
        },
        "required": ["city", "temperature_c"]
    })
}

/// The request shape named `name`.
pub fn shape(name: &str) -> ChatRequest {
    find_shape(shapes(), name)
}

/// Every request shape the Bedrock tests send.
pub fn shapes() -> Vec<(&'static str, ChatRequest)> {
    let weather_report = ResponseFormat::JsonSchema {
        name: "weather_report".into(),
        schema: weather_report_schema(),
        strict: false,
    };
    vec![
        ("plain", ChatRequest::user("Hello, Claude")),
        (
            "system_and_turns",
            ChatRequest::new()
                .message(Message::system("You are terse."))
                .message(Message::user("Hi"))
                .message(Message::assistant("Hello."))
                .message(Message::system("Answer in English."))
                .message(Message::user("Bonjour ?"))
                .message(Message::user_parts([
                    ContentPart::text(""),
                    ContentPart::text("Still there?"),
                ])),
        ),
        (
            "inference_config",
            ChatRequest::user("Count to three.").params(
                SamplingParams::new()
                    .temperature(0.25)
                    .top_p(0.5)
                    .max_tokens(300)
                    .stop(["\n\nHuman:", "END"])
                    .extra("top_k", 40)
                    .extra("performanceConfig", json!({"latency": "optimized"})),
            ),
        ),
        (
            "images",
            ChatRequest::new().message(Message::user_parts([
                ContentPart::text("What is in these images?"),
                ContentPart::image_base64("image/png", PNG_BASE64),
                ContentPart::image_url("data:image/gif;base64,R0lGODlhAQABAAAAACw="),
                ContentPart::image_url("s3://my-bucket/photos/cat.webp"),
            ])),
        ),
        (
            "tools_auto",
            with_tools(
                ChatRequest::user("Weather in Oslo?"),
                Some(ToolChoice::Auto),
            ),
        ),
        (
            "tools_required",
            with_tools(
                ChatRequest::user("Weather in Oslo?"),
                Some(ToolChoice::Required),
            ),
        ),
        (
            "tools_function",
            with_tools(
                ChatRequest::user("Weather in Oslo?"),
                Some(ToolChoice::Function("get_weather".into())),
            ),
        ),
        (
            "tools_none",
            with_tools(
                ChatRequest::user("Weather in Oslo?"),
                Some(ToolChoice::None),
            ),
        ),
        (
            "tool_round_trip",
            with_tools(tool_round_trip("tooluse_"), Some(ToolChoice::None)),
        ),
        (
            "json_schema",
            ChatRequest::user("Weather report for Oslo as JSON.")
                .response_format(weather_report.clone()),
        ),
        (
            "json_object",
            ChatRequest::user("Rate the sentiment of 'I love it' as JSON.")
                .response_format(ResponseFormat::JsonObject),
        ),
        (
            "json_schema_with_tools",
            with_tools(ChatRequest::user("Weather report for Oslo as JSON."), None)
                .response_format(weather_report),
        ),
    ]
}
