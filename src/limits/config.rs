//! Rate limit configuration: requests and tokens per minute, for an account and per model.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Requests-per-minute and tokens-per-minute limits of one provider account, with optional
/// tighter limits for single provider models on it.
///
/// A limit left unset is not enforced. Values are checked when a
/// [`Limiter`](crate::limits::Limiter) is built from them.
///
/// ```
/// use routewise::limits::RateLimits;
///
/// let limits = RateLimits::new()
///     .rpm(500)
///     .tpm(200_000)
///     .model("gpt-4o", RateLimits::new().rpm(100).tpm(30_000));
/// assert_eq!(limits.requests_per_minute(), Some(500));
/// assert!(limits.validate().is_ok());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct RateLimits {
    rpm: Option<u32>,
    tpm: Option<u64>,
    models: BTreeMap<Arc<str>, RateLimits>,
}

impl RateLimits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows at most `rpm` requests in any 60-second window.
    pub fn rpm(mut self, rpm: u32) -> Self {
        self.rpm = Some(rpm);
        self
    }

    /// Allows at most `tpm` tokens (prompt plus output) in any 60-second window.
    pub fn tpm(mut self, tpm: u64) -> Self {
        self.tpm = Some(tpm);
        self
    }

    /// Adds limits for one provider model, enforced on top of the account's own. Nested
    /// per-model limits inside `limits` are not allowed.
    pub fn model(mut self, model: impl Into<Arc<str>>, limits: RateLimits) -> Self {
        self.models.insert(model.into(), limits);
        self
    }

    /// The requests-per-minute limit, if set.
    pub fn requests_per_minute(&self) -> Option<u32> {
        self.rpm
    }

    /// The tokens-per-minute limit, if set.
    pub fn tokens_per_minute(&self) -> Option<u64> {
        self.tpm
    }

    /// The per-model limits, by provider model id.
    pub fn models(&self) -> impl Iterator<Item = (&str, &RateLimits)> {
        self.models.iter().map(|(name, limits)| (&**name, limits))
    }

    /// Whether nothing at all is limited.
    pub fn is_unlimited(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.models.is_empty()
    }

    /// Checks every value; the first problem comes back as an error.
    pub fn validate(&self) -> Result<(), LimitsConfigError> {
        check_scope(self, None)?;
        for (model, limits) in &self.models {
            if !limits.models.is_empty() {
                return Err(LimitsConfigError::NestedModelLimits {
                    model: model.clone(),
                });
            }
            check_scope(limits, Some(model))?;
        }
        Ok(())
    }
}

fn check_scope(limits: &RateLimits, model: Option<&Arc<str>>) -> Result<(), LimitsConfigError> {
    let scope = || model.map_or_else(|| "account".to_owned(), |m| format!("model `{m}`"));
    if limits.rpm == Some(0) {
        return Err(LimitsConfigError::Zero {
            field: "rpm",
            scope: scope(),
        });
    }
    if limits.tpm == Some(0) {
        return Err(LimitsConfigError::Zero {
            field: "tpm",
            scope: scope(),
        });
    }
    Ok(())
}

/// A rate limit configuration that cannot be enforced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsConfigError {
    /// A limit of zero would refuse every request; leave the limit unset instead.
    #[error("{field} of the {scope} must be at least 1 (leave it unset for no limit)")]
    Zero {
        /// `rpm` or `tpm`.
        field: &'static str,
        /// `account`, or the model the limit belongs to.
        scope: String,
    },
    /// Per-model limits were given limits of their own.
    #[error("limits of model `{model}` cannot hold per-model limits of their own")]
    NestedModelLimits {
        /// The model whose limits nest further.
        model: Arc<str>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_are_rejected_naming_field_and_scope() {
        let err = RateLimits::new().rpm(0).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "rpm of the account must be at least 1 (leave it unset for no limit)"
        );
        let err = RateLimits::new()
            .model("gpt-4o", RateLimits::new().tpm(0))
            .validate()
            .unwrap_err();
        assert_eq!(
            err,
            LimitsConfigError::Zero {
                field: "tpm",
                scope: "model `gpt-4o`".into()
            }
        );
    }

    #[test]
    fn per_model_limits_cannot_nest() {
        let nested = RateLimits::new().model("a", RateLimits::new().model("b", RateLimits::new()));
        assert!(matches!(
            nested.validate(),
            Err(LimitsConfigError::NestedModelLimits { model }) if &*model == "a"
        ));
    }

    #[test]
    fn unset_limits_mean_unlimited() {
        assert!(RateLimits::new().is_unlimited());
        assert!(RateLimits::new().validate().is_ok());
        assert!(!RateLimits::new().tpm(5).is_unlimited());
    }
}
