//! The clients compared: routewise, a raw reqwest call, and the `genai` crate.

use std::time::Duration;

#[cfg(feature = "genai")]
use futures::StreamExt;
#[cfg(feature = "genai")]
use genai::adapter::AdapterKind;
#[cfg(feature = "genai")]
use genai::chat::{ChatMessage, ChatOptions, ChatRequest, ChatStreamEvent};
#[cfg(feature = "genai")]
use genai::resolver::{AuthData, Endpoint, ServiceTargetResolver};
#[cfg(feature = "genai")]
use genai::{ModelIden, ServiceTarget};
use routewise::provider::HttpTimeouts;
use tokio::time::Instant;

// Shared with the library's own benches, which use other parts of them.
#[allow(dead_code)]
#[path = "../../../benches/support/raw_client.rs"]
mod raw_client;
#[allow(dead_code)]
#[path = "../../../benches/support/routed_client.rs"]
mod routed_client;

const PROMPT: &str = "hello";
const API_KEY: &str = "sk-bench";
#[cfg(feature = "genai")]
const MODEL: &str = "bench-model";

/// The raw client's name in the results: which reqwest features this build has.
const RAW: &str = if cfg!(feature = "reqwest-defaults") {
    "raw-defaults"
} else if cfg!(feature = "genai") {
    "raw-genai-features"
} else {
    "raw"
};

pub enum Client {
    Routewise(routewise::Router, &'static str),
    Raw(raw_client::RawClient),
    #[cfg(feature = "genai")]
    Genai(genai::Client, Box<ChatOptions>),
}

impl Client {
    pub fn new(kind: &str, base_url: &str, fallback_base_url: &str) -> Result<Self, String> {
        match kind {
            "routewise" => Ok(Client::Routewise(
                routed_client::router(base_url, fallback_base_url, API_KEY),
                "routewise",
            )),
            // The adapter's own read and total timers off, as the raw client has none: what
            // routewise adds when the router's policy timeouts are the only bound.
            "routewise-untimed" => Ok(Client::Routewise(
                routed_client::router_with_timeouts(
                    base_url,
                    fallback_base_url,
                    API_KEY,
                    HttpTimeouts::default().without_read().without_total(),
                ),
                "routewise-untimed",
            )),
            "raw" => Ok(Client::Raw(raw_client::RawClient::new(base_url, API_KEY))),
            #[cfg(feature = "genai")]
            "genai" => Ok(Client::Genai(
                genai_client(base_url)?,
                Box::new(genai_options()),
            )),
            other => Err(format!(
                "unknown client `{other}`: routewise, routewise-untimed, raw, or genai \
                 (in a build with the `genai` feature)"
            )),
        }
    }

    /// The name results are reported under.
    pub fn name(&self) -> &'static str {
        match self {
            Client::Routewise(_, name) => name,
            Client::Raw(_) => RAW,
            #[cfg(feature = "genai")]
            Client::Genai(..) => "genai",
        }
    }

    pub async fn complete(&self) -> Result<(), String> {
        match self {
            Client::Routewise(router, _) => routed_client::complete(router, PROMPT)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Client::Raw(raw) => raw.complete(PROMPT).await.map(drop),
            #[cfg(feature = "genai")]
            Client::Genai(client, options) => client
                .exec_chat(MODEL, genai_request(), Some(options))
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }

    /// Streams one answer to its end; the time from `started` to the first text.
    pub async fn stream(&self, started: Instant) -> Result<Duration, String> {
        match self {
            Client::Routewise(router, _) => routed_client::stream(router, PROMPT, started)
                .await
                .map(|(_, first)| first)
                .map_err(|e| e.to_string()),
            Client::Raw(raw) => raw.stream(PROMPT, started).await.map(|(_, first)| first),
            #[cfg(feature = "genai")]
            Client::Genai(client, options) => {
                let mut stream = client
                    .exec_chat_stream(MODEL, genai_request(), Some(options))
                    .await
                    .map_err(|e| e.to_string())?
                    .stream;
                let mut first_text = None;
                while let Some(event) = stream.next().await {
                    match event.map_err(|e| e.to_string())? {
                        ChatStreamEvent::Chunk(chunk) if !chunk.content.is_empty() => {
                            first_text.get_or_insert_with(|| started.elapsed());
                        }
                        ChatStreamEvent::End(_) => break,
                        _ => {}
                    }
                }
                first_text.ok_or_else(|| "the stream carried no text".into())
            }
        }
    }
}

/// A genai client whose every model resolves to the OpenAI adapter at `base_url`.
#[cfg(feature = "genai")]
fn genai_client(base_url: &str) -> Result<genai::Client, String> {
    let endpoint = format!("{}/", base_url.trim_end_matches('/'));
    let resolver = ServiceTargetResolver::from_resolver_fn(
        move |target: ServiceTarget| -> Result<ServiceTarget, genai::resolver::Error> {
            Ok(ServiceTarget {
                endpoint: Endpoint::from_owned(endpoint.clone()),
                auth: AuthData::from_single(API_KEY),
                model: ModelIden::new(AdapterKind::OpenAI, target.model.model_name),
            })
        },
    );
    genai::Client::builder()
        .with_service_target_resolver(resolver)
        .build()
        .map_err(|e| e.to_string())
}

/// Usage captured from streams, as routewise asks for it too.
#[cfg(feature = "genai")]
fn genai_options() -> ChatOptions {
    ChatOptions::default().with_capture_usage(true)
}

#[cfg(feature = "genai")]
fn genai_request() -> ChatRequest {
    ChatRequest::default().append_message(ChatMessage::user(PROMPT))
}
