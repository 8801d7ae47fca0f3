//! routewise as a benchmark client: a router with the OpenAI adapter on two accounts, a
//! primary and a fallback, behind one streaming-capable logical model.

use std::time::Duration;

use futures::StreamExt;
use routewise::provider::HttpTimeouts;
use routewise::provider::openai::OpenAi;
use routewise::{
    Capabilities, ChatRequest, Error, LogicalModel, Policy, ProviderAccount, Purpose, Router,
    StepType, StreamEvent, Target,
};
use tokio::time::Instant;

/// A router whose `bench` model tries `primary_base_url` first and `fallback_base_url`
/// after a failure (both ending in `/v1`), with the adapter's default timeouts.
pub fn router(primary_base_url: &str, fallback_base_url: &str, api_key: &str) -> Router {
    router_with_timeouts(
        primary_base_url,
        fallback_base_url,
        api_key,
        HttpTimeouts::default(),
    )
}

/// [`router`] with the OpenAI adapter's HTTP timeouts set to `timeouts`.
pub fn router_with_timeouts(
    primary_base_url: &str,
    fallback_base_url: &str,
    api_key: &str,
    timeouts: HttpTimeouts,
) -> Router {
    Router::builder()
        .account(
            ProviderAccount::new("primary", OpenAi::new().timeouts(timeouts))
                .api_key(api_key)
                .base_url(primary_base_url),
        )
        .account(
            ProviderAccount::new("fallback", OpenAi::new().timeouts(timeouts))
                .api_key(api_key)
                .base_url(fallback_base_url),
        )
        .model(
            LogicalModel::new("bench")
                .capabilities(Capabilities::STREAMING)
                .target(Target::new("primary", "bench-model"))
                .target(Target::new("fallback", "bench-model")),
        )
        .policy(Policy::new("default").route(["bench"]))
        .build()
        .expect("the benchmark configuration is valid")
}

/// One non-streaming call; the answer's text.
pub async fn complete(router: &Router, prompt: &str) -> Result<String, Error> {
    let answer = router
        .complete(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user(prompt),
        )
        .await?;
    Ok(answer.content)
}

/// One streaming call: the answer's text, and the time from `started` to the first text.
pub async fn stream(
    router: &Router,
    prompt: &str,
    started: Instant,
) -> Result<(String, Duration), Error> {
    let mut stream = router
        .stream(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user(prompt),
        )
        .await?;
    let mut first_text = None;
    let mut content = String::new();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta { text } => {
                first_text.get_or_insert_with(|| started.elapsed());
                content.push_str(&text);
            }
            StreamEvent::Done(_) => break,
            _ => {}
        }
    }
    Ok((content, first_text.unwrap_or_else(|| started.elapsed())))
}
