//! Where recorded requests wait for the writer: one [`Batch`] per routing thread, so
//! recording a request touches only memory its own thread owns (an uncontended lock and a
//! few appends), and the writer takes whole batches at a time.
//!
//! Handing every record across threads one by one cost about a quarter of a request's
//! routing time in cache-line transfers; per-thread batches move once per drain.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use super::capture::{Batch, Ending, RequestView};
use super::record::TrafficRecord;

type Shared = Mutex<Batch>;

/// Every thread's batch of one recorder, and what the writer needs to know.
pub(crate) struct Batches {
    /// Tells the thread-local entries of different recorders apart.
    id: u64,
    /// Records one thread may hold before more are dropped.
    capacity: usize,
    threads: Mutex<Vec<Arc<Shared>>>,
    pub(crate) dropped: AtomicU64,
    pub(crate) closed: AtomicBool,
}

thread_local! {
    /// This thread's batch of each recorder it recorded for.
    static LOCAL: RefCell<Vec<(u64, Arc<Shared>)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Batches {
    /// Records one thread may hold: each batch is sized for this many up front, so that
    /// recording never grows a buffer.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Relaxed),
            capacity,
            threads: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
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
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let batch = match local.iter().position(|(id, _)| *id == self.id) {
                Some(i) => &local[i].1,
                None => {
                    // Entries of recorders that are gone (only this thread still holds
                    // their batch) are let go here, on the slow path.
                    local.retain(|(_, batch)| Arc::strong_count(batch) > 1);
                    let batch = Arc::new(Mutex::new(Batch::with_capacity(self.capacity)));
                    lock(&self.threads).push(batch.clone());
                    local.push((self.id, batch));
                    &local[local.len() - 1].1
                }
            };
            let mut batch = lock(batch);
            if batch.len() < self.capacity {
                batch.push(times, request, ending, with_text);
            } else {
                drop(batch);
                self.dropped.fetch_add(1, Relaxed);
            }
        });
    }

    /// Takes every thread's records, in thread order (each thread's in arrival order),
    /// swapping in `spare`'s buffers so that neither side allocates in the steady state.
    /// Batches of threads that have ended are forgotten once empty.
    pub(crate) fn drain(
        &self,
        spare: &mut Batch,
        epoch: (tokio::time::Instant, u64),
        mut each: impl FnMut(TrafficRecord),
    ) {
        let threads: Vec<Arc<Shared>> = lock(&self.threads).clone();
        for batch in &threads {
            std::mem::swap(&mut *lock(batch), spare);
            spare.drain(epoch, &mut each);
        }
        drop(threads);
        lock(&self.threads).retain(|batch| Arc::strong_count(batch) > 1 || !lock(batch).is_empty());
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
