//! [`FileStore`]: state kept in memory and written to one JSON file atomically.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::memory::MemoryStore;
use super::{ReservationId, StateError, StateKey, StateStore};

/// The file format version this build reads and writes.
const FORMAT_VERSION: u32 = 1;

/// A [`StateStore`] that survives restarts: every operation works on memory, and
/// [`flush`](StateStore::flush) writes the counters and bit sets to one JSON file.
///
/// A flush never overwrites the file in place: it writes `<file>.tmp`, syncs it to disk,
/// renames it over the file (atomic on POSIX file systems) and syncs the directory. A
/// process killed at any moment therefore leaves either the previous complete file or
/// the new complete file, never a torn one; a half-written `.tmp` left behind is deleted
/// by the next [`open`](Self::open).
///
/// **What a crash loses**: the updates made since the last completed flush, that is at
/// most one interval of [`spawn_periodic_flush`](Self::spawn_periodic_flush) (plus the
/// time one write takes), or everything since your last explicit `flush()`. Flush before
/// a planned shutdown. Reservations are never written: after a restart they would have
/// expired anyway.
///
/// One process owns a file; several processes sharing one need a shared store instead.
///
/// ```
/// use routewise::state::{FileStore, StateKey, StateStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("state.json");
/// let key = StateKey::spend("main", "2025-01");
///
/// let store = FileStore::open(&path).await?;
/// store.increment(&key, 1_500).await?;
/// store.flush().await?;
/// drop(store);
///
/// let reopened = FileStore::open(&path).await?;
/// assert_eq!(reopened.get(&key).await?, 1_500);
/// # Ok::<(), routewise::state::StateError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    memory: MemoryStore,
    /// Bumped by every update of a durable value.
    updates: AtomicU64,
    /// The value of `updates` the file on disk reflects.
    written: AtomicU64,
    /// One flush at a time, so two never race on the temporary file.
    flushing: tokio::sync::Mutex<()>,
}

#[derive(Serialize)]
struct FileContentsRef<'a> {
    version: u32,
    values: &'a BTreeMap<StateKey, u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileContents {
    version: u32,
    values: BTreeMap<StateKey, u64>,
}

impl FileStore {
    /// Opens the store at `path`: loads the file if it exists (an empty store if not)
    /// and deletes a temporary file an interrupted flush left behind.
    ///
    /// A file that cannot be parsed is an error, never an empty store: silently starting
    /// from zero would reset every budget.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let path = path.as_ref().to_path_buf();
        let values = blocking(&path, load).await?;
        Ok(Self::with_values(path, values))
    }

    /// [`open`](Self::open) for code that is not async, such as loading a config file:
    /// reads the file on the calling thread.
    pub fn open_blocking(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let path = path.as_ref().to_path_buf();
        let values = load(&path)?;
        Ok(Self::with_values(path, values))
    }

    fn with_values(path: PathBuf, values: BTreeMap<StateKey, u64>) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                memory: MemoryStore::with_values(values),
                updates: AtomicU64::new(0),
                written: AtomicU64::new(0),
                flushing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Flushes every `interval` (at least 1 ms) from a background task, skipping
    /// intervals with nothing new. The task ends once every handle to the store is
    /// dropped; abort the returned handle to end it sooner. A failed flush is logged
    /// with `tracing` and tried again next interval.
    pub fn spawn_periodic_flush(&self, interval: Duration) -> JoinHandle<()> {
        let store: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::spawn(async move {
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(inner) = store.upgrade() else { break };
                if let Err(error) = (FileStore { inner }).flush().await {
                    tracing::warn!(%error, "routewise state flush failed; retrying next interval");
                }
            }
        })
    }

    fn updated(&self) {
        self.inner.updates.fetch_add(1, Ordering::AcqRel);
    }
}

#[async_trait]
impl StateStore for FileStore {
    async fn get(&self, key: &StateKey) -> Result<u64, StateError> {
        self.inner.memory.get(key).await
    }

    async fn increment(&self, key: &StateKey, delta: u64) -> Result<u64, StateError> {
        let value = self.inner.memory.increment(key, delta).await?;
        if delta > 0 {
            self.updated();
        }
        Ok(value)
    }

    async fn fetch_or(&self, key: &StateKey, bits: u64) -> Result<u64, StateError> {
        let value = self.inner.memory.fetch_or(key, bits).await?;
        if bits > 0 {
            self.updated();
        }
        Ok(value)
    }

    async fn try_reserve(
        &self,
        key: &StateKey,
        amount: u64,
        limit: u64,
        ttl: Duration,
    ) -> Result<Option<ReservationId>, StateError> {
        self.inner.memory.try_reserve(key, amount, limit, ttl).await
    }

    async fn commit(
        &self,
        key: &StateKey,
        reservation: ReservationId,
        actual: u64,
    ) -> Result<u64, StateError> {
        let value = self.inner.memory.commit(key, reservation, actual).await?;
        if actual > 0 {
            self.updated();
        }
        Ok(value)
    }

    async fn cancel(&self, key: &StateKey, reservation: ReservationId) -> Result<(), StateError> {
        self.inner.memory.cancel(key, reservation).await
    }

    async fn flush(&self) -> Result<(), StateError> {
        let _one_at_a_time = self.inner.flushing.lock().await;
        let updates = self.inner.updates.load(Ordering::Acquire);
        if updates == self.inner.written.load(Ordering::Acquire) {
            return Ok(());
        }
        let bytes = self.inner.memory.read_values(|values| {
            serde_json::to_vec_pretty(&FileContentsRef {
                version: FORMAT_VERSION,
                values,
            })
        });
        let bytes = bytes.map_err(|e| io_error(&self.inner.path, "encode")(io::Error::other(e)))?;
        blocking(&self.inner.path, move |path| write_atomically(path, &bytes)).await?;
        self.inner.written.store(updates, Ordering::Release);
        Ok(())
    }
}

/// Runs blocking file I/O on `path` off the async threads.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce(&Path) -> Result<T, StateError> + Send + 'static,
) -> Result<T, StateError> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || work(&owned))
        .await
        .map_err(|join| io_error(path, "run background file task")(io::Error::other(join)))?
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

fn io_error(path: &Path, operation: &'static str) -> impl FnOnce(io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io {
        path,
        operation,
        source,
    }
}

fn load(path: &Path) -> Result<BTreeMap<StateKey, u64>, StateError> {
    let temp = temp_path(path);
    match fs::remove_file(&temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_error(&temp, "remove leftover temporary file")(e));
        }
        _ => {}
    }
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_error(path, "read")(e)),
    };
    let contents: FileContents =
        serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
            path: path.to_path_buf(),
            source,
        })?;
    if contents.version != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            path: path.to_path_buf(),
            version: contents.version,
        });
    }
    Ok(contents.values)
}

/// Temporary file, fsync, rename over the target, fsync the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let temp = temp_path(path);
    let mut file = File::create(&temp).map_err(io_error(&temp, "create temporary file"))?;
    file.write_all(bytes)
        .map_err(io_error(&temp, "write temporary file"))?;
    file.sync_all()
        .map_err(io_error(&temp, "sync temporary file"))?;
    drop(file);
    fs::rename(&temp, path).map_err(io_error(path, "rename temporary file over"))?;
    sync_parent(path)
}

#[cfg(unix)]
fn sync_parent(path: &Path) -> Result<(), StateError> {
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(parent, "sync directory"))
}

/// Other platforms cannot open a directory to sync it; the rename is still atomic.
#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> Result<(), StateError> {
    Ok(())
}
