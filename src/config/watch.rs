//! [`ConfigWatcher`]: reloading a router when its config file changes.
//!
//! A task polls the file's size and modification time; when they change it reads the file
//! and compares a hash of its content, so touching a file without changing it does
//! nothing. A changed file goes through [`Router::reload_config`]: a valid one replaces
//! the running configuration atomically, an invalid one is logged and the running
//! configuration stays.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::document::RouterConfig;
use super::format::Format;
use super::load::LoadError;
use crate::router::Router;

/// How often [`Router::watch_config`] looks at the file.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Watches a config file and reloads a [`Router`] when it changes; stops when dropped.
///
/// Made by [`Router::watch_config`]. [`changed`](Self::changed) waits for the next reload
/// attempt and says how it went; every attempt is also logged (`info` when applied,
/// `warn` with every problem when rejected).
#[derive(Debug)]
#[must_use = "the watcher stops when dropped"]
pub struct ConfigWatcher {
    task: JoinHandle<()>,
    events: watch::Receiver<Option<ReloadEvent>>,
}

/// The outcome of one reload attempt of a [`ConfigWatcher`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ReloadEvent {
    /// The new configuration is live.
    Applied,
    /// The file could not be read or is invalid; the running configuration stays.
    Rejected(Arc<LoadError>),
}

impl ConfigWatcher {
    /// Waits for the next reload attempt and returns its outcome; `None` if the watcher
    /// has stopped.
    pub async fn changed(&mut self) -> Option<ReloadEvent> {
        self.events.changed().await.ok()?;
        self.events.borrow_and_update().clone()
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Router {
    /// Reloads this router from `path` whenever the file changes, checking once a second.
    ///
    /// The file is taken as it is now; changes from here on are applied through
    /// [`reload_config`](Self::reload_config): requests in flight finish on the old
    /// configuration, stats of surviving policies and targets are kept, and an invalid
    /// file is rejected (logged with `tracing::warn!`) while the running configuration
    /// stays.
    ///
    /// ```no_run
    /// use routewise::config::RouterConfig;
    /// use routewise::Router;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let router = Router::from_config(&RouterConfig::from_path("routewise.toml")?)?;
    /// let _watcher = router.watch_config("routewise.toml")?; // reloads until dropped
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`LoadError`] when the file cannot be read now or its format is unknown or not
    /// enabled.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn watch_config(&self, path: impl Into<PathBuf>) -> Result<ConfigWatcher, LoadError> {
        self.watch_config_every(path, DEFAULT_INTERVAL)
    }

    /// [`watch_config`](Self::watch_config), checking every `interval`.
    ///
    /// # Errors
    ///
    /// As [`watch_config`](Self::watch_config).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn watch_config_every(
        &self,
        path: impl Into<PathBuf>,
        interval: Duration,
    ) -> Result<ConfigWatcher, LoadError> {
        let path = path.into();
        let format = Format::from_path(&path)
            .ok_or_else(|| LoadError::UnknownFormat { path: path.clone() })?;
        if !format.is_enabled() {
            return Err(LoadError::FormatDisabled { format });
        }
        let unreadable = |source| LoadError::Read {
            path: path.clone(),
            source,
        };
        // Read now, so a change made right after this call is seen as a change.
        let metadata = std::fs::metadata(&path).map_err(unreadable)?;
        let content = std::fs::read(&path).map_err(unreadable)?;
        let seen = Seen::new(&metadata, &content);
        let (events, receiver) = watch::channel(None);
        let poller = Poller {
            router: self.clone(),
            path,
            format,
            seen,
            failing: None,
            events,
        };
        let interval = interval.max(Duration::from_millis(1));
        Ok(ConfigWatcher {
            task: tokio::spawn(poller.run(interval)),
            events: receiver,
        })
    }
}

/// What the file looked like when last read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    modified: Option<SystemTime>,
    len: u64,
    hash: u64,
}

impl Seen {
    fn new(metadata: &std::fs::Metadata, content: &[u8]) -> Self {
        let mut hasher = DefaultHasher::new();
        content.hash(&mut hasher);
        Self {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            hash: hasher.finish(),
        }
    }

    fn same_stat(&self, metadata: &std::fs::Metadata) -> bool {
        self.modified == metadata.modified().ok() && self.len == metadata.len()
    }
}

struct Poller {
    router: Router,
    path: PathBuf,
    format: Format,
    seen: Seen,
    /// The kind of the last read failure, so a file that stays unreadable is reported once.
    failing: Option<std::io::ErrorKind>,
    events: watch::Sender<Option<ReloadEvent>>,
}

impl Poller {
    async fn run(mut self, interval: Duration) {
        let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.poll().await {
                Ok(Some(event)) => {
                    self.failing = None;
                    self.events.send_replace(Some(event));
                }
                Ok(None) => self.failing = None,
                Err(error) => {
                    let kind = Some(error.kind());
                    if self.failing != kind {
                        self.failing = kind;
                        let error = LoadError::Read {
                            path: self.path.clone(),
                            source: error,
                        };
                        self.events.send_replace(Some(self.rejected(error)));
                    }
                }
            }
        }
    }

    /// Looks at the file; reloads when its content changed.
    async fn poll(&mut self) -> std::io::Result<Option<ReloadEvent>> {
        let metadata = tokio::fs::metadata(&self.path).await?;
        if self.seen.same_stat(&metadata) {
            return Ok(None);
        }
        let content = tokio::fs::read(&self.path).await?;
        let seen = Seen::new(&metadata, &content);
        let changed = seen.hash != self.seen.hash;
        self.seen = seen;
        if !changed {
            return Ok(None);
        }
        let text = String::from_utf8(content)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        Ok(Some(self.reload(text)))
    }

    fn reload(&self, text: String) -> ReloadEvent {
        let file = self.path.display().to_string().into();
        let result = RouterConfig::parse(text, self.format, Some(file)).and_then(|config| {
            self.router
                .reload_config(&config)
                .map_err(LoadError::Invalid)
        });
        match result {
            Ok(()) => {
                tracing::info!(file = %self.path.display(), "routewise config reloaded");
                ReloadEvent::Applied
            }
            Err(error) => self.rejected(error),
        }
    }

    fn rejected(&self, error: LoadError) -> ReloadEvent {
        tracing::warn!(
            file = %self.path.display(),
            error = %report(&error),
            "routewise config rejected; the running configuration stays"
        );
        ReloadEvent::Rejected(Arc::new(error))
    }
}

/// An error followed by its causes, `: `-separated.
fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
