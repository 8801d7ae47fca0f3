//! Where recorded requests wait for the writer: a fixed set of [`Batch`]es, one per
//! routing thread (threads beyond the set share), so recording a request touches only
//! memory its own thread uses (an uncontended lock and a few appends), and the writer
//! takes whole batches at a time.
//!
//! Handing every record across threads one by one cost about a quarter of a request's
//! routing time in cache-line transfers; batches move once per drain. A thread finds its
//! batch by a number it draws once, kept in a plain thread-local: no map of recorders
//! per thread, no reference count per request, nothing to clean up when threads end.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use super::batch::{Batch, Parts};
use super::capture::{Ending, RequestView};
use super::record::TrafficRecord;

/// Every batch of one recorder, and what the writer needs to know.
pub(crate) struct Batches {
    /// Records one batch may hold before more are dropped.
    capacity: usize,
    /// A power of two of them, so that a thread's number picks one with a mask.
    slots: Box<[Mutex<Batch>]>,
    pub(crate) dropped: AtomicU64,
    pub(crate) closed: AtomicBool,
}

thread_local! {
    /// This thread's number, drawn on its first record (`usize::MAX` until then).
    static THREAD: Cell<usize> = const { Cell::new(usize::MAX) };
}

static THREADS: AtomicUsize = AtomicUsize::new(0);

#[inline(always)]
fn thread_number() -> usize {
    THREAD.with(|number| {
        let mut n = number.get();
        if n == usize::MAX {
            n = THREADS.fetch_add(1, Relaxed);
            number.set(n);
        }
        n
    })
}

impl Batches {
    /// Batches of `capacity` records, for twice as many threads as the machine has cores
    /// (at least 4, at most 256): enough for every worker of the runtimes that route, and
    /// for some blocking threads. A batch's buffers are reserved on its first record.
    pub(crate) fn new(capacity: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let slots = (cores * 2).next_power_of_two().clamp(4, 256);
        Self {
            capacity,
            slots: (0..slots).map(|_| Mutex::new(Batch::default())).collect(),
            dropped: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Records one batch may hold.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds a finished request to this thread's batch, or drops and counts it when the
    /// batch is full (the writer is behind).
    pub(crate) fn push(
        &self,
        times: (tokio::time::Instant, tokio::time::Instant),
        request: &RequestView<'_>,
        ending: &Ending<'_>,
        with_text: bool,
    ) {
        self.with_batch(|batch| batch.push(times, request, ending, with_text));
    }

    /// [`push`](Self::push) for the result of `complete`.
    #[inline]
    pub(crate) fn push_result(
        &self,
        times: (tokio::time::Instant, tokio::time::Instant),
        request: Parts<'_>,
        result: &Result<crate::ChatResponse, crate::Error>,
        with_text: bool,
    ) {
        self.with_batch(|batch| batch.push_result(times, request, result, with_text));
    }

    /// Runs `push` on this thread's batch, counting a drop when it returns `false`.
    #[inline(always)]
    fn with_batch(&self, push: impl FnOnce(&mut Batch) -> bool) {
        let slot = &self.slots[thread_number() & (self.slots.len() - 1)];
        let mut batch = lock(slot);
        if batch.unreserved() {
            batch.reserve(self.capacity);
        }
        if !push(&mut batch) {
            drop(batch);
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Takes every batch's records, batch after batch (each in arrival order), swapping
    /// in `spare`'s buffers so that neither side allocates in the steady state.
    pub(crate) fn drain(
        &self,
        spare: &mut Batch,
        epoch: (tokio::time::Instant, u64),
        mut each: impl FnMut(TrafficRecord),
    ) {
        for slot in &self.slots {
            {
                let mut batch = lock(slot);
                if batch.is_empty() {
                    continue;
                }
                std::mem::swap(&mut *batch, spare);
            }
            spare.drain(epoch, &mut each);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
