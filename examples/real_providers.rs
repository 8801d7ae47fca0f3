//! Routes one question through real providers: OpenAI, Anthropic and Gemini, each the
//! fallback of the one before. Uses `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` and
//! `GEMINI_API_KEY` when set, and says which are missing otherwise.
//!
//! ```text
//! OPENAI_API_KEY=sk-... cargo run --example real_providers
//! ```

use routewise::{
    Anthropic, Capabilities, ChatRequest, Gemini, LogicalModel, OpenAi, Policy, ProviderAccount,
    Purpose, Router, SamplingParams, StepType, Target,
};

/// One provider the example can use: its key variable, account, model and adapter.
struct Candidate {
    variable: &'static str,
    account: &'static str,
    model: &'static str,
    connect: fn(&'static str) -> ProviderAccount,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let candidates = [
        Candidate {
            variable: "OPENAI_API_KEY",
            account: "openai",
            model: "gpt-4o-mini",
            connect: |name| ProviderAccount::new(name, OpenAi::new()),
        },
        Candidate {
            variable: "ANTHROPIC_API_KEY",
            account: "anthropic",
            model: "claude-haiku-4-5",
            connect: |name| ProviderAccount::new(name, Anthropic::new()),
        },
        Candidate {
            variable: "GEMINI_API_KEY",
            account: "gemini",
            model: "gemini-2.5-flash",
            connect: |name| ProviderAccount::new(name, Gemini::new()),
        },
    ];

    let mut builder = Router::builder();
    let mut model = LogicalModel::new("assistant")
        .capabilities(Capabilities::STREAMING | Capabilities::TOOLS | Capabilities::JSON_MODE)
        .defaults(SamplingParams::new().max_tokens(200));
    let mut missing = Vec::new();
    for candidate in candidates {
        match std::env::var(candidate.variable) {
            Ok(key) if !key.trim().is_empty() => {
                builder = builder.account((candidate.connect)(candidate.account).api_key(key));
                model = model.target(Target::new(candidate.account, candidate.model));
                println!("using {} ({})", candidate.account, candidate.model);
            }
            _ => missing.push(candidate.variable),
        }
    }
    if !missing.is_empty() {
        println!("not set, so not used: {}", missing.join(", "));
    }
    if missing.len() == 3 {
        println!("set at least one of them to call a real provider; nothing else to do");
        return Ok(());
    }

    let router = builder
        .model(model)
        .policy(Policy::new("default").route(["assistant"]))
        .build()?;
    let request = ChatRequest::user("In one sentence: why do LLM applications need fallbacks?");
    match router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
    {
        Ok(response) => {
            println!("\n{}\n", response.content);
            println!(
                "served by {} in {} attempt(s); {} input + {} output tokens{}",
                response.served_by,
                response.attempts.len(),
                response.usage.input_tokens,
                response.usage.output_tokens,
                response
                    .cost_usd
                    .map(|c| format!(", ${c:.6}"))
                    .unwrap_or_default()
            );
        }
        Err(error) => println!("no provider could answer: {error}"),
    }
    Ok(())
}
