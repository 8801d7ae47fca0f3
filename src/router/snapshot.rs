//! The compiled, immutable form of a router's configuration.
//!
//! Names are resolved to indices once, at build time, so the request path never looks a
//! name up. A snapshot is swapped in whole by [`Router::reload`](crate::Router::reload).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::balance::TargetLoad;
use crate::account::AccountInfo;
use crate::context_window::ContextWindow;
use crate::model::{Balance, Capabilities};
use crate::policy::{FallbackRules, Match};
use crate::provider::Provider;
use crate::stats::{PolicyCounters, RouterStats, TargetCounters};
use crate::types::{SamplingParams, TargetRef};

pub(crate) struct Snapshot {
    /// In evaluation order: priority descending, declaration order among equals.
    pub(crate) policies: Vec<CompiledPolicy>,
    pub(crate) models: Vec<CompiledModel>,
    pub(crate) model_index: HashMap<Arc<str>, usize>,
    pub(crate) accounts: Vec<CompiledAccount>,
}

pub(crate) struct CompiledPolicy {
    pub(crate) name: Arc<str>,
    pub(crate) priority: i32,
    pub(crate) matcher: Match,
    pub(crate) route: Vec<RouteEntry>,
    pub(crate) fallback: FallbackRules,
    pub(crate) counters: Arc<PolicyCounters>,
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
    /// One round-robin position per tier.
    pub(crate) cursors: Vec<AtomicUsize>,
}

pub(crate) struct CompiledTarget {
    pub(crate) account: usize,
    pub(crate) target: TargetRef,
    /// What the target really does: its override, or its model's promise.
    pub(crate) capabilities: Capabilities,
    pub(crate) tier: u32,
    pub(crate) weight: u32,
    /// Its override, or the shipped window of its provider model, if known.
    pub(crate) window: Option<ContextWindow>,
    pub(crate) counters: Arc<TargetCounters>,
    pub(crate) load: Arc<TargetLoad>,
}

pub(crate) struct CompiledAccount {
    pub(crate) info: AccountInfo,
    pub(crate) provider: Arc<dyn Provider>,
}

impl Snapshot {
    pub(crate) fn stats(&self) -> RouterStats {
        RouterStats {
            policies: self
                .policies
                .iter()
                .map(|p| p.counters.snapshot(&p.name, p.priority))
                .collect(),
            targets: self
                .models
                .iter()
                .flat_map(|m| &m.targets)
                .map(|t| t.counters.snapshot(&t.target))
                .collect(),
        }
    }

    pub(crate) fn policy_counters(&self, name: &str) -> Option<&Arc<PolicyCounters>> {
        self.policies
            .iter()
            .find(|p| &*p.name == name)
            .map(|p| &p.counters)
    }

    pub(crate) fn target(&self, target: &TargetRef) -> Option<&CompiledTarget> {
        let model = &self.models[*self.model_index.get(&target.logical_model)?];
        model.targets.iter().find(|t| &t.target == target)
    }
}
