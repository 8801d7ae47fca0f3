//! routewise's router for applications in any language: an OpenAI- and
//! Anthropic-compatible HTTP server with a live dashboard.
//!
//! Point an OpenAI or Anthropic client at the gateway and change nothing else: `model`
//! names a logical model (or a name a policy matches on), the gateway routes the request
//! through the same policies, fallbacks, breakers, limits and budgets as the library,
//! and answers in the client's own wire format.
//!
//! | endpoint | what it does |
//! | --- | --- |
//! | `POST /v1/chat/completions` | OpenAI Chat Completions, streaming or not, tools, images, JSON mode |
//! | `POST /v1/messages` | Anthropic Messages, streaming or not, tools, images |
//! | `GET /v1/models` | the logical models the caller's key may use, with capabilities |
//! | `GET /stats`, `/accounts`, `/health` | the router's counters, accounts (health, RPM/TPM, budget and its projected exhaustion), liveness |
//! | `GET /metrics` | Prometheus text, from the `metrics` facade |
//! | `POST /explain` | what the router would do with a chat-completions body, calling nothing |
//! | `GET /` | the live dashboard |
//!
//! Model endpoints and `/explain` need a gateway key (`Authorization: Bearer KEY` or
//! `x-api-key: KEY`), stored in the config as its SHA-256 and compared in constant time;
//! a key may be limited to some models, a request rate and a monthly budget, which every
//! gateway instance enforces together when the router shares state through Redis
//! (`[shared_state]`, feature `redis`).
//!
//! The operational endpoints show names and counters only (never a secret). With
//! `[gateway] admin_sha256` set, `/stats`, `/accounts`, `/metrics`, the dashboard (and
//! `/explain`, which also takes a gateway key) need the admin key: as a bearer token,
//! `x-api-key`, or the password of HTTP Basic credentials, which a browser asks for.
//! `/health` stays open for load balancers' probes and shows its status alone to
//! callers without the key. Without an admin key they are all open: keep the gateway
//! on a private network or behind your own proxy.
//!
//! Requests choose their step type and purpose with the `x-routewise-step` and
//! `x-routewise-purpose` headers (or `metadata.routewise_step` / `routewise_purpose`),
//! and tags with `x-routewise-tags: a,b`; unset, they are `[gateway] default_step` and
//! `default_purpose` (`inference`, `chat`). Answers carry `x-routewise-policy`,
//! `x-routewise-account`, `x-routewise-target` and `x-routewise-attempts`.
//!
//! Errors come in the client's format with the status it acts on: 400 for a request no
//! policy can serve (routewise's explanation in the message), 401 for a missing or
//! wrong key, 403 for a model the key may not use, 404 for an unknown model, 413 for an
//! oversized body, 429 with `retry-after` when every candidate is rate limited (or the
//! key is over its own limits), 503 with `retry-after` when every breaker is open, 502
//! when every target failed.
//!
//! ```no_run
//! use routewise_gateway::{Gateway, GatewayConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = GatewayConfig::from_path("routewise.toml")?;
//! let gateway = Gateway::from_config(&config)?;
//! let _watcher = gateway.watch("routewise.toml", std::time::Duration::from_secs(1))?;
//! let listener = tokio::net::TcpListener::bind(config.gateway.listen).await?;
//! gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod admin;
mod anthropic;
mod config;
mod dashboard;
mod error;
mod guard;
mod keys;
mod openai;
mod reload;
mod routing;
mod server;

pub use config::{ConfigFileError, DEFAULT_CONFIG, GatewayConfig, GatewaySettings, KeyConfig};
pub use keys::hash_key;
pub use reload::{ConfigWatcher, Reloaded};
pub use routing::{
    ACCOUNT_HEADER, ATTEMPTS_HEADER, POLICY_HEADER, PURPOSE_HEADER, STEP_HEADER, TAGS_HEADER,
    TARGET_HEADER,
};
pub use server::Gateway;
