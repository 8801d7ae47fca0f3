//! routewise's routing in Jaeger, Tempo, Honeycomb or any OpenTelemetry backend: its spans
//! and metrics exported over OTLP/HTTP, with no glue code beyond `pipeline.rs`.
//!
//! ```text
//! docker run -p 16686:16686 -p 4318:4318 jaegertracing/jaeger   # any OTLP/HTTP collector
//! cargo run --example otel --features metrics
//! ```
//!
//! The exporters follow the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, default
//! `http://localhost:4318`; `OTEL_EXPORTER_OTLP_HEADERS` for a vendor's API key). Each
//! request shows as a `routewise.request` span with one `chat {model}` client span per
//! provider call (`gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.usage.*`,
//! `error.type` on the one that failed), and the metrics listed in `routewise::metrics`
//! arrive as `routewise.requests`, `gen_ai.client.operation.duration`, and so on.
//! Runs offline over simulated providers: with no collector listening, the export fails
//! quietly and the example still routes.

mod pipeline;

use std::time::Duration;

use routewise::sim::{SimProvider, SimStep};
use routewise::{
    ChatRequest, ErrorKind, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType,
    Target, Usage,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = pipeline::Telemetry::install(None)?;

    // The primary fails its first call, so the first request falls back once.
    let primary = SimProvider::new()
        .reply("From the primary.")
        .latency(Duration::from_millis(30))
        .usage(Usage::new(12, 4))
        .script([SimStep::Fail(ErrorKind::ServerError)]);
    let backup = SimProvider::new()
        .reply("From the backup.")
        .latency(Duration::from_millis(50))
        .usage(Usage::new(12, 5));
    let router = Router::builder()
        .account(ProviderAccount::new("primary", primary))
        .account(ProviderAccount::new("backup", backup))
        .model(
            LogicalModel::new("chat-llm")
                .target(Target::new("primary", "big-model"))
                .target(Target::new("backup", "other-model")),
        )
        .policy(Policy::new("chat").route(["chat-llm"]))
        .build()?;

    for _ in 0..3 {
        let answer = router
            .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
            .await?;
        println!(
            "{} (served by {})",
            answer.content, answer.served_by.account
        );
    }

    // Send what is still buffered before the process ends.
    match tokio::task::spawn_blocking(move || telemetry.shutdown()).await? {
        Ok(()) => println!("spans and metrics exported"),
        Err(error) => println!("export failed (is a collector listening?): {error}"),
    }
    Ok(())
}
