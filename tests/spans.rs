//! Request and attempt spans carry the OpenTelemetry GenAI attributes, and every attempt
//! span sits inside its request's span, also for a stream that falls back after it started.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use routewise::{
    Capabilities, ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType,
    StreamEvent, Target,
};
use support::telemetry::{complete_then_stream, paused_runtime, router};
use support::wire_server::{RecordingServer, Reply, fixture};

#[derive(Debug)]
struct RecordedSpan {
    name: &'static str,
    metadata: &'static tracing::Metadata<'static>,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

/// A subscriber that keeps every span with its fields and contextual parent.
#[derive(Default)]
struct SpanRecorder {
    spans: Mutex<Vec<RecordedSpan>>,
    entered: Mutex<Vec<u64>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for SpanRecorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = match attrs.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if attrs.is_contextual() => self.entered.lock().unwrap().last().copied(),
            None => None,
        };
        let mut spans = self.spans.lock().unwrap();
        spans.push(RecordedSpan {
            name: attrs.metadata().name(),
            metadata: attrs.metadata(),
            parent,
            fields,
        });
        tracing::span::Id::from_u64(spans.len() as u64)
    }

    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        values.record(&mut Fields(&mut spans[span.into_u64() as usize - 1].fields));
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, _: &tracing::Event<'_>) {}

    fn enter(&self, span: &tracing::span::Id) {
        self.entered.lock().unwrap().push(span.into_u64());
    }

    fn exit(&self, _: &tracing::span::Id) {
        self.entered.lock().unwrap().pop();
    }

    fn current_span(&self) -> tracing_core::span::Current {
        match self.entered.lock().unwrap().last() {
            Some(&id) => {
                let metadata = self.spans.lock().unwrap()[id as usize - 1].metadata;
                tracing_core::span::Current::new(tracing::span::Id::from_u64(id), metadata)
            }
            None => tracing_core::span::Current::none(),
        }
    }
}

#[test]
fn attempt_spans_carry_gen_ai_attributes_and_stay_inside_their_request() {
    let recorder = Arc::new(SpanRecorder::default());
    tracing::subscriber::with_default(recorder.clone(), || {
        paused_runtime().block_on(complete_then_stream(&router()));
    });
    let spans = recorder.spans.lock().unwrap();
    let field = |span: &RecordedSpan, name: &str| span.fields.get(name).cloned();
    let requests: Vec<u64> = (1..=spans.len() as u64)
        .filter(|&id| spans[id as usize - 1].name == "routewise.request")
        .collect();
    assert_eq!(requests.len(), 2, "{spans:#?}");
    for &id in &requests {
        let request = &spans[id as usize - 1];
        assert_eq!(
            field(request, "gen_ai.operation.name").as_deref(),
            Some("chat")
        );
        assert_eq!(field(request, "routewise.policy").as_deref(), Some("chat"));
        assert_eq!(
            field(request, "routewise.outcome").as_deref(),
            Some("success")
        );
    }

    let attempts: Vec<&RecordedSpan> = spans
        .iter()
        .filter(|s| s.name == "routewise.attempt")
        .collect();
    assert_eq!(attempts.len(), 4, "{attempts:#?}");
    for (i, attempt) in attempts.iter().enumerate() {
        let failed = i % 2 == 0;
        let expected_request = requests[i / 2];
        assert_eq!(
            attempt.parent,
            Some(expected_request),
            "attempt {i}: {attempt:?}"
        );
        let get = |name| field(attempt, name);
        assert_eq!(get("gen_ai.operation.name").as_deref(), Some("chat"));
        assert_eq!(get("gen_ai.provider.name").as_deref(), Some("sim"));
        assert_eq!(get("gen_ai.request.temperature").as_deref(), Some("0.5"));
        assert_eq!(get("gen_ai.request.max_tokens").as_deref(), Some("64"));
        if failed {
            assert_eq!(get("gen_ai.request.model").as_deref(), Some("down-model"));
            assert_eq!(get("otel.name").as_deref(), Some("chat down-model"));
            assert_eq!(get("error.type").as_deref(), Some("server_error"));
            assert_eq!(get("gen_ai.usage.input_tokens"), None);
        } else {
            assert_eq!(get("gen_ai.request.model").as_deref(), Some("up-model"));
            assert_eq!(get("error.type"), None);
            assert_eq!(get("gen_ai.usage.input_tokens").as_deref(), Some("7"));
            assert_eq!(get("gen_ai.usage.output_tokens").as_deref(), Some("3"));
            assert_eq!(
                get("gen_ai.response.finish_reasons").as_deref(),
                Some("stop")
            );
        }
    }
}

/// An account of a provider at a loopback server.
type AccountAt = fn(&RecordingServer) -> ProviderAccount;

/// The fields of the one attempt span of a request (streamed when `stream`) served by
/// the account `account` makes for a loopback server answering `reply`, with the
/// server's port.
fn served_attempt(
    account: AccountAt,
    provider_model: &str,
    reply: Reply,
    stream: bool,
) -> (BTreeMap<String, String>, String) {
    let recorder = Arc::new(SpanRecorder::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = tracing::subscriber::with_default(recorder.clone(), || {
        runtime.block_on(async {
            let server = RecordingServer::start([reply]).await;
            let router = Router::builder()
                .account(account(&server))
                .model(
                    LogicalModel::new("m")
                        .capabilities(Capabilities::STREAMING)
                        .target(Target::new(
                            account(&server).name().to_owned(),
                            provider_model,
                        )),
                )
                .policy(Policy::new("default").route(["m"]))
                .build()
                .unwrap();
            let request = ChatRequest::user("hi");
            if stream {
                let answer = router
                    .stream(StepType::Inference, Purpose::Chat, request)
                    .await
                    .unwrap();
                let events: Vec<_> = answer.collect().await;
                assert!(matches!(events.last(), Some(Ok(StreamEvent::Done(_)))));
            } else {
                router
                    .complete(StepType::Inference, Purpose::Chat, request)
                    .await
                    .unwrap();
            }
            assert_eq!(server.requests().len(), 1);
            server.url().rsplit(':').next().unwrap().to_owned()
        })
    });
    let spans = recorder.spans.lock().unwrap();
    let attempt = spans
        .iter()
        .find(|s| s.name == "routewise.attempt")
        .expect("an attempt span");
    (attempt.fields.clone(), port)
}

#[test]
fn attempt_spans_name_the_server_and_the_answer() {
    let reply = Reply::json(200, fixture("openai/chat_text.json"));
    let (fields, port) = served_attempt(support::profiles::openai, "gpt-4o", reply, false);
    let get = |name: &str| fields.get(name).map(String::as_str);
    assert_eq!(get("server.address"), Some("127.0.0.1"));
    assert_eq!(get("server.port"), Some(port.as_str()));
    assert_eq!(
        get("gen_ai.response.id"),
        Some("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT")
    );
    assert_eq!(get("gen_ai.response.model"), Some("gpt-4o-2024-08-06"));
}

#[test]
fn streamed_attempt_spans_name_the_answer_for_every_adapter() {
    let cases: [(AccountAt, &str, &str, &str, &str); 3] = [
        (
            support::profiles::openai,
            "gpt-4o",
            "openai/stream_text.sse",
            "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "gpt-4o-2024-08-06",
        ),
        (
            support::profiles::anthropic,
            "claude-sonnet-4-6",
            "anthropic/stream_text.sse",
            "msg_01StreamText9aK",
            "claude-sonnet-4-6",
        ),
        (
            support::profiles::gemini,
            "gemini-2.5-flash",
            "gemini/stream_text.sse",
            "sXQdaIu0DrKbmNAPl7m5mQc",
            "gemini-2.5-flash",
        ),
    ];
    for (account, model, sse, id, answered_by) in cases {
        let (fields, port) = served_attempt(account, model, Reply::sse(fixture(sse)), true);
        let get = |name: &str| fields.get(name).map(String::as_str);
        assert_eq!(get("gen_ai.response.id"), Some(id), "{sse}: {fields:#?}");
        assert_eq!(get("gen_ai.response.model"), Some(answered_by), "{sse}");
        assert_eq!(get("server.port"), Some(port.as_str()), "{sse}");
        assert!(get("gen_ai.usage.output_tokens").is_some(), "{sse}");
    }
}
