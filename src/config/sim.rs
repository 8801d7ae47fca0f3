//! [`SimSettings`]: the simulated provider, configured from a file.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use super::problems::Problems;
use crate::provider::ErrorKind;
use crate::sim::SimProvider;
use crate::types::Usage;

/// Settings of a [`SimProvider`] account (`kind = "sim"`): a scripted, offline provider
/// for demos and tests. Every field is optional.
///
/// ```toml
/// provider = { kind = "sim", reply = "Hello!", latency = "40ms", failure_rate = 0.1, seed = 7 }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct SimSettings {
    /// The name reported as `gen_ai.provider.name` (default `sim`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The text of every answer (default `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Answer with the last message's text instead of `reply`.
    pub echo: bool,
    /// Delay before each answer or first stream chunk, such as `"40ms"`.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub latency: Option<Duration>,
    /// Delay between stream chunks.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub chunk_delay: Option<Duration>,
    /// Share of calls that fail, `0.0..=1.0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f64>,
    /// How failing calls fail (default `server_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<ErrorKind>,
    /// Seed of the random failures, for a repeatable run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Usage reported for every answer, instead of an estimate from the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<SimUsage>,
    /// Windows, counted from when the router is built, in which every call fails.
    pub outages: Vec<SimOutage>,
}

/// Token usage a [`SimSettings`] provider reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SimUsage {
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Generated tokens.
    pub output_tokens: u32,
}

/// A window in which a [`SimSettings`] provider fails every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SimOutage {
    /// Start, after the router is built, such as `"30s"`.
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub from: Duration,
    /// End.
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub until: Duration,
}

impl SimSettings {
    /// Builds the provider, reporting out-of-range settings under `path`.
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> SimProvider {
        let mut sim = SimProvider::new();
        if let Some(system) = &self.system {
            sim = sim.with_provider_name(system.as_str());
        }
        if let Some(reply) = &self.reply {
            sim = sim.reply(reply.as_str());
        }
        if self.echo {
            sim = sim.echo();
        }
        if let Some(latency) = self.latency {
            sim = sim.latency(latency);
        }
        if let Some(delay) = self.chunk_delay {
            sim = sim.chunk_delay(delay);
        }
        if let Some(rate) = self.failure_rate {
            if !(0.0..=1.0).contains(&rate) {
                problems.push(
                    format!("{path}.failure_rate"),
                    format!("must be within 0.0..=1.0, got {rate}"),
                );
            }
            sim = sim.failure_rate(rate);
        }
        if let Some(kind) = self.failure_kind {
            sim = sim.failure_kind(kind);
        }
        if let Some(seed) = self.seed {
            sim = sim.seed(seed);
        }
        if let Some(usage) = self.usage {
            sim = sim.usage(Usage::new(usage.input_tokens, usage.output_tokens));
        }
        for (i, outage) in self.outages.iter().enumerate() {
            if outage.until <= outage.from {
                problems.push(
                    format!("{path}.outages[{i}]"),
                    "`until` must come after `from`",
                );
            }
            sim = sim.outage(outage.from, outage.until);
        }
        sim
    }
}
