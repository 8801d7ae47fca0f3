//! The settle round trip of a shared account, off the request path, and the write-back
//! of spend settled here while Redis was away.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Holding, Outcome, SharedAccount};
use crate::budget::{Alert, AlertSink, BudgetLedger, Usd};
use crate::shared::{BreakerVerdict, RedisState, Settle};
use crate::state::{StateStore, WriteId};

/// One settle round trip, run off the request path. If Redis does not answer, it is
/// kept and sent again, under the same write id, once Redis answers: the script applies
/// it once even if the first sending ran late.
pub(crate) struct SettleJob {
    holding: Holding,
    outcome: Outcome,
    write: WriteId,
    /// Whether its spend is counted in the ledger as pending (it failed before).
    pending: bool,
}

impl SettleJob {
    pub(super) fn new(holding: Holding, outcome: Outcome) -> Self {
        Self {
            holding,
            outcome,
            write: WriteId::fresh(),
            pending: false,
        }
    }

    /// Pauses the account fleet-wide, as a provider's 429 asked.
    pub(in crate::router) fn cooldown(account: &Arc<SharedAccount>, cooldown: Duration) -> Self {
        Self::new(
            Holding {
                account: account.clone(),
                model: None,
                id: 0,
                budget: None,
                breaker: None,
                sinks: Arc::new([]),
            },
            Outcome {
                requests: 0,
                tokens: 0,
                cost: Usd::ZERO,
                cooldown: Some(cooldown),
                verdict: BreakerVerdict::None,
                health: None,
            },
        )
    }

    /// Settles a leased block to what this instance took from it.
    pub(in crate::router) fn block(
        account: &Arc<SharedAccount>,
        id: u128,
        requests: u64,
        tokens: u64,
        budget: Option<(BudgetLedger, String)>,
        spent: Usd,
        sinks: Arc<[Arc<dyn AlertSink>]>,
    ) -> Self {
        Self::new(
            Holding {
                account: account.clone(),
                model: None,
                id,
                budget,
                breaker: None,
                sinks,
            },
            Outcome {
                requests,
                tokens,
                cost: spent,
                cooldown: None,
                verdict: BreakerVerdict::None,
                health: None,
            },
        )
    }

    /// [`run`](Self::run), boxed, for the write-backs that wait for Redis.
    fn run_again(self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.run())
    }

    pub(in crate::router) async fn run(self) {
        let SettleJob {
            holding,
            outcome,
            write,
            pending,
        } = self;
        let account = &holding.account;
        let thresholds = account.thresholds.as_str();
        let settle = Settle {
            keys: &account.keys,
            model: holding
                .model
                .as_ref()
                .and_then(|m| account.models.get(m))
                .map(|(window, _, _)| window),
            id: holding.id,
            requests: outcome.requests,
            tokens: outcome.tokens,
            budget: holding
                .budget
                .as_ref()
                .map(|(ledger, label)| (label.as_str(), ledger.limit().nanos(), thresholds)),
            spend: outcome.cost.nanos(),
            cooldown: outcome.cooldown,
            breaker: holding
                .breaker
                .as_ref()
                .map(|b| (b.key.as_str(), outcome.verdict, b.recovery)),
            health: outcome.health,
            write,
            revoke: false,
        };
        let now = SystemTime::now();
        let mut alerts = Vec::new();
        match account.state.settle(&settle).await {
            Ok(settled) => {
                if let Some((ledger, _)) = &holding.budget {
                    if pending {
                        ledger.pending_written(outcome.cost, now);
                    }
                    alerts = ledger.mirror_shared(settled.spend, settled.fired, now);
                    alerts.extend(reconcile(&account.state, ledger).await);
                }
            }
            Err(error) => {
                // Counted here meanwhile, and sent again under the same write id once
                // Redis answers: a first sending that a stalled Redis runs late is not
                // counted twice.
                if let (Some((ledger, _)), false) = (&holding.budget, pending) {
                    ledger.record_pending(outcome.cost, now);
                }
                tracing::debug!(%error, "settling in Redis failed; kept to send again");
                let state = account.state.clone();
                let job = SettleJob {
                    holding,
                    outcome,
                    write,
                    pending: true,
                };
                state.retry_later(Box::new(move || job.run_again()));
                return;
            }
        }
        deliver(&holding.sinks, &alerts).await;
    }
}

/// Writes spend settled on this instance while Redis was away, once it answers.
pub(crate) async fn reconcile(state: &RedisState, ledger: &BudgetLedger) -> Vec<Alert> {
    if !ledger.has_unsynced() || !state.is_available() {
        return Vec::new();
    }
    let store: &dyn StateStore = state;
    match ledger.sync(store, SystemTime::now()).await {
        Ok(alerts) => alerts,
        Err(error) => {
            tracing::debug!(%error, "reconciling spend with Redis failed; kept for later");
            Vec::new()
        }
    }
}

pub(super) async fn deliver(sinks: &[Arc<dyn AlertSink>], alerts: &[Alert]) {
    for alert in alerts {
        for sink in sinks {
            if let Err(error) = sink.send(alert).await {
                tracing::warn!(%error, "a budget alert could not be delivered");
            }
        }
    }
}
