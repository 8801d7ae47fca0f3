//! A circuit breaker: stop calling a target that keeps failing, try it again after a
//! while, and resume when it answers.
//!
//! Hot path: one atomic load to admit a call while closed, one rolling-window increment
//! to record its outcome. The breaker's phase, generation and half-open trial counts
//! share one atomic word, so half-open admission is a compare-and-swap; a mutex guards
//! only the rare transitions (open, half-open, closed), which also emit `tracing` events.

mod config;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

pub use self::config::BreakerConfig;
use super::error::ResilienceConfigError;
use super::window::RollingWindow;
use crate::provider::ErrorKind;
use crate::types::millis;

const SUCCESS: usize = 0;
const FAULT: usize = 1;

/// A circuit breaker for one target of one policy.
///
/// Only provider faults ([`ErrorKind::is_provider_fault`]: timeouts, connection errors,
/// server errors, overload, rate limits, malformed answers) count against a target; a
/// request the provider rightly refused (invalid, unauthorised, filtered) counts as
/// neither success nor failure.
///
/// Each call takes a [`BreakerPermit`] from [`try_acquire`](Self::try_acquire) and
/// reports its outcome on it. Outcomes of calls admitted before the latest state change
/// are ignored, so a slow answer from before the breaker opened cannot close it.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use routewise::{BreakerConfig, BreakerState, CircuitBreaker, ErrorKind};
/// use tokio::time::Instant;
///
/// let config = BreakerConfig::default().failure_threshold(2).recovery(Duration::from_secs(10));
/// let breaker = Arc::new(CircuitBreaker::new("chat/primary", config)?);
/// let now = Instant::now();
///
/// for _ in 0..2 {
///     let permit = breaker.try_acquire(now).expect("closed breakers admit every call");
///     permit.failure(ErrorKind::ServerError, now);
/// }
/// assert_eq!(breaker.state(now), BreakerState::Open { until: now + Duration::from_secs(10) });
/// assert!(breaker.try_acquire(now).is_none());
///
/// // Once recovery is due, one trial call goes through; its success closes the breaker.
/// let later = now + Duration::from_secs(10);
/// let trial = breaker.try_acquire(later).expect("recovery is due");
/// assert!(breaker.try_acquire(later).is_none(), "one trial at a time");
/// trial.success(later);
/// assert_eq!(breaker.state(later), BreakerState::Closed);
/// # Ok::<(), routewise::ResilienceConfigError>(())
/// ```
pub struct CircuitBreaker {
    name: Arc<str>,
    config: BreakerConfig,
    origin: Instant,
    word: AtomicU64,
    /// When the current open period ends, in nanoseconds since `origin`. Written under
    /// `transition` before the word says open, so a reader that sees "open" sees it.
    open_until: AtomicU64,
    times_opened: AtomicU64,
    calls: RollingWindow<2>,
    /// Faults of each kind with a threshold of its own, in the order of
    /// [`BreakerConfig::failure_thresholds_by_kind`]; empty (unallocated) without one.
    kind_faults: Box<[RollingWindow<1>]>,
    transition: Mutex<()>,
}

/// Where a breaker stands, as [`CircuitBreaker::state`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until `until`.
    Open {
        /// When recovery is due and trial calls will be let through.
        until: Instant,
    },
    /// Recovery is due: a bounded number of trial calls go through (all of them may be
    /// in flight, in which case [`CircuitBreaker::try_acquire`] still refuses).
    HalfOpen,
}

impl BreakerState {
    /// Whether calls are refused (a planner skips such a target).
    pub fn is_open(self) -> bool {
        matches!(self, BreakerState::Open { .. })
    }

    /// When recovery is due, if the breaker is open.
    pub fn open_until(self) -> Option<Instant> {
        match self {
            BreakerState::Open { until } => Some(until),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Serializes as `"closed"`, `"open"` or `"half_open"`.
impl Serialize for BreakerState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A point-in-time view of a breaker, for stats.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// Where the breaker stands.
    pub state: BreakerState,
    /// Milliseconds until recovery is due, when open.
    pub recovers_in_ms: Option<u64>,
    /// Calls counted in the rolling window (successes and provider faults).
    pub calls: u64,
    /// Provider faults in the rolling window.
    pub faults: u64,
    /// Trial calls admitted and not yet answered, when half-open.
    pub trials_in_flight: u32,
    /// Trial calls that succeeded in the current half-open period.
    pub trial_successes: u32,
    /// How many times the breaker has opened since it was created.
    pub times_opened: u64,
}

/// Leave to make one call through a [`CircuitBreaker`]; report how the call went with
/// [`success`](Self::success) or [`failure`](Self::failure).
///
/// Dropping a permit without reporting (the caller gave up, the request was cancelled)
/// records nothing and hands a half-open trial slot back.
#[must_use = "a permit records nothing unless the call's outcome is reported on it"]
pub struct BreakerPermit {
    breaker: Arc<CircuitBreaker>,
    generation: u32,
    trial: bool,
    settled: bool,
}

/// The breaker's phase, generation and half-open trial counts, packed in one `u64`:
/// phase in bits 0..2, trials started in 2..18, trials succeeded in 18..34, generation
/// in 34..64. The generation moves on at every transition, so permits know whether
/// their period is still current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Word {
    phase: Phase,
    /// Trials admitted in this half-open period, answered or not.
    started: u16,
    succeeded: u16,
    generation: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

const GENERATION_MASK: u32 = (1 << 30) - 1;

impl Word {
    fn pack(self) -> u64 {
        self.phase as u64
            | u64::from(self.started) << 2
            | u64::from(self.succeeded) << 18
            | u64::from(self.generation) << 34
    }

    fn unpack(raw: u64) -> Self {
        let phase = match raw & 0b11 {
            0 => Phase::Closed,
            1 => Phase::Open,
            _ => Phase::HalfOpen,
        };
        Self {
            phase,
            // The masks make each field fit its type.
            started: (raw >> 2 & 0xFFFF) as u16,
            succeeded: (raw >> 18 & 0xFFFF) as u16,
            generation: (raw >> 34) as u32 & GENERATION_MASK,
        }
    }

    /// The first word of the next period.
    fn next(self, phase: Phase) -> Self {
        Self {
            phase,
            started: 0,
            succeeded: 0,
            generation: self.generation.wrapping_add(1) & GENERATION_MASK,
        }
    }

    fn is(self, phase: Phase, generation: u32) -> bool {
        self.phase == phase && self.generation == generation
    }
}

impl CircuitBreaker {
    /// A closed breaker. `name` labels its `tracing` events (for example
    /// `"chat/primary-llm/openai-main/gpt-4o"`).
    pub fn new(
        name: impl Into<Arc<str>>,
        config: BreakerConfig,
    ) -> Result<Self, ResilienceConfigError> {
        config.validate()?;
        let origin = Instant::now();
        Ok(Self {
            name: name.into(),
            calls: RollingWindow::new(config.window, origin),
            kind_faults: config
                .failure_thresholds_by_kind
                .iter()
                .map(|_| RollingWindow::new(config.window, origin))
                .collect(),
            config,
            origin,
            word: AtomicU64::new(
                Word {
                    phase: Phase::Closed,
                    started: 0,
                    succeeded: 0,
                    generation: 0,
                }
                .pack(),
            ),
            open_until: AtomicU64::new(0),
            times_opened: AtomicU64::new(0),
            transition: Mutex::new(()),
        })
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The settings.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Where the breaker stands at `now`, without changing anything: an open breaker
    /// whose recovery is due reads as [`HalfOpen`](BreakerState::HalfOpen).
    pub fn state(&self, now: Instant) -> BreakerState {
        let word = self.word();
        match word.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::HalfOpen => BreakerState::HalfOpen,
            Phase::Open => {
                let until = self.open_until.load(Relaxed);
                if self.nanos(now) >= until {
                    BreakerState::HalfOpen
                } else {
                    BreakerState::Open {
                        until: self.origin + Duration::from_nanos(until),
                    }
                }
            }
        }
    }

    /// Leave to make a call at `now`: always while closed; while half-open, only if fewer
    /// than [`half_open_trials`](BreakerConfig::half_open_trials) trials are taken; never
    /// while open. The first call after recovery is due moves the breaker to half-open and
    /// is its first trial.
    pub fn try_acquire(self: &Arc<Self>, now: Instant) -> Option<BreakerPermit> {
        loop {
            let raw = self.word.load(Acquire);
            let word = Word::unpack(raw);
            match word.phase {
                Phase::Closed => return Some(self.permit(word.generation, false)),
                Phase::Open => {
                    if self.nanos(now) < self.open_until.load(Relaxed) {
                        return None;
                    }
                    self.begin_half_open(now);
                }
                Phase::HalfOpen => {
                    if u32::from(word.started) >= self.config.half_open_trials {
                        return None;
                    }
                    let taken = Word {
                        started: word.started + 1,
                        ..word
                    };
                    let swapped = self
                        .word
                        .compare_exchange_weak(raw, taken.pack(), Acquire, Acquire)
                        .is_ok();
                    if swapped {
                        return Some(self.permit(word.generation, true));
                    }
                }
            }
        }
    }

    /// The breaker's figures at `now`.
    pub fn snapshot(&self, now: Instant) -> BreakerSnapshot {
        let word = self.word();
        let state = self.state(now);
        let [successes, faults] = self.calls.totals(now);
        let half_open = word.phase == Phase::HalfOpen;
        BreakerSnapshot {
            state,
            recovers_in_ms: state
                .open_until()
                .map(|until| millis::saturating(until.saturating_duration_since(now))),
            calls: successes + faults,
            faults,
            trials_in_flight: if half_open {
                u32::from(word.started - word.succeeded)
            } else {
                0
            },
            trial_successes: if half_open {
                u32::from(word.succeeded)
            } else {
                0
            },
            times_opened: self.times_opened.load(Relaxed),
        }
    }

    fn permit(self: &Arc<Self>, generation: u32, trial: bool) -> BreakerPermit {
        BreakerPermit {
            breaker: Arc::clone(self),
            generation,
            trial,
            settled: false,
        }
    }

    fn word(&self) -> Word {
        Word::unpack(self.word.load(Acquire))
    }

    fn nanos(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(elapsed).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`: a panic elsewhere cannot leave it inconsistent.
        self.transition
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record_success(&self, generation: u32, trial: bool, now: Instant) {
        if !trial {
            if self.word().is(Phase::Closed, generation) {
                self.calls.add(now, SUCCESS);
            }
            return;
        }
        let _guard = self.lock();
        loop {
            let raw = self.word.load(Acquire);
            let word = Word::unpack(raw);
            if !word.is(Phase::HalfOpen, generation) {
                return;
            }
            let succeeded = word.succeeded + 1;
            let closes = u32::from(succeeded) >= self.config.half_open_trials;
            let next = if closes {
                self.calls.clear();
                self.kind_faults.iter().for_each(RollingWindow::clear);
                word.next(Phase::Closed)
            } else {
                Word { succeeded, ..word }
            };
            if self
                .word
                .compare_exchange(raw, next.pack(), Release, Relaxed)
                .is_ok()
            {
                if closes {
                    tracing::info!(
                        routewise.breaker = %self.name,
                        from = "half_open",
                        to = "closed",
                        trials = succeeded,
                        "circuit breaker closed: trial calls succeeded"
                    );
                }
                return;
            }
        }
    }

    fn record_fault(&self, generation: u32, trial: bool, kind: ErrorKind, now: Instant) {
        if trial {
            self.open(Phase::HalfOpen, generation, now, kind);
            return;
        }
        if !self.word().is(Phase::Closed, generation) {
            return;
        }
        self.calls.add(now, FAULT);
        let [successes, faults] = self.calls.totals(now);
        let trips = if self.kind_faults.is_empty() {
            self.config.trips(faults, successes + faults)
        } else {
            self.trips_by_kind(kind, faults, successes + faults, now)
        };
        if trips {
            self.open(Phase::Closed, generation, now, kind);
        }
    }

    /// Counts a fault of `kind` towards its own threshold, if it has one, and says
    /// whether the window now opens the breaker.
    fn trips_by_kind(&self, kind: ErrorKind, faults: u64, calls: u64, now: Instant) -> bool {
        let thresholds = &self.config.failure_thresholds_by_kind;
        let own = thresholds.iter().position(|(k, _)| *k == kind);
        if let Some(i) = own {
            self.kind_faults[i].add(now, 0);
        }
        let mut apart = 0;
        let mut by_own = false;
        for (i, window) in self.kind_faults.iter().enumerate() {
            let [count] = window.totals(now);
            apart += count;
            by_own |= own == Some(i) && count >= u64::from(thresholds[i].1);
        }
        by_own
            || self
                .config
                .trips_counting(faults.saturating_sub(apart), faults, calls)
    }

    /// Opens the breaker, if it is still in the period `(from, generation)`.
    fn open(&self, from: Phase, generation: u32, now: Instant, kind: ErrorKind) {
        let _guard = self.lock();
        loop {
            let raw = self.word.load(Acquire);
            let word = Word::unpack(raw);
            if !word.is(from, generation) {
                return;
            }
            let until = self
                .nanos(now)
                .saturating_add(u64::try_from(self.config.recovery.as_nanos()).unwrap_or(u64::MAX));
            self.open_until.store(until, Relaxed);
            let next = word.next(Phase::Open).pack();
            if self
                .word
                .compare_exchange(raw, next, Release, Relaxed)
                .is_ok()
            {
                self.times_opened.fetch_add(1, Relaxed);
                let [successes, faults] = self.calls.totals(now);
                tracing::warn!(
                    routewise.breaker = %self.name,
                    from = if from == Phase::Closed { "closed" } else { "half_open" },
                    to = "open",
                    error.type = %kind,
                    faults,
                    calls = successes + faults,
                    recovery_ms = millis::saturating(self.config.recovery),
                    "circuit breaker opened"
                );
                return;
            }
        }
    }

    fn begin_half_open(&self, now: Instant) {
        let _guard = self.lock();
        let word = self.word();
        // Another caller may have moved on already; only the open period that is due ends.
        if word.phase != Phase::Open || self.nanos(now) < self.open_until.load(Relaxed) {
            return;
        }
        self.word.store(word.next(Phase::HalfOpen).pack(), Release);
        tracing::info!(
            routewise.breaker = %self.name,
            from = "open",
            to = "half_open",
            trials = self.config.half_open_trials,
            "circuit breaker half-open: letting trial calls through"
        );
    }

    /// Hands back a trial slot whose call never reported.
    fn release_trial(&self, generation: u32) {
        let _ = self.word.fetch_update(Release, Acquire, |raw| {
            let word = Word::unpack(raw);
            (word.is(Phase::HalfOpen, generation) && word.started > word.succeeded).then(|| {
                Word {
                    started: word.started - 1,
                    ..word
                }
                .pack()
            })
        });
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.word();
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("phase", &word.phase)
            .field("generation", &word.generation)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl BreakerPermit {
    /// Whether this is a half-open trial call (its outcome decides the breaker's fate).
    pub fn is_trial(&self) -> bool {
        self.trial
    }

    /// Reports that the call succeeded at `now`.
    pub fn success(mut self, now: Instant) {
        self.settled = true;
        self.breaker
            .record_success(self.generation, self.trial, now);
    }

    /// Reports that the call failed with `kind` at `now`. Only provider faults count
    /// against the target; any other kind counts as neither success nor failure.
    pub fn failure(mut self, kind: ErrorKind, now: Instant) {
        if !kind.is_provider_fault() {
            // Dropping hands a trial slot back: the call said nothing about the target.
            return;
        }
        self.settled = true;
        self.breaker
            .record_fault(self.generation, self.trial, kind, now);
    }
}

impl Drop for BreakerPermit {
    fn drop(&mut self) {
        if self.trial && !self.settled {
            self.breaker.release_trial(self.generation);
        }
    }
}

impl fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("breaker", &self.breaker.name)
            .field("trial", &self.trial)
            .finish_non_exhaustive()
    }
}
