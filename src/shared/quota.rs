//! [`SharedQuota`]: a request rate and a budget of something that is not a provider
//! account (a gateway's client key, a tenant), enforced by every instance together
//! through the same scripts that admit and settle accounts.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::admission::{Admitted, Ask, Settle, WindowLimits};
use super::keys::AccountKeys;
use super::state::{FailMode, RedisState};
use crate::budget::{BudgetLedger, BudgetReservation, Usd};
use crate::limits::{LimitReservation, Limiter};
use crate::state::{StateError, WriteId};

/// What a request holds against a quota's budget before its cost is known: enough to be
/// refused once the budget is spent, too little to refuse anything else.
const HOLD: Usd = Usd::from_nanos(1);

/// A requests-per-minute limit and a budget of a caller of your own (a gateway's client
/// key, a tenant), shared by every instance using one [`RedisState`].
///
/// Each [`admit`](Self::admit) is one Redis round trip (the accounts' admission script:
/// the rate window, then the budget); [`QuotaGrant::settle`] adds the request's actual
/// cost after it, off the caller's path. The [`Limiter`] and [`BudgetLedger`] it is
/// built with give the limits, and enforce them on this instance alone while Redis does
/// not answer under [`FailMode::Open`]; spend settled meanwhile is written to Redis once
/// it answers again. Under [`FailMode::Closed`] admission is refused meanwhile.
///
/// Quotas live beside accounts under the state's prefix: name them so no account has
/// the same name (the gateway uses `gateway-key:NAME`). A cheap-to-clone handle.
///
/// ```no_run
/// use std::time::SystemTime;
/// use routewise::budget::Usd;
/// use routewise::shared::{RedisState, SharedQuota};
/// use routewise::{Budget, BudgetLedger, Limiter, RateLimits};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = RedisState::builder("redis://127.0.0.1:6379").build()?;
/// let limiter = Limiter::new(RateLimits::new().rpm(60))?;
/// let ledger = BudgetLedger::new("tenant:acme", Budget::monthly_usd(50.0), SystemTime::now())?;
/// let quota = SharedQuota::new(&state, "tenant:acme", Some(limiter), Some(ledger));
/// let grant = quota.admit().await?;
/// // ... serve the request ...
/// grant.settle(1_200, Usd::from_cents(3));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedQuota {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    state: RedisState,
    keys: AccountKeys,
    limiter: Option<Limiter>,
    ledger: Option<BudgetLedger>,
    /// Whether a write-back of spend settled here while Redis was away waits for Redis.
    write_back_waiting: AtomicBool,
}

/// Why [`SharedQuota::admit`] refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaRefusal {
    /// The requests-per-minute limit is reached.
    #[error("quota `{quota}` is over its requests per minute")]
    RateLimited {
        /// The quota.
        quota: String,
        /// When a request fits again, if known.
        retry_after: Option<Duration>,
    },
    /// The budget's current window is spent.
    #[error("quota `{quota}` has spent its budget ({spent} of {limit})")]
    OverBudget {
        /// The quota.
        quota: String,
        /// Spend and reservations in the window.
        spent: Usd,
        /// The window's limit.
        limit: Usd,
    },
    /// Redis does not answer and the fail mode is [`FailMode::Closed`].
    #[error("quota `{quota}` cannot be checked: the shared state is unavailable")]
    Unavailable {
        /// The quota.
        quota: String,
        /// Redis's failure.
        #[source]
        source: StateError,
    },
}

impl SharedQuota {
    /// A quota named `name`, shared through `state`, with the RPM of `limiter` (its
    /// TPM and per-model limits are not shared) and the budget of `ledger`; either may be
    /// absent.
    pub fn new(
        state: &RedisState,
        name: &str,
        limiter: Option<Limiter>,
        ledger: Option<BudgetLedger>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                state: state.clone(),
                keys: AccountKeys::new(state.prefix(), name),
                limiter,
                ledger,
                write_back_waiting: AtomicBool::new(false),
            }),
        }
    }

    /// The quota's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Admits one request: takes a slot in the fleet's rate window and checks the
    /// fleet's spend, or says why not.
    ///
    /// # Errors
    ///
    /// [`QuotaRefusal`]: over the rate or the budget, or Redis away under
    /// [`FailMode::Closed`].
    pub async fn admit(&self) -> Result<QuotaGrant, QuotaRefusal> {
        let inner = &self.inner;
        if inner.limiter.is_none() && inner.ledger.is_none() {
            return Ok(QuotaGrant::new(Held::Nothing));
        }
        let rpm = inner
            .limiter
            .as_ref()
            .and_then(|l| l.limits().requests_per_minute())
            .map_or(0, u64::from);
        let window = inner
            .ledger
            .as_ref()
            .map(|l| (l.window_label(SystemTime::now()), l.limit()));
        let ask = Ask {
            keys: &inner.keys,
            model: None,
            account: WindowLimits { rpm, tpm: 0 },
            requests: 1,
            tokens: 0,
            budget: window
                .as_ref()
                .map(|(label, limit)| (label.as_str(), limit.nanos(), HOLD.nanos())),
            breaker: None,
        };
        match inner.state.admit(&ask).await {
            Ok(Admitted::Granted { id, .. }) => Ok(QuotaGrant::new(Held::Shared {
                quota: self.clone(),
                id,
                window,
            })),
            Ok(Admitted::OverBudget { committed, limit }) => Err(QuotaRefusal::OverBudget {
                quota: inner.name.clone(),
                spent: Usd::from_nanos(committed),
                limit: Usd::from_nanos(limit),
            }),
            Ok(Admitted::RateLimited(wait)) => Err(self.rate_limited(wait)),
            // Quotas have neither cool-downs nor breakers; should either show up, wait.
            Ok(Admitted::CoolingDown(wait) | Admitted::BreakerOpen(wait)) => {
                Err(self.rate_limited(Some(wait)))
            }
            Err(source) => match inner.state.fail_mode() {
                FailMode::Open => self.admit_here(),
                FailMode::Closed => Err(QuotaRefusal::Unavailable {
                    quota: inner.name.clone(),
                    source,
                }),
            },
        }
    }

    fn rate_limited(&self, retry_after: Option<Duration>) -> QuotaRefusal {
        QuotaRefusal::RateLimited {
            quota: self.inner.name.clone(),
            retry_after,
        }
    }

    /// Admission by this instance's own limiter and ledger, while Redis is away.
    fn admit_here(&self) -> Result<QuotaGrant, QuotaRefusal> {
        let inner = &self.inner;
        let now = Instant::now();
        let slot = match &inner.limiter {
            Some(limiter) => Some(limiter.try_reserve("", 0, now).map_err(|limited| {
                self.rate_limited(
                    limited
                        .retry_at()
                        .map(|at| at.saturating_duration_since(now)),
                )
            })?),
            None => None,
        };
        let spend = match &inner.ledger {
            Some(ledger) => {
                let wall = SystemTime::now();
                let over = |e: crate::budget::Exhausted| QuotaRefusal::OverBudget {
                    quota: inner.name.clone(),
                    spent: e.spent.saturating_add(e.reserved),
                    limit: e.limit,
                };
                ledger.check(HOLD, wall).map_err(over)?;
                Some(ledger.reserve(Usd::ZERO, wall).map_err(over)?)
            }
            None => None,
        };
        Ok(QuotaGrant::new(Held::Local {
            quota: self.clone(),
            slot,
            spend,
        }))
    }

    /// Writes spend settled here while Redis was away once it answers; one such
    /// write-back waits at a time.
    fn write_back_later(&self) {
        if self.inner.write_back_waiting.swap(true, Ordering::AcqRel) {
            return;
        }
        let quota = self.clone();
        self.inner.state.retry_later(Box::new(move || {
            Box::pin(async move {
                quota
                    .inner
                    .write_back_waiting
                    .store(false, Ordering::Release);
                let Some(ledger) = &quota.inner.ledger else {
                    return;
                };
                let synced = ledger.sync(&quota.inner.state, SystemTime::now()).await;
                if synced.is_err() || ledger.has_unsynced() {
                    quota.write_back_later();
                }
            })
        }));
    }
}

impl fmt::Debug for SharedQuota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedQuota")
            .field("name", &self.inner.name)
            .field("limiter", &self.inner.limiter)
            .field("ledger", &self.inner.ledger)
            .finish_non_exhaustive()
    }
}

/// One request admitted by a [`SharedQuota`]. [`settle`](Self::settle) it with what the
/// request used; dropped unsettled (the request was abandoned), it releases its slot and
/// budget hold, in Redis too.
#[must_use = "settle the grant with what the request used, or drop it to release it"]
pub struct QuotaGrant {
    held: Held,
}

enum Held {
    Nothing,
    Shared {
        quota: SharedQuota,
        id: u128,
        /// The budget window's label and limit, when the quota has a budget.
        window: Option<(String, Usd)>,
    },
    Local {
        quota: SharedQuota,
        slot: Option<LimitReservation>,
        spend: Option<BudgetReservation>,
    },
}

impl QuotaGrant {
    fn new(held: Held) -> Self {
        Self { held }
    }

    /// Settles the grant to the request's `tokens` and `cost`. The shared settlement is
    /// sent on the Tokio runtime, off the caller's path, and sent again once Redis
    /// answers if it does not.
    pub fn settle(mut self, tokens: u64, cost: Usd) {
        match std::mem::replace(&mut self.held, Held::Nothing) {
            Held::Nothing => {}
            Held::Shared { quota, id, window } => send(Outcome {
                quota,
                id,
                window,
                tokens,
                cost,
                revoke: false,
                write: WriteId::fresh(),
            }),
            Held::Local { quota, slot, spend } => {
                if let Some(slot) = slot {
                    slot.settle(tokens);
                }
                if let Some(spend) = spend {
                    // Its alerts are not sent: a quota has no alert sinks.
                    let _alerts = spend.settle(cost, SystemTime::now());
                    quota.write_back_later();
                }
            }
        }
    }
}

impl Drop for QuotaGrant {
    fn drop(&mut self) {
        if let Held::Shared { quota, id, .. } = std::mem::replace(&mut self.held, Held::Nothing) {
            send(Outcome {
                quota,
                id,
                window: None,
                tokens: 0,
                cost: Usd::ZERO,
                revoke: true,
                write: WriteId::fresh(),
            });
        }
    }
}

impl fmt::Debug for QuotaGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.held {
            Held::Nothing => "nothing",
            Held::Shared { .. } => "shared",
            Held::Local { .. } => "local",
        };
        f.debug_struct("QuotaGrant").field("held", &kind).finish()
    }
}

/// What one grant's settlement (or, with `revoke`, release) writes; applied once under
/// `write` however often it is sent.
struct Outcome {
    quota: SharedQuota,
    id: u128,
    window: Option<(String, Usd)>,
    tokens: u64,
    cost: Usd,
    revoke: bool,
    write: WriteId,
}

/// Sends `outcome` on the runtime, off the caller's path.
fn send(outcome: Outcome) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // No runtime left: the hold expires in Redis on its own.
        return;
    };
    runtime.spawn(outcome.write());
}

impl Outcome {
    /// Writes the outcome, or keeps it for when Redis answers again.
    fn write(self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let inner = &self.quota.inner;
            let settle = Settle {
                keys: &inner.keys,
                model: None,
                id: self.id,
                requests: u64::from(!self.revoke),
                tokens: self.tokens,
                budget: self
                    .window
                    .as_ref()
                    .map(|(label, limit)| (label.as_str(), limit.nanos(), "")),
                spend: self.cost.nanos(),
                cooldown: None,
                breaker: None,
                health: None,
                write: self.write,
                revoke: self.revoke,
            };
            let failed = inner.state.settle(&settle).await.is_err();
            if failed {
                let state = inner.state.clone();
                state.retry_later(Box::new(move || self.write()));
            }
        })
    }
}
