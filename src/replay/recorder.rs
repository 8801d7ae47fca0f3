//! [`Recorder`]: writes one [`TrafficRecord`] per routed request to a JSON-lines file,
//! off the request path.
//!
//! A request adds its record to its own thread's bounded batch and moves on; a writer
//! thread wakes on a timer, takes every batch, serializes and writes. The request never
//! waits for the disk and never wakes the writer: when its batch is full the record is
//! dropped and counted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::batch::Batch;
use super::batches::Batches;
use super::capture::{Ending, OwnedRequest, RequestView};
use super::rotating::RotatingFile;

/// Records every request a router completes, for [`Replay`](super::Replay) and for reading.
///
/// Attach it with [`RouterBuilder::recorder`](crate::RouterBuilder::recorder). A
/// `Recorder` is a cheap handle: clones share the batches, the file and the counters. The
/// writer thread stops once the last handle (and every router holding one) is dropped,
/// after writing what is recorded; [`flush`](Self::flush) waits for that without stopping.
///
/// Streamed requests ([`Router::stream`](crate::Router::stream)) are recorded when their
/// stream ends: with the answer, with the error it ended on, or, when the caller drops
/// it first, with the outcome `cancelled` and the calls made until then.
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
    batches: Arc<Batches>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    path: PathBuf,
    with_text: bool,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    write_errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Callers of `flush` waiting for the next drain.
    flushes: Mutex<Vec<mpsc::Sender<std::io::Result<()>>>>,
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
    /// How many records each routing thread may hold for the writer (default 8,192);
    /// more are dropped and counted ([`Recorder::dropped`]). A recorder keeps a batch for
    /// each of up to twice as many threads as the machine has cores (at least 4); threads
    /// beyond that share one. Memory is bounded by this many records per batch in use
    /// (and one more batch for the writer), reserved on a batch's first record so that
    /// recording never grows a buffer: about 240 bytes a record (a 176-byte entry, room
    /// for one more call and for 16 bytes of tag and model text).
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

    /// How often the writer wakes to take what was recorded (default 50 ms). A thread's
    /// batch must hold what it records in this time.
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
        let batches = Arc::new(Batches::new(self.capacity));
        let counters = Arc::new(Counters::default());
        let (writer_batches, writer_counters) = (batches.clone(), counters.clone());
        let interval = self.flush_every;
        let epoch = Instant::now();
        let epoch_unix_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let writer = std::thread::Builder::new()
            .name("routewise-recorder".into())
            .spawn(move || {
                let writer = Writer {
                    batches: &writer_batches,
                    counters: &writer_counters,
                    epoch,
                    epoch_unix_ms,
                    interval,
                };
                writer.run(file);
            })?;
        Ok(Recorder {
            shared: Arc::new(Shared {
                batches,
                writer: Some(writer),
                counters,
                path: self.path,
                with_text: self.with_text,
            }),
        })
    }
}

impl Recorder {
    /// Starts configuring a recorder writing to `path`.
    pub fn builder(path: impl Into<PathBuf>) -> RecorderBuilder {
        RecorderBuilder {
            path: path.into(),
            capacity: 8_192,
            max_file_bytes: 64 << 20,
            keep_files: 4,
            flush_every: Duration::from_millis(50),
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

    /// Records dropped because a thread's batch was full.
    pub fn dropped(&self) -> u64 {
        self.shared.batches.dropped.load(Relaxed)
    }

    /// Records lost to write errors (a full disk, a removed folder).
    pub fn write_errors(&self) -> u64 {
        self.shared.counters.write_errors.load(Relaxed)
    }

    /// Waits until every record kept before this call is written and flushed to the
    /// file. Blocks the calling thread for up to one writer interval; in async code, call
    /// it from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// The last write error since the previous flush, or the writer having stopped.
    pub fn flush(&self) -> std::io::Result<()> {
        let (ack, done) = mpsc::channel();
        self.shared.counters.lock_flushes().push(ack);
        if let Some(writer) = &self.shared.writer {
            writer.thread().unpark();
        }
        done.recv()
            .map_err(|_| std::io::Error::other("the recorder's writer thread has stopped"))?
    }

    /// Keeps the record of a finished request for the writer; never blocks, allocates
    /// nothing in the steady state.
    pub(crate) fn record(
        &self,
        arrived: Instant,
        ended: Instant,
        request: &RequestView<'_>,
        ending: &Ending<'_>,
    ) {
        self.shared
            .batches
            .push((arrived, ended), request, ending, self.shared.with_text);
    }

    /// [`record`](Self::record) for a request `complete` answered or failed. Kept out
    /// of line: inlined into `complete`, its helpers were not, and cost more.
    #[inline(never)]
    pub(crate) fn record_result(
        &self,
        times: (Instant, Instant),
        step: &crate::StepType,
        purpose: &crate::Purpose,
        request: &crate::ChatRequest,
        sizing: crate::router::Sizing,
        result: &Result<crate::ChatResponse, crate::Error>,
    ) {
        self.shared.batches.push_result(
            times,
            (step, purpose, request, sizing),
            result,
            self.shared.with_text,
        );
    }

    /// What a stream's record needs of its request, kept until the stream ends.
    pub(crate) fn hold(&self, request: &RequestView<'_>) -> OwnedRequest {
        OwnedRequest::of(request, self.shared.with_text)
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
        // The writer writes what is left and stops.
        self.batches.closed.store(true, Relaxed);
        if let Some(writer) = self.writer.take() {
            writer.thread().unpark();
            let _ = writer.join();
        }
    }
}

/// The writer thread's side of a recorder.
struct Writer<'a> {
    batches: &'a Batches,
    counters: &'a Counters,
    /// The router's clock when the recorder started, and the wall time it stood for:
    /// record times follow a paused test clock too.
    epoch: Instant,
    epoch_unix_ms: u64,
    interval: Duration,
}

impl Writer<'_> {
    /// Drain, serialize, write, answer flushes, sleep, until the recorder is gone.
    fn run(&self, mut file: RotatingFile) {
        let counters = self.counters;
        let mut line = Vec::with_capacity(512);
        let mut spare = Batch::with_capacity(self.batches.capacity());
        loop {
            let closing = self.batches.closed.load(Relaxed);
            let flushes = std::mem::take(&mut *counters.lock_flushes());
            self.batches
                .drain(&mut spare, (self.epoch, self.epoch_unix_ms), |record| {
                    line.clear();
                    let written = serde_json::to_writer(&mut line, &record)
                        .map_err(std::io::Error::from)
                        .and_then(|()| file.write_line(&line));
                    match written {
                        Ok(()) => counters.written.fetch_add(1, Relaxed),
                        Err(error) => counters.failed(&error),
                    };
                });
            if let Err(error) = file.flush() {
                counters.failed(&error);
            }
            if !flushes.is_empty() {
                let error = counters.take_error();
                for ack in flushes {
                    let result = match &error {
                        Some(message) => Err(std::io::Error::other(message.clone())),
                        None => Ok(()),
                    };
                    let _ = ack.send(result);
                }
            }
            if closing {
                return;
            }
            // Parked, not waiting on a queue: a request never has to wake the writer.
            std::thread::park_timeout(self.interval);
        }
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

    fn lock_flushes(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::Sender<std::io::Result<()>>>> {
        self.flushes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}
