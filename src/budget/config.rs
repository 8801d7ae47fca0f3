//! Budget configuration: a spend limit per window and the thresholds that alert.

use super::{BudgetWindow, Usd};

/// The alert thresholds of a budget unless set otherwise, in percent.
pub const DEFAULT_THRESHOLDS: [u16; 4] = [50, 80, 95, 100];

/// The most thresholds one budget may have.
pub const MAX_THRESHOLDS: usize = 64;

/// A spend limit for one provider account per window (a UTC calendar month unless set
/// otherwise), with alert thresholds in percent of the limit.
///
/// Values are checked when a [`BudgetLedger`](super::BudgetLedger) is built from it.
///
/// ```
/// use routewise::budget::{Budget, Usd};
///
/// let budget = Budget::monthly_usd(250.0).thresholds([75, 90, 100]);
/// assert_eq!(budget.limit(), Ok(Usd::from_cents(25_000)));
/// assert_eq!(budget.alert_thresholds(), [75, 90, 100]);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Budget {
    dollars: f64,
    thresholds: Vec<u16>,
    window: BudgetWindow,
}

impl Budget {
    /// A budget of `dollars` per UTC calendar month, alerting at 50, 80, 95 and 100 %.
    pub fn monthly_usd(dollars: f64) -> Self {
        Self {
            dollars,
            thresholds: DEFAULT_THRESHOLDS.to_vec(),
            window: BudgetWindow::CalendarMonthUtc,
        }
    }

    /// Replaces the alert thresholds (percent of the limit, each 1 to 1,000; order and
    /// repeats do not matter). An empty list turns alerts off.
    pub fn thresholds(mut self, percents: impl IntoIterator<Item = u16>) -> Self {
        self.thresholds = percents.into_iter().collect();
        self.thresholds.sort_unstable();
        self.thresholds.dedup();
        self
    }

    /// Sets the window the limit applies to.
    pub fn window(mut self, window: BudgetWindow) -> Self {
        self.window = window;
        self
    }

    /// The limit per window, or why it is invalid.
    pub fn limit(&self) -> Result<Usd, BudgetConfigError> {
        Usd::from_dollars(self.dollars)
            .filter(|limit| *limit > Usd::ZERO)
            .ok_or(BudgetConfigError::InvalidLimit {
                dollars: self.dollars,
            })
    }

    /// The alert thresholds in percent, ascending.
    pub fn alert_thresholds(&self) -> &[u16] {
        &self.thresholds
    }

    /// The budget window.
    pub fn budget_window(&self) -> BudgetWindow {
        self.window
    }

    /// Checks every value; the first problem comes back as an error.
    pub fn validate(&self) -> Result<(), BudgetConfigError> {
        self.limit()?;
        if let Some(&percent) = self.thresholds.iter().find(|p| !(1..=1000).contains(*p)) {
            return Err(BudgetConfigError::ThresholdOutOfRange { percent });
        }
        if self.thresholds.len() > MAX_THRESHOLDS {
            return Err(BudgetConfigError::TooManyThresholds {
                count: self.thresholds.len(),
            });
        }
        if let BudgetWindow::Fixed { length, .. } = self.window
            && length.as_secs() == 0
        {
            return Err(BudgetConfigError::WindowTooShort);
        }
        Ok(())
    }
}

/// A budget configuration that cannot be enforced.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetConfigError {
    /// The limit is not a positive, finite amount of dollars.
    #[error("budget limit must be a positive amount of US dollars, got {dollars}")]
    InvalidLimit {
        /// The value given.
        dollars: f64,
    },
    /// A threshold is outside 1..=1000 percent.
    #[error("budget alert threshold must be within 1..=1000 percent, got {percent}")]
    ThresholdOutOfRange {
        /// The value given.
        percent: u16,
    },
    /// More thresholds than [`MAX_THRESHOLDS`].
    #[error("a budget can have at most 64 alert thresholds, got {count}")]
    TooManyThresholds {
        /// How many were given.
        count: usize,
    },
    /// A fixed window shorter than one second.
    #[error("a fixed budget window must last at least one second")]
    WindowTooShort,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn defaults_are_a_calendar_month_with_four_thresholds() {
        let budget = Budget::monthly_usd(100.0);
        assert_eq!(budget.alert_thresholds(), [50, 80, 95, 100]);
        assert_eq!(budget.budget_window(), BudgetWindow::CalendarMonthUtc);
        assert!(budget.validate().is_ok());
    }

    #[test]
    fn invalid_values_are_reported() {
        for dollars in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Budget::monthly_usd(dollars).validate(),
                Err(BudgetConfigError::InvalidLimit { .. })
            ));
        }
        assert_eq!(
            Budget::monthly_usd(1.0).thresholds([0, 50]).validate(),
            Err(BudgetConfigError::ThresholdOutOfRange { percent: 0 })
        );
        assert_eq!(
            Budget::monthly_usd(1.0).thresholds(1..=65).validate(),
            Err(BudgetConfigError::TooManyThresholds { count: 65 })
        );
        let instant = BudgetWindow::Fixed {
            start: UNIX_EPOCH,
            length: Duration::from_millis(500),
        };
        assert_eq!(
            Budget::monthly_usd(1.0).window(instant).validate(),
            Err(BudgetConfigError::WindowTooShort)
        );
    }

    #[test]
    fn thresholds_are_sorted_and_deduplicated() {
        let budget = Budget::monthly_usd(1.0).thresholds([100, 50, 50, 80]);
        assert_eq!(budget.alert_thresholds(), [50, 80, 100]);
    }
}
