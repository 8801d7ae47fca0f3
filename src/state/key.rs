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
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
