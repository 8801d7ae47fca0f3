//! [`ConfigWatcher`]: reloading a router (or anything built on one) when its config file
//! changes.
//!
//! A task polls the file's size and modification time; when they change it reads the file
//! and compares a hash of its content, so touching a file without changing it does
//! nothing. A changed file goes through [`Router::reload_config`] (or the reload given to
//! [`ConfigWatcher::spawn`]): a valid one replaces the running configuration atomically,
//! an invalid one is logged and the running configuration stays.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
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
/// Made by [`Router::watch_config`], or by [`spawn`](Self::spawn) for a reload of your
/// own (a server that keeps settings of its own beside the router's, in the same file),
/// whose error type is `E`. [`changed`](Self::changed) waits for the next reload attempt
/// and says how it went; every attempt is also logged (`info` when applied, `warn` with
/// every problem when rejected).
#[derive(Debug)]
#[must_use = "the watcher stops when dropped"]
pub struct ConfigWatcher<E = LoadError> {
    task: JoinHandle<()>,
    events: watch::Receiver<Option<ReloadEvent<E>>>,
}

/// The outcome of one reload attempt of a [`ConfigWatcher`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ReloadEvent<E = LoadError> {
    /// The new configuration is live.
    Applied,
    /// The file could not be read or is invalid; the running configuration stays.
    Rejected(Arc<E>),
}

impl<E> Clone for ReloadEvent<E> {
    fn clone(&self) -> Self {
        match self {
            Self::Applied => Self::Applied,
            Self::Rejected(error) => Self::Rejected(error.clone()),
        }
    }
}

impl<E> ConfigWatcher<E> {
    /// Waits for the next reload attempt and returns its outcome; `None` if the watcher
    /// has stopped.
    pub async fn changed(&mut self) -> Option<ReloadEvent<E>> {
        self.events.changed().await.ok()?;
        self.events.borrow_and_update().clone()
    }
}

impl<E> ConfigWatcher<E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    /// Watches `path` every `interval` and calls `reload` each time its content changes:
    /// with the file's text, or with why it could not be read (an unreadable file is
    /// reported once until it changes again). `reload` applies the text and says whether
    /// it took; the file as it is now counts as applied.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use routewise::config::{ConfigWatcher, Format, LoadError, RouterConfig};
    /// use routewise::Router;
    ///
    /// # async fn run(router: Router) -> std::io::Result<()> {
    /// let path = "routewise.toml";
    /// let _watcher = ConfigWatcher::spawn(path, Duration::from_secs(1), move |text| {
    ///     let text = text.map_err(|source| LoadError::Read { path: path.into(), source })?;
    ///     let config = RouterConfig::from_str_format(&text, Format::Toml)?;
    ///     router.reload_config(&config).map_err(LoadError::Invalid)
    /// })?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When the file cannot be read now.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn spawn<F>(
        path: impl Into<PathBuf>,
        interval: Duration,
        reload: F,
    ) -> std::io::Result<Self>
    where
        F: FnMut(std::io::Result<String>) -> Result<(), E> + Send + 'static,
    {
        let path = path.into();
        // Read now, so a change made right after this call is seen as a change.
        let metadata = std::fs::metadata(&path)?;
        let content = std::fs::read(&path)?;
        let (events, receiver) = watch::channel(None);
        let poller = Poller {
            path,
            seen: Seen::new(&metadata, &content),
            failing: None,
            reload,
            events,
        };
        let interval = interval.max(Duration::from_millis(1));
        Ok(Self {
            task: tokio::spawn(poller.run(interval)),
            events: receiver,
        })
    }
}

impl<E> Drop for ConfigWatcher<E> {
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
        let file: Arc<str> = path.display().to_string().into();
        let router = self.clone();
        let watched = path.clone();
        ConfigWatcher::spawn(path.clone(), interval, move |text| {
            let text = text.map_err(|source| LoadError::Read {
                path: watched.clone(),
                source,
            })?;
            let config = RouterConfig::parse(text, format, Some(file.clone()))?;
            router.reload_config(&config).map_err(LoadError::Invalid)
        })
        .map_err(|source| LoadError::Read { path, source })
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

struct Poller<F, E> {
    path: PathBuf,
    seen: Seen,
    /// The kind of the last read failure, so a file that stays unreadable is reported once.
    failing: Option<std::io::ErrorKind>,
    reload: F,
    events: watch::Sender<Option<ReloadEvent<E>>>,
}

impl<F, E> Poller<F, E>
where
    F: FnMut(std::io::Result<String>) -> Result<(), E>,
    E: std::error::Error,
{
    async fn run(mut self, interval: Duration) {
        let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let read = match self.poll().await {
                Ok(None) => {
                    self.failing = None;
                    continue;
                }
                Ok(Some(text)) => {
                    self.failing = None;
                    Ok(text)
                }
                Err(error) => {
                    let kind = Some(error.kind());
                    if self.failing == kind {
                        continue;
                    }
                    self.failing = kind;
                    Err(error)
                }
            };
            let event = self.apply(read);
            self.events.send_replace(Some(event));
        }
    }

    /// Looks at the file; its text when its content changed.
    async fn poll(&mut self) -> std::io::Result<Option<String>> {
        let metadata = off_async_threads(&self.path, |path| std::fs::metadata(path)).await?;
        if self.seen.same_stat(&metadata) {
            return Ok(None);
        }
        let content = off_async_threads(&self.path, |path| std::fs::read(path)).await?;
        let seen = Seen::new(&metadata, &content);
        let changed = seen.hash != self.seen.hash;
        self.seen = seen;
        if !changed {
            return Ok(None);
        }
        String::from_utf8(content)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    fn apply(&mut self, read: std::io::Result<String>) -> ReloadEvent<E> {
        match (self.reload)(read) {
            Ok(()) => {
                tracing::info!(file = %self.path.display(), "config reloaded");
                ReloadEvent::Applied
            }
            Err(error) => {
                tracing::warn!(
                    file = %self.path.display(),
                    error = %crate::error_chain(&error),
                    "config rejected; the running configuration stays"
                );
                ReloadEvent::Rejected(Arc::new(error))
            }
        }
    }
}

/// `read` of `path` on tokio's blocking pool, as `tokio::fs` does (routewise builds tokio
/// without its `fs` feature).
async fn off_async_threads<T: Send + 'static>(
    path: &Path,
    read: fn(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || read(&path))
        .await
        .map_err(std::io::Error::other)?
}
