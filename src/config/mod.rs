//! Declarative configuration: a router described in a TOML, YAML or JSON file, checked
//! all at once with errors that say where and why, and reloaded when the file changes.
//!
//! [`RouterConfig`] holds everything [`RouterBuilder`](crate::RouterBuilder) can express:
//! `accounts` ([`AccountConfig`]: provider kind and settings, API key, base URL, headers),
//! `models` ([`ModelConfig`]: capabilities, defaults, balance strategy, targets with
//! weight, tier, capabilities and context window) and `policies` ([`PolicyConfig`]:
//! priority, match, route, fallback rules, required capabilities).
//!
//! ```toml
//! [[accounts]]
//! name = "openai-main"
//! provider = { kind = "sim", reply = "Hello!" }
//! api_key = "${OPENAI_API_KEY}"          # read from the environment, never stored here
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
//! ```
//!
//! - Formats: features `toml`, `yaml` and `json` (none is on by default); the types are
//!   plain serde, so a `RouterConfig` can also sit inside your own configuration.
//! - Errors: every problem at once, under its document path (`policies[2].route[0]`) with
//!   a "did you mean" for near-miss names, and the line and column where the format
//!   keeps them (always for syntax and shape errors; for TOML also for problems between
//!   sections, such as an unknown account). Unknown keys are errors.
//! - Secrets: [`SecretValue`] reads `${NAME}` from the environment when the router is
//!   built; a missing variable names itself and where it is used.
//! - Schema: with the `schema` feature, `RouterConfig::json_schema()` describes the file
//!   for editors; the crate ships it as `routewise.schema.json` (regenerate with
//!   `ROUTEWISE_UPDATE_SCHEMA=1 cargo test --features schema --test config_schema`).
//! - Reload: [`Router::watch_config`](crate::Router::watch_config) polls the file and
//!   swaps a valid new configuration in atomically, keeping stats.

mod account;
mod document;
mod duration;
mod format;
mod load;
#[cfg(feature = "toml")]
mod locate;
mod model;
mod path;
mod policy;
mod problems;
mod provider;
#[cfg(any(feature = "toml", feature = "yaml", feature = "json"))]
mod read;
#[cfg(feature = "schema")]
mod schema;
mod secret;
mod sim;
mod watch;

pub use account::AccountConfig;
pub use document::RouterConfig;
pub use format::Format;
pub use load::LoadError;
pub use model::{ModelConfig, TargetConfig};
pub use policy::PolicyConfig;
pub use provider::ProviderConfig;
pub use secret::SecretValue;
pub use sim::{SimOutage, SimSettings, SimUsage};
pub use watch::{ConfigWatcher, ReloadEvent};
