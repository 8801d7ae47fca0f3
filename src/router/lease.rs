//! Lease mode: blocks of an account's shared capacity, taken from Redis ahead of need
//! and served here, so most attempts make no round trip. The bound on what this lets
//! through is documented on [`Lease`](crate::shared::Lease).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use tokio::time::Instant;

use super::shared::{SettleJob, SharedAccount};
use crate::budget::{AlertSink, BudgetLedger, Usd};
use crate::shared::{Admitted, Ask, Lease};
use crate::types::Usage;

/// What one request needs from a block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Need {
    pub(crate) tokens: u64,
    /// Worst-case cost in nano-dollars, 0 without a budget.
    pub(crate) worst: u64,
}

/// How a request fared with the lease.
pub(crate) enum Leased {
    Held(LeaseHeld),
    /// No block can be had (Redis refuses a whole block near a limit): admit the request
    /// on its own, which is exact at the edge.
    Alone,
    Unavailable,
}

/// One account's current block.
pub(crate) struct LeaseSlot {
    lease: Lease,
    current: ArcSwapOption<Block>,
    /// One refill at a time; the others wait for its block.
    refill: tokio::sync::Mutex<()>,
}

/// A block of capacity reserved in Redis. Counters are what this instance took from it;
/// when the last request using it is done, it is settled to them (see [`Drop`]).
pub(crate) struct Block {
    id: u128,
    expires: Instant,
    requests: u64,
    /// `None`: the account has no TPM limit.
    tokens: Option<u64>,
    /// `None`: the account has no budget. Nano-dollars.
    budget: Option<u64>,
    taken_requests: AtomicU64,
    taken_tokens: AtomicU64,
    /// Worst cases in flight plus actual costs settled.
    committed: AtomicU64,
    spent: AtomicU64,
    /// Set by a 429: the block serves no more.
    closed: AtomicBool,
    settle: BlockSettle,
}

/// What settling a block needs.
struct BlockSettle {
    account: Arc<SharedAccount>,
    ledger: Option<(BudgetLedger, String)>,
    sinks: Arc<[Arc<dyn AlertSink>]>,
}

fn take(counter: &AtomicU64, amount: u64, limit: u64) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            v.checked_add(amount).filter(|total| *total <= limit)
        })
        .is_ok()
}

fn give_back(counter: &AtomicU64, amount: u64) {
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_sub(amount))
    });
}

impl Block {
    fn serves(&self, now: Instant, label: Option<&str>) -> bool {
        let same_window = match (&self.settle.ledger, label) {
            (Some((_, block_label)), Some(label)) => block_label == label,
            _ => true,
        };
        now < self.expires && same_window && !self.closed.load(Ordering::Acquire)
    }

    /// Takes one request's share, all of it or nothing.
    fn try_take(&self, need: Need) -> bool {
        if !take(&self.taken_requests, 1, self.requests) {
            return false;
        }
        if let Some(tokens) = self.tokens
            && !take(&self.taken_tokens, need.tokens, tokens)
        {
            give_back(&self.taken_requests, 1);
            return false;
        }
        if let Some(budget) = self.budget
            && !take(&self.committed, need.worst, budget)
        {
            give_back(&self.taken_requests, 1);
            if self.tokens.is_some() {
                give_back(&self.taken_tokens, need.tokens);
            }
            return false;
        }
        true
    }
}

impl LeaseSlot {
    pub(crate) fn new(lease: Lease) -> Self {
        Self {
            lease,
            current: ArcSwapOption::empty(),
            refill: tokio::sync::Mutex::new(()),
        }
    }

    fn take_from_current(&self, need: Need, label: Option<&str>) -> Option<LeaseHeld> {
        let block = self.current.load_full()?;
        (block.serves(Instant::now(), label) && block.try_take(need)).then(|| LeaseHeld {
            block,
            need,
            open: true,
        })
    }

    /// Takes one request from the current block, or a new block from Redis (one round
    /// trip) when it is spent, expired or closed.
    pub(crate) async fn take(
        self: &Arc<Self>,
        account: &Arc<SharedAccount>,
        need: Need,
        budget: Option<(&BudgetLedger, &str)>,
        sinks: &Arc<[Arc<dyn AlertSink>]>,
    ) -> Leased {
        let label = budget.map(|(_, label)| label);
        if let Some(held) = self.take_from_current(need, label) {
            return Leased::Held(held);
        }
        // The refill runs as a task of its own: a caller cancelled while Redis answers
        // would otherwise drop a granted block it never saw, which would then hold its
        // requests for the window and its dollars for the reservation ttl. The task
        // stores the block, so later requests use what the cancelled one asked for.
        let refill = Refill {
            slot: self.clone(),
            account: account.clone(),
            need,
            budget: budget.map(|(ledger, label)| (ledger.clone(), label.to_owned())),
            sinks: sinks.clone(),
        };
        tokio::spawn(refill.run())
            .await
            .unwrap_or(Leased::Unavailable)
    }

    /// Hands the block's unused capacity back at its expiry even if no request comes.
    fn retire_when_expired(self: &Arc<Self>, block: &Arc<Block>) {
        let slot: Weak<Self> = Arc::downgrade(self);
        let block: Weak<Block> = Arc::downgrade(block);
        let ttl = self.lease.block_ttl();
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            let (Some(slot), Some(block)) = (slot.upgrade(), block.upgrade()) else {
                return;
            };
            let current = slot.current.load();
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &block)) {
                slot.current.compare_and_swap(&*current, None);
            }
        });
    }
}

/// A block asked of Redis, with everything the asking needs owned, so that it can finish
/// as a task of its own after its caller is gone.
struct Refill {
    slot: Arc<LeaseSlot>,
    account: Arc<SharedAccount>,
    need: Need,
    budget: Option<(BudgetLedger, String)>,
    sinks: Arc<[Arc<dyn AlertSink>]>,
}

impl Refill {
    /// Takes a new block from Redis (one round trip) unless another refill just did, and
    /// the request's share of it.
    async fn run(self) -> Leased {
        let Self {
            slot,
            account,
            need,
            budget,
            sinks,
        } = self;
        let budget = budget
            .as_ref()
            .map(|(ledger, label)| (ledger, label.as_str()));
        let label = budget.map(|(_, label)| label);
        let _refilling = slot.refill.lock().await;
        if let Some(held) = slot.take_from_current(need, label) {
            return Leased::Held(held);
        }
        // Retire the old block: it settles once its last request is done.
        slot.current.store(None);
        let limits = account.limits;
        let tokens = (limits.tpm > 0).then(|| slot.lease.block_tokens().max(need.tokens));
        let budget_block = budget.map(|(ledger, label)| {
            let amount = slot.lease.block_usd().nanos().max(need.worst);
            (label, ledger.limit().nanos(), amount)
        });
        let ask = Ask {
            keys: &account.keys,
            model: None,
            account: limits,
            requests: u64::from(slot.lease.block_requests()),
            tokens: tokens.unwrap_or(0),
            budget: budget_block,
            breaker: None,
        };
        let (id, spend) = match account.state.admit(&ask).await {
            Ok(Admitted::Granted {
                id, spend, windows, ..
            }) => {
                account.observe(None, windows);
                (id, spend)
            }
            Ok(_) => return Leased::Alone,
            Err(_) => return Leased::Unavailable,
        };
        if let Some((ledger, _)) = budget {
            ledger.mirror_shared(spend, 0, SystemTime::now());
        }
        let block = Arc::new(Block {
            id,
            expires: Instant::now() + slot.lease.block_ttl(),
            requests: u64::from(slot.lease.block_requests()),
            tokens,
            budget: budget_block.map(|(_, _, amount)| amount),
            taken_requests: AtomicU64::new(0),
            taken_tokens: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            spent: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            settle: BlockSettle {
                account: account.clone(),
                ledger: budget.map(|(ledger, label)| (ledger.clone(), label.to_owned())),
                sinks: sinks.clone(),
            },
        });
        let took = block.try_take(need);
        debug_assert!(
            took,
            "a fresh block holds at least the request it was sized for"
        );
        slot.current.store(Some(block.clone()));
        slot.retire_when_expired(&block);
        Leased::Held(LeaseHeld {
            block,
            need,
            open: true,
        })
    }
}

/// One request's share of a block.
pub(crate) struct LeaseHeld {
    block: Arc<Block>,
    need: Need,
    open: bool,
}

impl LeaseHeld {
    pub(crate) fn settle(self, usage: &Usage, cost: Option<Usd>) {
        self.charge(usage.total_tokens(), cost);
    }

    /// Settles the request to `actual` tokens and `cost`.
    pub(crate) fn charge(mut self, actual: u64, cost: Option<Usd>) {
        self.open = false;
        let block = &self.block;
        if block.tokens.is_some() {
            if actual >= self.need.tokens {
                take(&block.taken_tokens, actual - self.need.tokens, u64::MAX);
            } else {
                give_back(&block.taken_tokens, self.need.tokens - actual);
            }
        }
        if block.budget.is_some() {
            let cost = cost.map_or(0, Usd::nanos);
            give_back(&block.committed, self.need.worst);
            take(&block.committed, cost, u64::MAX);
            take(&block.spent, cost, u64::MAX);
        }
    }

    /// A failed request: it counts with no tokens and no spend; a 429 closes the block
    /// and cools the account down fleet-wide.
    pub(crate) fn fail(mut self, cooldown: Option<Duration>) {
        self.open = false;
        let block = &self.block;
        if block.tokens.is_some() {
            give_back(&block.taken_tokens, self.need.tokens);
        }
        give_back(&block.committed, self.need.worst);
        if let Some(cooldown) = cooldown {
            block.cool_down(cooldown);
        }
    }

    /// A request that failed after producing `usage`: charged as used.
    pub(crate) fn settle_broken(
        self,
        usage: &Usage,
        cost: Option<Usd>,
        cooldown: Option<Duration>,
    ) {
        let block = self.block.clone();
        self.settle(usage, cost);
        if let Some(cooldown) = cooldown {
            block.cool_down(cooldown);
        }
    }
}

impl Block {
    /// Serves no more, and pauses the account fleet-wide, as a provider's 429 asked.
    fn cool_down(&self, cooldown: Duration) {
        self.closed.store(true, Ordering::Release);
        let job = SettleJob::cooldown(&self.settle.account, cooldown);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(job.run());
        }
    }
}

impl Drop for LeaseHeld {
    fn drop(&mut self) {
        if self.open {
            let block = &self.block;
            give_back(&block.taken_requests, 1);
            if block.tokens.is_some() {
                give_back(&block.taken_tokens, self.need.tokens);
            }
            give_back(&block.committed, self.need.worst);
        }
    }
}

impl Drop for Block {
    /// Settles the block in Redis to what was taken from it: unused requests, tokens
    /// and budget go back to the fleet.
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime left: the block's reservations expire in Redis on their own.
            return;
        };
        let settle = &self.settle;
        let job = SettleJob::block(
            &settle.account,
            self.id,
            self.taken_requests.load(Ordering::Acquire),
            self.taken_tokens.load(Ordering::Acquire),
            settle.ledger.clone(),
            Usd::from_nanos(self.spent.load(Ordering::Acquire)),
            settle.sinks.clone(),
        );
        runtime.spawn(job.run());
    }
}
