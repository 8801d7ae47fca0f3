//! One logical model, Claude, served by three clouds in a fallback chain: Anthropic's own
//! API first, then AWS Bedrock, then Google Vertex AI. Each target has its own price (so
//! spend is exact wherever the answer came from) and its own circuit breaker (so one
//! cloud's outage trips only its own).
//!
//! It prints the plan `complete` would follow, which needs no credentials and no network:
//!
//! ```text
//! cargo run --example multi_cloud --features bedrock,vertex
//! ```
//!
//! With `ROUTEWISE_CALL=1` it also sends the question. It then needs what each cloud
//! asks for: `ANTHROPIC_API_KEY`; AWS keys (the environment or `~/.aws`, and a region);
//! Google application default credentials and `GOOGLE_CLOUD_PROJECT`. A cloud without
//! them fails its call, and the chain falls back to the next.

use std::time::Duration;

use routewise::provider::vertex::GoogleCredentials;
use routewise::{
    Anthropic, Bedrock, BreakerConfig, ChatRequest, LogicalModel, Policy, Price, ProviderAccount,
    Purpose, Router, SamplingParams, StepType, Target, Usd, Vertex,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Claude Sonnet 4.5's list price on all three clouds: $3 in, $15 out per million.
    let sonnet = Price::per_million(Usd::from_cents(300), Usd::from_cents(1_500));
    // A cloud that fails three calls in a minute rests for 30 s; the others carry on.
    let breaker = BreakerConfig::default()
        .failure_threshold(3)
        .window(Duration::from_secs(60))
        .recovery(Duration::from_secs(30));

    let anthropic = ProviderAccount::new("anthropic", Anthropic::new())
        .api_key(std::env::var("ANTHROPIC_API_KEY").unwrap_or_default());
    let bedrock = ProviderAccount::new("bedrock", Bedrock::new().region("us-east-1"));
    // Application default credentials when set up, else the metadata server (on GCP).
    let google = GoogleCredentials::application_default()
        .unwrap_or_else(|_| GoogleCredentials::metadata_server());
    let project = std::env::var("GOOGLE_CLOUD_PROJECT").unwrap_or_else(|_| "my-project".into());
    let vertex = ProviderAccount::new("vertex", Vertex::new(project, "us-east5", google));

    let claude = LogicalModel::new("claude")
        .defaults(SamplingParams::new().max_tokens(300))
        .target(
            Target::new("anthropic", "claude-sonnet-4-5")
                .price(sonnet)
                .breaker(breaker.clone()),
        )
        .target(
            // A cross-region inference profile: Bedrock picks the US region with capacity.
            Target::new("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
                .tier(1)
                .price(sonnet)
                .breaker(breaker.clone()),
        )
        .target(
            Target::new("vertex", "claude-sonnet-4-5@20250929")
                .tier(2)
                .price(sonnet)
                .breaker(breaker),
        );

    let router = Router::builder()
        .account(anthropic)
        .account(bedrock)
        .account(vertex)
        .model(claude)
        .policy(Policy::new("default").route(["claude"]))
        .build()?;

    let request = ChatRequest::user("In one sentence: why run one model on several clouds?");
    println!(
        "{}",
        router.explain(StepType::Inference, Purpose::Chat, &request)
    );

    if std::env::var("ROUTEWISE_CALL").as_deref() == Ok("1") {
        match router.complete_default(request).await {
            Ok(response) => println!(
                "\n{}\n\nserved by {} after {} attempt(s), ${:.6}",
                response.content,
                response.served_by,
                response.attempts.len(),
                response.cost_usd.unwrap_or_default()
            ),
            Err(error) => println!("\nno cloud could answer: {error}"),
        }
    }
    Ok(())
}
