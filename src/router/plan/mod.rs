//! The planner: given a request and a snapshot, the ordered list of targets to try.
//!
//! No I/O and no counters touched: [`Router::complete`](crate::Router::complete),
//! [`Router::stream`](crate::Router::stream) and [`Router::explain`](crate::Router::explain)
//! all call [`plan`], so an explanation cannot disagree with what routing does. (The one
//! side effect, advancing a round-robin position, happens only for real requests.)

use tokio::time::Instant;

use super::accounting::Tokens;
use super::adaptation::PlannedAdaptation;
use super::matching;
use super::skip::{SkippedTarget, no_candidate_error};
use super::snapshot::{CompiledPolicy, RouteEntry, Snapshot};
use crate::error::Error;
use crate::limits::Headroom;
use crate::model::Capabilities;
use crate::policy::{MatchMiss, Purpose, StepType};
use crate::types::ChatRequest;

mod lazy;
#[cfg(test)]
mod lazy_tests;
mod route;
mod targets;
#[cfg(test)]
mod tests;

pub(crate) use lazy::{Found, Rest, mark_lazy};
use route::effective_route;
use targets::{Carried, Planner};

/// A target to try: indices into the snapshot's models and that model's targets, and the
/// request's tokens on it when its account is metered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) model: usize,
    pub(crate) target: usize,
    pub(crate) tokens: Option<Tokens>,
    /// What the request would leave of the account's rate limits; measured only for
    /// models balanced by [`Balance::Headroom`].
    pub(crate) headroom: Option<Headroom>,
}

/// What the planner is asked.
#[derive(Clone, Copy)]
pub(crate) struct PlanRequest<'a> {
    pub(crate) step: &'a StepType,
    pub(crate) purpose: &'a Purpose,
    pub(crate) request: &'a ChatRequest,
    pub(crate) needs: Capabilities,
    /// Whether this plan is acted on (advances round-robin positions) or only explained.
    pub(crate) for_real: bool,
    pub(crate) now: Instant,
}

/// The planner's answer for a request that matched a policy.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) policy: usize,
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) skipped: Vec<SkippedTarget>,
    /// Candidates moved to the end because their account is unhealthy.
    pub(crate) demoted: usize,
    /// The policy's larger-context candidates, held back until a target refuses the
    /// request as too long (empty when the policy names none, or when they are the plan).
    pub(crate) larger_context: Vec<Candidate>,
    /// Whether the candidates are the policy's larger-context models, because no route
    /// target could hold the request.
    pub(crate) context_fallback: bool,
    /// How the request is adapted to each candidate (larger-context ones included) whose
    /// model cannot take it as it is.
    pub(crate) adaptations: Vec<PlannedAdaptation>,
    /// The part of the route left to plan, when only its first candidate was planned
    /// ([`plan_first`]); `None` when the route is planned whole.
    pub(crate) rest: Option<Box<Rest>>,
}

/// Why planning failed, and which policy had matched, if any (its stats count the failure).
#[derive(Debug)]
pub(crate) struct PlanError {
    pub(crate) policy: Option<usize>,
    pub(crate) error: Error,
}

/// Plans a request, finding its policy through the snapshot's policy index.
pub(crate) fn plan(snapshot: &Snapshot, input: &PlanRequest<'_>) -> Result<Plan, PlanError> {
    let policy = matching::first_match(snapshot, input)?;
    plan_with(snapshot, input, policy)
}

/// Plans a request that is acted on: when its policy and the request allow, only up to
/// its first candidate, the rest left in [`Plan::rest`] for when that one fails;
/// otherwise whole, as [`plan`] does.
pub(crate) fn plan_first(snapshot: &Snapshot, input: &PlanRequest<'_>) -> Result<Plan, PlanError> {
    let policy = matching::first_match(snapshot, input)?;
    if lazy::applies(&snapshot.policies[policy], input) {
        return lazy::plan_first(snapshot, input, policy);
    }
    plan_with(snapshot, input, policy)
}

/// Plans a request as [`plan`] does, checking every policy above the one that matches;
/// `on_miss` hears each one passed over, with why.
pub(crate) fn plan_explained(
    snapshot: &Snapshot,
    input: &PlanRequest<'_>,
    on_miss: impl FnMut(usize, MatchMiss),
) -> Result<Plan, PlanError> {
    let policy = matching::scan(snapshot, input, on_miss)?;
    plan_with(snapshot, input, policy)
}

/// Plans a request for the policy at `policy_index`, which matched it.
fn plan_with(
    snapshot: &Snapshot,
    input: &PlanRequest<'_>,
    policy_index: usize,
) -> Result<Plan, PlanError> {
    let policy = &snapshot.policies[policy_index];
    let fail = |error| PlanError {
        policy: Some(policy_index),
        error,
    };
    let route = effective_route(snapshot, policy, &input.request.options).map_err(fail)?;

    // Room for every target on the route, so the list never grows mid-plan.
    let targets = route
        .iter()
        .map(|e| match e.only_target {
            Some(_) => 1,
            None => snapshot.models[e.model].targets.len(),
        })
        .sum();
    let mut planner = Planner {
        snapshot,
        policy,
        input: input.into(),
        candidates: Vec::with_capacity(targets),
        skipped: Vec::new(),
        adaptations: Vec::new(),
        carried: Carried::default(),
    };
    let mut any_model_capable = false;
    for entry in route.iter() {
        any_model_capable |= planner.add_entry(*entry);
    }
    let (larger_context, context_fallback) = if policy.larger_context.is_empty() {
        (Vec::new(), false)
    } else {
        planner.add_larger_context()
    };
    let Planner {
        mut candidates,
        skipped,
        adaptations,
        ..
    } = planner;
    if policy.cheapest_first {
        // Stable: equal prices keep route order.
        candidates.sort_by_key(|c| {
            let target = &snapshot.models[c.model].targets[c.target];
            target
                .price
                .map_or(u64::MAX, |p| p.worst_case(1_000_000, 1_000_000).nanos())
        });
    }
    let demoted = demote_unhealthy(snapshot, &mut candidates, input.now);

    if !any_model_capable {
        return Err(fail(missing_capability(
            snapshot,
            policy,
            &route,
            input.needs,
        )));
    }
    if candidates.is_empty() {
        return Err(fail(no_candidate_error(policy.name.clone(), skipped)));
    }
    Ok(Plan {
        policy: policy_index,
        candidates,
        skipped,
        demoted,
        larger_context,
        context_fallback,
        adaptations,
        rest: None,
    })
}

/// The error of a request no model on its route can serve: what the primary lacks.
fn missing_capability(
    snapshot: &Snapshot,
    policy: &CompiledPolicy,
    route: &[RouteEntry],
    needs: Capabilities,
) -> Error {
    let primary = &snapshot.models[route[0].model];
    let capability = primary
        .capabilities
        .missing(needs)
        .first()
        .expect("no capable model implies the primary lacks something");
    Error::MissingCapability {
        policy: policy.name.clone(),
        model: primary.name.clone(),
        capability,
    }
}

/// Moves candidates on unhealthy accounts to the end, keeping both groups in order.
/// Returns how many were moved. Each account's health is read once per candidate.
fn demote_unhealthy(snapshot: &Snapshot, candidates: &mut [Candidate], now: Instant) -> usize {
    let healthy = |c: &Candidate| {
        let target = &snapshot.models[c.model].targets[c.target];
        snapshot.accounts[target.account].health.is_healthy(now)
    };
    let Some(first) = candidates.iter().position(|c| !healthy(c)) else {
        return 0;
    };
    // Rare: some account is unhealthy. Healthy ones close up in order, the rest follow.
    let mut demoted = vec![candidates[first]];
    let mut kept = first;
    for i in first + 1..candidates.len() {
        let candidate = candidates[i];
        if healthy(&candidate) {
            candidates[kept] = candidate;
            kept += 1;
        } else {
            demoted.push(candidate);
        }
    }
    candidates[kept..].copy_from_slice(&demoted);
    demoted.len()
}
