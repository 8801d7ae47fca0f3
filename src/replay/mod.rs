//! Record routing traffic, and replay it against a candidate configuration before you
//! deploy it.
//!
//! - [`Recorder`] (always available): attach it with
//!   [`RouterBuilder::recorder`](crate::RouterBuilder::recorder) and every completed
//!   request becomes one JSON line ([`TrafficRecord`]): when it came, its step type,
//!   purpose, requested model, tags, needed capabilities, estimated prompt tokens,
//!   `max_tokens`, and per attempt the target, outcome, error kind, retry-after, latency,
//!   usage and cost. No prompt or answer text unless asked for. Writing happens on a
//!   thread of its own; a full queue drops records and counts them; files rotate by size.
//! - [`Traffic`]: reads those files back (or takes synthetic records).

mod record;
mod recorder;
mod rotating;
mod traffic;

pub use record::{AttemptRecord, AttemptStatus, OUTCOME_OK, TrafficRecord};
pub use recorder::{Recorder, RecorderBuilder};
pub use traffic::{Traffic, TrafficError};
