//! [`Recorder`]: writes one [`TrafficRecord`] per routed request to a JSON-lines file,
//! off the request path.
//!
//! A request hands its record to a bounded queue and moves on; a writer thread wakes on a
//! timer, drains the queue, serializes and writes. The request never waits for the disk
//! and never wakes the writer: when the queue is full the record is dropped and counted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::record::TrafficRecord;
use super::rotating::RotatingFile;
use crate::error::Error;
use crate::policy::{Purpose, StepType};
use crate::types::{ChatRequest, ChatResponse};

/// Records every request a router completes, for [`Replay`](super::Replay) and for reading.
///
/// Attach it with [`RouterBuilder::recorder`](crate::RouterBuilder::recorder). A
/// `Recorder` is a cheap handle: clones share the queue, the file and the counters. The
/// writer thread stops once the last handle (and every router holding one) is dropped,
/// after writing what is queued; [`flush`](Self::flush) waits for that without stopping.
///
/// Streamed requests ([`Router::stream`](crate::Router::stream)) are not recorded.
///
/// ```
/// use routewise::{ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType, Target};
/// use routewise::replay::{Recorder, Traffic};
/// use routewise::sim::SimProvider;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir()?;
/// let recorder = Recorder::builder(dir.path().join("traffic.jsonl")).start()?;
/// let router = Router::builder()
///     .account(ProviderAccount::new("sim", SimProvider::new()))
///     .model(LogicalModel::new("m").target(Target::new("sim", "x")))
///     .policy(Policy::new("default").route(["m"]))
///     .recorder(recorder.clone())
///     .build()?;
/// router.complete(StepType::Inference, Purpose::Chat, ChatRequest::user("secret plans")).await?;
///
/// recorder.flush()?;
/// let traffic = Traffic::read(recorder.path())?;
/// assert_eq!(traffic.len(), 1);
/// assert!(traffic.records()[0].messages.is_none(), "no prompt text unless asked for");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

struct Shared {
    /// `None` once dropping, so the writer sees the queue close.
    queue: Option<SyncSender<Message>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    path: PathBuf,
    with_text: bool,
    /// The clock the router runs on and the wall time it stood for at the start, so that
    /// record times follow a paused test clock too.
    epoch: Instant,
    epoch_unix_ms: u64,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

enum Message {
    Record(Box<TrafficRecord>),
    Flush(mpsc::Sender<std::io::Result<()>>),
}

/// Settings of a [`Recorder`]; [`start`](Self::start) opens the file and starts the
/// writer.
#[derive(Clone, Debug)]
#[must_use]
pub struct RecorderBuilder {
    path: PathBuf,
    capacity: usize,
    max_file_bytes: u64,
    keep_files: usize,
    flush_every: Duration,
    with_text: bool,
}

impl RecorderBuilder {
    /// How many records may wait for the writer (default 16,384); more are dropped and
    /// counted ([`Recorder::dropped`]). Memory is bounded by this many records.
    pub fn capacity(mut self, records: usize) -> Self {
        self.capacity = records.max(1);
        self
    }

    /// Rotates the file when it would grow past this size (default 64 MiB).
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes.max(1);
        self
    }

    /// How many rotated files to keep beside the current one (default 4); older ones are
    /// deleted.
    pub fn keep_files(mut self, files: usize) -> Self {
        self.keep_files = files;
        self
    }

    /// How often the writer wakes to drain the queue (default 100 ms). The queue must
    /// hold what arrives in this time.
    pub fn flush_every(mut self, interval: Duration) -> Self {
        self.flush_every = interval.max(Duration::from_millis(1));
        self
    }

    /// Also records each request's messages and each answer's text. Off by default:
    /// prompts and answers may hold personal data.
    pub fn with_text(mut self, keep: bool) -> Self {
        self.with_text = keep;
        self
    }

    /// Opens (or appends to) the file and starts the writer thread.
    ///
    /// # Errors
    ///
    /// The file or its folder cannot be created or opened, or the thread cannot start.
    pub fn start(self) -> std::io::Result<Recorder> {
        let file = RotatingFile::open(self.path.clone(), self.max_file_bytes, self.keep_files)?;
        let (queue, receiver) = mpsc::sync_channel(self.capacity);
        let counters = Arc::new(Counters::default());
        let writer_counters = counters.clone();
        let interval = self.flush_every;
        let writer = std::thread::Builder::new()
            .name("routewise-recorder".into())
            .spawn(move || write_until_closed(&receiver, file, &writer_counters, interval))?;
        let epoch_unix_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Ok(Recorder {
            shared: Arc::new(Shared {
                queue: Some(queue),
                writer: Some(writer),
                counters,
                path: self.path,
                with_text: self.with_text,
                epoch: Instant::now(),
                epoch_unix_ms,
            }),
        })
    }
}

impl Recorder {
    /// Starts configuring a recorder writing to `path`.
    pub fn builder(path: impl Into<PathBuf>) -> RecorderBuilder {
        RecorderBuilder {
            path: path.into(),
            capacity: 16_384,
            max_file_bytes: 64 << 20,
            keep_files: 4,
            flush_every: Duration::from_millis(100),
            with_text: false,
        }
    }

    /// The file being written (the newest of a rotated set).
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.shared.counters.written.load(Relaxed)
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.counters.dropped.load(Relaxed)
    }

    /// Records lost to write errors (a full disk, a removed folder).
    pub fn write_errors(&self) -> u64 {
        self.shared.counters.write_errors.load(Relaxed)
    }

    /// Waits until every record queued before this call is written and flushed to the
    /// file. Blocks the calling thread for up to one writer interval; in async code, call
    /// it from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// The last write error since the previous flush, or the writer having stopped.
    pub fn flush(&self) -> std::io::Result<()> {
        let stopped = || std::io::Error::other("the recorder's writer thread has stopped");
        let queue = self.shared.queue.as_ref().ok_or_else(stopped)?;
        let (ack, done) = mpsc::channel();
        let wake = || {
            if let Some(writer) = &self.shared.writer {
                writer.thread().unpark();
            }
        };
        // Woken before sending too: with a full queue the send waits for a drain.
        wake();
        queue.send(Message::Flush(ack)).map_err(|_| stopped())?;
        wake();
        done.recv().map_err(|_| stopped())?
    }

    /// Queues the record of a finished request; never blocks.
    pub(crate) fn record(
        &self,
        arrived: Instant,
        step: &StepType,
        purpose: &Purpose,
        request: &ChatRequest,
        result: &Result<ChatResponse, Error>,
    ) {
        let Some(queue) = &self.shared.queue else {
            return;
        };
        let since_epoch = arrived.saturating_duration_since(self.shared.epoch);
        let unix_ms = self.shared.epoch_unix_ms
            + u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
        let record = TrafficRecord::of(
            unix_ms,
            arrived.elapsed(),
            step,
            purpose,
            request,
            result,
            self.shared.with_text,
        );
        match queue.try_send(Message::Record(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.counters.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.shared.path)
            .field("with_text", &self.shared.with_text)
            .field("written", &self.written())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the queue tells the writer to write what is left and stop.
        self.queue = None;
        if let Some(writer) = self.writer.take() {
            writer.thread().unpark();
            let _ = writer.join();
        }
    }
}

/// The writer thread: drain, write, sleep, until every sender is gone.
fn write_until_closed(
    queue: &Receiver<Message>,
    mut file: RotatingFile,
    counters: &Counters,
    interval: Duration,
) {
    let mut line = Vec::with_capacity(512);
    loop {
        let closed = loop {
            match queue.try_recv() {
                Ok(Message::Record(record)) => {
                    line.clear();
                    let written = serde_json::to_writer(&mut line, &record)
                        .map_err(std::io::Error::from)
                        .and_then(|()| file.write_line(&line));
                    match written {
                        Ok(()) => counters.written.fetch_add(1, Relaxed),
                        Err(error) => counters.failed(&error),
                    };
                }
                Ok(Message::Flush(ack)) => {
                    if let Err(error) = file.flush() {
                        counters.failed(&error);
                    }
                    let result = match counters.take_error() {
                        Some(message) => Err(std::io::Error::other(message)),
                        None => Ok(()),
                    };
                    let _ = ack.send(result);
                }
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
        };
        if let Err(error) = file.flush() {
            counters.failed(&error);
        }
        if closed {
            return;
        }
        // Parked, not blocked on the queue: a sender never has to wake the writer, so
        // queueing a record stays a few atomic operations.
        std::thread::park_timeout(interval);
    }
}

impl Counters {
    fn failed(&self, error: &std::io::Error) -> u64 {
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none() {
            tracing::warn!(%error, "routewise recorder: writing the traffic file failed");
        }
        *last = Some(error.to_string());
        self.write_errors.fetch_add(1, Relaxed)
    }

    fn take_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}
