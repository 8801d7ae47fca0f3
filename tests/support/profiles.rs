//! Routers over loopback servers for the model-profile tests: one logical model whose
//! targets are provider models on OpenAI, Anthropic and Gemini accounts.

use routewise::provider::anthropic::Anthropic;
use routewise::provider::gemini::Gemini;
use routewise::{
    Capabilities, LogicalModel, OpenAi, Policy, ProviderAccount, Router, SamplingParams, Target,
};

use super::wire_server::RecordingServer;

/// The README's logical model: a default temperature and token limit.
pub fn readme_defaults() -> SamplingParams {
    SamplingParams::new().temperature(0.2).max_tokens(1024)
}

/// An OpenAI account named `openai` at the server's `/v1`.
pub fn openai(server: &RecordingServer) -> ProviderAccount {
    openai_named(server, "openai")
}

/// An OpenAI account named `name` at the server's `/v1`.
pub fn openai_named(server: &RecordingServer, name: &str) -> ProviderAccount {
    ProviderAccount::new(name.to_owned(), OpenAi::new())
        .api_key("sk-test")
        .base_url(server.base("/v1"))
}

/// An Anthropic account named `anthropic` at the server.
pub fn anthropic(server: &RecordingServer) -> ProviderAccount {
    ProviderAccount::new("anthropic", Anthropic::new())
        .api_key("sk-ant-test")
        .base_url(server.url())
}

/// A Gemini account named `gemini` at the server.
pub fn gemini(server: &RecordingServer) -> ProviderAccount {
    ProviderAccount::new("gemini", Gemini::new())
        .api_key("g-test")
        .base_url(server.url())
}

/// A router whose logical model `llm` (every capability, `defaults`) has one target per
/// `(account, provider model)`, in order.
pub fn router(targets: Vec<(ProviderAccount, &str)>, defaults: SamplingParams) -> Router {
    let mut model = LogicalModel::new("llm")
        .capabilities(Capabilities::ALL)
        .defaults(defaults);
    let mut builder = Router::builder();
    for (account, provider_model) in targets {
        model = model.target(Target::new(account.name(), provider_model));
        builder = builder.account(account);
    }
    builder
        .model(model)
        .policy(Policy::new("chat").route(["llm"]))
        .build()
        .unwrap()
}
