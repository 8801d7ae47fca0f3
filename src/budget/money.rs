//! [`Usd`]: amounts of money as whole nano-dollars, so sums never drift.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

const NANOS_PER_DOLLAR: u64 = 1_000_000_000;

/// An amount of US dollars, held exactly as a whole number of nano-dollars
/// (10⁻⁹ USD; up to about 18.4 billion dollars).
///
/// Costs add up as integers, so a million small requests sum to exactly what their
/// prices say. Serializes as a JSON number of dollars, for people and dashboards.
///
/// ```
/// use routewise::budget::Usd;
///
/// let price: Usd = "2.50".parse()?;
/// assert_eq!(price, Usd::from_cents(250));
/// assert_eq!(Usd::from_micros(75_000).to_string(), "$0.075");
/// assert_eq!(Usd::from_dollars(12.5), Some(Usd::from_cents(1250)));
/// # Ok::<(), routewise::budget::InvalidAmount>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(u64);

impl Usd {
    /// Nothing.
    pub const ZERO: Usd = Usd(0);

    /// `nanos` nano-dollars.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// `micros` micro-dollars (saturating).
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros.saturating_mul(1_000))
    }

    /// `cents` cents (saturating).
    pub const fn from_cents(cents: u64) -> Self {
        Self(cents.saturating_mul(10_000_000))
    }

    /// `dollars`, rounded to the nearest nano-dollar; `None` if negative, not finite or
    /// too large.
    pub fn from_dollars(dollars: f64) -> Option<Self> {
        let nanos = (dollars * NANOS_PER_DOLLAR as f64).round();
        // u64::MAX as f64 rounds up to 2^64, which is already out of range.
        (nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64).then_some(Self(nanos as u64))
    }

    /// The amount in nano-dollars.
    pub const fn nanos(self) -> u64 {
        self.0
    }

    /// The amount in dollars, as a float for display and JSON.
    pub fn dollars(self) -> f64 {
        self.0 as f64 / NANOS_PER_DOLLAR as f64
    }

    /// `self + other`, saturating.
    #[must_use]
    pub const fn saturating_add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }

    /// `self - other`, or zero.
    #[must_use]
    pub const fn saturating_sub(self, other: Usd) -> Usd {
        Usd(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Usd {
    /// `$` and the dollars with at least two decimals, and more only where needed:
    /// `$0.50`, `$12.345678901`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / NANOS_PER_DOLLAR;
        let fraction = format!("{:09}", self.0 % NANOS_PER_DOLLAR);
        let significant = fraction.trim_end_matches('0').len().max(2);
        write!(f, "${whole}.{}", &fraction[..significant])
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.dollars())
    }
}

impl FromStr for Usd {
    type Err = InvalidAmount;

    /// Parses a decimal amount of dollars such as `2.50`, `$0.075` or `100`, exactly, with
    /// at most nine decimals.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidAmount(text.to_owned());
        let digits = text.trim().strip_prefix('$').unwrap_or(text.trim());
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty())
            || fraction.len() > 9
            || !all_digits(whole)
            || !all_digits(fraction)
        {
            return Err(invalid());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let fraction: u64 = format!("{fraction:0<9}").parse().map_err(|_| invalid())?;
        whole
            .checked_mul(NANOS_PER_DOLLAR)
            .and_then(|n| n.checked_add(fraction))
            .map(Usd)
            .ok_or_else(invalid)
    }
}

/// Text that is not an amount of dollars [`Usd`] can hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an amount of US dollars (expected a non-negative decimal such as 2.50, at most nine decimals)"
)]
pub struct InvalidAmount(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_keeps_cents_and_only_needed_decimals() {
        assert_eq!(Usd::ZERO.to_string(), "$0.00");
        assert_eq!(Usd::from_cents(50).to_string(), "$0.50");
        assert_eq!(Usd::from_nanos(12_345_678_901).to_string(), "$12.345678901");
        assert_eq!(Usd::from_cents(100_000).to_string(), "$1000.00");
    }

    #[test]
    fn parsing_is_exact_and_strict() {
        assert_eq!("0.075".parse(), Ok(Usd::from_micros(75_000)));
        assert_eq!("$15".parse(), Ok(Usd::from_cents(1500)));
        assert_eq!(".5".parse(), Ok(Usd::from_cents(50)));
        assert_eq!("0.000000001".parse(), Ok(Usd::from_nanos(1)));
        for bad in [
            "",
            ".",
            "-1",
            "1e3",
            "0.0000000001",
            "1,000",
            "abc",
            "99999999999999",
        ] {
            assert!(bad.parse::<Usd>().is_err(), "{bad}");
        }
    }

    #[test]
    fn float_dollars_round_to_the_nearest_nano_dollar() {
        assert_eq!(Usd::from_dollars(0.075), Some(Usd::from_micros(75_000)));
        assert_eq!(Usd::from_dollars(0.1 + 0.2), Some(Usd::from_cents(30)));
        assert_eq!(Usd::from_dollars(-0.01), None);
        assert_eq!(Usd::from_dollars(f64::NAN), None);
        assert_eq!(Usd::from_dollars(1e11), None);
    }

    #[test]
    fn serializes_as_dollars() {
        assert_eq!(
            serde_json::to_string(&Usd::from_cents(8125)).unwrap(),
            "81.25"
        );
    }
}
