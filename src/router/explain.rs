//! [`Explanation`]: the planner's decision for a request, readable and serializable.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::plan::{PlanRequest, plan_explained};
use super::skip::SkippedTarget;
use super::snapshot::Snapshot;
use crate::limits::Headroom;
use crate::model::Capabilities;
use crate::policy::{MatchMiss, Purpose, StepType};
use crate::provider::profile::Adaptation;
use crate::types::{ChatRequest, TargetRef};

/// What [`Router::complete`](crate::Router::complete) would do with a request, decided
/// without calling any provider.
///
/// It comes from the same planner the request path uses, so it cannot disagree with it.
/// `Display` gives a readable report; `Serialize` gives the same as data.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The request's step type.
    pub step_type: StepType,
    /// The request's purpose.
    pub purpose: Purpose,
    /// The capabilities the request needs.
    pub needs: Capabilities,
    /// The request's routing overrides that applied.
    pub overrides: Vec<String>,
    /// Higher-priority policies that did not match, with why.
    pub passed_over: Vec<PassedOver>,
    /// The policy that matched, if any.
    pub policy: Option<Arc<str>>,
    /// Targets that would be tried, in order.
    pub candidates: Vec<TargetRef>,
    /// Targets left out, with why.
    pub skipped: Vec<SkippedTarget>,
    /// Candidates moved to the end of the plan because their account is unhealthy.
    pub deprioritized: Vec<TargetRef>,
    /// Whether the candidates are the policy's
    /// [larger-context models](crate::Policy::larger_context), because no target on the
    /// route can hold the request.
    pub context_fallback: bool,
    /// The policy's larger-context targets held back: tried, after the candidates, only
    /// if a target refuses the request as too long.
    pub larger_context: Vec<TargetRef>,
    /// How the request would be adapted to the candidates whose models cannot take it as
    /// it is (see [`ParameterPolicy`](crate::ParameterPolicy)).
    pub adapted: Vec<AdaptedTarget>,
    /// The headroom that ordered each candidate of a model balanced by
    /// [`Balance::Headroom`](crate::Balance::Headroom), in candidate order.
    pub headroom: Vec<TargetHeadroom>,
    /// The error the request would end with before any provider is called, if it would.
    pub error: Option<String>,
}

/// The rate-limit headroom one candidate had when the plan was made.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetHeadroom {
    /// The target.
    pub target: TargetRef,
    /// What the request would leave of its account's limits.
    pub headroom: Headroom,
}

/// The changes a request would need for one target's model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdaptedTarget {
    /// The target.
    pub target: TargetRef,
    /// The changes, in order.
    pub changes: Vec<Adaptation>,
}

/// A policy that did not match, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PassedOver {
    /// The policy's name.
    pub policy: Arc<str>,
    /// Why it did not match.
    pub reason: MatchMiss,
}

pub(crate) fn explain(
    snapshot: &Snapshot,
    step: &StepType,
    purpose: &Purpose,
    request: &ChatRequest,
) -> Explanation {
    let needs = request.required_capabilities();
    let mut explanation = Explanation {
        step_type: step.clone(),
        purpose: purpose.clone(),
        needs,
        overrides: request.options.describe(),
        passed_over: Vec::new(),
        policy: None,
        candidates: Vec::new(),
        skipped: Vec::new(),
        deprioritized: Vec::new(),
        context_fallback: false,
        larger_context: Vec::new(),
        adapted: Vec::new(),
        headroom: Vec::new(),
        error: None,
    };
    let problems = request.problems();
    if !problems.is_empty() {
        explanation.error = Some(crate::Error::InvalidRequest { problems }.to_string());
        return explanation;
    }
    let mut passed_over = Vec::new();
    let input = PlanRequest {
        step,
        purpose,
        request,
        needs,
        for_real: false,
        now: tokio::time::Instant::now(),
    };
    let result = plan_explained(snapshot, &input, |i, reason| {
        passed_over.push(PassedOver {
            policy: snapshot.policies[i].name.clone(),
            reason,
        });
    });
    explanation.passed_over = passed_over;
    match result {
        Ok(plan) => {
            explanation.policy = Some(snapshot.policies[plan.policy].name.clone());
            explanation.candidates = plan
                .candidates
                .iter()
                .map(|c| snapshot.models[c.model].targets[c.target].target.clone())
                .collect();
            explanation.headroom = plan
                .candidates
                .iter()
                .filter_map(|c| {
                    c.headroom.map(|headroom| TargetHeadroom {
                        target: snapshot.models[c.model].targets[c.target].target.clone(),
                        headroom,
                    })
                })
                .collect();
            explanation.skipped = plan.skipped;
            let healthy = explanation.candidates.len() - plan.demoted;
            explanation.deprioritized = explanation.candidates[healthy..].to_vec();
            explanation.context_fallback = plan.context_fallback;
            explanation.adapted = plan
                .adaptations
                .iter()
                .map(|a| AdaptedTarget {
                    target: snapshot.models[a.model].targets[a.target].target.clone(),
                    changes: a.adapted.changes().to_vec(),
                })
                .collect();
            explanation.larger_context = plan
                .larger_context
                .iter()
                .map(|c| snapshot.models[c.model].targets[c.target].target.clone())
                .collect();
        }
        Err(failure) => {
            explanation.policy = failure.policy.map(|i| snapshot.policies[i].name.clone());
            if let crate::Error::NoAvailableTarget { skipped, .. }
            | crate::Error::CircuitOpen { skipped, .. }
            | crate::Error::RateLimited { skipped, .. }
            | crate::Error::BudgetExhausted { skipped, .. }
            | crate::Error::SharedStateUnavailable { skipped, .. } = &failure.error
            {
                explanation.skipped.clone_from(skipped);
            }
            explanation.error = Some(failure.error.to_string());
        }
    }
    explanation
}

impl Explanation {
    fn write_adaptations(&self, f: &mut fmt::Formatter<'_>, target: &TargetRef) -> fmt::Result {
        let changes = self.adapted.iter().filter(|a| &a.target == target);
        for change in changes.flat_map(|a| &a.changes) {
            writeln!(f, "       adapted: {change}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "request: step type `{}`, purpose `{}`, needs {}",
            self.step_type, self.purpose, self.needs
        )?;
        for applied in &self.overrides {
            writeln!(f, "  override: {applied}")?;
        }
        for miss in &self.passed_over {
            writeln!(f, "  passed over policy `{}`: {}", miss.policy, miss.reason)?;
        }
        match &self.policy {
            Some(policy) => writeln!(f, "  matched policy `{policy}`")?,
            None => writeln!(f, "  matched no policy")?,
        }
        if self.context_fallback {
            writeln!(
                f,
                "  no target on the route can hold the request: larger-context models instead"
            )?;
        }
        for (i, target) in self.candidates.iter().enumerate() {
            let role = match (i, self.context_fallback) {
                (_, true) => "larger-context fallback",
                (0, false) => "primary",
                (_, false) => "fallback",
            };
            let health = if self.deprioritized.contains(target) {
                ", account unhealthy: moved last"
            } else {
                ""
            };
            let headroom = self.headroom.iter().find(|h| &h.target == target);
            match headroom {
                Some(h) => writeln!(
                    f,
                    "  {}. {target} ({role}, headroom {}{health})",
                    i + 1,
                    h.headroom
                )?,
                None => writeln!(f, "  {}. {target} ({role}{health})", i + 1)?,
            }
            self.write_adaptations(f, target)?;
        }
        for (i, target) in self.larger_context.iter().enumerate() {
            let n = self.candidates.len() + i + 1;
            writeln!(
                f,
                "  {n}. {target} (larger-context fallback, only after a context-length error)"
            )?;
            self.write_adaptations(f, target)?;
        }
        for skip in &self.skipped {
            writeln!(f, "  skipped {}: {}", skip.target, skip.reason)?;
        }
        if let Some(error) = &self.error {
            writeln!(f, "  fails before any call: {error}")?;
        }
        Ok(())
    }
}
