//! The spend ledger of one account: reserve the worst case before a call, settle the
//! actual cost after it, alert on thresholds, roll over with the window.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use serde::Serialize;

use super::window::serialize_rfc3339;
use super::{Alert, Budget, BudgetConfigError, BudgetWindow, Usd, WindowSpan};
use crate::state::{StateError, StateKey, StateStore, WriteId};

/// Tracks one account's spend against its [`Budget`], lock-free.
///
/// Before a call, [`reserve`](Self::reserve) holds the call's worst-case cost; after it,
/// [`BudgetReservation::settle`] replaces that with the actual cost. A reservation is
/// granted only while spend plus every reservation in flight plus the new one stays
/// within the limit, in one atomic step, so concurrent requests cannot race past it.
///
/// **How far spend can exceed the budget**: by at most the sum, over the requests in
/// flight, of how much each one's actual cost exceeds its reserved worst case. When every
/// worst case is a true upper bound (the prompt counted exactly and the output capped by
/// `max_tokens`), spend never exceeds the budget. Estimated prompts (models without an
/// exact tokenizer) and providers that bill beyond `max_tokens` can undershoot their
/// reservation; only that difference can go over. Spend that other processes record in a
/// shared [`StateStore`] arrives with [`sync`](Self::sync) and may add to it.
///
/// Thresholds fire an [`Alert`] once each per window, decided by one atomic bit-or, so
/// concurrent settles never fire one twice. The window rolls over by the wall-clock
/// `SystemTime` passed in (tests pass their own), and spend starts again from zero.
///
/// A cheap-to-clone handle: clones share the same ledger.
///
/// ```
/// use std::time::SystemTime;
/// use routewise::budget::{Budget, BudgetLedger, Usd};
///
/// let ledger = BudgetLedger::new("openai-main", Budget::monthly_usd(10.0), SystemTime::now())?;
/// let now = SystemTime::now();
/// let held = ledger.reserve(Usd::from_cents(600), now)?;      // worst case $6
/// assert!(ledger.reserve(Usd::from_cents(500), now).is_err()); // $6 + $5 > $10
/// let alerts = held.settle(Usd::from_cents(520), now);         // it cost $5.20
/// assert_eq!(alerts[0].threshold_percent, 50);
/// assert_eq!(ledger.snapshot(now).spent, Usd::from_cents(520));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BudgetLedger {
    inner: Arc<Inner>,
}

struct Inner {
    account: Arc<str>,
    limit: Usd,
    thresholds: Vec<u16>,
    window: BudgetWindow,
    current: ArcSwap<WindowState>,
    /// Windows rolled over with spend not yet written to a store.
    closed: Mutex<Vec<Arc<WindowState>>>,
    /// One [`BudgetLedger::sync`] at a time.
    syncing: tokio::sync::Mutex<()>,
}

/// The counters of one budget window, all in nano-dollars.
struct WindowState {
    span: WindowSpan,
    /// What admission checks: spend (here and elsewhere) plus worst cases in flight.
    committed: AtomicU64,
    /// Settled here.
    settled: AtomicU64,
    /// Recorded in the store by other processes or earlier runs.
    others: AtomicU64,
    /// Settled here and not yet written to the store.
    unsynced: AtomicU64,
    /// Settled here and written to the store.
    pushed: AtomicU64,
    /// A write of unsynced spend whose answer never came: it may or may not have been
    /// applied, so it goes again under the same id before anything else is written.
    in_doubt: Mutex<Option<(WriteId, u64)>>,
    /// Thresholds that fired, bit `i` for the `i`-th threshold.
    fired: AtomicU64,
}

impl WindowState {
    fn new(span: WindowSpan) -> Self {
        Self {
            span,
            committed: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            others: AtomicU64::new(0),
            unsynced: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
            in_doubt: Mutex::new(None),
            fired: AtomicU64::new(0),
        }
    }

    fn lock_in_doubt(&self) -> std::sync::MutexGuard<'_, Option<(WriteId, u64)>> {
        self.in_doubt.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `total`, the spend the store holds for this window, as the truth about what
    /// others spent: everything in it that this ledger did not push.
    fn learn_store_total(&self, total: u64) {
        let others = total.saturating_sub(self.pushed.load(Ordering::Acquire));
        let before = self.others.swap(others, Ordering::AcqRel);
        if others >= before {
            add(&self.committed, others - before);
        } else {
            sub(&self.committed, before - others);
        }
    }

    fn spend(&self) -> u64 {
        self.settled
            .load(Ordering::Acquire)
            .saturating_add(self.others.load(Ordering::Acquire))
    }
}

fn add(counter: &AtomicU64, amount: u64) {
    // Saturating, so an absurd amount cannot wrap a counter back to zero.
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_add(amount))
    });
}

fn sub(counter: &AtomicU64, amount: u64) {
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_sub(amount))
    });
}

impl BudgetLedger {
    /// A ledger for `account` enforcing `budget`, starting empty in the window `now`
    /// falls in. [`sync`](Self::sync) with a store to load spend recorded before.
    pub fn new(
        account: impl Into<Arc<str>>,
        budget: Budget,
        now: SystemTime,
    ) -> Result<Self, BudgetConfigError> {
        budget.validate()?;
        let limit = budget.limit()?;
        let window = budget.budget_window();
        Ok(Self {
            inner: Arc::new(Inner {
                account: account.into(),
                limit,
                thresholds: budget.alert_thresholds().to_vec(),
                window,
                current: ArcSwap::from_pointee(WindowState::new(window.span_at(now))),
                closed: Mutex::new(Vec::new()),
                syncing: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The account this ledger belongs to.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// The limit per window.
    pub fn limit(&self) -> Usd {
        self.inner.limit
    }

    /// Holds `worst_case` against the budget of the window `now` falls in, or says the
    /// budget cannot take it.
    pub fn reserve(
        &self,
        worst_case: Usd,
        now: SystemTime,
    ) -> Result<BudgetReservation, Exhausted> {
        let window = self.inner.window_at(now);
        let limit = self.inner.limit.nanos();
        let amount = worst_case.nanos();
        let granted =
            window
                .committed
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |committed| {
                    committed
                        .checked_add(amount)
                        .filter(|total| *total <= limit)
                });
        match granted {
            Ok(_) => Ok(BudgetReservation {
                ledger: self.inner.clone(),
                window,
                amount,
                open: true,
            }),
            Err(committed) => Err(self.inner.exhausted(&window, committed, worst_case)),
        }
    }

    /// Whether [`reserve`](Self::reserve) would grant `worst_case` now, without holding
    /// anything: for planning and explaining.
    pub fn check(&self, worst_case: Usd, now: SystemTime) -> Result<(), Exhausted> {
        let window = self.inner.window_at(now);
        let committed = window.committed.load(Ordering::Acquire);
        match committed.checked_add(worst_case.nanos()) {
            Some(total) if total <= self.inner.limit.nanos() => Ok(()),
            _ => Err(self.inner.exhausted(&window, committed, worst_case)),
        }
    }

    /// Spend, reservations and fired thresholds of the window `now` falls in.
    pub fn snapshot(&self, now: SystemTime) -> BudgetSnapshot {
        let window = self.inner.window_at(now);
        let spent = window.spend();
        let fired = window.fired.load(Ordering::Acquire);
        BudgetSnapshot {
            account: self.inner.account.clone(),
            window: window.span.label.clone(),
            window_start: window.span.start,
            window_end: window.span.end,
            limit: self.inner.limit,
            spent: Usd::from_nanos(spent),
            reserved: Usd::from_nanos(
                window
                    .committed
                    .load(Ordering::Acquire)
                    .saturating_sub(spent),
            ),
            thresholds_fired: self
                .inner
                .thresholds
                .iter()
                .enumerate()
                .filter(|(i, _)| fired & (1 << i) != 0)
                .map(|(_, p)| *p)
                .collect(),
        }
    }

    /// Writes spend settled since the last sync to `store` and learns the spend recorded
    /// there by others (other processes sharing the store, or this account's earlier
    /// runs), together with the thresholds that already fired.
    ///
    /// Call it once at start-up, before serving, to restore spend after a restart; then
    /// after settles or periodically (spend settled since the last sync is what a crash
    /// loses, on top of what the store itself has not made durable); and before
    /// shutting down. Returns alerts for thresholds that spend recorded elsewhere pushed
    /// this account over. On an error nothing is lost: the unsynced spend is kept for the
    /// next sync.
    pub async fn sync(
        &self,
        store: &dyn StateStore,
        now: SystemTime,
    ) -> Result<Vec<Alert>, StateError> {
        let _one_at_a_time = self.inner.syncing.lock().await;
        let closed = std::mem::take(&mut *self.inner.lock_closed());
        for (i, window) in closed.iter().enumerate() {
            if let Err(error) = self.inner.push(store, window).await {
                self.inner.lock_closed().extend(closed[i..].iter().cloned());
                return Err(error);
            }
        }
        let window = self.inner.window_at(now);
        let total = self.inner.push(store, &window).await?;
        window.learn_store_total(total);
        let key = StateKey::alerts_fired(&self.inner.account, &window.span.label);
        let fired = store
            .fetch_or(&key, window.fired.load(Ordering::Acquire))
            .await?;
        window.fired.fetch_or(fired, Ordering::AcqRel);
        Ok(self.inner.alerts(&window, now))
    }
}

/// What a store shared with other instances (Redis) settles for the ledger: the ledger
/// then only mirrors the shared spend, and keeps its own counts for the times the store
/// cannot be reached.
#[cfg(feature = "redis")]
impl BudgetLedger {
    /// The label of the window `now` falls in.
    pub(crate) fn window_label(&self, now: SystemTime) -> String {
        self.inner.window_at(now).span.label.clone()
    }

    /// Learns the window's spend across every instance, `total`, as the shared store
    /// reported it, and the thresholds that this instance's settlement fired there;
    /// returns their alerts.
    pub(crate) fn mirror_shared(&self, total: u64, fired: u64, now: SystemTime) -> Vec<Alert> {
        let window = self.inner.window_at(now);
        window.learn_store_total(total);
        let newly = fired & !window.fired.fetch_or(fired, Ordering::AcqRel);
        self.inner.alerts_for(&window, newly, now)
    }

    /// Counts spend whose shared settlement has not been written yet (Redis did not
    /// answer it): it is retried under its own write id, not by [`sync`](Self::sync), so
    /// it is not unsynced here, only settled.
    pub(crate) fn record_pending(&self, cost: Usd, now: SystemTime) {
        let window = self.inner.window_at(now);
        add(&window.committed, cost.nanos());
        add(&window.settled, cost.nanos());
    }

    /// A settlement counted by [`record_pending`](Self::record_pending) reached the
    /// shared store: the store's total holds it from now on.
    pub(crate) fn pending_written(&self, cost: Usd, now: SystemTime) {
        add(&self.inner.window_at(now).pushed, cost.nanos());
    }

    /// Whether spend settled here waits to be written to the store.
    pub(crate) fn has_unsynced(&self) -> bool {
        let current = self.inner.current.load();
        current.unsynced.load(Ordering::Acquire) > 0
            || current.lock_in_doubt().is_some()
            || !self.inner.lock_closed().is_empty()
    }
}

impl Inner {
    /// The state of the window `now` falls in, rolling over when `now` has passed the
    /// current one. A `now` before the current window (a clock read earlier by a
    /// concurrent caller) counts in the current window: windows never go back.
    fn window_at(&self, now: SystemTime) -> Arc<WindowState> {
        loop {
            let current = self.current.load_full();
            if now < current.span.end {
                return current;
            }
            let fresh = Arc::new(WindowState::new(self.window.span_at(now)));
            let previous = self.current.compare_and_swap(&current, fresh.clone());
            if Arc::ptr_eq(&previous, &current) {
                self.lock_closed().push(current);
                return fresh;
            }
        }
    }

    fn lock_closed(&self) -> std::sync::MutexGuard<'_, Vec<Arc<WindowState>>> {
        self.closed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn exhausted(&self, window: &WindowState, committed: u64, requested: Usd) -> Exhausted {
        let spent = window.spend();
        Exhausted {
            account: self.account.clone(),
            window: window.span.label.clone(),
            limit: self.limit,
            spent: Usd::from_nanos(spent),
            reserved: Usd::from_nanos(committed.saturating_sub(spent)),
            requested,
            renews_at: window.span.end,
        }
    }

    /// Alerts for thresholds the window's spend has reached and that have not fired yet;
    /// each bit is claimed by exactly one caller.
    fn alerts(&self, window: &WindowState, now: SystemTime) -> Vec<Alert> {
        let spend = window.spend();
        let limit = u128::from(self.limit.nanos());
        let reached = self
            .thresholds
            .iter()
            .enumerate()
            .filter(|(_, percent)| u128::from(spend) * 100 >= u128::from(**percent) * limit)
            .fold(0_u64, |mask, (i, _)| mask | (1 << i));
        if reached & !window.fired.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        let newly = reached & !window.fired.fetch_or(reached, Ordering::AcqRel);
        self.alerts_for(window, newly, now)
    }

    /// The alerts of the thresholds whose bits are set in `fired`.
    fn alerts_for(&self, window: &WindowState, fired: u64, now: SystemTime) -> Vec<Alert> {
        if fired == 0 {
            return Vec::new();
        }
        let spend = Usd::from_nanos(window.spend());
        let projected = Alert::projected_exhaustion(spend, self.limit, window.span.start, now);
        self.thresholds
            .iter()
            .enumerate()
            .filter(|(i, _)| fired & (1 << i) != 0)
            .map(|(_, percent)| Alert {
                account: self.account.clone(),
                window: window.span.label.clone(),
                window_start: window.span.start,
                window_end: window.span.end,
                threshold_percent: *percent,
                spend,
                budget: self.limit,
                projected_exhaustion: projected,
            })
            .collect()
    }

    /// Writes the window's unsynced spend to the store and returns the stored total.
    /// Each write carries a [`WriteId`]; one that failed is sent again under that id
    /// first, so a write a stalled store applied late is not counted twice.
    async fn push(&self, store: &dyn StateStore, window: &WindowState) -> Result<u64, StateError> {
        let key = StateKey::spend(&self.account, &window.span.label);
        let in_doubt = *window.lock_in_doubt();
        if let Some((write, delta)) = in_doubt {
            store.increment_once(&key, delta, write).await?;
            add(&window.pushed, delta);
            *window.lock_in_doubt() = None;
        }
        let delta = window.unsynced.swap(0, Ordering::AcqRel);
        if delta == 0 {
            return store.increment(&key, 0).await;
        }
        let write = WriteId::fresh();
        match store.increment_once(&key, delta, write).await {
            Ok(total) => {
                add(&window.pushed, delta);
                Ok(total)
            }
            Err(error) => {
                *window.lock_in_doubt() = Some((write, delta));
                Err(error)
            }
        }
    }
}

impl fmt::Debug for BudgetLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetLedger")
            .field("account", &self.inner.account)
            .field("limit", &self.inner.limit)
            .field("thresholds", &self.inner.thresholds)
            .field("window", &self.inner.window)
            .finish_non_exhaustive()
    }
}

/// A worst-case cost held in a [`BudgetLedger`].
///
/// [`settle`](Self::settle) it with the actual cost once the provider answered. Dropping
/// it unsettled (the call was never made, or was cancelled) gives the amount back.
#[must_use = "dropping a reservation gives the amount back at once"]
pub struct BudgetReservation {
    ledger: Arc<Inner>,
    window: Arc<WindowState>,
    amount: u64,
    open: bool,
}

impl BudgetReservation {
    /// The amount held.
    pub fn amount(&self) -> Usd {
        Usd::from_nanos(self.amount)
    }

    /// Replaces the held amount with `actual`, charged to the window `now` falls in, and
    /// returns the alerts this spend fired (usually none). Deliver them to your
    /// [`AlertSink`](super::AlertSink)s.
    pub fn settle(mut self, actual: Usd, now: SystemTime) -> Vec<Alert> {
        self.open = false;
        let actual = actual.nanos();
        let current = self.ledger.window_at(now);
        if Arc::ptr_eq(&current, &self.window) {
            // One atomic step, so no other reservation can slip into a gap between
            // giving back the worst case and charging the actual cost.
            if actual >= self.amount {
                add(&current.committed, actual - self.amount);
            } else {
                sub(&current.committed, self.amount - actual);
            }
        } else {
            sub(&self.window.committed, self.amount);
            add(&current.committed, actual);
        }
        add(&current.settled, actual);
        add(&current.unsynced, actual);
        self.ledger.alerts(&current, now)
    }

    /// Gives the amount back (the same as dropping the reservation).
    pub fn release(self) {}
}

impl Drop for BudgetReservation {
    fn drop(&mut self) {
        if self.open {
            sub(&self.window.committed, self.amount);
        }
    }
}

impl fmt::Debug for BudgetReservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetReservation")
            .field("account", &self.ledger.account)
            .field("window", &self.window.span.label)
            .field("amount", &self.amount())
            .finish()
    }
}

/// A reservation the budget could not take.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "budget of account `{account}` for {window} is exhausted: {spent} spent and {reserved} reserved of {limit}, {requested} more requested"
)]
pub struct Exhausted {
    /// The account.
    pub account: Arc<str>,
    /// The window's label.
    pub window: String,
    /// The limit of the window.
    pub limit: Usd,
    /// Spend so far.
    pub spent: Usd,
    /// Worst cases held by requests in flight.
    pub reserved: Usd,
    /// The amount asked for.
    pub requested: Usd,
    /// When the next window starts with a fresh budget.
    pub renews_at: SystemTime,
}

/// Where one account's budget stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BudgetSnapshot {
    /// The account.
    pub account: Arc<str>,
    /// The window's label, such as `2025-01`.
    pub window: String,
    /// When the window started.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub window_start: SystemTime,
    /// When the window ends.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub window_end: SystemTime,
    /// The limit of the window.
    #[serde(rename = "limit_usd")]
    pub limit: Usd,
    /// Spend so far.
    #[serde(rename = "spent_usd")]
    pub spent: Usd,
    /// Worst cases held by requests in flight.
    #[serde(rename = "reserved_usd")]
    pub reserved: Usd,
    /// The thresholds that fired in this window, in percent.
    pub thresholds_fired: Vec<u16>,
}
