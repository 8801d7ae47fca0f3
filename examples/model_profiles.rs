//! Prints the model profiles of a few provider models, and what the README's logical
//! model (default temperature 0.2, 1,024 tokens) would send to each.
//!
//! ```text
//! cargo run --example model_profiles [MODEL ...]
//! ```
//!
//! With no arguments it looks up one model of each family; pass model ids (dated
//! snapshots and `models/` paths work too) to look up others.

use routewise::provider::profile::{ProfileTable, adapt};
use routewise::{AccountInfo, ChatRequest, ProviderRequest, SamplingParams};

const DEFAULT_MODELS: [&str; 6] = [
    "gpt-4o",
    "o3-mini-2025-01-31",
    "gpt-5.1",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
    "gemini-3-flash-preview",
];

fn main() {
    let requested: Vec<String> = std::env::args().skip(1).collect();
    let models: Vec<&str> = if requested.is_empty() {
        DEFAULT_MODELS.to_vec()
    } else {
        requested.iter().map(String::as_str).collect()
    };
    let table = ProfileTable::builtin();
    println!(
        "model data: {}\n",
        routewise::provider::profile::BUILTIN_SOURCE
    );
    let defaults = SamplingParams::new()
        .temperature(0.2)
        .top_p(0.9)
        .max_tokens(1024);
    let request = ChatRequest::user("hello");
    let account = AccountInfo::new("example");
    for model in models {
        let Some(profile) = table.lookup(model) else {
            println!("{model}: no profile (sent as given, no window or price known)\n");
            continue;
        };
        println!("{model}");
        let provider = profile
            .provider
            .map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        println!("  provider:         {provider}");
        match profile.window {
            Some(w) => println!(
                "  window:           {} tokens, {} out",
                w.context, w.max_output
            ),
            None => println!("  window:           unknown"),
        }
        match profile.price {
            Some(p) => println!(
                "  price per 1M:     ${:.2} in, ${:.2} out",
                p.input.dollars(),
                p.output.dollars()
            ),
            None => println!("  price:            unknown"),
        }
        println!("  refuses:          {:?}", profile.unsupported);
        println!("  exclusive:        {:?}", profile.exclusive);
        println!("  token limit:      {:?}", profile.max_tokens_field);
        println!("  JSON with tools:  {}", profile.json_with_tools);
        println!("  reasoning:        {:?}", profile.reasoning);
        let call = ProviderRequest::new(model, &account, &request, &defaults);
        match adapt(&profile, &call) {
            None => println!("  README defaults:  sent as they are"),
            Some(adapted) => {
                for change in adapted.changes() {
                    println!("  README defaults:  {change}");
                }
            }
        }
        println!();
    }
}
