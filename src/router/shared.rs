//! Accounts whose limits, budget, 429 cool-downs and breakers the fleet shares through
//! Redis: admission in one round trip, settlement after the call and off its path, and
//! the fail mode while Redis is away.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::accounting::{Broken, Charge, Tokens};
use super::execution::Resolved;
use super::lease::{LeaseHeld, LeaseSlot, Leased, Need};
use super::skip::SkipReason;
use crate::budget::{AlertSink, Budget, BudgetLedger, Usd};
use crate::limits::{Headroom, RateLimits};
use crate::provider::ProviderError;
use crate::resilience::CircuitBreaker;
use crate::shared::{
    AccountKeys, Admitted, Ask, BreakerKey, BreakerVerdict, RedisState, WindowLimits, WindowsSeen,
};

use crate::types::Usage;
use crate::types::millis;

mod seen;
mod settle_job;

use seen::Seen;
pub(crate) use settle_job::SettleJob;
use settle_job::{deliver, reconcile};

/// One account's view of the shared state, compiled with the router.
pub(crate) struct SharedAccount {
    pub(crate) state: RedisState,
    pub(super) keys: AccountKeys,
    pub(super) limits: WindowLimits,
    /// Provider models with limits of their own: their window keys and limits, and what
    /// Redis last reported of their windows.
    models: HashMap<Arc<str>, ([String; 2], WindowLimits, Seen)>,
    /// What Redis last reported of the account's window.
    seen: Seen,
    /// The budget's alert thresholds, comma-separated for the settle script.
    thresholds: String,
    origin: Instant,
    /// Nanoseconds after `origin` until which Redis refused the account (limits or a
    /// cool-down): the planner skips it meanwhile without asking.
    refused_until: AtomicU64,
    /// The current block, in lease mode.
    lease: Option<Arc<LeaseSlot>>,
    /// Whether a write-back of spend settled here while Redis was away waits for Redis.
    reconcile_waiting: AtomicBool,
}

fn window_limits(limits: &RateLimits) -> WindowLimits {
    WindowLimits {
        rpm: limits.requests_per_minute().map_or(0, u64::from),
        tpm: limits.tokens_per_minute().unwrap_or(0),
    }
}

impl SharedAccount {
    pub(crate) fn new(
        state: &RedisState,
        account: &str,
        limits: Option<&RateLimits>,
        budget: Option<&Budget>,
    ) -> Self {
        let keys = AccountKeys::new(state.prefix(), account);
        let models = limits
            .into_iter()
            .flat_map(RateLimits::models)
            .map(|(model, limits)| {
                (
                    Arc::from(model),
                    (
                        keys.model_window(model),
                        window_limits(limits),
                        Seen::default(),
                    ),
                )
            })
            .collect();
        let thresholds = budget.map_or_else(String::new, |b| {
            let percents: Vec<String> = b.alert_thresholds().iter().map(u16::to_string).collect();
            percents.join(",")
        });
        Self {
            state: state.clone(),
            limits: limits.map(window_limits).unwrap_or_default(),
            models,
            seen: Seen::default(),
            thresholds,
            keys,
            origin: Instant::now(),
            refused_until: AtomicU64::new(0),
            lease: state
                .lease()
                .map(|lease| Arc::new(LeaseSlot::new(lease.clone()))),
            reconcile_waiting: AtomicBool::new(false),
        }
    }

    /// Writes spend settled here while Redis was away once Redis answers, even if no
    /// request comes to trigger it; one such write-back waits per account at most.
    pub(crate) fn reconcile_later(
        self: &Arc<Self>,
        ledger: &BudgetLedger,
        sinks: &Arc<[Arc<dyn AlertSink>]>,
    ) {
        if self.reconcile_waiting.swap(true, Ordering::AcqRel) {
            return;
        }
        let account = self.clone();
        let ledger = ledger.clone();
        let sinks = sinks.clone();
        self.state.retry_later(Box::new(move || {
            Box::pin(account.reconcile_now(ledger, sinks))
        }));
    }

    async fn reconcile_now(
        self: Arc<Self>,
        ledger: BudgetLedger,
        sinks: Arc<[Arc<dyn AlertSink>]>,
    ) {
        self.reconcile_waiting.store(false, Ordering::Release);
        let alerts = reconcile(&self.state, &ledger).await;
        deliver(&sinks, &alerts).await;
        if ledger.has_unsynced() {
            self.reconcile_later(&ledger, &sinks);
        }
    }

    /// Whether breakers are shared per attempt (not in lease mode).
    pub(crate) fn shares_breakers(&self) -> bool {
        self.lease.is_none()
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Why the planner should pass the account over now, from what Redis said last.
    pub(crate) fn check(&self, now: Instant) -> Option<SkipReason> {
        let until = self.refused_until.load(Ordering::Acquire);
        let now = self.nanos(now);
        (now < until).then(|| SkipReason::RateLimited {
            retry_in_ms: Some(millis::saturating(Duration::from_nanos(until - now)).max(1)),
        })
    }

    /// What one more request of `tokens` tokens on `model` would leave of the fleet's
    /// windows, as Redis reported them at this instance's last admission on the account
    /// (a report older than the rate window counts as an empty window).
    pub(crate) fn headroom(&self, model: &str, tokens: u64, now: Instant) -> Headroom {
        let now = self.nanos(now);
        let window = u64::try_from(self.state.inner.rate_window.as_nanos()).unwrap_or(u64::MAX);
        let of = |limits: WindowLimits, seen: &Seen| {
            let (requests, used) = seen.read(now, window);
            let limit = |value: u64| (value > 0).then_some(value);
            Headroom::of_window(limit(limits.rpm), limit(limits.tpm), requests, used, tokens)
        };
        let account = of(self.limits, &self.seen);
        match self.models.get(model) {
            Some((_, limits, seen)) => account.min(of(*limits, seen)),
            None => account,
        }
    }

    /// Keeps what an admission on `model` reported of the windows, for
    /// [`headroom`](Self::headroom).
    pub(crate) fn observe(&self, model: Option<&str>, windows: WindowsSeen) {
        let at = self.nanos(Instant::now());
        self.seen.record(windows.account, at);
        if let Some((_, _, seen)) = model.and_then(|model| self.models.get(model)) {
            seen.record(windows.model, at);
        }
    }

    fn refuse_for(&self, wait: Duration) {
        let until = self.nanos(Instant::now() + wait);
        self.refused_until.fetch_max(until, Ordering::AcqRel);
    }
}

/// What Redis said to an admission.
pub(crate) enum SharedAdmission {
    Held(SharedHeld),
    Refused(SkipReason),
    /// Redis did not answer: the fail mode decides.
    Unavailable,
}

impl Resolved<'_> {
    /// Admits an attempt through Redis: one round trip that checks and reserves the
    /// breaker, the cool-down, the limits and the budget together.
    pub(crate) async fn admit_shared(
        &self,
        shared: &Arc<SharedAccount>,
        tokens: Option<Tokens>,
        breaker: Option<&CircuitBreaker>,
        sinks: &Arc<[Arc<dyn AlertSink>]>,
    ) -> SharedAdmission {
        let now = SystemTime::now();
        let model = &self.target.target.provider_model;
        let model_window = shared.models.get_key_value(model.as_ref());
        let budget = match (&self.account.budget, tokens) {
            (Some((_, ledger)), Some(tokens)) => self
                .target
                .price
                .map(|price| (ledger, price.worst_case(tokens.prompt, tokens.max_output))),
            _ => None,
        };
        let label = budget.map(|(ledger, _)| ledger.window_label(now));
        // Lease mode serves accounts without per-model windows; breakers then stay per
        // instance, since sharing them would cost the round trip a lease saves.
        if let (Some(slot), None, Some(tokens)) = (&shared.lease, model_window, tokens) {
            let need = Need {
                tokens: tokens.total(),
                worst: budget.map_or(0, |(_, worst)| worst.nanos()),
            };
            let ledger = budget
                .zip(label.as_deref())
                .map(|((ledger, _), label)| (ledger, label));
            match slot.take(shared, need, ledger, sinks).await {
                Leased::Held(held) => return SharedAdmission::Held(SharedHeld::Leased(held)),
                Leased::Unavailable => return SharedAdmission::Unavailable,
                Leased::Alone => {}
            }
        }
        let breaker = breaker.filter(|_| shared.lease.is_none());
        let pending = Pending {
            account: shared.clone(),
            model: model_window.map(|(model, _)| model.clone()),
            requests: u64::from(tokens.is_some()),
            tokens: tokens.map_or(0, Tokens::total),
            budget: budget
                .zip(label)
                .map(|((ledger, worst), label)| (ledger.clone(), label, worst)),
            breaker: breaker.map(|b| SharedBreaker {
                key: shared.keys.breaker(b.name()),
                trial: None,
                recovery: b.config().recovery,
            }),
            trials: breaker.map_or(0, |b| b.config().half_open_trials),
            sinks: sinks.clone(),
            now,
        };
        // The round trip runs as a task of its own: a caller cancelled while Redis
        // answers would otherwise drop a granted reservation it never saw, which would
        // then hold its rate slot for the window and its dollars for the reservation ttl.
        // The task keeps the answer, and a grant nobody awaits any more is released.
        tokio::spawn(pending.ask())
            .await
            .unwrap_or(SharedAdmission::Unavailable)
    }
}

/// One admission round trip, with everything it needs owned, so that it can finish as a
/// task of its own after its caller is gone.
struct Pending {
    account: Arc<SharedAccount>,
    /// The provider model, when it has a window of its own.
    model: Option<Arc<str>>,
    requests: u64,
    tokens: u64,
    /// The budget's ledger, the window's label and the worst-case cost.
    budget: Option<(BudgetLedger, String, Usd)>,
    breaker: Option<SharedBreaker>,
    trials: u32,
    sinks: Arc<[Arc<dyn AlertSink>]>,
    now: SystemTime,
}

impl Pending {
    /// Asks Redis, and turns its answer into a held reservation or the reason for a skip.
    async fn ask(self) -> SharedAdmission {
        let account = &self.account;
        let model_window = self
            .model
            .as_ref()
            .and_then(|model| account.models.get(model));
        let ask = Ask {
            keys: &account.keys,
            model: model_window.map(|(window, limits, _)| (window, *limits)),
            account: account.limits,
            requests: self.requests,
            tokens: self.tokens,
            budget: self.budget.as_ref().map(|(ledger, label, worst)| {
                (label.as_str(), ledger.limit().nanos(), worst.nanos())
            }),
            breaker: self.breaker.as_ref().map(|b| BreakerKey {
                key: &b.key,
                trials: self.trials,
            }),
        };
        let admitted = match account.state.admit(&ask).await {
            Ok(admitted) => admitted,
            Err(_) => return SharedAdmission::Unavailable,
        };
        let reason = match admitted {
            Admitted::Granted {
                id,
                trial,
                spend,
                windows,
            } => {
                account.observe(self.model.as_deref(), windows);
                if let Some((ledger, _, _)) = &self.budget {
                    ledger.mirror_shared(spend, 0, self.now);
                }
                let holding = Holding {
                    account: self.account,
                    model: self.model,
                    id,
                    budget: self.budget.map(|(ledger, label, _)| (ledger, label)),
                    breaker: self.breaker.map(|b| SharedBreaker { trial, ..b }),
                    sinks: self.sinks,
                };
                return SharedAdmission::Held(SharedHeld::Reserved(Reserved(Some(holding))));
            }
            Admitted::CoolingDown(wait) => {
                account.refuse_for(wait);
                SkipReason::RateLimited {
                    retry_in_ms: Some(millis::saturating(wait)),
                }
            }
            Admitted::RateLimited(wait) => {
                if let Some(wait) = wait {
                    account.refuse_for(wait);
                }
                SkipReason::RateLimited {
                    retry_in_ms: wait.map(millis::saturating),
                }
            }
            Admitted::OverBudget { committed, limit } => SkipReason::BudgetExhausted {
                spent_usd: Usd::from_nanos(committed).dollars(),
                limit_usd: Usd::from_nanos(limit).dollars(),
            },
            Admitted::BreakerOpen(wait) => SkipReason::BreakerOpen {
                recovers_in_ms: millis::saturating(wait),
            },
        };
        SharedAdmission::Refused(reason)
    }
}

struct SharedBreaker {
    key: String,
    /// The breaker generation, when the attempt is a fleet-wide half-open trial.
    trial: Option<u64>,
    recovery: Duration,
}

/// What an attempt holds of the shared state: its own reservation in Redis, or a share
/// of a leased block.
pub(crate) enum SharedHeld {
    Reserved(Reserved),
    Leased(LeaseHeld),
}

impl SharedHeld {
    /// Settles a successful attempt to its usage and cost.
    pub(crate) fn settle(self, usage: &Usage, cost: Option<Usd>, latency: Duration) {
        match self {
            SharedHeld::Reserved(held) => held.settle(usage, cost, latency),
            SharedHeld::Leased(held) => held.settle(usage, cost),
        }
    }

    /// Settles an attempt cancelled after its call started: it keeps its request and is
    /// charged `charge`.
    pub(crate) fn cancelled(self, charge: Charge) {
        match self {
            SharedHeld::Reserved(mut held) => {
                let verdict = match held.trial() {
                    Some(generation) => BreakerVerdict::TrialReleased { generation },
                    None => BreakerVerdict::None,
                };
                held.finish(Outcome {
                    requests: 1,
                    tokens: charge.tokens,
                    cost: charge.cost.unwrap_or(Usd::ZERO),
                    cooldown: None,
                    verdict,
                    health: None,
                });
            }
            SharedHeld::Leased(held) => held.charge(charge.tokens, charge.cost),
        }
    }

    /// Settles a failed attempt; `cool_down` is the account-wide cool-down it started.
    pub(crate) fn fail(
        self,
        error: &ProviderError,
        cool_down: Option<Duration>,
        latency: Duration,
        opened_here: bool,
    ) {
        match self {
            SharedHeld::Reserved(held) => held.fail(error, cool_down, latency, opened_here),
            SharedHeld::Leased(held) => held.fail(cool_down),
        }
    }

    /// Settles an attempt that failed after producing `usage`: charged as used, reported
    /// as a failure.
    pub(crate) fn settle_broken(self, usage: &Usage, cost: Option<Usd>, broken: &Broken<'_>) {
        match self {
            SharedHeld::Reserved(mut held) => {
                let verdict = held.failure_verdict(broken.error, broken.breaker_opened);
                let fault = broken.error.is_provider_fault();
                held.finish(Outcome {
                    requests: 1,
                    tokens: usage.total_tokens(),
                    cost: cost.unwrap_or(Usd::ZERO),
                    cooldown: broken.cool_down,
                    verdict,
                    health: fault.then_some((false, broken.latency)),
                });
            }
            SharedHeld::Leased(held) => held.settle_broken(usage, cost, broken.cool_down),
        }
    }
}

/// An attempt's own reservation in Redis. Settled after the call by a spawned task;
/// dropped unsettled (a cancelled call), it is released the same way. `None` once
/// settled.
pub(crate) struct Reserved(Option<Holding>);

/// What a reservation in Redis is about, and where its settlement reports.
struct Holding {
    account: Arc<SharedAccount>,
    model: Option<Arc<str>>,
    /// The reservation, 0 for none.
    id: u128,
    budget: Option<(BudgetLedger, String)>,
    breaker: Option<SharedBreaker>,
    sinks: Arc<[Arc<dyn AlertSink>]>,
}

impl Holding {
    fn trial(&self) -> Option<u64> {
        self.breaker.as_ref().and_then(|b| b.trial)
    }
}

/// How an attempt ended, for its settlement.
struct Outcome {
    requests: u64,
    tokens: u64,
    cost: Usd,
    cooldown: Option<Duration>,
    verdict: BreakerVerdict,
    health: Option<(bool, Duration)>,
}

impl Reserved {
    fn trial(&self) -> Option<u64> {
        self.0.as_ref().and_then(Holding::trial)
    }

    fn settle(mut self, usage: &Usage, cost: Option<Usd>, latency: Duration) {
        let verdict = match self.trial() {
            Some(generation) => BreakerVerdict::TrialSucceeded { generation },
            None => BreakerVerdict::None,
        };
        self.finish(Outcome {
            requests: 1,
            tokens: usage.total_tokens(),
            cost: cost.unwrap_or(Usd::ZERO),
            cooldown: None,
            verdict,
            health: Some((true, latency)),
        });
    }

    /// Settles a failed attempt: one request with no tokens and no spend; `cool_down`
    /// cools the account down fleet-wide; a provider fault counts against the breaker and
    /// health.
    fn fail(
        mut self,
        error: &ProviderError,
        cool_down: Option<Duration>,
        latency: Duration,
        opened_here: bool,
    ) {
        let fault = error.is_provider_fault();
        let verdict = self.failure_verdict(error, opened_here);
        self.finish(Outcome {
            requests: 1,
            tokens: 0,
            cost: Usd::ZERO,
            cooldown: cool_down,
            verdict,
            health: fault.then_some((false, latency)),
        });
    }

    /// What a failure tells the shared breaker.
    fn failure_verdict(&self, error: &ProviderError, opened_here: bool) -> BreakerVerdict {
        match (self.trial(), error.is_provider_fault()) {
            (Some(generation), true) => BreakerVerdict::TrialFailed { generation },
            (Some(generation), false) => BreakerVerdict::TrialReleased { generation },
            (None, true) if opened_here => BreakerVerdict::OpenedHere,
            (None, _) => BreakerVerdict::None,
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        let Some(holding) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime left to write it: the reservation expires on its own.
            return;
        };
        runtime.spawn(SettleJob::new(holding, outcome).run());
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if self.0.is_some() {
            let verdict = match self.trial() {
                Some(generation) => BreakerVerdict::TrialReleased { generation },
                None => BreakerVerdict::None,
            };
            self.finish(Outcome {
                requests: 0,
                tokens: 0,
                cost: Usd::ZERO,
                cooldown: None,
                verdict,
                health: None,
            });
        }
    }
}
