//! An HTTP adapter's timeouts ([`HttpTimeouts`]) and the one timer that keeps them on a
//! call ([`CallTimer`]).
//!
//! reqwest would keep them with a timer for the total, another for the first byte and a
//! third for the body, reset on every chunk: on a multi-thread runtime each timer armed
//! or reset is a trip through the runtime's timer wheel and often a wake-up of the thread
//! that drives it. A [`CallTimer`] arms one timer for the earliest deadline the call can
//! have, when the call first waits; a chunk only notes the time it came, and when the
//! timer fires early (the answer kept arriving) it is moved to the deadline those notes
//! give. A call answered within its timeouts arms exactly one timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::{ErrorKind, ProviderError};

/// Timeouts of an HTTP adapter.
///
/// ```
/// use std::time::Duration;
/// use routewise::provider::HttpTimeouts;
///
/// let timeouts = HttpTimeouts::default().connect(Duration::from_secs(2));
/// assert_eq!(timeouts.connect, Duration::from_secs(2));
/// assert_eq!(timeouts.read, Some(Duration::from_secs(60)));
/// ```
///
/// The read and total timeouts can be turned off. Together they cost one Tokio timer per
/// call, armed when the call first has to wait and moved only in the rare case that it
/// fires before the call's real deadline (the answer kept arriving): no timer is set or
/// reset per chunk. When a policy's [`Timeouts`](crate::Timeouts) already bound every
/// attempt, the adapter's own timeouts only repeat that limit, and turning both off saves
/// that timer:
///
/// ```
/// use std::time::Duration;
/// use routewise::provider::HttpTimeouts;
/// use routewise::{OpenAi, Policy, Timeouts};
///
/// let openai = OpenAi::new().timeouts(HttpTimeouts::default().without_read().without_total());
/// // Every attempt is bounded here instead.
/// let policy = Policy::new("chat")
///     .route(["gpt"])
///     .timeouts(Timeouts::new().attempt(Duration::from_secs(30)));
/// # let _ = (openai, policy);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct HttpTimeouts {
    /// Establishing the connection (default 10 s). Always on: it runs only when a new
    /// connection is opened, never on a call over a pooled one, so it costs nothing per
    /// call.
    pub connect: Duration,
    /// Waiting for the next bytes: the first byte of the answer, and each later chunk of a
    /// stream (default 60 s); `None` for no such timeout.
    pub read: Option<Duration>,
    /// The whole non-streaming call, and a health check (default 10 min); `None` for no
    /// such timeout.
    pub total: Option<Duration>,
    /// The largest body of a non-streamed answer that is read (default
    /// [`DEFAULT_MAX_BODY_BYTES`], 64 MiB, far above any real answer). Reading stops
    /// there and the call fails with [`ErrorKind::MalformedResponse`], which falls back:
    /// a runaway body costs at most this much memory and parsing. Streams are bounded per
    /// event instead (16 MiB a line).
    pub max_body_bytes: usize,
}

/// The default [`HttpTimeouts::max_body_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Some(Duration::from_secs(60)),
            total: Some(Duration::from_secs(600)),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl HttpTimeouts {
    /// Sets the connect timeout.
    #[must_use]
    pub fn connect(mut self, timeout: Duration) -> Self {
        self.connect = timeout;
        self
    }

    /// Sets the read (first byte / between chunks) timeout.
    #[must_use]
    pub fn read(mut self, timeout: Duration) -> Self {
        self.read = Some(timeout);
        self
    }

    /// Turns the read timeout off (with the total timeout also off, no Tokio timer is set on
    /// a call at all). A policy's attempt
    /// timeout bounds a whole non-streaming call and the wait for a stream to begin, but
    /// nothing in the router bounds the gap between two chunks of a stream once it has
    /// begun: keep this timeout if you stream and do not limit that wait yourself.
    ///
    /// ```
    /// use routewise::provider::HttpTimeouts;
    ///
    /// assert_eq!(HttpTimeouts::default().without_read().read, None);
    /// ```
    #[must_use]
    pub fn without_read(mut self) -> Self {
        self.read = None;
        self
    }

    /// Sets the total timeout of a non-streaming call.
    #[must_use]
    pub fn total(mut self, timeout: Duration) -> Self {
        self.total = Some(timeout);
        self
    }

    /// Turns the total timeout off (with the read timeout also off, no Tokio timer is set on
    /// a call at all). A
    /// policy's attempt timeout or request deadline then bounds a call through the router,
    /// and the router's health probes have their own `probe_timeout`; a health check
    /// called directly is then bounded only by the read timeout, if that is on.
    ///
    /// ```
    /// use routewise::provider::HttpTimeouts;
    ///
    /// assert_eq!(HttpTimeouts::default().without_total().total, None);
    /// ```
    #[must_use]
    pub fn without_total(mut self) -> Self {
        self.total = None;
        self
    }

    /// Sets the largest non-streamed answer body that is read.
    ///
    /// ```
    /// use routewise::provider::HttpTimeouts;
    ///
    /// let http = HttpTimeouts::default().max_body_bytes(8 * 1024 * 1024);
    /// assert_eq!(http.max_body_bytes, 8 * 1024 * 1024);
    /// ```
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

/// The read and total timeouts of one call on one Tokio timer.
///
/// The timer is armed when the call first waits ([`limit`](Self::limit) finds its future
/// pending), for the earliest deadline: the total one, or the read one counted from the
/// last bytes. A wait that ends with bytes ([`read`](Self::read)) notes the time and
/// nothing else. When the timer fires, the deadline is worked out again from those notes:
/// past it, the call times out; before it, the timer is moved there. The deadline can
/// only move later, so the timer never fires late.
pub(crate) struct CallTimer {
    read: Option<Duration>,
    total: Option<Duration>,
    total_at: Option<Instant>,
    /// When the last bytes came (at first, when the call started).
    last_read: Option<Instant>,
    /// Armed on the first wait; boxed because a `Sleep` cannot move once polled, while
    /// the timer moves from the request into the stream that reads the answer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl CallTimer {
    /// A timer for a non-streaming call (or a health check) under `timeouts`: the read
    /// timeout for the first byte and between chunks, the total timeout for the whole.
    pub(crate) fn call(timeouts: &HttpTimeouts) -> Self {
        Self::new(timeouts.read, timeouts.total)
    }

    /// A timer for a streaming call: the read timeout alone, since a stream may outlive
    /// the total timeout.
    pub(crate) fn stream(timeouts: &HttpTimeouts) -> Self {
        Self::new(timeouts.read, None)
    }

    /// A timer that never fires (for streams read without an adapter's timeouts).
    pub(crate) fn off() -> Self {
        Self::new(None, None)
    }

    fn new(read: Option<Duration>, total: Option<Duration>) -> Self {
        // No clock reading when there is nothing to time.
        let started = (read.is_some() || total.is_some()).then(Instant::now);
        Self {
            read,
            total,
            total_at: started
                .zip(total)
                .and_then(|(at, total)| at.checked_add(total)),
            last_read: started,
            sleep: None,
        }
    }

    /// Awaits `call`, or fails with [`ErrorKind::Timeout`] when a deadline passes first.
    /// `call` is polled first, so an answer already there never arms the timer.
    pub(crate) async fn limit<T>(
        &mut self,
        call: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let mut call = std::pin::pin!(call);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(answer) = call.as_mut().poll(cx) {
                return Poll::Ready(answer);
            }
            self.poll_expired(cx).map(Err)
        })
        .await
    }

    /// Notes that bytes came now: the read timeout counts from here.
    pub(crate) fn read(&mut self) {
        if self.read.is_some() {
            self.last_read = Some(Instant::now());
        }
    }

    /// Ready with the timeout error once a deadline has passed; otherwise pending, with
    /// `cx` woken when the timer fires.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<ProviderError> {
        let Some(mut deadline) = self.deadline() else {
            return Poll::Pending;
        };
        loop {
            let sleep = match &mut self.sleep {
                Some(sleep) => sleep,
                empty => empty.insert(Box::pin(tokio::time::sleep_until(deadline))),
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Fired: the deadline may have moved later since the timer was set.
            deadline = self.deadline().unwrap_or(deadline);
            if deadline <= Instant::now() {
                return Poll::Ready(self.expired(deadline));
            }
            if let Some(sleep) = &mut self.sleep {
                sleep.as_mut().reset(deadline);
            }
        }
    }

    /// The earliest deadline in force; `None` with both timeouts off.
    fn deadline(&self) -> Option<Instant> {
        let read_at = self
            .last_read
            .zip(self.read)
            .and_then(|(at, read)| at.checked_add(read));
        match (read_at, self.total_at) {
            (Some(read_at), Some(total_at)) => Some(read_at.min(total_at)),
            (read_at, total_at) => read_at.or(total_at),
        }
    }

    /// The error for the deadline that passed.
    fn expired(&self, deadline: Instant) -> ProviderError {
        let message = match (self.total_at.zip(self.total), self.read) {
            (Some((total_at, total)), _) if total_at <= deadline => format!(
                "the call took longer than its total timeout of {total:?} (HttpTimeouts::total)"
            ),
            (_, Some(read)) => {
                format!("no bytes came within the read timeout of {read:?} (HttpTimeouts::read)")
            }
            _ => "the call timed out".to_owned(),
        };
        ProviderError::new(ErrorKind::Timeout, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that answers after `delays`, one wait per chunk, noting each chunk on `timer`.
    async fn chunks(timer: &mut CallTimer, delays: &[u64]) -> Result<(), ProviderError> {
        for &delay in delays {
            let wait = tokio::time::sleep(Duration::from_secs(delay));
            timer
                .limit(async {
                    wait.await;
                    Ok(())
                })
                .await?;
            timer.read();
        }
        Ok(())
    }

    fn timeouts(read: u64, total: u64) -> HttpTimeouts {
        HttpTimeouts::default()
            .read(Duration::from_secs(read))
            .total(Duration::from_secs(total))
    }

    #[tokio::test(start_paused = true)]
    async fn chunks_that_keep_coming_within_the_read_timeout_never_time_out() {
        let mut timer = CallTimer::call(&timeouts(10, 1_000));
        // 90 s in all, far past the first deadline the timer was armed for (10 s).
        chunks(&mut timer, &[9; 10]).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_longer_than_the_read_timeout_times_out_at_the_read_deadline() {
        let mut timer = CallTimer::call(&timeouts(10, 1_000));
        let started = Instant::now();
        let error = chunks(&mut timer, &[9, 9, 11]).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Timeout);
        assert!(error.message().contains("read timeout of 10s"), "{error}");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(28),
            "9 + 9 + the 10 s allowed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_total_timeout_ends_a_call_whose_chunks_keep_coming() {
        let mut timer = CallTimer::call(&timeouts(10, 30));
        let started = Instant::now();
        let error = chunks(&mut timer, &[9; 10]).await.unwrap_err();
        assert!(error.message().contains("total timeout of 30s"), "{error}");
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_timer_has_no_total_timeout() {
        let mut timer = CallTimer::stream(&timeouts(10, 30));
        chunks(&mut timer, &[9; 10]).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn with_both_timeouts_off_nothing_times_out() {
        let timeouts = HttpTimeouts::default().without_read().without_total();
        let mut timer = CallTimer::call(&timeouts);
        chunks(&mut timer, &[86_400, 86_400]).await.unwrap();
        assert!(timer.sleep.is_none(), "no timer was armed");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_already_there_arms_no_timer() {
        let mut timer = CallTimer::call(&timeouts(10, 30));
        timer.limit(async { Ok(()) }).await.unwrap();
        assert!(timer.sleep.is_none());
    }
}
