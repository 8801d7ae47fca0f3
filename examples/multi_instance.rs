//! Two router instances sharing one rate limit and one budget through Redis: each sends
//! as fast as it can, and together they stay within the limit and the budget, with every
//! alert threshold firing once in all.
//!
//! ```text
//! cargo run --example multi_instance --features redis
//! ```
//!
//! Needs a Redis server on 127.0.0.1:6379 (or `REDIS_URL`). Keys go under a fresh prefix,
//! so runs never see each other's counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use routewise::budget::{Alert, CallbackSink};
use routewise::shared::RedisState;
use routewise::sim::SimProvider;
use routewise::{
    Budget, ChatRequest, Error, LogicalModel, Policy, Price, ProviderAccount, Purpose, RateLimits,
    Router, StepType, Target, Usage, Usd,
};

/// What one instance saw.
#[derive(Default)]
struct Tally {
    served: AtomicUsize,
    rate_limited: AtomicUsize,
    over_budget: AtomicUsize,
}

fn instance(
    url: &str,
    prefix: &str,
    alerts: Arc<AtomicUsize>,
) -> Result<Router, Box<dyn std::error::Error>> {
    let shared = RedisState::builder(url)
        .prefix(prefix)
        .timeout(Duration::from_millis(500))
        .build()?;
    // Every answer bills 1,000 output tokens at $10 per million: one cent a request.
    let provider = SimProvider::new()
        .reply("shared answer")
        .usage(Usage::new(0, 1_000));
    let account = ProviderAccount::new("openai-main", provider)
        .limits(RateLimits::new().rpm(60))
        .budget(Budget::monthly_usd(0.40).thresholds([50, 90]));
    let sink = CallbackSink::new(move |alert: &Alert| {
        alerts.fetch_add(1, Ordering::Relaxed);
        println!(
            "  alert: {}% of the budget of {} reached (${:.2} spent)",
            alert.threshold_percent,
            alert.account,
            alert.spend.dollars()
        );
    });
    let price = Price::per_million(Usd::from_cents(1_000), Usd::from_cents(1_000));
    Ok(Router::builder()
        .shared_state(shared)
        .alert_sink(Arc::new(sink))
        .account(account)
        .model(
            LogicalModel::new("primary-llm")
                .target(Target::new("openai-main", "gpt-x").price(price)),
        )
        .policy(Policy::new("chat").route(["primary-llm"]))
        .build()?)
}

async fn run(name: &str, router: Router, tally: Arc<Tally>) {
    for _ in 0..50 {
        // The budget holds each request's worst case (its prompt plus 1,000 output
        // tokens) until it settles to the actual cent.
        let request = ChatRequest::user("hello").max_tokens(1_000);
        match router
            .complete(StepType::Inference, Purpose::Chat, request)
            .await
        {
            Ok(_) => tally.served.fetch_add(1, Ordering::Relaxed),
            Err(Error::RateLimited { .. }) => tally.rate_limited.fetch_add(1, Ordering::Relaxed),
            Err(Error::BudgetExhausted { .. }) => tally.over_budget.fetch_add(1, Ordering::Relaxed),
            Err(error) => panic!("{name}: {error}"),
        };
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let prefix = format!("routewise-example:{run_id}");
    let alerts = Arc::new(AtomicUsize::new(0));
    let first = instance(&url, &prefix, alerts.clone())?;
    let second = instance(&url, &prefix, alerts.clone())?;
    if let Err(error) = RedisState::builder(&url).build()?.ping().await {
        eprintln!("Redis does not answer at {url}: {error}");
        std::process::exit(1);
    }

    println!(
        "Two instances, one account: RPM 60 and a $0.40 budget (one cent a request) shared through Redis."
    );
    let tallies = [Arc::new(Tally::default()), Arc::new(Tally::default())];
    tokio::join!(
        run("instance 1", first.clone(), tallies[0].clone()),
        run("instance 2", second, tallies[1].clone()),
    );
    // Settlements and alerts run just after each answer; give the last ones a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut total = 0;
    for (i, tally) in tallies.iter().enumerate() {
        let served = tally.served.load(Ordering::Relaxed);
        total += served;
        println!(
            "instance {}: {served} served, {} refused by the shared budget, {} by the shared rate limit",
            i + 1,
            tally.over_budget.load(Ordering::Relaxed),
            tally.rate_limited.load(Ordering::Relaxed),
        );
    }
    // What the two instances hold together, as Redis counts it; either one reads it.
    let fleet = first.fleet_accounts().await?.remove(0);
    let spent = fleet.spent.unwrap_or_default();
    println!(
        "together: {total} served (the budget holds at most 40, the rate limit 60), {spent} of $0.40 spent, {} alerts fired in all (2 thresholds)",
        alerts.load(Ordering::Relaxed),
    );
    println!(
        "fleet usage of {}: {} requests and {} tokens in the last minute, {} reserved in flight",
        fleet.account, fleet.requests, fleet.tokens, fleet.reserved,
    );
    Ok(())
}
