//! The error every resilience setting reports when it is out of range.

use std::fmt;

/// A resilience setting out of range, naming the field and what is wrong with it.
///
/// Settings are checked once, when the object using them is built (or by `validate()`,
/// for a router to report every problem at once); the running code never sees a bad value.
///
/// ```
/// use routewise::BreakerConfig;
///
/// let err = BreakerConfig::default().failure_rate(1.5, 10).validate().unwrap_err();
/// assert_eq!(err.field(), "failure_rate");
/// assert_eq!(err.to_string(), "failure_rate must be greater than 0 and at most 1 (got 1.5)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResilienceConfigError {
    field: &'static str,
    problem: String,
}

impl ResilienceConfigError {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }

    /// The setting at fault, as its field is named (`"half_open_trials"`).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it (`"must be at least 1"`).
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ResilienceConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.problem)
    }
}

impl std::error::Error for ResilienceConfigError {}

/// Checks that `value` is a fraction in `(0, 1]`.
pub(crate) fn check_fraction(field: &'static str, value: f64) -> Result<(), ResilienceConfigError> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(ResilienceConfigError::new(
            field,
            format!("must be greater than 0 and at most 1 (got {value})"),
        ))
    }
}

/// Checks that a duration is not zero.
pub(crate) fn check_nonzero(
    field: &'static str,
    value: std::time::Duration,
) -> Result<(), ResilienceConfigError> {
    if value.is_zero() {
        Err(ResilienceConfigError::new(
            field,
            "must be greater than zero",
        ))
    } else {
        Ok(())
    }
}
