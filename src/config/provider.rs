//! [`ProviderConfig`]: which backend serves an account, and its settings.

use std::sync::Arc;

use serde::Deserialize;

use super::problems::Problems;
use super::sim::SimSettings;
use crate::provider::Provider;

/// The backend of an account: a `kind` and that kind's settings, in one table.
///
/// ```toml
/// provider = { kind = "sim", reply = "Hello!" }
/// ```
///
/// Each kind is one variant; its settings are a struct of their own, so a new provider
/// kind is a new variant and a new arm in `build`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum ProviderConfig {
    /// The simulated provider ([`SimProvider`](crate::sim::SimProvider)): offline,
    /// scriptable, for demos and tests.
    Sim(SimSettings),
}

impl ProviderConfig {
    /// Builds the provider, reporting bad settings under `path`. `None` when no provider
    /// can be built at all.
    pub(crate) fn build(&self, path: &str, problems: &mut Problems) -> Option<Arc<dyn Provider>> {
        match self {
            ProviderConfig::Sim(settings) => Some(Arc::new(settings.build(path, problems))),
        }
    }
}
