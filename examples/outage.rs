//! A primary provider goes down for 20 seconds and comes back. Prints, second by second
//! (simulated: the example runs on a paused clock and finishes at once), the primary's
//! breaker state, which target served, and the policy's success rate.
//!
//! ```text
//! cargo run --example outage
//! ```

use std::time::Duration;

use routewise::sim::SimProvider;
use routewise::{
    BreakerConfig, ChatRequest, HealthConfig, LogicalModel, Policy, ProviderAccount, Purpose,
    Router, StepType, Target,
};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let primary = SimProvider::new()
        .reply("primary")
        .latency(Duration::from_millis(80))
        .outage(Duration::from_secs(10), Duration::from_secs(30));
    let backup = SimProvider::new()
        .reply("backup")
        .latency(Duration::from_millis(120));
    let router = Router::builder()
        .account(ProviderAccount::new("primary", primary))
        .account(ProviderAccount::new("backup", backup))
        .model(
            LogicalModel::new("assistant")
                .target(Target::new("primary", "large-v1"))
                .target(Target::new("backup", "large-v1")),
        )
        .policy(Policy::new("chat").route(["assistant"]))
        .breaker_defaults(
            BreakerConfig::default()
                .failure_threshold(3)
                .window(Duration::from_secs(10))
                .recovery(Duration::from_secs(5)),
        )
        // Keep the primary first in the plan, so the breaker alone moves traffic.
        .health(HealthConfig::default().max_error_rate(1.0))
        .build()?;

    println!(
        "{:>4}  {:<10} {:<28} {:>9} {:>8}",
        "t", "breaker", "served by", "attempts", "success"
    );
    let started = tokio::time::Instant::now();
    for second in 0..45 {
        let line = match router
            .complete(
                StepType::Inference,
                Purpose::Chat,
                ChatRequest::user("status?"),
            )
            .await
        {
            Ok(response) => format!(
                "{:<28} {:>9}",
                response.served_by.to_string(),
                response.attempts.len()
            ),
            Err(error) => format!("error: {error}"),
        };
        let stats = router.stats();
        let breaker = stats
            .breakers
            .iter()
            .find(|b| &*b.target.account == "primary")
            .map_or("-".to_owned(), |b| b.breaker.state.to_string());
        let success = stats
            .policy("chat")
            .and_then(|p| p.success_rate)
            .unwrap_or(0.0);
        println!(
            "{second:>3}s  {breaker:<10} {line} {:>7.1}%",
            success * 100.0
        );
        tokio::time::sleep_until(started + Duration::from_secs(second + 1)).await;
    }
    println!("\nthe primary was down from 10 s to 30 s; every request was served");
    print!("\n{}", router.stats());
    Ok(())
}
