//! Record routing traffic, and replay it against a candidate configuration before you
//! deploy it.
//!
//! - [`Recorder`] (always available): attach it with
//!   [`RouterBuilder::recorder`](crate::RouterBuilder::recorder) and every completed
//!   request becomes one JSON line ([`TrafficRecord`]): when it came, its step type,
//!   purpose, requested model, tags, needed capabilities, estimated prompt tokens,
//!   `max_tokens`, and per attempt the target, outcome, error kind, retry-after, latency,
//!   usage and cost. No prompt or answer text unless asked for. Writing happens on a
//!   thread of its own; a full buffer drops records and counts them; files rotate by size.
//! - [`Traffic`]: reads those files back (or takes synthetic records).
//! - [`Behaviours`] (feature `replay`): per target, the latency distribution, error rates
//!   by kind, 429 episodes and output-token distribution fitted from the traffic, with
//!   hand-made changes on top (an outage, a provider-side RPM cap, a new target).
//! - [`Replay`] (feature `replay`): sends the traffic through a candidate configuration's
//!   real router, on tokio's paused clock, with simulated providers driven by the
//!   behaviours; [`Comparison`] puts two runs side by side (text and JSON).
//!
//! ```
//! # #[cfg(feature = "replay")] {
//! use std::time::Duration;
//! use routewise::{LogicalModel, Policy, Price, ProviderAccount, Purpose, Router, Target, Usd};
//! use routewise::replay::{Behaviours, Comparison, Replay, Traffic, TrafficRecord};
//! use routewise::sim::SimProvider;
//!
//! // Ten classification requests a minute apart (normally: `Traffic::read(path)`).
//! let records = (0..10).map(|i| {
//!     let line = format!(r#"{{"unix_ms":{},"step":"inference","purpose":"classification","input_tokens":400,"outcome":"ok","latency_us":1}}"#, i * 60_000);
//!     serde_json::from_str::<TrafficRecord>(&line).unwrap()
//! });
//! let traffic = Traffic::from_records(records);
//! let replay = Replay::new(traffic.clone(), Behaviours::fit(&traffic));
//!
//! let config = |model: &str| {
//!     let price = Price::per_million(Usd::from_cents(250), Usd::from_cents(1000));
//!     let cheap = Price::per_million(Usd::from_cents(15), Usd::from_cents(60));
//!     Router::builder()
//!         .account(ProviderAccount::new("openai", SimProvider::new()))
//!         .model(LogicalModel::new("large").target(Target::new("openai", "gpt-4o").price(price)))
//!         .model(LogicalModel::new("small").target(Target::new("openai", "gpt-4o-mini").price(cheap)))
//!         .policy(Policy::new("default").route([model]))
//! };
//! let current = replay.run(config("large"))?;
//! let candidate = replay.run(config("small"))?;
//! let comparison = Comparison::new(&current, &candidate);
//! assert!(comparison.candidate.cost_usd < comparison.current.cost_usd);
//! println!("{comparison}");
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod batches;
#[cfg(feature = "replay")]
mod behaviour;
mod capture;
#[cfg(feature = "chart")]
mod chart;
#[cfg(feature = "replay")]
mod driver;
#[cfg(feature = "replay")]
mod provider;
mod quantiles;
mod record;
mod recorder;
#[cfg(feature = "replay")]
mod report;
mod rotating;
#[cfg(feature = "replay")]
mod summary;
mod traffic;

#[cfg(feature = "replay")]
pub use behaviour::{Behaviours, ErrorRate, Outage, TargetBehaviour, Window};
#[cfg(feature = "chart")]
#[cfg_attr(docsrs, doc(cfg(feature = "chart")))]
pub use chart::ChartError;
#[cfg(feature = "replay")]
pub use driver::{Replay, ReplayError, ReplayRun};
#[cfg(feature = "replay")]
pub use report::{Comparison, Unrouted};
#[cfg(feature = "replay")]
pub use summary::{BudgetSummary, PolicySummary, Summary, TargetSummary};

pub(crate) use capture::{Ending, OwnedRequest, RequestView};
pub use quantiles::Quantiles;
pub use record::{AttemptRecord, AttemptStatus, OUTCOME_OK, TrafficRecord};
pub use recorder::{Recorder, RecorderBuilder};
pub use traffic::{Traffic, TrafficError};
