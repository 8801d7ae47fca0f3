//! [`ConfigWatcher`]: hot reload of a gateway's config file.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ConfigFileError, GatewayConfig};
use crate::server::Gateway;

/// Watches a gateway's config file and applies every change; stops when dropped.
///
/// Made by [`Gateway::watch`]. A change is applied as [`Gateway::reload`] applies it
/// (requests in flight finish on the old configuration); an invalid file is logged and
/// the running configuration stays.
#[derive(Debug)]
#[must_use = "the watcher stops when dropped"]
pub struct ConfigWatcher {
    task: JoinHandle<()>,
    events: watch::Receiver<Option<Reloaded>>,
}

/// The outcome of one reload by a [`ConfigWatcher`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Reloaded {
    /// The new configuration is live.
    Applied,
    /// The file could not be read or is invalid; the running configuration stays.
    Rejected(Arc<ConfigFileError>),
}

impl ConfigWatcher {
    /// Waits for the next reload and returns its outcome; `None` once the watcher stopped.
    pub async fn changed(&mut self) -> Option<Reloaded> {
        self.events.changed().await.ok()?;
        self.events.borrow_and_update().clone()
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gateway {
    /// Reloads this gateway from `path` whenever its content changes, looking every
    /// `interval`. The file as it is now counts as applied.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn watch(&self, path: impl Into<PathBuf>, interval: Duration) -> ConfigWatcher {
        let path = path.into();
        let (sender, events) = watch::channel(None);
        let gateway = self.clone();
        let mut seen = std::fs::read(&path).ok().map(|c| fingerprint(&c));
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Ok(content) = tokio::fs::read(&path).await else {
                    continue;
                };
                let now = fingerprint(&content);
                if seen == Some(now) {
                    continue;
                }
                seen = Some(now);
                let outcome = String::from_utf8(content)
                    .map_err(|_| ConfigFileError::Read {
                        path: path.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "the file is not UTF-8",
                        ),
                    })
                    .and_then(|text| GatewayConfig::from_toml(&text))
                    .and_then(|config| gateway.reload(&config));
                let event = match outcome {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "gateway config reloaded");
                        Reloaded::Applied
                    }
                    Err(error) => {
                        tracing::warn!(path = %path.display(), error = %error_chain(&error), "gateway config rejected; the running one stays");
                        Reloaded::Rejected(Arc::new(error))
                    }
                };
                sender.send_replace(Some(event));
            }
        });
        ConfigWatcher { task, events }
    }
}

fn fingerprint(content: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    content.hash(&mut hasher);
    hasher.finish()
}

/// An error and its sources on one line, each after a `: ` (for logs and exit messages).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
