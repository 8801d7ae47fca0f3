//! Names of the values a [`StateStore`](super::StateStore) keeps.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name of one stored value.
///
/// Built-in keys put the kind first and the account last (`spend:2025-01:openai-main`),
/// so an account name containing `:` cannot collide with another key.
///
/// ```
/// use routewise::state::StateKey;
///
/// assert_eq!(StateKey::spend("openai-main", "2025-01").as_str(), "spend:2025-01:openai-main");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StateKey(String);

impl StateKey {
    /// A key with any name, for values of your own.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// An account's spend in nano-dollars during one budget window (named by its label,
    /// such as `2025-01`).
    pub fn spend(account: &str, window: &str) -> Self {
        Self(format!("spend:{window}:{account}"))
    }

    /// The budget alert thresholds already fired for an account in one window, as a bit
    /// set.
    pub fn alerts_fired(account: &str, window: &str) -> Self {
        Self(format!("alerts:{window}:{account}"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The account a built-in per-account key belongs to: a shared store keeps all of an
    /// account's values together (one Redis Cluster slot), so one script can update them.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn account(&self) -> Option<&str> {
        let rest = self
            .0
            .strip_prefix("spend:")
            .or_else(|| self.0.strip_prefix("alerts:"))?;
        // The window label comes first: `2025-01`, or an RFC 3339 start time such as
        // `2025-01-01T00:00:00Z` whose own colons end at its `Z`. The account is the rest.
        let label_end = match rest.find('T') {
            Some(t) if rest[..t].bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
                rest.find("Z:")? + 1
            }
            _ => rest.find(':')?,
        };
        Some(&rest[label_end + 1..])
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_keys_name_their_account_even_with_colons_in_it() {
        assert_eq!(StateKey::spend("a:b", "2025-01").account(), Some("a:b"));
        assert_eq!(
            StateKey::alerts_fired("main", "2025-01").account(),
            Some("main")
        );
        assert_eq!(StateKey::new("requests").account(), None);
        let daily = StateKey::spend("x:y", "2025-01-01T00:00:00Z");
        assert_eq!(daily.account(), Some("x:y"));
        assert_eq!(StateKey::spend("Team", "2025-01").account(), Some("Team"));
    }
}
