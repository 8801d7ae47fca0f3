//! [`Headroom`]: how much of an account's rate limits one more request would leave, the
//! figure [`Balance::Headroom`](crate::Balance::Headroom) orders targets by.

use std::cmp::Ordering;
use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// Millionths in a whole: the scale of [`Headroom::remaining_ppm`].
const WHOLE: u64 = 1_000_000;

/// Which limit leaves the least room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TightestLimit {
    /// A requests-per-minute limit (the account's or the provider model's own).
    RequestsPerMinute,
    /// A tokens-per-minute limit (the account's or the provider model's own).
    TokensPerMinute,
}

impl fmt::Display for TightestLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TightestLimit::RequestsPerMinute => "rpm",
            TightestLimit::TokensPerMinute => "tpm",
        })
    }
}

/// What one more request would leave of an account's rate limits in the current window.
///
/// For each limit that applies to the request (the account's requests and tokens per
/// minute, and the provider model's own where it has any), the share of the limit still
/// free once the request is counted: `(rpm - requests - 1) / rpm` for requests and
/// `(tpm - tokens - this request's tokens) / tpm` for tokens, where `requests` and
/// `tokens` are what the window holds now. The headroom is the smallest of those shares
/// (in millionths, rounded down, never below zero), and names the limit it came from.
/// An account with no limit that applies has [unlimited](Self::UNLIMITED) headroom,
/// which is more than any limited one.
///
/// Headrooms order by that share, unlimited last (greatest); equal shares from
/// different limits order requests-per-minute first, to keep the order total.
///
/// ```
/// use routewise::limits::{Headroom, Limiter, RateLimits, TightestLimit};
/// use tokio::time::Instant;
///
/// let small = Limiter::new(RateLimits::new().rpm(10))?;
/// let large = Limiter::new(RateLimits::new().rpm(30))?;
/// let now = Instant::now();
/// let (on_small, on_large) = (small.headroom("m", 0, now)?, large.headroom("m", 0, now)?);
/// // One request leaves 9 of 10 on the small key and 29 of 30 on the large one.
/// assert_eq!(on_small.remaining_ppm(), Some(900_000));
/// assert_eq!(on_small.tightest(), Some(TightestLimit::RequestsPerMinute));
/// assert!(on_large > on_small);
/// assert!(Headroom::UNLIMITED > on_large);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Headroom {
    /// `None` for unlimited.
    remaining: Option<(u32, TightestLimit)>,
}

impl Headroom {
    /// No limit applies.
    pub const UNLIMITED: Headroom = Headroom { remaining: None };

    /// The headroom of one window with limits `rpm` and `tpm` (`None`: not limited)
    /// holding `requests` and `tokens`, for one more request of `need` tokens.
    pub(crate) fn of_window(
        rpm: Option<u64>,
        tpm: Option<u64>,
        requests: u64,
        tokens: u64,
        need: u64,
    ) -> Self {
        let requests_left = rpm.map(|rpm| Self::share(rpm, requests.saturating_add(1)));
        let tokens_left = tpm.map(|tpm| Self::share(tpm, tokens.saturating_add(need)));
        let by_requests = Headroom {
            remaining: requests_left.map(|left| (left, TightestLimit::RequestsPerMinute)),
        };
        let by_tokens = Headroom {
            remaining: tokens_left.map(|left| (left, TightestLimit::TokensPerMinute)),
        };
        by_requests.min(by_tokens)
    }

    /// Millionths of `limit` left once `used` is counted, floored at zero.
    fn share(limit: u64, used: u64) -> u32 {
        let left = u128::from(limit.saturating_sub(used)) * u128::from(WHOLE);
        // At most WHOLE, since `left` ≤ `limit`; a zero limit leaves nothing.
        u32::try_from(left.checked_div(u128::from(limit)).unwrap_or(0)).unwrap_or(u32::MAX)
    }

    /// The share of the tightest limit left after the request, in millionths (1,000,000
    /// is the whole limit); `None` when no limit applies.
    pub fn remaining_ppm(&self) -> Option<u32> {
        self.remaining.map(|(ppm, _)| ppm)
    }

    /// The share of the tightest limit left after the request, from 0.0 to 1.0; `None`
    /// when no limit applies.
    pub fn remaining(&self) -> Option<f64> {
        self.remaining_ppm()
            .map(|ppm| f64::from(ppm) / WHOLE as f64)
    }

    /// Which limit leaves the least room; `None` when no limit applies.
    pub fn tightest(&self) -> Option<TightestLimit> {
        self.remaining.map(|(_, limit)| limit)
    }

    /// Whether no limit applies.
    pub fn is_unlimited(&self) -> bool {
        self.remaining.is_none()
    }
}

impl Ord for Headroom {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.remaining, other.remaining) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => a.cmp(&b),
        }
    }
}

impl PartialOrd for Headroom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Headroom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.remaining {
            None => f.write_str("unlimited"),
            Some((ppm, limit)) => write!(f, "{:.1}% of {limit} left", f64::from(ppm) / 10_000.0),
        }
    }
}

/// `{"remaining": 0.9, "tightest": "requests_per_minute"}`, both `null` when unlimited.
impl Serialize for Headroom {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("Headroom", 2)?;
        fields.serialize_field("remaining", &self.remaining())?;
        fields.serialize_field("tightest", &self.tightest())?;
        fields.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tightest_limit_after_the_request_decides() {
        // 4 of 10 requests used: 5 left after this one. 600 of 1,000 tokens used, this
        // request needs 300: 100 left.
        let headroom = Headroom::of_window(Some(10), Some(1_000), 4, 600, 300);
        assert_eq!(headroom.remaining_ppm(), Some(100_000));
        assert_eq!(headroom.tightest(), Some(TightestLimit::TokensPerMinute));
        let by_requests = Headroom::of_window(Some(10), Some(1_000), 4, 0, 300);
        assert_eq!(by_requests.remaining_ppm(), Some(500_000));
        assert_eq!(
            by_requests.tightest(),
            Some(TightestLimit::RequestsPerMinute)
        );
        assert_eq!(by_requests.to_string(), "50.0% of rpm left");
    }

    #[test]
    fn no_limit_is_unlimited_and_ranks_above_every_limited_headroom() {
        let unlimited = Headroom::of_window(None, None, 1_000, 1_000_000, 5);
        assert!(unlimited.is_unlimited());
        assert_eq!(unlimited, Headroom::UNLIMITED);
        assert!(unlimited > Headroom::of_window(Some(1_000), None, 0, 0, 0));
        assert_eq!(unlimited.to_string(), "unlimited");
        assert_eq!(
            serde_json::to_value(unlimited).unwrap(),
            serde_json::json!({"remaining": null, "tightest": null})
        );
    }

    #[test]
    fn a_window_over_its_limit_has_no_headroom_rather_than_a_negative_one() {
        let over = Headroom::of_window(Some(10), None, 12, 0, 0);
        assert_eq!(over.remaining_ppm(), Some(0));
        assert_eq!(over.remaining(), Some(0.0));
    }

    #[test]
    fn equal_shares_of_different_limits_still_order_totally() {
        let requests = Headroom::of_window(Some(10), None, 4, 0, 0);
        let tokens = Headroom::of_window(None, Some(10), 0, 4, 1);
        assert_eq!(requests.remaining_ppm(), tokens.remaining_ppm());
        assert!(requests < tokens);
        assert_eq!(
            serde_json::to_value(tokens).unwrap(),
            serde_json::json!({"remaining": 0.5, "tightest": "tokens_per_minute"})
        );
    }
}
