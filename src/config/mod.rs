//! Declarative configuration: a router described in a TOML, YAML or JSON file, checked
//! all at once with errors that say where and why, and reloaded when the file changes.
//!
//! [`RouterConfig`] holds everything [`RouterBuilder`](crate::RouterBuilder) can express:
//! - `accounts` ([`AccountConfig`]): the provider ([`ProviderConfig`]: `openai` with
//!   Azure and compatible endpoints, `anthropic`, `gemini`, `vertex`, `sim`, or a kind of your own
//!   registered in [`ProviderKinds`]) and its settings, API
//!   key, base URL, headers, rate `limits`, `budget` and `pricing`;
//! - `models` ([`ModelConfig`]): capabilities, defaults, balance strategy, targets with
//!   weight, tier, capabilities, context window and price;
//! - `policies` ([`PolicyConfig`]): priority, match, route, fallback rules, required
//!   capabilities, `breaker`, `retry`, `retry_on`, `timeouts`, `hedge` and
//!   `cheapest_first`;
//! - the router as a whole: `breaker_defaults` (or `breakers = false`), `health`,
//!   `queue_time`, `state_store`, `shared_state` (Redis, feature `redis`) and `alerts`.
//!
//! ```toml
//! queue_time = "2s"
//! breaker_defaults = { failure_threshold = 5, recovery = "30s" }
//! alerts = [{ kind = "tracing" }]
//!
//! [[accounts]]
//! name = "openai-main"
//! provider = { kind = "openai", timeouts = { read = "30s" } }
//! api_key = "${OPENAI_API_KEY}"          # read from the environment, never stored here
//! limits = { rpm = 500, tpm = 200000 }
//! budget = { monthly_usd = 250.0 }
//!
//! [[models]]
//! name = "primary-llm"
//! capabilities = ["streaming", "tools"]
//! targets = [{ account = "openai-main", model = "gpt-4o" }]
//!
//! [[policies]]
//! name = "chat"
//! match = { purposes = ["chat"] }
//! route = ["primary-llm"]
//! retry = { max_retries = 2 }
//! timeouts = { request = "30s" }
//! ```
//!
//! - Formats: features `toml`, `yaml` and `json` (none is on by default); the types are
//!   plain serde, so a `RouterConfig` can also sit inside your own configuration.
//! - Durations are strings: `"250ms"`, `"1.5s"`, `"2m"`, `"1h"`, `"7d"`, or sums such as `"1m30s"`.
//! - Errors: every problem at once, under its document path (`policies[2].route[0]`,
//!   `accounts[1].limits.rpm`) with a "did you mean" for near-miss names, and the line
//!   and column where the format keeps them (always for syntax and shape errors; for
//!   TOML also for problems between sections, such as an unknown account). Unknown keys
//!   are errors.
//! - Secrets: [`SecretValue`] reads `${NAME}` from the environment when the router is
//!   built (API keys, header values, webhook URLs); a missing variable names itself and
//!   where it is used.
//! - Schema: with the `schema` feature, `RouterConfig::json_schema()` describes the file
//!   for editors (`RouterConfig::json_schema_with_kinds()` with your provider kinds too); the crate ships it as `routewise.schema.json` (regenerate with
//!   `ROUTEWISE_UPDATE_SCHEMA=1 cargo test --features schema --test config_schema`).
//! - Reload: [`Router::watch_config`](crate::Router::watch_config) polls the file and
//!   swaps a valid new configuration in atomically, keeping stats, breakers, health,
//!   limiters, budgets and an unchanged state store, and the accounts, models and
//!   policies your code added to [`RouterConfig::to_builder`]'s builder.
//! - Writing: every config type is `Serialize`, so a configuration generated in code
//!   (`RouterConfig::default()`, [`AccountConfig::new`], [`PolicyConfig::new`], ...) writes
//!   out in any of the formats and reads back equal. Secrets are written as the `${NAME}`
//!   references they hold; an API key without one is refused.
//! - Runtime: background health probes (`health.probe_interval`) and a file state store
//!   need a Tokio runtime when the router is built.

mod account;
mod adapters;
mod alerts;
#[cfg(feature = "bedrock")]
mod bedrock;
mod budget;
mod document;
mod duration;
mod format;
mod kinds;
mod limits;
mod load;
#[cfg(feature = "toml")]
mod locate;
mod model;
mod path;
mod policy;
mod price;
mod problems;
mod provider;
#[cfg(any(feature = "toml", feature = "yaml", feature = "json"))]
mod read;
mod resilience;
#[cfg(feature = "schema")]
mod schema;
mod secret;
mod shared;
mod sim;
mod state;
mod vertex;
mod watch;
mod write;

pub use account::AccountConfig;
pub use adapters::{
    AdapterTimeout, AnthropicSettings, AnthropicVersion, GeminiSettings, HttpTimeoutSettings,
    OpenAiSettings, TokenLimitField,
};
pub use alerts::{AlertSinkConfig, WebhookSettings};
#[cfg(feature = "bedrock")]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
pub use bedrock::{BedrockCredentials, BedrockSettings};
pub use budget::{BudgetConfig, BudgetWindowConfig};
pub use document::RouterConfig;
pub use format::Format;
pub use kinds::ProviderKinds;
pub use limits::{ModelRateLimits, RateLimitsConfig};
pub use load::LoadError;
pub use model::{ModelConfig, TargetConfig};
pub use policy::PolicyConfig;
pub use price::PriceConfig;
pub use provider::{CustomProvider, ProviderConfig};
pub use resilience::{
    BreakerSettings, FailureThreshold, HealthSettings, HedgeBounds, HedgeSettings, JitterSetting,
    PolicyBreaker, RetrySettings, TimeoutSettings,
};
pub use secret::SecretValue;
pub use shared::{FailModeConfig, LeaseConfig, SharedStateConfig};
pub use sim::{SimOutage, SimSettings, SimUsage};
pub use state::StateStoreConfig;
pub use vertex::VertexSettings;
pub use watch::{ConfigWatcher, ReloadEvent};
