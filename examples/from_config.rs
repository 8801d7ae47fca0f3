//! A router declared in a file: loads `examples/routewise.toml` (every option there is;
//! the requests sent here are served by simulated providers), shows where a few requests
//! would go and why, sends them, and prints the stats and each budget's spend. Runs
//! offline.
//!
//! ```text
//! cargo run --example from_config --features toml
//! cargo run --example from_config --features yaml -- examples/routewise.yaml
//! ```

use std::path::PathBuf;

use routewise::config::RouterConfig;
use routewise::{ChatRequest, Purpose, Router, StepType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/routewise.toml"),
        PathBuf::from,
    );
    // Syntax and shape: unknown keys, wrong types, with path, line and column.
    let config = RouterConfig::from_path(&path)?;
    // Everything else at once: names that do not resolve, missing environment variables...
    // Secrets come from the environment; the demo stands in for variables that are not
    // set so it runs as is (`Router::from_config` reads the real environment only).
    let router = Router::from_config_with_env(&config, &|name| {
        std::env::var(name).ok().or_else(|| {
            Some(if name.ends_with("_URL") {
                "http://127.0.0.1:9/demo".to_owned()
            } else {
                "demo-secret".to_owned()
            })
        })
    })?;
    // Restores spend recorded by earlier runs (with a file state store).
    router.sync_state().await?;
    println!("loaded {}: {router:?}\n", path.display());

    let requests = [
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("Plan my week."),
        ),
        (
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("Hello from tenant A").tag("tenant-a"),
        ),
        (
            StepType::Extraction,
            Purpose::Classification,
            ChatRequest::user("Great product!"),
        ),
        (
            StepType::ToolCall,
            Purpose::custom("support"),
            ChatRequest::user("Where is my parcel?"),
        ),
        (
            StepType::Inference,
            Purpose::Summarization,
            ChatRequest::user("Summarize this memo.").model("spread-llm"),
        ),
    ];

    println!("== where each request goes (no provider is called)");
    for (step, purpose, request) in &requests {
        print!("{}", router.explain(step.clone(), purpose.clone(), request));
    }

    println!("\n== sending them");
    for (step, purpose, request) in requests {
        let label = format!("{step} / {purpose}");
        match router.complete(step, purpose, request).await {
            Ok(response) => println!(
                "{label:<32} -> {:<40} \"{}\"",
                response.served_by.to_string(),
                response.content
            ),
            Err(error) => println!("{label:<32} -> error: {error}"),
        }
    }

    println!("\n== live stats");
    print!("{}", router.stats());

    println!("\n== budgets");
    for account in router.accounts() {
        if let Some(budget) = account.budget {
            println!(
                "{:<14} window {:<22} spent {} of {}",
                account.name, budget.window, budget.spent, budget.limit
            );
        }
    }
    Ok(())
}
