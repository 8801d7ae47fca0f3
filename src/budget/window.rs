//! Budget windows: which period a moment of spend belongs to, by the wall clock in UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serializer;

const SECS_PER_DAY: u64 = 86_400;

/// The period a budget applies to, after which spend starts again from zero.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use routewise::budget::BudgetWindow;
///
/// // 2025-02-14T12:00:00Z falls in February 2025.
/// let feb_14 = UNIX_EPOCH + Duration::from_secs(1_739_534_400);
/// let span = BudgetWindow::CalendarMonthUtc.span_at(feb_14);
/// assert_eq!(span.label, "2025-02");
/// assert_eq!(span.end, UNIX_EPOCH + Duration::from_secs(1_740_787_200)); // 2025-03-01
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetWindow {
    /// Calendar months in UTC: from the 1st at 00:00:00Z to the next 1st.
    #[default]
    CalendarMonthUtc,
    /// Back-to-back windows of `length`, the first starting at `start`.
    Fixed {
        /// When the first window starts.
        start: SystemTime,
        /// How long each window lasts (at least one second).
        length: Duration,
    },
}

/// One window: its place in the sequence, its name and its bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowSpan {
    /// Increases by one from each window to the next.
    pub index: u64,
    /// A stable name, used in state keys and alerts: `2025-01` for a calendar month, the
    /// start time (`2025-01-17T00:00:00Z`) for a fixed window.
    pub label: String,
    /// The first moment in the window.
    pub start: SystemTime,
    /// The first moment after the window.
    pub end: SystemTime,
}

impl BudgetWindow {
    /// The window `now` falls in. Moments before the Unix epoch (or before a fixed
    /// window's start) count in the first window.
    pub fn span_at(&self, now: SystemTime) -> WindowSpan {
        match *self {
            BudgetWindow::CalendarMonthUtc => month_span(unix_secs(now)),
            BudgetWindow::Fixed { start, length } => {
                let length = length.max(Duration::from_secs(1));
                let elapsed = now.duration_since(start).unwrap_or(Duration::ZERO);
                let index =
                    u64::try_from(elapsed.as_nanos() / length.as_nanos()).unwrap_or(u64::MAX);
                let into_window = elapsed.as_nanos() % length.as_nanos();
                let into_window =
                    Duration::from_nanos(u64::try_from(into_window).unwrap_or(u64::MAX));
                let window_start = start + elapsed.saturating_sub(into_window);
                WindowSpan {
                    index,
                    label: rfc3339(window_start),
                    start: window_start,
                    end: window_start + length,
                }
            }
        }
    }
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn month_span(secs: u64) -> WindowSpan {
    let days = i64::try_from(secs / SECS_PER_DAY).unwrap_or(i64::MAX);
    let (year, month, _) = civil_from_days(days);
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let at = |y, m| {
        UNIX_EPOCH
            + Duration::from_secs(days_from_civil(y, m, 1).max(0).unsigned_abs() * SECS_PER_DAY)
    };
    WindowSpan {
        index: u64::try_from(year * 12 + i64::from(month) - 1).unwrap_or(0),
        label: format!("{year:04}-{month:02}"),
        start: at(year, month),
        end: at(next_year, next_month),
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction.
    (year, month as u32, day as u32)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = i64::from((month + 9) % 12);
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `2025-01-17T09:30:00Z` (whole seconds, UTC).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = unix_secs(time);
    let (year, month, day) = civil_from_days(i64::try_from(secs / SECS_PER_DAY).unwrap_or(0));
    let of_day = secs % SECS_PER_DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// Serializes a time as RFC 3339 text.
pub(crate) fn serialize_rfc3339<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*time))
}

/// Serializes an optional time as RFC 3339 text or `null`.
pub(crate) fn serialize_rfc3339_opt<S: Serializer>(
    time: &Option<SystemTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serialize_rfc3339(time, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: i64, month: u32, day: u32, secs_of_day: u64) -> SystemTime {
        let days = u64::try_from(days_from_civil(year, month, day)).unwrap();
        UNIX_EPOCH + Duration::from_secs(days * SECS_PER_DAY + secs_of_day)
    }

    #[test]
    fn day_counts_round_trip_through_dates_across_four_centuries() {
        for days in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn december_rolls_over_into_january_of_the_next_year() {
        let window = BudgetWindow::CalendarMonthUtc;
        let last_second = window.span_at(at(2024, 12, 31, SECS_PER_DAY - 1));
        let new_year = window.span_at(at(2025, 1, 1, 0));
        assert_eq!(last_second.label, "2024-12");
        assert_eq!(last_second.end, at(2025, 1, 1, 0));
        assert_eq!(new_year.label, "2025-01");
        assert_eq!(new_year.start, last_second.end);
        assert_eq!(new_year.index, last_second.index + 1);
    }

    #[test]
    fn february_ends_on_the_28th_or_in_leap_years_the_29th() {
        let window = BudgetWindow::CalendarMonthUtc;
        for (year, days) in [(2024, 29), (2025, 28), (2000, 29), (2100, 28)] {
            let span = window.span_at(at(year, 2, 10, 0));
            assert_eq!(span.label, format!("{year}-02"));
            let length = span.end.duration_since(span.start).unwrap();
            assert_eq!(length, Duration::from_secs(days * SECS_PER_DAY), "{year}");
            assert_eq!(
                window
                    .span_at(at(year, 2, days as u32, SECS_PER_DAY - 1))
                    .label,
                span.label
            );
            assert_eq!(window.span_at(span.end).label, format!("{year}-03"));
        }
    }

    #[test]
    fn fixed_windows_follow_each_other_from_their_start() {
        let start = at(2025, 1, 17, 0);
        let window = BudgetWindow::Fixed {
            start,
            length: Duration::from_secs(7 * SECS_PER_DAY),
        };
        let first = window.span_at(start + Duration::from_secs(3));
        assert_eq!(
            (first.index, first.label.as_str()),
            (0, "2025-01-17T00:00:00Z")
        );
        let third = window.span_at(at(2025, 2, 1, 0));
        assert_eq!(third.index, 2);
        assert_eq!(third.start, at(2025, 1, 31, 0));
        assert_eq!(window.span_at(start - Duration::from_secs(5)).index, 0);
    }

    #[test]
    fn times_format_as_rfc3339_in_utc() {
        assert_eq!(
            rfc3339(at(2025, 3, 9, 3600 + 120 + 5)),
            "2025-03-09T01:02:05Z"
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
