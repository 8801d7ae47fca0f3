//! Write-backs whose answer never came, kept and sent again once Redis answers.
//!
//! A call that timed out may still run: a stalled Redis executes what it had read when
//! it resumes. Each write-back therefore carries an id the script applies once, and is
//! sent again under that id; an admission that timed out is revoked, so a grant made
//! after its caller gave up is released (or refused, if the revocation arrives first).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::time::Instant;

use super::state::{Inner, RedisState};

/// One write-back to try again; it keeps itself for later if it fails once more.
pub(crate) type WriteBack = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The write-backs waiting for Redis. Only failed calls come here: nothing on the request
/// path touches the lock. While Redis is away no new grants are made, so what waits is
/// bounded by what was in flight when it went away, plus one revocation per admission
/// that timed out (at most one per `retry_interval` and caller).
#[derive(Default)]
pub(crate) struct WriteBacks {
    waiting: Mutex<Vec<WriteBack>>,
    /// Whether a task is retrying them.
    retrying: AtomicBool,
}

impl WriteBacks {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WriteBack>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RedisState {
    /// Keeps `job` and runs it once Redis answers again, trying every `retry_interval`.
    pub(crate) fn retry_later(&self, job: WriteBack) {
        let write_backs = &self.inner.write_backs;
        write_backs.lock().push(job);
        if write_backs.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime left to retry on: what waits expires in Redis on its own.
            write_backs.retrying.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(retry(Arc::downgrade(&self.inner)));
    }
}

/// Retries the waiting write-backs every `retry_interval` until none is left. Holds the
/// state weakly: a state nobody uses any more is not kept alive by its retries alone.
async fn retry(state: Weak<Inner>) {
    loop {
        let Some(interval) = state.upgrade().map(|inner| inner.retry_interval) else {
            return;
        };
        tokio::time::sleep(interval).await;
        let Some(inner) = state.upgrade() else {
            return;
        };
        if !inner.outage.is_up(Instant::now()) {
            continue;
        }
        let jobs = std::mem::take(&mut *inner.write_backs.lock());
        if jobs.is_empty() {
            inner.write_backs.retrying.store(false, Ordering::Release);
            // A job kept between the take and the store found the flag still set and
            // started no task: take it up here.
            if inner.write_backs.lock().is_empty()
                || inner.write_backs.retrying.swap(true, Ordering::AcqRel)
            {
                return;
            }
            continue;
        }
        drop(inner);
        // One at a time: after one that fails, Redis is marked down and the rest keep
        // themselves without a round trip.
        for job in jobs {
            job().await;
        }
    }
}
