//! The compiled, immutable form of a router's configuration.
//!
//! Names are resolved to indices once, at build time, so the request path never looks a
//! name up. A snapshot is swapped in whole by [`Router::reload`](crate::Router::reload).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::balance::TargetLoad;
use super::matching::PolicyIndex;
use super::telemetry::PolicyTelemetry;
use std::time::Duration;

use crate::account::AccountInfo;
use crate::budget::{AlertSink, Budget, BudgetLedger, Price};
use crate::context_window::ContextWindow;
use crate::limits::{CoolDowns, Limiter};
use crate::model::{Balance, Capabilities};
use crate::policy::{FallbackRules, Match, StreamRecovery};
use crate::provider::profile::{ModelProfile, ParameterPolicy};
use crate::provider::{ErrorKind, Provider};
use crate::resilience::{
    BreakerConfig, CircuitBreaker, Credentials, HealthTracker, HedgePolicy, RetryPolicy, Timeouts,
};
use crate::state::StateStore;
use crate::stats::{AccountStatus, BreakerStats, PolicyCounters, RouterStats, TargetCounters};
use crate::types::{SamplingParams, TargetRef};

pub(crate) struct Snapshot {
    /// In evaluation order: priority descending, declaration order among equals.
    pub(crate) policies: Vec<CompiledPolicy>,
    /// Which policies can take each step type and purpose.
    pub(crate) policy_index: PolicyIndex,
    pub(crate) models: Vec<CompiledModel>,
    pub(crate) model_index: HashMap<Arc<str>, usize>,
    pub(crate) accounts: Vec<CompiledAccount>,
    pub(crate) alert_sinks: Arc<[Arc<dyn AlertSink>]>,
    pub(crate) state_store: Option<Arc<dyn StateStore>>,
    /// What the state store was opened from, when a config file opened it; a reload with
    /// the same settings keeps the store instead of opening it again.
    pub(crate) state_source: Option<String>,
    /// The provider kinds registered for config files, kept for reloads.
    pub(crate) provider_kinds: crate::config::ProviderKinds,
    /// What code added beside a config file's accounts, models and policies, kept for
    /// reloads of the file.
    pub(crate) code_added: super::code_added::CodeAdded,
    pub(crate) queue_time: Duration,
    /// How long a 429 without a retry-after cools its account down.
    pub(crate) cool_down: Duration,
    pub(crate) cancelled_charge: crate::budget::CancelledCharge,
}

impl CompiledPolicy {
    pub(crate) fn breaker(&self, target: &CompiledTarget) -> Option<&Arc<CircuitBreaker>> {
        let found = self
            .breakers
            .binary_search_by_key(&target.id, |(id, _)| *id);
        found.ok().map(|i| &self.breakers[i].1)
    }

    /// [`Self::breaker`], looked for first at `*next`, which is then moved past the one
    /// found: a planner asking for a model's targets in order finds each at once instead
    /// of searching the route's breakers each time.
    pub(crate) fn breaker_from(
        &self,
        target: &CompiledTarget,
        next: &mut usize,
    ) -> Option<&Arc<CircuitBreaker>> {
        let found = match self.breakers.get(*next) {
            Some((id, _)) if *id == target.id => Ok(*next),
            _ => self
                .breakers
                .binary_search_by_key(&target.id, |(id, _)| *id),
        };
        let i = found.ok()?;
        *next = i + 1;
        Some(&self.breakers[i].1)
    }
}

pub(crate) struct CompiledPolicy {
    pub(crate) name: Arc<str>,
    pub(crate) priority: i32,
    pub(crate) matcher: Match,
    pub(crate) route: Vec<RouteEntry>,
    pub(crate) fallback: FallbackRules,
    pub(crate) retry: RetryPolicy,
    pub(crate) retries_by_kind: Vec<(ErrorKind, u32)>,
    pub(crate) timeouts: Timeouts,
    pub(crate) cheapest_first: bool,
    pub(crate) hedge: HedgePolicy,
    /// Whether its route is planned up to the first candidate, the rest when reached
    /// (see `plan::lazy`); set once the snapshot is built.
    pub(crate) plans_lazily: bool,
    /// Models tried only when the request proves too long for the route.
    pub(crate) larger_context: Vec<RouteEntry>,
    pub(crate) stream_recovery: StreamRecovery,
    /// One breaker per target on the route (none when breakers are off), sorted by
    /// [`CompiledTarget::id`]: only routed targets have a slot, so a large configuration
    /// does not hold policies × targets of them.
    pub(crate) breakers: Box<[(usize, Arc<CircuitBreaker>)]>,
    pub(crate) counters: Arc<PolicyCounters>,
    /// Its name again, with the metric keys built for it.
    pub(crate) telemetry: Arc<PolicyTelemetry>,
}

/// One resolved route step: a model, and optionally one of its targets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteEntry {
    pub(crate) model: usize,
    pub(crate) only_target: Option<usize>,
}

pub(crate) struct CompiledModel {
    pub(crate) name: Arc<str>,
    pub(crate) capabilities: Capabilities,
    pub(crate) defaults: SamplingParams,
    pub(crate) targets: Vec<CompiledTarget>,
    /// Target indices grouped by tier, lowest tier first, declaration order within.
    pub(crate) tiers: Vec<Vec<usize>>,
    pub(crate) balance: Balance,
    pub(crate) parameter_policy: ParameterPolicy,
    /// One round-robin position per tier.
    pub(crate) cursors: Vec<AtomicUsize>,
}

pub(crate) struct CompiledTarget {
    /// Position among all targets of the snapshot.
    pub(crate) id: usize,
    pub(crate) account: usize,
    pub(crate) target: TargetRef,
    /// What the target really does: its override, or its model's promise.
    pub(crate) capabilities: Capabilities,
    pub(crate) tier: u32,
    pub(crate) weight: u32,
    /// Its override, or the shipped window of its provider model, if known.
    pub(crate) window: Option<ContextWindow>,
    /// Its override, or its account's price for its provider model, if known.
    pub(crate) price: Option<Price>,
    /// What its provider model accepts: its account's profile under its own rules.
    pub(crate) profile: Arc<ModelProfile>,
    /// Its own breaker settings, over its policies'.
    pub(crate) breaker: Option<BreakerConfig>,
    pub(crate) counters: Arc<TargetCounters>,
    pub(crate) load: Arc<TargetLoad>,
}

pub(crate) struct CompiledAccount {
    pub(crate) info: AccountInfo,
    /// The host and port calls go to, for telemetry.
    pub(crate) server: Option<(Arc<str>, u16)>,
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) health: Arc<HealthTracker>,
    pub(crate) limiter: Option<Limiter>,
    /// 429 cool-downs, kept whether or not the account has limits.
    pub(crate) cool_downs: Arc<CoolDowns>,
    /// Whether the provider limits per model, so a 429 cools only that model down.
    pub(crate) per_model_limits: bool,
    /// Whether the provider rejected the credentials, and when to probe them again.
    pub(crate) credentials: Arc<Credentials>,
    /// A hash of the credentials (API key and header values), never the secrets: a
    /// reload that changes them starts their state afresh, and fleet marks left for other
    /// credentials are ignored.
    pub(crate) credentials_fingerprint: u64,
    pub(crate) budget: Option<(Budget, BudgetLedger)>,
    /// Where the account's limits, budget and breakers are shared with other instances.
    #[cfg(feature = "redis")]
    pub(crate) shared: Option<Arc<super::shared::SharedAccount>>,
}

impl Snapshot {
    pub(crate) fn stats(&self) -> RouterStats {
        let now = tokio::time::Instant::now();
        let breakers = self
            .policies
            .iter()
            .flat_map(|p| {
                self.models
                    .iter()
                    .flat_map(|m| &m.targets)
                    .filter_map(move |t| {
                        p.breaker(t).map(|b| BreakerStats {
                            policy: p.name.clone(),
                            target: t.target.clone(),
                            breaker: b.snapshot(now),
                        })
                    })
            })
            .collect();
        RouterStats {
            breakers,
            credentials_rejected: self
                .accounts
                .iter()
                .filter(|a| a.credentials.check(now).is_some())
                .map(|a| a.info.name().to_owned())
                .collect(),
            policies: self
                .policies
                .iter()
                .map(|p| p.counters.snapshot(&p.name, p.priority))
                .collect(),
            targets: self
                .models
                .iter()
                .flat_map(|m| &m.targets)
                .map(|t| t.counters.snapshot(&t.target, t.load.in_flight()))
                .collect(),
        }
    }

    pub(crate) fn accounts(&self) -> Vec<AccountStatus> {
        let now = tokio::time::Instant::now();
        let wall = std::time::SystemTime::now();
        self.accounts
            .iter()
            .map(|a| AccountStatus {
                name: a.info.name().to_owned(),
                health: a.health.snapshot(now),
                limits: a.limiter.as_ref().map(|l| l.snapshot(now)),
                cool_downs: a.cool_downs.status(now),
                credentials_rejected: a.credentials.status(now),
                budget: a.budget.as_ref().map(|(_, ledger)| ledger.snapshot(wall)),
            })
            .collect()
    }

    pub(crate) fn policy(&self, name: &str) -> Option<&CompiledPolicy> {
        self.policies.iter().find(|p| &*p.name == name)
    }

    pub(crate) fn account(&self, name: &str) -> Option<&CompiledAccount> {
        self.accounts.iter().find(|a| a.info.name() == name)
    }

    pub(crate) fn target(&self, target: &TargetRef) -> Option<&CompiledTarget> {
        let model = &self.models[*self.model_index.get(&target.logical_model)?];
        model.targets.iter().find(|t| &t.target == target)
    }
}
