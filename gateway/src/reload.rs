//! Hot reload of a gateway's config file, by the library's [`routewise::config::ConfigWatcher`].

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{ConfigFileError, GatewayConfig};
use crate::server::Gateway;

/// Watches a gateway's config file and applies every change; stops when dropped.
///
/// Made by [`Gateway::watch`]: the library's watcher, applying each change as
/// [`Gateway::reload`] does (requests in flight finish on the old configuration); an
/// invalid file is logged and the running configuration stays.
pub type ConfigWatcher = routewise::config::ConfigWatcher<ConfigFileError>;

/// The outcome of one reload by a [`ConfigWatcher`]: `Applied`, or `Rejected` with why.
pub type Reloaded = routewise::config::ReloadEvent<ConfigFileError>;

impl Gateway {
    /// Reloads this gateway from `path` whenever its content changes, looking every
    /// `interval`. The file as it is now counts as applied.
    ///
    /// # Errors
    ///
    /// [`ConfigFileError::Read`] when the file cannot be read now.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn watch(
        &self,
        path: impl Into<PathBuf>,
        interval: Duration,
    ) -> Result<ConfigWatcher, ConfigFileError> {
        let path = path.into();
        let gateway = self.clone();
        let watched = path.clone();
        ConfigWatcher::spawn(path.clone(), interval, move |text| {
            let text = text.map_err(|source| ConfigFileError::Read {
                path: watched.clone(),
                source,
            })?;
            gateway.reload(&GatewayConfig::from_toml(&text)?)
        })
        .map_err(|source| ConfigFileError::Read { path, source })
    }
}
