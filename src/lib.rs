//! # routewise
//!
//! Provider-agnostic LLM model routing with intelligent fallbacks, embedded in your
//! process.
//!
//! Applications build one [`Router`] and call
//! [`router.complete(step_type, purpose, request)`](Router::complete) (or
//! [`stream`](Router::stream)). Instead of naming a vendor model, they use **logical
//! models** ([`LogicalModel`], "primary-llm") that declare capabilities and default
//! parameters and map to ordered **targets** ([`Target`]): a provider model on a
//! [`ProviderAccount`]. **Policies** ([`Policy`]) are evaluated from highest priority to
//! lowest, match on [`StepType`] and [`Purpose`] (and optionally the requested model and
//! tags), and define the route: a primary and its fallbacks.
//!
//! ## How a request flows
//!
//! ```text
//! complete(step, purpose, request)
//!   -> policy table (lock-free snapshot)   first matching policy by priority
//!   -> plan                                candidates in order; targets lacking a
//!                                          capability the request needs are skipped
//!   -> attempt loop                        call the provider; on a failure the policy
//!                                          falls back on, try the next candidate
//!   -> response                            content, usage, the target that served and
//!                                          every attempt made
//! ```
//!
//! [`Router::explain`] shows the plan for a request without calling anything, and
//! [`Router::stats`] returns live per-policy and per-target counters.
//!
//! ## Example
//!
//! ```
//! use routewise::{
//!     Capabilities, ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router,
//!     SamplingParams, StepType, Target,
//! };
//! use routewise::sim::SimProvider;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let primary = SimProvider::new().reply("from primary");
//! let router = Router::builder()
//!     .account(ProviderAccount::new("primary", primary.clone()))
//!     .account(ProviderAccount::new("backup", SimProvider::new().reply("from backup")))
//!     .model(
//!         LogicalModel::new("primary-llm")
//!             .capabilities(Capabilities::STREAMING | Capabilities::TOOLS)
//!             .defaults(SamplingParams::new().temperature(0.2))
//!             .target(Target::new("primary", "large-v1"))
//!             .target(Target::new("backup", "large-v1")),
//!     )
//!     .policy(Policy::new("chat").priority(10).purposes([Purpose::Chat]).route(["primary-llm"]))
//!     .build()?;
//!
//! let answer = router.complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi")).await?;
//! assert_eq!(answer.content, "from primary");
//!
//! primary.set_down(true); // the primary fails from now on...
//! let answer = router.complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi")).await?;
//! assert_eq!(answer.content, "from backup"); // ...and the fallback serves
//!
//! let stats = router.stats();
//! assert_eq!(stats.policy("chat").unwrap().fallbacks, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! ## A real provider
//!
//! The same router over real APIs: an account is a [`Provider`] (here [`OpenAi`], which
//! also speaks to every OpenAI-compatible server) with its key and, when it is not the
//! vendor's, a base URL. Nothing is called until a request is routed.
//!
//! ```
//! use routewise::{Anthropic, LogicalModel, OpenAi, Policy, ProviderAccount, Router, Target};
//!
//! let key = |name: &str| std::env::var(name).unwrap_or_default();
//! let router = Router::builder()
//!     .account(ProviderAccount::new("openai", OpenAi::new()).api_key(key("OPENAI_API_KEY")))
//!     .account(
//!         ProviderAccount::new("groq", OpenAi::new().with_provider_name("groq"))
//!             .api_key(key("GROQ_API_KEY"))
//!             .base_url("https://api.groq.com/openai/v1"),
//!     )
//!     .account(ProviderAccount::new("claude", Anthropic::new()).api_key(key("ANTHROPIC_API_KEY")))
//!     .model(
//!         LogicalModel::new("primary-llm")
//!             .target(Target::new("openai", "gpt-4o"))
//!             .target(Target::new("claude", "claude-sonnet-4-6"))
//!             .target(Target::new("groq", "llama-3.3-70b-versatile")),
//!     )
//!     .policy(Policy::new("default").route(["primary-llm"]))
//!     .build()?;
//! // In an async context: `router.warm_up().await` opens the three connections before
//! // traffic arrives, and `router.complete(...)` routes a request.
//! # let _ = router;
//! # Ok::<(), routewise::ConfigError>(())
//! ```
//!
//! ## The API by topic
//!
//! | topic | items |
//! | --- | --- |
//! | building and calling a router | [`Router`], [`RouterBuilder`], [`Router::complete`], [`Router::stream`] ([`ChatStream`], [`StreamEvent`]), [`Router::explain`] ([`Explanation`]), [`Router::warm_up`] |
//! | requests and answers | [`ChatRequest`], [`Message`], [`ContentPart`], [`Image`], [`Tool`], [`ToolChoice`], [`ResponseFormat`], [`SamplingParams`], [`RouteOptions`]; [`ChatResponse`], [`Usage`], [`ToolCall`], [`FinishReason`], [`Attempt`], [`TargetRef`] |
//! | routing vocabulary | [`LogicalModel`], [`Target`], [`Capabilities`], [`Balance`], [`Policy`], [`Match`], [`StepType`], [`Purpose`], [`FallbackRules`], [`StreamRecovery`] |
//! | providers | [`ProviderAccount`], [`OpenAi`], [`Anthropic`], [`Gemini`], [`sim::SimProvider`]; your own: [`Provider`], [`macro@async_trait`], [`ProviderRequest`], [`ProviderResponse`], [`ProviderError`], [`ErrorKind`]; HTTP timeouts: [`provider::HttpTimeouts`] |
//! | resilience | [`BreakerConfig`], [`RetryPolicy`], [`Timeouts`], [`HedgePolicy`], [`HealthConfig`] |
//! | limits and money | [`RateLimits`], [`Budget`], [`Usd`], [`Price`], [`PricingTable`], [`AlertSink`], [`StateStore`] ([`MemoryStore`], [`FileStore`]) |
//! | configuration files | [`config`], [`RouterConfig`], [`Router::from_config`], [`Router::watch_config`] |
//! | what went wrong | [`Error`], [`ConfigError`], [`WarmUpError`] |
//! | what is happening | [`Router::stats`] ([`RouterStats`]), [`Router::accounts`] ([`AccountStatus`]) |
//!
//! ## Cargo features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `rustls` | ✓ | TLS for the HTTP adapters through rustls (`ring` provider, the platform's certificate verifier): no OpenSSL |
//! | `native-tls` | | TLS through the system's OpenSSL instead; wins when both are on |
//! | `system-proxy` | ✓ | proxies from the macOS and Windows system settings (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` are always followed) |
//! | `http2` | | HTTP/2 to providers that offer it; without it, HTTP/1.1 (every provider API serves it), one pooled connection per concurrent call |
//! | `tiktoken` | | exact prompt token counts for OpenAI models (about 8 MB of tokenizer data); without it, the four-characters-per-token estimate |
//! | `toml` / `yaml` / `json` | | read [`RouterConfig`] files in that format |
//! | `schema` | | `RouterConfig::json_schema()`, `RouterConfig::json_schema_with_kinds()` |
//! | `redis` | | limits, spend, alerts, cool-downs, breakers and health shared by every instance through Redis (`shared`) |
//! | `metrics` | | request, attempt, latency and token metrics through the `metrics` facade (`metrics`) |
//!
//! Items that need a feature say so on their page. routewise builds tokio with only `rt`,
//! `rt-multi-thread`, `time` and `sync`: an application that uses `#[tokio::main]`,
//! `tokio::select!` or `tokio::fs` enables `macros` / `fs` on its own tokio dependency.
//!
//! ## Configuration files, reload and metrics
//!
//! Everything the builder expresses can also be declared in a TOML, YAML or JSON file
//! (features `toml`, `yaml`, `json`): see [`config`]. [`Router::from_config`] reports every
//! problem of a file at once, with its path, line and column, and
//! [`Router::watch_config`] reloads the router when the file changes. With the `metrics`
//! feature the router reports request, attempt, latency and token metrics through the
//! `metrics` facade (see the `metrics` module). Spans and metrics reach any OpenTelemetry
//! backend over OTLP through `tracing-opentelemetry` and `metrics-exporter-otel`: the
//! `otel` example shows the whole setup.
//!
//! ## Providers
//!
//! [`OpenAi`] (and every OpenAI-compatible endpoint, and Azure OpenAI), [`Anthropic`] and
//! [`Gemini`] speak the real HTTP APIs. Implement [`Provider`] (object safe, `async`) for
//! any other backend; see the trait's docs. [`sim::SimProvider`] is a scriptable provider
//! for tests and demos.
//!
//! ## Resilience and accounts
//!
//! Each policy keeps a circuit breaker per target ([`BreakerConfig`]) and may retry on the
//! same target ([`RetryPolicy`]) within timeouts ([`Timeouts`]); every account's health
//! ([`HealthConfig`]) is tracked and unhealthy accounts go last. Accounts may carry rate
//! limits ([`RateLimits`]) and a dollar budget ([`Budget`]) with alerts; limited or
//! exhausted accounts are skipped, and [`Router::accounts`] shows where each stands.
//!
//! Breakers can count error classes apart ([`BreakerConfig::failure_threshold_for`]:
//! open on one 429, tolerate four 500s). A request too long for the route reaches the
//! policy's larger-context models ([`Policy::larger_context`]), and a stream that breaks
//! mid-answer can be continued by the next candidate ([`Policy::stream_recovery`]).
//!
//! ## Recording and replay
//!
//! [`RouterBuilder::recorder`] records every completed request as a line of JSON
//! ([`replay::Recorder`]); with the `replay` feature, [`replay::Replay`] sends that
//! traffic through a candidate configuration's real router on a paused clock, with
//! simulated providers fitted to the recording, and [`replay::Comparison`] shows what
//! would change: cost, success rate, fallbacks, latency, budgets, per policy and target.

#![warn(missing_docs)]
// docs.rs builds with `--cfg docsrs` on nightly: every feature-gated item gets its badge.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod account;
pub mod budget;
pub mod config;
mod context_window;
mod error;
pub mod limits;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod model;
mod policy;
pub mod provider;
pub mod replay;
pub mod resilience;
mod rng;
mod router;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod shared;
pub mod sim;
pub mod state;
mod stats;
mod suggest;
mod types;

// The router and what it returns.
pub use router::{
    AdaptedTarget, CONTINUE_PROMPT, ChatStream, Explanation, ModelInfo, PassedOver, PolicyInfo,
    Router, RouterBuilder, SkipReason, SkippedTarget, TargetHeadroom, WarmUpError,
};
pub use types::{
    Attempt, AttemptOutcome, ChatRequest, ChatResponse, ContentPart, EffectiveParams, FinishReason,
    Image, ImageDetail, ImageSource, Message, Reasoning, ReasoningEffort, ResponseFormat,
    RouteOptions, SamplingParams, StreamEvent, StreamRecovered, TargetRef, Tool, ToolCall,
    ToolCallDelta, ToolChoice, Usage,
};

// Routing vocabulary: logical models, targets and policies.
pub use model::{Balance, Capabilities, Capability, LogicalModel, Target};
pub use policy::{
    BreakerChoice, FallbackRules, Match, MatchMiss, Policy, Purpose, RouteStep, StepType,
    StreamRecovery,
};

// Providers: the built-in adapters, accounts, and what implementing your own takes.
pub use account::{AccountInfo, ProviderAccount, SecretString};
/// The attribute [`Provider`] implementations are written with, re-exported so they need
/// no dependency of their own: `#[routewise::async_trait]`.
pub use async_trait::async_trait;
pub use provider::anthropic::Anthropic;
#[cfg(feature = "bedrock")]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
pub use provider::bedrock::Bedrock;
pub use provider::gemini::Gemini;
pub use provider::openai::OpenAi;
pub use provider::profile::{ModelProfile, ParameterPolicy, ProfileTable};
#[cfg(feature = "vertex")]
#[cfg_attr(docsrs, doc(cfg(feature = "vertex")))]
pub use provider::vertex::Vertex;
pub use provider::{
    ErrorKind, ErrorKindSet, Provider, ProviderError, ProviderEvent, ProviderRequest,
    ProviderResponse, ProviderStream,
};

// Resilience: breakers, retries, timeouts, hedging, health.
pub use resilience::{
    BreakerConfig, BreakerState, CircuitBreaker, Deadline, HealthConfig, HealthStatus,
    HealthTracker, HedgePolicy, Jitter, ResilienceConfigError, RetryPolicy, TimedOut, Timeouts,
};

// Limits, budgets, prices and where their state is kept.
pub use budget::{AlertSink, Budget, BudgetLedger, CancelledCharge, Price, PricingTable, Usd};
pub use context_window::ContextWindow;
pub use limits::{Limiter, RateLimits, TokenEstimate};
pub use state::{FileStore, MemoryStore, StateStore};

// Configuration files, errors and statistics.
pub use config::RouterConfig;
pub use error::{ConfigError, ConfigProblem, Error, Location, error_chain};
pub use stats::{AccountStatus, BreakerStats, PolicyStats, RouterStats, TargetStats};
