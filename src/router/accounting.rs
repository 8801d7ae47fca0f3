//! Accounts' limits and budgets around an attempt: check (planner, no side effects),
//! reserve before the call, settle to actual usage after it, release on drop.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::execution::Resolved;
#[cfg(feature = "redis")]
use super::shared::{SharedAdmission, SharedHeld};
use super::skip::SkipReason;
use super::snapshot::Snapshot;
use std::sync::Arc;

use super::counting::PromptCounts;
use crate::budget::{Alert, AlertSink, BudgetReservation, CancelledCharge, Exhausted, Usd};
use crate::limits::{Cooling, DEFAULT_MAX_OUTPUT_TOKENS, Headroom, LimitReservation, Limited};
use crate::provider::ProviderError;
use crate::resilience::CircuitBreaker;
use crate::types::millis;
use crate::types::{ChatRequest, Usage};

/// Prompt and worst-case output tokens of a request on one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub(crate) prompt: u32,
    pub(crate) max_output: u32,
}

impl Tokens {
    pub(crate) fn total(self) -> u64 {
        u64::from(self.prompt) + u64::from(self.max_output)
    }
}

impl Resolved<'_> {
    /// Whether the target's account keeps limits or a budget (only then are tokens
    /// counted, which for OpenAI models runs a real tokenizer).
    fn is_metered(&self) -> bool {
        self.account.limiter.is_some() || self.account.budget.is_some()
    }

    /// Counts the request's tokens for this target, when its account is metered: the
    /// prompt through `counts` (once per way of counting, for the whole plan), exact up
    /// to `cap`.
    pub(crate) fn tokens(
        &self,
        request: &ChatRequest,
        counts: &mut PromptCounts,
        cap: u32,
    ) -> Option<Tokens> {
        self.is_metered().then(|| {
            let call = self.request(request);
            Tokens {
                prompt: counts.prompt(&call, cap),
                max_output: call
                    .params()
                    .max_tokens()
                    .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS),
            }
        })
    }

    fn worst_case(&self, tokens: Tokens) -> Option<Usd> {
        let price = self.target.price?;
        Some(price.worst_case(tokens.prompt, tokens.max_output))
    }

    /// Why the account cannot take the request now, without reserving anything; when it
    /// can and `measure` is set, the [`Headroom`] the request would leave (unlimited for
    /// an account that meters nothing).
    pub(crate) fn check(
        &self,
        tokens: Option<Tokens>,
        now: Instant,
        measure: bool,
    ) -> Result<Option<Headroom>, SkipReason> {
        if let Some(cooling) = self
            .account
            .cool_downs
            .check(&self.target.target.provider_model, now)
        {
            return Err(cooling_down(cooling));
        }
        if let Some(wait) = self.account.credentials.check(now) {
            return Err(SkipReason::CredentialsRejected {
                probe_in_ms: millis::saturating(wait).max(1),
            });
        }
        let unlimited = measure.then_some(Headroom::UNLIMITED);
        let Some(tokens) = tokens else {
            return Ok(unlimited);
        };
        let model = &self.target.target.provider_model;
        // A shared account's local limiter only counts while Redis is away; with Redis
        // up, what Redis refused last is the planner's guide, and what it reported last
        // the headroom's.
        #[cfg(feature = "redis")]
        let (limiter, headroom) = match &self.account.shared {
            Some(shared) if shared.state.is_available() => {
                if let Some(reason) = shared.check(now) {
                    return Err(reason);
                }
                (
                    None,
                    measure.then(|| shared.headroom(model, tokens.total(), now)),
                )
            }
            _ => (self.account.limiter.as_ref(), unlimited),
        };
        #[cfg(not(feature = "redis"))]
        let (limiter, headroom) = (self.account.limiter.as_ref(), unlimited);
        let headroom = match limiter {
            Some(limiter) if measure => Some(
                limiter
                    .headroom(model, tokens.total(), now)
                    .map_err(|limited| rate_limited(&limited, now))?,
            ),
            Some(limiter) => {
                limiter
                    .check(model, tokens.total(), now)
                    .map_err(|limited| rate_limited(&limited, now))?;
                None
            }
            None => headroom,
        };
        if let (Some((_, ledger)), Some(worst)) = (&self.account.budget, self.worst_case(tokens))
            && let Err(exhausted) = ledger.check(worst, SystemTime::now())
        {
            return Err(budget_exhausted(&exhausted));
        }
        Ok(headroom)
    }

    /// Reserves one request, the tokens and the worst-case cost for an attempt: in Redis
    /// when the router shares state (with the breaker, in the same round trip), else, or
    /// while Redis is away in [`FailMode::Open`](crate::shared::FailMode), here.
    pub(crate) async fn reserve(
        &self,
        tokens: Option<Tokens>,
        breaker: Option<&CircuitBreaker>,
        snapshot: &Snapshot,
    ) -> Result<Held, SkipReason> {
        let if_cancelled = tokens.map(|tokens| self.cancelled_charge(tokens, snapshot));
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.account.shared
            && (tokens.is_some() || (breaker.is_some() && shared.shares_breakers()))
        {
            let sinks = &snapshot.alert_sinks;
            match self.admit_shared(shared, tokens, breaker, sinks).await {
                SharedAdmission::Held(held) => {
                    let mut reserved = Held::default();
                    reserved.shared = Some(held);
                    reserved.if_cancelled = if_cancelled;
                    return Ok(reserved);
                }
                SharedAdmission::Refused(reason) => return Err(reason),
                SharedAdmission::Unavailable => {
                    if shared.state.fail_mode() == crate::shared::FailMode::Closed {
                        return Err(SkipReason::SharedStateUnavailable);
                    }
                }
            }
        }
        #[cfg(not(feature = "redis"))]
        let _ = breaker;
        let mut held = self.reserve_here(tokens)?;
        held.if_cancelled = if_cancelled;
        if held.budget.is_some() && !snapshot.alert_sinks.is_empty() {
            held.sinks = Some(snapshot.alert_sinks.clone());
        }
        Ok(held)
    }

    /// What the attempt costs if it is cancelled after its call started.
    fn cancelled_charge(&self, tokens: Tokens, snapshot: &Snapshot) -> Charge {
        let output = match snapshot.cancelled_charge {
            CancelledCharge::InputOnly => 0,
            _ => tokens.max_output,
        };
        Charge {
            tokens: u64::from(tokens.prompt) + u64::from(output),
            cost: self
                .target
                .price
                .map(|price| price.worst_case(tokens.prompt, output)),
        }
    }

    /// Reserves against this instance's own limiter and ledger.
    fn reserve_here(&self, tokens: Option<Tokens>) -> Result<Held, SkipReason> {
        let Some(tokens) = tokens else {
            return Ok(Held::default());
        };
        let now = Instant::now();
        let limit = match &self.account.limiter {
            Some(limiter) => Some(
                limiter
                    .try_reserve(&self.target.target.provider_model, tokens.total(), now)
                    .map_err(|limited| rate_limited(&limited, now))?,
            ),
            None => None,
        };
        let budget = match (&self.account.budget, self.worst_case(tokens)) {
            (Some((_, ledger)), Some(worst)) => Some(
                ledger
                    .reserve(worst, SystemTime::now())
                    .map_err(|exhausted| budget_exhausted(&exhausted))?,
            ),
            _ => None,
        };
        let mut held = Held::default();
        held.limit = limit;
        held.budget = budget;
        Ok(held)
    }

    /// The cost of `usage` on this target, when its price is known.
    pub(crate) fn cost(&self, usage: &Usage) -> Option<Usd> {
        self.target.price.map(|price| price.cost(usage))
    }
}

fn rate_limited(limited: &Limited, now: Instant) -> SkipReason {
    SkipReason::RateLimited {
        retry_in_ms: limited
            .retry_at()
            .map(|at| millis::saturating(at.saturating_duration_since(now))),
    }
}

pub(crate) fn cooling_down(cooling: Cooling) -> SkipReason {
    SkipReason::CoolingDown {
        retry_in_ms: millis::saturating(cooling.wait).max(1),
        model: cooling.model.as_deref().map(str::to_owned),
    }
}

fn budget_exhausted(exhausted: &Exhausted) -> SkipReason {
    SkipReason::BudgetExhausted {
        spent_usd: exhausted.spent.dollars(),
        limit_usd: exhausted.limit.dollars(),
    }
}

/// Tokens and dollars an attempt is charged.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Charge {
    pub(crate) tokens: u64,
    pub(crate) cost: Option<Usd>,
}

/// What one attempt holds of its account's limits and budget. Dropped unsettled before
/// its call started, it gives everything back; after (the caller walked away from a call
/// the provider received and bills), it keeps its rate-limit slot and is charged
/// `if_cancelled` (see [`CancelledCharge`]).
#[derive(Default)]
pub(crate) struct Held {
    limit: Option<LimitReservation>,
    budget: Option<BudgetReservation>,
    #[cfg(feature = "redis")]
    shared: Option<SharedHeld>,
    /// `None` for an account that meters nothing.
    if_cancelled: Option<Charge>,
    /// Whether the call started; cleared once the attempt is settled.
    sent: bool,
    /// Where alerts of a local settlement on drop go; only with a local budget.
    sinks: Option<Arc<[Arc<dyn AlertSink>]>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.sent {
            return;
        }
        let charge = self.if_cancelled.unwrap_or_default();
        #[cfg(feature = "redis")]
        if let Some(shared) = self.shared.take() {
            shared.cancelled(charge);
            return;
        }
        if let Some(limit) = self.limit.take() {
            limit.settle(charge.tokens);
        }
        if let (Some(budget), Some(cost)) = (self.budget.take(), charge.cost) {
            let alerts = budget.settle(cost, SystemTime::now());
            deliver_later(self.sinks.take(), alerts);
        }
    }
}

/// Hands alerts of a settlement made on drop to the sinks, off the dropping path.
fn deliver_later(sinks: Option<Arc<[Arc<dyn AlertSink>]>>, alerts: Vec<Alert>) {
    let (Some(sinks), false) = (sinks, alerts.is_empty()) else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        for alert in &alerts {
            for sink in sinks.iter() {
                if let Err(error) = sink.send(alert).await {
                    tracing::warn!(%error, "a budget alert could not be delivered");
                }
            }
        }
    });
}

impl Held {
    /// The call to the provider starts: from now on, dropping the attempt unsettled
    /// charges it instead of giving everything back.
    pub(crate) fn mark_sent(&mut self) {
        self.sent = true;
    }

    /// Settles a successful attempt to its actual usage; returns the alerts it fired (a
    /// shared settlement delivers its own, after its round trip).
    pub(crate) fn settle(
        mut self,
        usage: &Usage,
        cost: Option<Usd>,
        latency: Duration,
    ) -> Vec<Alert> {
        self.sent = false;
        #[cfg(feature = "redis")]
        if let Some(shared) = self.shared.take() {
            shared.settle(usage, cost, latency);
            return Vec::new();
        }
        #[cfg(not(feature = "redis"))]
        let _ = latency;
        if let Some(limit) = self.limit.take() {
            limit.settle(usage.total_tokens());
        }
        match (self.budget.take(), cost) {
            (Some(budget), Some(cost)) => budget.settle(cost, SystemTime::now()),
            _ => Vec::new(),
        }
    }

    /// Settles an attempt that failed after the provider produced (and bills) `usage`,
    /// such as a stream that broke mid-answer: charged like a success, reported to the
    /// shared breaker, health and cool-down like a failure.
    pub(crate) fn settle_broken(
        mut self,
        usage: &Usage,
        cost: Option<Usd>,
        broken: &Broken<'_>,
    ) -> Vec<Alert> {
        self.sent = false;
        #[cfg(feature = "redis")]
        if let Some(shared) = self.shared.take() {
            shared.settle_broken(usage, cost, broken);
            return Vec::new();
        }
        self.settle(usage, cost, broken.latency)
    }

    /// Settles a failed attempt: it still counts as one request with no tokens (the
    /// provider may have counted it, and erring this way never overshoots its limit); the
    /// budget reservation is released. A shared settlement also reports the error, and
    /// `cool_down`, the account-wide cool-down a 429 started, to the fleet.
    pub(crate) fn fail(
        mut self,
        error: &ProviderError,
        cool_down: Option<Duration>,
        latency: Duration,
        breaker_opened: bool,
    ) {
        self.sent = false;
        #[cfg(feature = "redis")]
        if let Some(shared) = self.shared.take() {
            shared.fail(error, cool_down, latency, breaker_opened);
            return;
        }
        #[cfg(not(feature = "redis"))]
        let _ = (error, cool_down, latency, breaker_opened);
        if let Some(limit) = self.limit.take() {
            limit.settle(0);
        }
    }
}

/// How an attempt that produced something failed. Only a shared settlement reports the
/// error and the breaker; a local one has done so already.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct Broken<'e> {
    pub(crate) error: &'e ProviderError,
    /// The account-wide cool-down a 429 started.
    pub(crate) cool_down: Option<Duration>,
    pub(crate) latency: Duration,
    /// The policy's breaker for the target opened on this failure.
    pub(crate) breaker_opened: bool,
}

/// Hands alerts to every sink, off the request path, and syncs spend with the state
/// store when one is configured.
pub(crate) fn after_settle(snapshot: &Snapshot, resolved: &Resolved<'_>, alerts: Vec<Alert>) {
    let sinks = snapshot.alert_sinks.clone();
    let sync = match (&snapshot.state_store, &resolved.account.budget) {
        (Some(store), Some((_, ledger))) => Some((store.clone(), ledger.clone())),
        _ => None,
    };
    // A shared account syncs only what it settled here while Redis was away, and only
    // once Redis answers; its shared settlements write spend themselves.
    #[cfg(feature = "redis")]
    let sync = match &resolved.account.shared {
        Some(shared) => {
            let unsynced = sync.filter(|(_, ledger)| ledger.has_unsynced());
            match unsynced {
                Some((_, ledger)) if !shared.state.is_available() => {
                    shared.reconcile_later(&ledger, &sinks);
                    None
                }
                unsynced => unsynced,
            }
        }
        None => sync,
    };
    if (alerts.is_empty() || sinks.is_empty()) && sync.is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut alerts = alerts;
        if let Some((store, ledger)) = sync {
            match ledger.sync(store.as_ref(), SystemTime::now()).await {
                Ok(more) => alerts.extend(more),
                Err(error) => tracing::warn!(%error, "could not sync spend with the state store"),
            }
        }
        for alert in &alerts {
            for sink in sinks.iter() {
                if let Err(error) = sink.send(alert).await {
                    tracing::warn!(%error, "a budget alert could not be delivered");
                }
            }
        }
    });
}
