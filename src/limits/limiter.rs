//! The per-account limiter: reserve before a call, settle after, give back on drop.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::config::{LimitsConfigError, RateLimits};
use super::headroom::Headroom;
use super::window::{Blocked, SlidingWindow};
use crate::provider::{ErrorKind, ProviderError};
use crate::types::millis;

/// How long an account pauses after an HTTP 429 that carries no retry-after.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Enforces one account's [`RateLimits`]: requests and tokens per minute for the account
/// and, where configured, per provider model.
///
/// Every 60-second window, wherever it starts, holds at most the limit: the limiter keeps
/// a log of the reservations granted in the last minute rather than a token bucket, whose
/// burst would let up to twice the limit through across a window edge. The checks and the
/// grant happen under one per-account mutex, held only for that in-memory bookkeeping
/// (constant time to grant; a walk over the log to say when capacity returns on a
/// refusal) and never across an `.await`, so the counts are exact under any concurrency
/// while accounts never contend with each other.
///
/// Time is passed in (`tokio::time::Instant`), so a paused test clock drives it. A
/// cheap-to-clone handle: clones share the same windows.
///
/// ```
/// use routewise::limits::{Limiter, RateLimits};
/// use tokio::time::Instant;
///
/// let limiter = Limiter::new(RateLimits::new().rpm(2).tpm(1_000))?;
/// let now = Instant::now();
/// let first = limiter.try_reserve("gpt-4o", 300, now)?;
/// let second = limiter.try_reserve("gpt-4o", 300, now)?;
/// let third = limiter.try_reserve("gpt-4o", 300, now).unwrap_err();
/// assert_eq!(third.retry_at(), Some(now + std::time::Duration::from_secs(60)));
///
/// first.settle(120); // the call used fewer tokens than reserved
/// drop(second);      // never sent: the request and its tokens come back
/// assert!(limiter.check("gpt-4o", 800, now).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    limits: RateLimits,
    /// Provider model id to its index in [`State::models`].
    model_index: HashMap<Arc<str>, usize>,
    model_names: Vec<Arc<str>>,
    state: Mutex<State>,
}

struct State {
    /// The latest instant seen: time never goes back inside the limiter, so the logs stay
    /// ordered even when concurrent callers read the clock in a different order.
    latest: Option<Instant>,
    next_id: u64,
    /// Reservations granted and neither settled nor released yet.
    in_flight: u32,
    backoff_until: Option<Instant>,
    account: SlidingWindow,
    models: Vec<SlidingWindow>,
}

impl State {
    fn clock(&mut self, now: Instant) -> Instant {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        self.latest = Some(now);
        now
    }

    fn expire(&mut self, now: Instant) {
        self.account.expire(now);
        for window in &mut self.models {
            window.expire(now);
        }
    }
}

impl Limiter {
    /// A limiter enforcing `limits`, or why they cannot be enforced.
    pub fn new(limits: RateLimits) -> Result<Self, LimitsConfigError> {
        limits.validate()?;
        let model_names: Vec<Arc<str>> = limits.models().map(|(name, _)| name.into()).collect();
        let models = limits
            .models()
            .map(|(_, l)| SlidingWindow::new(l.requests_per_minute(), l.tokens_per_minute()))
            .collect();
        let state = State {
            latest: None,
            next_id: 0,
            in_flight: 0,
            backoff_until: None,
            account: SlidingWindow::new(limits.requests_per_minute(), limits.tokens_per_minute()),
            models,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                model_index: model_names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| (name.clone(), i))
                    .collect(),
                model_names,
                limits,
                state: Mutex::new(state),
            }),
        })
    }

    /// The limits this limiter enforces.
    pub fn limits(&self) -> &RateLimits {
        &self.inner.limits
    }

    /// Reserves one request and `tokens` tokens on `model` (the account's limits and the
    /// model's own, if it has any), or says why not and when to try again.
    ///
    /// Settle the reservation with the tokens actually used once the provider answered;
    /// dropping it unsettled gives the request and the tokens back.
    pub fn try_reserve(
        &self,
        model: &str,
        tokens: u64,
        now: Instant,
    ) -> Result<LimitReservation, Limited> {
        let model_slot = self.inner.model_index.get(model).copied();
        let mut state = self.inner.lock();
        let now = state.clock(now);
        state.expire(now);
        self.admits(&state, model_slot, tokens, now)?;
        let id = state.next_id;
        state.next_id += 1;
        state.in_flight += 1;
        state.account.push(id, now, tokens);
        if let Some(slot) = model_slot {
            state.models[slot].push(id, now, tokens);
        }
        Ok(LimitReservation {
            limiter: self.inner.clone(),
            id,
            model_slot,
            tokens,
            open: true,
        })
    }

    /// Whether a request for `tokens` tokens on `model` would be granted now, without
    /// reserving anything: for planning and explaining.
    pub fn check(&self, model: &str, tokens: u64, now: Instant) -> Result<(), Limited> {
        let model_slot = self.inner.model_index.get(model).copied();
        let mut state = self.inner.lock();
        let now = state.clock(now);
        state.expire(now);
        self.admits(&state, model_slot, tokens, now)
    }

    /// Whether a request for `tokens` tokens on `model` would be granted now, as
    /// [`check`](Self::check) says, and if so the [`Headroom`] it would leave: the
    /// tightest of the account's limits and the model's own. Reserves nothing.
    ///
    /// ```
    /// use routewise::limits::{Limiter, RateLimits, TightestLimit};
    /// use tokio::time::Instant;
    ///
    /// let limiter = Limiter::new(RateLimits::new().rpm(100).tpm(1_000))?;
    /// let now = Instant::now();
    /// let _held = limiter.try_reserve("gpt-4o", 400, now)?;
    /// // 400 of 1,000 tokens held; 500 more would leave 10%, 98 of 100 requests 98%.
    /// let headroom = limiter.headroom("gpt-4o", 500, now)?;
    /// assert_eq!(headroom.remaining_ppm(), Some(100_000));
    /// assert_eq!(headroom.tightest(), Some(TightestLimit::TokensPerMinute));
    /// assert!(limiter.headroom("gpt-4o", 700, now).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn headroom(&self, model: &str, tokens: u64, now: Instant) -> Result<Headroom, Limited> {
        let model_slot = self.inner.model_index.get(model).copied();
        let mut state = self.inner.lock();
        let now = state.clock(now);
        state.expire(now);
        self.admits(&state, model_slot, tokens, now)?;
        let account = state.account.headroom(tokens);
        Ok(match model_slot {
            Some(slot) => account.min(state.models[slot].headroom(tokens)),
            None => account,
        })
    }

    /// The earliest instant at which a request for `tokens` tokens on `model` fits, if
    /// nothing else is reserved meanwhile: `now` when it fits now, `None` when it never
    /// will (it alone exceeds a tokens-per-minute limit).
    pub fn earliest_capacity(&self, model: &str, tokens: u64, now: Instant) -> Option<Instant> {
        match self.check(model, tokens, now) {
            Ok(()) => Some(now),
            Err(limited) => limited.retry_at(),
        }
    }

    /// Refuses every request until `until`, as a provider's HTTP 429 with a retry-after
    /// asks. A later call can only extend the pause, never shorten it.
    pub fn mark_limited_until(&self, until: Instant) {
        let mut state = self.inner.lock();
        state.backoff_until = Some(state.backoff_until.map_or(until, |u| u.max(until)));
    }

    /// Records a failed call: a [`RateLimited`](ErrorKind::RateLimited) error (HTTP 429)
    /// pauses the account until `now` plus the provider's retry-after, or plus
    /// [`DEFAULT_RETRY_AFTER`] when it gave none. Other errors change nothing. Returns
    /// when the pause ends, if the error paused the account.
    pub fn record_provider_error(&self, error: &ProviderError, now: Instant) -> Option<Instant> {
        if error.kind() != ErrorKind::RateLimited {
            return None;
        }
        let until = now + error.retry_after().unwrap_or(DEFAULT_RETRY_AFTER);
        self.mark_limited_until(until);
        Some(until)
    }

    /// What the windows hold at `now`.
    pub fn snapshot(&self, now: Instant) -> LimiterSnapshot {
        let mut state = self.inner.lock();
        let now = state.clock(now);
        state.expire(now);
        LimiterSnapshot {
            in_flight: state.in_flight,
            account: WindowUse::of(&state.account),
            models: self
                .inner
                .model_names
                .iter()
                .zip(&state.models)
                .map(|(name, window)| (name.to_string(), WindowUse::of(window)))
                .collect(),
            backoff_ms: state
                .backoff_until
                .filter(|until| *until > now)
                .map(|until| millis::saturating(until - now)),
        }
    }

    fn admits(
        &self,
        state: &State,
        model_slot: Option<usize>,
        tokens: u64,
        now: Instant,
    ) -> Result<(), Limited> {
        let mut worst: Option<Limited> = None;
        if let Some(until) = state.backoff_until.filter(|until| *until > now) {
            worst = Some(Limited::new(LimitCause::ProviderBackoff, None, Some(until)));
        }
        let scopes = std::iter::once((&state.account, None)).chain(
            model_slot.map(|slot| (&state.models[slot], Some(&self.inner.model_names[slot]))),
        );
        for (window, model) in scopes {
            let Err(blocked) = window.admits(tokens) else {
                continue;
            };
            let limited = Limited::from_blocked(blocked, model.cloned(), tokens);
            if limited.retry_at.is_none() {
                return Err(limited);
            }
            if worst.as_ref().is_none_or(|w| w.retry_at < limited.retry_at) {
                worst = Some(limited);
            }
        }
        worst.map_or(Ok(()), Err)
    }
}

impl Inner {
    /// A panic elsewhere cannot leave the state half-updated (every update is a few
    /// infallible steps), so a poisoned lock is still safe to use.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// One request and its tokens, held in a [`Limiter`]'s windows.
///
/// [`settle`](Self::settle) it with the tokens the call really used. Dropping it unsettled
/// (the call was never made, or the request was cancelled) gives the request and the
/// tokens back.
#[must_use = "dropping a reservation gives its capacity back at once"]
pub struct LimitReservation {
    limiter: Arc<Inner>,
    id: u64,
    model_slot: Option<usize>,
    tokens: u64,
    open: bool,
}

impl LimitReservation {
    /// The tokens reserved.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Replaces the reserved tokens with the tokens actually used; the request stays
    /// counted. Once the reservation has left the 60-second window, there is nothing to
    /// adjust. Tokens above the estimate count too, and can push the window over its
    /// limit, which then admits nothing until enough of it has expired.
    pub fn settle(mut self, actual_tokens: u64) {
        self.open = false;
        let mut state = self.limiter.lock();
        state.in_flight -= 1;
        state.account.settle(self.id, actual_tokens);
        if let Some(slot) = self.model_slot {
            state.models[slot].settle(self.id, actual_tokens);
        }
    }

    /// Gives the request and its tokens back (the same as dropping the reservation).
    pub fn release(self) {}
}

impl Drop for LimitReservation {
    fn drop(&mut self) {
        if self.open {
            let mut state = self.limiter.lock();
            state.in_flight -= 1;
            state.account.remove(self.id);
            if let Some(slot) = self.model_slot {
                state.models[slot].remove(self.id);
            }
        }
    }
}

impl fmt::Debug for LimitReservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitReservation")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// A request the [`Limiter`] refused: which limit, and when capacity returns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{cause}{}", model.as_ref().map(|m| format!(" (model `{m}`)")).unwrap_or_default())]
pub struct Limited {
    /// Which limit refused.
    pub cause: LimitCause,
    /// The provider model whose own limit refused; `None` for the account's limits.
    pub model: Option<Arc<str>>,
    retry_at: Option<Instant>,
}

impl Limited {
    fn new(cause: LimitCause, model: Option<Arc<str>>, retry_at: Option<Instant>) -> Self {
        Self {
            cause,
            model,
            retry_at,
        }
    }

    fn from_blocked(blocked: Blocked, model: Option<Arc<str>>, tokens: u64) -> Self {
        match blocked {
            Blocked::Requests(at) => Self::new(LimitCause::RequestsPerMinute, model, Some(at)),
            Blocked::Tokens(at) => Self::new(LimitCause::TokensPerMinute, model, Some(at)),
            Blocked::TooLarge { tpm } => {
                Self::new(LimitCause::RequestTooLarge { tokens, tpm }, model, None)
            }
        }
    }

    /// When a request of the same size fits again, if nothing else is reserved
    /// meanwhile; `None` when it never will.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitCause {
    /// The requests-per-minute limit is reached.
    RequestsPerMinute,
    /// The tokens-per-minute limit is reached.
    TokensPerMinute,
    /// The provider answered HTTP 429 and asked to wait.
    ProviderBackoff,
    /// The request alone needs more tokens than the limit allows in a minute.
    RequestTooLarge {
        /// The tokens the request needs.
        tokens: u64,
        /// The tokens-per-minute limit.
        tpm: u64,
    },
}

impl fmt::Display for LimitCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitCause::RequestsPerMinute => f.write_str("requests-per-minute limit reached"),
            LimitCause::TokensPerMinute => f.write_str("tokens-per-minute limit reached"),
            LimitCause::ProviderBackoff => f.write_str("provider asked to back off (HTTP 429)"),
            LimitCause::RequestTooLarge { tokens, tpm } => write!(
                f,
                "request needs {tokens} tokens, more than the limit of {tpm} tokens per minute"
            ),
        }
    }
}

/// What a [`Limiter`]'s windows hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LimiterSnapshot {
    /// Reservations granted and not yet settled or released: calls in flight. Zero once
    /// every request has finished or been cancelled.
    pub in_flight: u32,
    /// The account's window.
    pub account: WindowUse,
    /// Each model with limits of its own, by provider model id.
    pub models: BTreeMap<String, WindowUse>,
    /// Milliseconds left of a provider's back-off, if one is in force.
    pub backoff_ms: Option<u64>,
}

/// Use and limits of one 60-second window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WindowUse {
    /// Requests in the last 60 seconds.
    pub requests: u32,
    /// Tokens in the last 60 seconds (reserved, or actual once settled).
    pub tokens: u64,
    /// The requests-per-minute limit, if any.
    pub rpm: Option<u32>,
    /// The tokens-per-minute limit, if any.
    pub tpm: Option<u64>,
}

impl WindowUse {
    fn of(window: &SlidingWindow) -> Self {
        Self {
            requests: window.requests(),
            tokens: window.tokens(),
            rpm: window.rpm(),
            tpm: window.tpm(),
        }
    }
}
