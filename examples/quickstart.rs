//! routewise in one screen: two logical models over simulated providers, policies by step
//! type and purpose, a provider outage with the fallback taking over, an `explain`, and the
//! live stats table. Runs offline with no API keys.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::time::Duration;

use routewise::sim::SimProvider;
use routewise::{
    Capabilities, ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router,
    SamplingParams, StepType, Target,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Three simulated provider accounts. Keep a handle on "primary" to take it down later.
    let primary = SimProvider::new()
        .reply("A considered answer from the primary.")
        .latency(Duration::from_millis(40));
    let router = Router::builder()
        .account(ProviderAccount::new("primary", primary.clone()).api_key("sk-demo-primary"))
        .account(ProviderAccount::new(
            "backup",
            SimProvider::new()
                .reply("A solid answer from the backup.")
                .latency(Duration::from_millis(60)),
        ))
        .account(ProviderAccount::new(
            "budget",
            SimProvider::new()
                .reply("label: positive")
                .latency(Duration::from_millis(8)),
        ))
        // A strong model with a fallback target on another account...
        .model(
            LogicalModel::new("primary-llm")
                .capabilities(
                    Capabilities::STREAMING | Capabilities::TOOLS | Capabilities::JSON_MODE,
                )
                .defaults(SamplingParams::new().temperature(0.3).max_tokens(1024))
                .target(Target::new("primary", "large-2026"))
                .target(Target::new("backup", "large-2026")),
        )
        // ...and a cheap one for simple work.
        .model(
            LogicalModel::new("fast-llm")
                .capabilities(Capabilities::JSON_MODE)
                .defaults(SamplingParams::new().temperature(0.0).max_tokens(64))
                .target(Target::new("budget", "small-2026")),
        )
        .policy(
            Policy::new("classify-cheaply")
                .priority(20)
                .purposes([Purpose::Classification])
                .route(["fast-llm", "primary-llm"]),
        )
        .policy(
            Policy::new("extraction")
                .priority(10)
                .step_types([StepType::Extraction])
                .route(["primary-llm"]),
        )
        .policy(Policy::new("default").route(["primary-llm"]))
        .build()?;

    let requests = [
        (StepType::Inference, Purpose::Chat, "Plan my week."),
        (
            StepType::Inference,
            Purpose::Classification,
            "Great product!",
        ),
        (
            StepType::Extraction,
            Purpose::Summarization,
            "Pull the dates out of this memo.",
        ),
    ];

    println!("== all providers up");
    for (step, purpose, text) in &requests {
        send(&router, step, purpose, text).await;
    }

    println!("\n== the primary account goes down: its fallback takes over");
    primary.set_down(true);
    for (step, purpose, text) in &requests {
        send(&router, step, purpose, text).await;
    }

    println!("\n== explain (no provider is called)");
    print!(
        "{}",
        router.explain(
            StepType::ToolCall,
            Purpose::Chat,
            &ChatRequest::user("What's 2+2?")
        )
    );

    println!("\n== live stats");
    print!("{}", router.stats());
    Ok(())
}

async fn send(router: &Router, step: &StepType, purpose: &Purpose, text: &str) {
    let request = ChatRequest::user(text);
    match router
        .complete(step.clone(), purpose.clone(), request)
        .await
    {
        Ok(response) => {
            println!(
                "{step:>10} / {purpose:<14} -> {:<32} via policy {:<17} \"{}\"",
                response.served_by.to_string(),
                response.policy,
                response.content
            );
            for attempt in &response.attempts[..response.attempts.len() - 1] {
                println!("{:>30} fell back after {attempt}", "");
            }
        }
        Err(error) => println!("{step:>10} / {purpose:<14} -> error: {error}"),
    }
}
