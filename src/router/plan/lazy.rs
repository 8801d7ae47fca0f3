//! Planning up to the first candidate. Most requests are answered by the first candidate
//! of their route, yet planning the whole route checks every target (capabilities,
//! window, breaker, limits, budget, health: a few hundred instructions each). When
//! nothing about the route needs the whole list at once, the planner stops at the first
//! candidate and the rest of the route is planned target by target, in the same order and
//! with the same checks, when the request reaches it.
//!
//! What needs the whole list keeps the full planner: balancing other than
//! [`Balance::Ordered`] (it orders a tier's usable targets among themselves), cheapest
//! first (it sorts the whole list), larger-context models (the route's skips decide
//! whether they become the plan), hedging (the hedge is raced while the first call runs),
//! a request's own route (a pin or extra fallbacks), accounts shared through Redis, and
//! an account reached twice on the route: one failed call changes its health and
//! cool-downs, so a target planned after it could be judged differently from one planned
//! before it.
//!
//! Candidates on unhealthy accounts are held back until the route is spent and then
//! follow in order, as [`demote_unhealthy`](super::demote_unhealthy) puts them. The
//! planner's skips keep their place before the skips of attempt time, so an error lists
//! them as the full planner would.

use super::super::adaptation::PlannedAdaptation;
use super::super::skip::{SkipReason, SkippedTarget, no_candidate_error};
use super::super::snapshot::{CompiledAccount, CompiledModel, CompiledPolicy, Snapshot};
use super::targets::{Carried, Checking, Planner};
use super::{Candidate, Plan, PlanError, PlanRequest, missing_capability};
use crate::model::{Balance, Capabilities};
use crate::resilience::HedgePolicy;
use crate::types::ChatRequest;
use tokio::time::Instant;

/// Marks the policies whose routes can be planned up to the first candidate.
pub(crate) fn mark_lazy(snapshot: &mut Snapshot) {
    let (models, accounts) = (&snapshot.models, &snapshot.accounts);
    for policy in &mut snapshot.policies {
        policy.plans_lazily = route_allows(policy, models, accounts);
    }
}

/// Whether nothing about the policy's route needs it planned whole (see the module docs).
fn route_allows(
    policy: &CompiledPolicy,
    models: &[CompiledModel],
    accounts: &[CompiledAccount],
) -> bool {
    if policy.cheapest_first
        || !policy.larger_context.is_empty()
        || !matches!(policy.hedge, HedgePolicy::Off)
    {
        return false;
    }
    let mut reached = Vec::new();
    for entry in &policy.route {
        let model = &models[entry.model];
        if model.balance != Balance::Ordered {
            return false;
        }
        for (t, target) in model.targets.iter().enumerate() {
            if entry.only_target.is_none_or(|only| only == t) {
                reached.push(target.account);
            }
        }
    }
    let shared = reached.iter().any(|&a| is_shared(&accounts[a]));
    let count = reached.len();
    reached.sort_unstable();
    reached.dedup();
    !shared && reached.len() == count
}

#[cfg(feature = "redis")]
fn is_shared(account: &CompiledAccount) -> bool {
    account.shared.is_some()
}

#[cfg(not(feature = "redis"))]
fn is_shared(_: &CompiledAccount) -> bool {
    false
}

/// Whether a request matched to `policy` is planned up to its first candidate.
pub(super) fn applies(policy: &CompiledPolicy, input: &PlanRequest<'_>) -> bool {
    let options = &input.request.options;
    policy.plans_lazily
        && input.for_real
        && options.pin.is_none()
        && options.extra_fallbacks.is_empty()
}

/// Plans the route of `policy` (which [`applies`]) up to its first candidate on a healthy
/// account. Fails as the full planner does when the route has no candidate.
pub(super) fn plan_first(
    snapshot: &Snapshot,
    input: &PlanRequest<'_>,
    policy: usize,
) -> Result<Plan, PlanError> {
    let mut rest = Rest {
        policy,
        entry: 0,
        tier: 0,
        member: 0,
        carried: Carried::default(),
        needs: input.needs,
        capable: false,
        demoted: Vec::new(),
        planned_skips: 0,
    };
    let mut plan = Plan {
        policy,
        candidates: Vec::with_capacity(1),
        skipped: Vec::new(),
        demoted: 0,
        larger_context: Vec::new(),
        context_fallback: false,
        adaptations: Vec::new(),
        rest: None,
    };
    let found = Found {
        candidates: &mut plan.candidates,
        skipped: &mut plan.skipped,
        adaptations: &mut plan.adaptations,
    };
    rest.advance(snapshot, input.request, input.now, found);
    if !rest.is_spent() {
        // Boxed: most routes end at their first target, and their requests in flight
        // then carry no rest at all.
        plan.rest = Some(Box::new(rest));
        return Ok(plan);
    }
    let compiled = &snapshot.policies[policy];
    let fail = |error| {
        Err(PlanError {
            policy: Some(policy),
            error,
        })
    };
    if !rest.capable {
        return fail(missing_capability(
            snapshot,
            compiled,
            &compiled.route,
            input.needs,
        ));
    }
    if plan.candidates.is_empty() {
        return fail(no_candidate_error(compiled.name.clone(), plan.skipped));
    }
    Ok(plan)
}

/// Where a request's candidates, skips and adaptations are kept while it runs.
pub(crate) struct Found<'e> {
    pub(crate) candidates: &'e mut Vec<Candidate>,
    pub(crate) skipped: &'e mut Vec<SkippedTarget>,
    pub(crate) adaptations: &'e mut Vec<PlannedAdaptation>,
}

/// The part of a policy's route not planned yet, and what planning it needs.
#[derive(Debug)]
pub(crate) struct Rest {
    policy: usize,
    /// The next target to plan: its route entry, its tier in that entry's model, and its
    /// place in that tier.
    entry: usize,
    tier: usize,
    member: usize,
    carried: Carried,
    needs: Capabilities,
    /// Whether some model reached so far can do what the request needs.
    capable: bool,
    /// Candidates on unhealthy accounts, in route order: they follow the healthy ones.
    demoted: Vec<Candidate>,
    /// How many of the request's skips are the planner's: the next planner skip goes
    /// after them, before the skips of attempt time.
    planned_skips: usize,
}

impl Rest {
    /// Whether every target of the route was planned.
    pub(crate) fn is_spent(&self) -> bool {
        self.entry == usize::MAX
    }

    /// Plans the route's next targets, at `now`, until one is a candidate on a healthy
    /// account (appended to `found`) or the route is spent (the held-back candidates on
    /// unhealthy accounts appended, in order). Skips go after the planner's earlier ones.
    pub(crate) fn advance(
        &mut self,
        snapshot: &Snapshot,
        request: &ChatRequest,
        now: Instant,
        found: Found<'_>,
    ) {
        let policy = &snapshot.policies[self.policy];
        let mut planner = Planner {
            snapshot,
            policy,
            input: Checking {
                request,
                needs: self.needs,
                for_real: true,
                now,
            },
            candidates: Vec::new(),
            skipped: Vec::new(),
            adaptations: std::mem::take(found.adaptations),
            carried: self.carried,
        };
        let healthy = self.plan_until_healthy(&mut planner, found.skipped);
        self.carried = planner.carried;
        *found.adaptations = planner.adaptations;
        if let Some(candidate) = healthy {
            found.candidates.push(candidate);
            if !self.at_end(snapshot) {
                return;
            }
        }
        self.entry = usize::MAX;
        found.candidates.append(&mut self.demoted);
    }

    /// Moves past the tiers and route entries left with no target; whether that was
    /// the end of the route.
    fn at_end(&mut self, snapshot: &Snapshot) -> bool {
        let route = &snapshot.policies[self.policy].route;
        while let Some(entry) = route.get(self.entry) {
            match snapshot.models[entry.model].tiers.get(self.tier) {
                None => (self.entry, self.tier, self.member) = (self.entry + 1, 0, 0),
                Some(members) if self.member >= members.len() => {
                    (self.tier, self.member) = (self.tier + 1, 0);
                }
                Some(_) => return false,
            }
        }
        true
    }

    /// Walks the route from where the last call stopped to the next candidate on a
    /// healthy account; `None` when the route ends first.
    fn plan_until_healthy(
        &mut self,
        planner: &mut Planner<'_, '_>,
        skipped: &mut Vec<SkippedTarget>,
    ) -> Option<Candidate> {
        let snapshot = planner.snapshot;
        while let Some(entry) = planner.policy.route.get(self.entry) {
            let model = &snapshot.models[entry.model];
            let missing = model.capabilities.missing(self.needs).first();
            self.capable |= missing.is_none();
            let Some(members) = model.tiers.get(self.tier) else {
                (self.entry, self.tier, self.member) = (self.entry + 1, 0, 0);
                continue;
            };
            let Some(&t) = members.get(self.member) else {
                (self.tier, self.member) = (self.tier + 1, 0);
                continue;
            };
            self.member += 1;
            if entry.only_target.is_some_and(|only| only != t) {
                continue;
            }
            let checked = match missing {
                Some(capability) => Err(SkipReason::ModelLacks { capability }),
                None => planner.check_target(entry.model, t),
            };
            let target = &model.targets[t];
            match checked {
                Ok((tokens, headroom)) => {
                    let candidate = Candidate {
                        model: entry.model,
                        target: t,
                        tokens,
                        headroom,
                    };
                    let account = &snapshot.accounts[target.account];
                    if account.health.is_healthy(planner.input.now) {
                        return Some(candidate);
                    }
                    self.demoted.push(candidate);
                }
                Err(reason) => {
                    let skip = SkippedTarget {
                        target: target.target.clone(),
                        reason,
                    };
                    skipped.insert(self.planned_skips.min(skipped.len()), skip);
                    self.planned_skips += 1;
                }
            }
        }
        None
    }
}
