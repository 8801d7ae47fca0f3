//! The OpenTelemetry pipeline of the `otel` example, in one place so the test
//! `tests/otel_export.rs` checks the very setup the example shows.
//!
//! - Spans: `tracing-opentelemetry` turns routewise's `tracing` spans (`routewise.request`,
//!   and `chat {model}` for each provider call, with the `gen_ai.*` and `server.*`
//!   attributes) into OpenTelemetry spans.
//! - Metrics: `metrics-exporter-otel`, the metrics-rs project's own bridge, records
//!   everything the `metrics` facade reports (routewise's feature `metrics`) into an
//!   OpenTelemetry meter.
//! - Export: both go out as OTLP/HTTP protobuf (`/v1/traces`, `/v1/metrics`) through a
//!   hyper client driven by the Tokio runtime, so nothing blocks a runtime thread.

use std::error::Error;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing_subscriber::layer::SubscriberExt as _;

/// The installed exporters; [`Telemetry::shutdown`] sends what they still hold.
pub struct Telemetry {
    traces: SdkTracerProvider,
    metrics: SdkMeterProvider,
}

impl Telemetry {
    /// Sends routewise's spans and metrics to the OTLP/HTTP collector at `endpoint`
    /// (such as `http://localhost:4318`), or, with `None`, where the standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` variables say (default `http://localhost:4318`).
    ///
    /// Installs the process's global `tracing` subscriber and `metrics` recorder. Call it
    /// inside a multi-thread Tokio runtime: the exporters run as tasks on it.
    pub fn install(endpoint: Option<&str>) -> Result<Self, Box<dyn Error>> {
        let resource = Resource::builder()
            .with_service_name("routewise-example")
            .build();

        let mut spans = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary);
        if let Some(base) = endpoint {
            spans = spans.with_endpoint(format!("{base}/v1/traces"));
        }
        let traces = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(spans.build()?, Tokio).build())
            .with_resource(resource.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(traces.tracer("routewise"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;

        let mut exporter = MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary);
        if let Some(base) = endpoint {
            exporter = exporter.with_endpoint(format!("{base}/v1/metrics"));
        }
        let metrics = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.build()?, Tokio).build())
            .with_resource(resource)
            .build();
        let recorder =
            metrics_exporter_otel::OpenTelemetryRecorder::new(metrics.meter("routewise"));
        metrics::set_global_recorder(recorder)
            .map_err(|_| "another `metrics` recorder is already installed")?;
        routewise::metrics::describe();

        Ok(Self { traces, metrics })
    }

    /// Exports every span and metric not sent yet, then stops both exporters. It waits
    /// for the collector's answer: call it outside the runtime or from `spawn_blocking`.
    pub fn shutdown(self) -> Result<(), Box<dyn Error + Send + Sync>> {
        self.traces.shutdown()?;
        self.metrics.shutdown()?;
        Ok(())
    }
}
