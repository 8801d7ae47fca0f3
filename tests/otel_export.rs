//! The `otel` example's pipeline (`examples/otel/pipeline.rs`) delivers routewise's spans
//! and metrics to an OTLP/HTTP collector: a loopback stand-in decodes what arrives with
//! the OTLP protobuf types and the test checks the routing is all there.
#![cfg(feature = "metrics")]

#[path = "../examples/otel/pipeline.rs"]
mod pipeline;
mod support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use prost::Message;
use routewise::sim::{SimProvider, SimStep};
use routewise::{
    ChatRequest, ErrorKind, LogicalModel, OpenAi, Policy, ProviderAccount, Purpose, Router,
    StepType, Target,
};
use support::wire_server::{RecordingServer, Reply, fixture};

/// What the collector stand-in received, decoded.
#[derive(Clone, Default)]
struct Received {
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

impl Received {
    fn spans(&self) -> Vec<Span> {
        let traces = self.traces.lock().unwrap();
        traces
            .iter()
            .flat_map(|request| &request.resource_spans)
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| scope.spans.iter().cloned())
            .collect()
    }

    fn metrics(&self) -> Vec<Metric> {
        let metrics = self.metrics.lock().unwrap();
        metrics
            .iter()
            .flat_map(|request| &request.resource_metrics)
            .flat_map(|resource| &resource.scope_metrics)
            .flat_map(|scope| scope.metrics.iter().cloned())
            .collect()
    }

    fn service_names(&self) -> Vec<String> {
        let traces = self.traces.lock().unwrap();
        let metrics = self.metrics.lock().unwrap();
        let trace_resources = traces
            .iter()
            .flat_map(|request| &request.resource_spans)
            .filter_map(|resource| resource.resource.as_ref());
        let metric_resources = metrics
            .iter()
            .flat_map(|request| &request.resource_metrics)
            .filter_map(|resource| resource.resource.as_ref());
        trace_resources
            .chain(metric_resources)
            .filter_map(|resource| text(&resource.attributes, "service.name"))
            .collect()
    }
}

/// Starts the OTLP/HTTP collector stand-in; returns its base URL.
async fn collector(received: Received) -> String {
    async fn traces(
        State(received): State<Received>,
        body: Bytes,
    ) -> (StatusCode, [(header::HeaderName, &'static str); 1]) {
        let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace request");
        received.traces.lock().unwrap().push(request);
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
        )
    }
    async fn metrics(
        State(received): State<Received>,
        body: Bytes,
    ) -> (StatusCode, [(header::HeaderName, &'static str); 1]) {
        let request = ExportMetricsServiceRequest::decode(body).expect("an OTLP metrics request");
        received.metrics.lock().unwrap().push(request);
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
        )
    }
    let app = axum::Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .with_state(received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key) {
        Some(any_value::Value::StringValue(text)) => Some(text.clone()),
        _ => None,
    }
}

fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key) {
        Some(any_value::Value::IntValue(value)) => Some(*value),
        _ => None,
    }
}

/// A router whose primary (a sim) fails once, falling back to OpenAI's wire format served
/// by `upstream`.
fn router(upstream: &RecordingServer) -> Router {
    let down = SimProvider::new().script([SimStep::Fail(ErrorKind::ServerError)]);
    Router::builder()
        .account(ProviderAccount::new("down", down))
        .account(ProviderAccount::new("openai", OpenAi::new()).base_url(upstream.base("/v1")))
        .model(
            LogicalModel::new("m")
                .target(Target::new("down", "down-model"))
                .target(Target::new("openai", "gpt-4o")),
        )
        .policy(Policy::new("chat").route(["m"]))
        .build()
        .unwrap()
}

#[test]
fn routed_spans_and_metrics_arrive_at_an_otlp_http_collector() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let received = Received::default();
    let (telemetry, upstream_port) = runtime.block_on(async {
        let endpoint = collector(received.clone()).await;
        let telemetry = pipeline::Telemetry::install(Some(&endpoint)).unwrap();
        let upstream =
            RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
        let answer = router(&upstream)
            .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
            .await
            .unwrap();
        assert_eq!(answer.fallbacks(), 1);
        assert_eq!(upstream.requests().len(), 1);
        let port: i64 = upstream.url().rsplit(':').next().unwrap().parse().unwrap();
        (telemetry, port)
    });
    // Waits for the collector's answers; the runtime keeps serving it meanwhile.
    telemetry.shutdown().unwrap();

    let spans = received.spans();
    let request = spans
        .iter()
        .find(|s| s.name == "routewise.request")
        .expect("the request span");
    assert_eq!(
        text(&request.attributes, "routewise.policy").as_deref(),
        Some("chat")
    );
    assert_eq!(
        text(&request.attributes, "routewise.outcome").as_deref(),
        Some("success")
    );
    let attempts: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == request.span_id)
        .collect();
    assert_eq!(attempts.len(), 2, "{spans:#?}");

    let failed = attempts
        .iter()
        .find(|s| s.name == "chat down-model")
        .unwrap();
    assert_eq!(
        text(&failed.attributes, "error.type").as_deref(),
        Some("server_error")
    );

    let served = attempts.iter().find(|s| s.name == "chat gpt-4o").unwrap();
    assert_eq!(served.kind, span::SpanKind::Client as i32);
    assert_eq!(served.trace_id, request.trace_id);
    let attrs = &served.attributes;
    assert_eq!(
        text(attrs, "gen_ai.operation.name").as_deref(),
        Some("chat")
    );
    assert_eq!(
        text(attrs, "gen_ai.provider.name").as_deref(),
        Some("openai")
    );
    assert_eq!(
        text(attrs, "gen_ai.request.model").as_deref(),
        Some("gpt-4o")
    );
    assert_eq!(
        text(attrs, "gen_ai.response.model").as_deref(),
        Some("gpt-4o-2024-08-06")
    );
    assert_eq!(
        text(attrs, "gen_ai.response.id").as_deref(),
        Some("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT")
    );
    assert_eq!(text(attrs, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(int(attrs, "server.port"), Some(upstream_port), "{attrs:#?}");
    assert_eq!(int(attrs, "gen_ai.usage.input_tokens"), Some(2006));
    assert_eq!(int(attrs, "gen_ai.usage.output_tokens"), Some(300));

    let metrics = received.metrics();
    let named = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.data.as_ref())
            .unwrap_or_else(|| panic!("no {name} in {metrics:#?}"))
    };
    let metric::Data::Sum(requests) = named(routewise::metrics::REQUESTS) else {
        panic!("the request count is not a sum");
    };
    let [point] = &requests.data_points[..] else {
        panic!("one request, one series: {requests:#?}");
    };
    assert_eq!(
        text(&point.attributes, "routewise.policy").as_deref(),
        Some("chat")
    );
    assert_eq!(
        text(&point.attributes, "routewise.outcome").as_deref(),
        Some("success")
    );
    assert_eq!(point.value, Some(number_data_point::Value::AsInt(1)));
    let metric::Data::Histogram(tokens) = named(routewise::metrics::TOKEN_USAGE) else {
        panic!("token usage is not a histogram");
    };
    let mut token_sums: Vec<(String, f64)> = tokens
        .data_points
        .iter()
        .map(|p| {
            (
                text(&p.attributes, "gen_ai.token.type").unwrap(),
                p.sum.unwrap(),
            )
        })
        .collect();
    token_sums.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        token_sums,
        [("input".to_owned(), 2006.0), ("output".to_owned(), 300.0)]
    );
    let metric::Data::Histogram(durations) = named(routewise::metrics::OPERATION_DURATION) else {
        panic!("operation duration is not a histogram");
    };
    assert_eq!(
        durations.data_points.iter().map(|p| p.count).sum::<u64>(),
        2
    );

    assert!(
        received
            .service_names()
            .iter()
            .all(|name| name == "routewise-example"),
        "{:?}",
        received.service_names()
    );
}
