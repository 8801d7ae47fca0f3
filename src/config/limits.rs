//! [`RateLimitsConfig`]: an account's requests and tokens per minute, as written in a
//! config file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::path;
use super::problems::Problems;
use crate::limits::RateLimits;

/// Rate limits of an account (see [`RateLimits`]): requests and tokens per minute, for the
/// account and, tighter, for single provider models on it. A limit left out is not
/// enforced.
///
/// ```toml
/// limits = { rpm = 500, tpm = 200000, models = { "gpt-4o" = { rpm = 100, tpm = 30000 } } }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct RateLimitsConfig {
    /// Requests in any 60-second window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens (prompt plus output) in any 60-second window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Limits of single provider models, by model id, on top of the account's.
    pub models: BTreeMap<String, ModelRateLimits>,
}

/// Rate limits of one provider model on an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ModelRateLimits {
    /// Requests in any 60-second window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens (prompt plus output) in any 60-second window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
}

impl RateLimitsConfig {
    /// The limits, or `None` after reporting every zero limit under `at` (such as
    /// `accounts[1].limits`).
    pub(crate) fn build(&self, at: &str, problems: &mut Problems) -> Option<RateLimits> {
        let mut valid = check(self.rpm, self.tpm, at, problems);
        let mut limits = scope(RateLimits::new(), self.rpm, self.tpm);
        for (model, model_limits) in &self.models {
            let mut model_path = format!("{at}.models");
            path::push_key(&mut model_path, model);
            if model.trim().is_empty() {
                problems.push(&model_path, "a model id must not be empty");
                valid = false;
            }
            valid &= check(model_limits.rpm, model_limits.tpm, &model_path, problems);
            let own = scope(RateLimits::new(), model_limits.rpm, model_limits.tpm);
            limits = limits.model(model.as_str(), own);
        }
        valid.then_some(limits)
    }
}

fn scope(mut limits: RateLimits, rpm: Option<u32>, tpm: Option<u64>) -> RateLimits {
    if let Some(rpm) = rpm {
        limits = limits.rpm(rpm);
    }
    if let Some(tpm) = tpm {
        limits = limits.tpm(tpm);
    }
    limits
}

/// Whether neither limit is zero, reporting each one that is.
fn check(rpm: Option<u32>, tpm: Option<u64>, at: &str, problems: &mut Problems) -> bool {
    let zero = [("rpm", rpm == Some(0)), ("tpm", tpm == Some(0))];
    for (field, _) in zero.iter().filter(|(_, is_zero)| *is_zero) {
        problems.push(
            format!("{at}.{field}"),
            "must be at least 1 (leave it out for no limit)",
        );
    }
    !zero.iter().any(|(_, is_zero)| *is_zero)
}
