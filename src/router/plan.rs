//! The planner: given a request and a snapshot, the ordered list of targets to try.
//!
//! Pure: no I/O, no clock, no counters touched. [`Router::complete`](crate::Router::complete),
//! [`Router::stream`](crate::Router::stream) and [`Router::explain`](crate::Router::explain)
//! all call [`plan`], so an explanation cannot disagree with what routing does.

use std::fmt;

use serde::Serialize;

use super::snapshot::Snapshot;
use crate::error::Error;
use crate::model::{Capabilities, Capability};
use crate::policy::{MatchMiss, Purpose, StepType};
use crate::types::{ChatRequest, TargetRef};

/// A target to try: indices into the snapshot's models and that model's targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) model: usize,
    pub(crate) target: usize,
}

/// The planner's answer for a request that matched a policy.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) policy: usize,
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) skipped: Vec<SkippedTarget>,
}

/// Why planning failed, and which policy had matched, if any (its stats count the failure).
#[derive(Debug)]
pub(crate) struct PlanError {
    pub(crate) policy: Option<usize>,
    pub(crate) error: Error,
}

/// A candidate the planner left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkippedTarget {
    /// The target left out.
    pub target: TargetRef,
    /// Why.
    pub reason: SkipReason,
}

/// Why the planner left a candidate out.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// The target's logical model does not support something the request needs.
    ModelLacks {
        /// The first capability missing.
        capability: Capability,
    },
    /// The logical model promises it, but this target does not support it.
    TargetLacks {
        /// The first capability missing.
        capability: Capability,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::ModelLacks { capability } => {
                write!(f, "logical model does not support {capability}")
            }
            SkipReason::TargetLacks { capability } => {
                write!(f, "target does not support {capability}")
            }
        }
    }
}

/// Plans a request. `on_miss` hears every policy passed over, with why (explain records
/// them; the request path passes a no-op that compiles away).
pub(crate) fn plan(
    snapshot: &Snapshot,
    step: &StepType,
    purpose: &Purpose,
    request: &ChatRequest,
    needs: Capabilities,
    mut on_miss: impl FnMut(usize, MatchMiss),
) -> Result<Plan, PlanError> {
    let model_name = request.model.as_deref();
    let mut matched = None;
    for (i, policy) in snapshot.policies.iter().enumerate() {
        match policy
            .matcher
            .check(step, purpose, model_name, &request.tags)
        {
            Ok(()) => {
                matched = Some(i);
                break;
            }
            Err(miss) => on_miss(i, miss),
        }
    }
    let Some(policy_index) = matched else {
        return Err(PlanError {
            policy: None,
            error: Error::NoMatchingPolicy {
                step_type: step.clone(),
                purpose: purpose.clone(),
            },
        });
    };
    let policy = &snapshot.policies[policy_index];

    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    let mut any_model_capable = false;
    for entry in &policy.route {
        let model = &snapshot.models[entry.model];
        let model_missing = model.capabilities.missing(needs).first();
        any_model_capable |= model_missing.is_none();
        let targets = match entry.only_target {
            Some(t) => t..t + 1,
            None => 0..model.targets.len(),
        };
        for t in targets {
            let target = &model.targets[t];
            let reason = match model_missing {
                Some(capability) => Some(SkipReason::ModelLacks { capability }),
                None => target
                    .capabilities
                    .missing(needs)
                    .first()
                    .map(|capability| SkipReason::TargetLacks { capability }),
            };
            match reason {
                None => candidates.push(Candidate {
                    model: entry.model,
                    target: t,
                }),
                Some(reason) => skipped.push(SkippedTarget {
                    target: target.target.clone(),
                    reason,
                }),
            }
        }
    }

    let fail = |error| PlanError {
        policy: Some(policy_index),
        error,
    };
    if !any_model_capable {
        let primary = &snapshot.models[policy.route[0].model];
        let capability = primary
            .capabilities
            .missing(needs)
            .first()
            .expect("no capable model implies the primary lacks something");
        return Err(fail(Error::MissingCapability {
            policy: policy.name.clone(),
            model: primary.name.clone(),
            capability,
        }));
    }
    if candidates.is_empty() {
        return Err(fail(Error::NoAvailableTarget {
            policy: policy.name.clone(),
            skipped,
        }));
    }
    Ok(Plan {
        policy: policy_index,
        candidates,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimProvider;
    use crate::{LogicalModel, Policy, ProviderAccount, RouterBuilder, Target};

    fn snapshot() -> Snapshot {
        RouterBuilder::new()
            .account(ProviderAccount::new("a", SimProvider::new()))
            .account(ProviderAccount::new("b", SimProvider::new()))
            .model(
                LogicalModel::new("text-only")
                    .capabilities(Capabilities::TOOLS)
                    .target(Target::new("a", "small")),
            )
            .model(
                LogicalModel::new("vision")
                    .capabilities(Capabilities::TOOLS | Capabilities::VISION)
                    .target(Target::new("a", "big").capabilities(Capabilities::TOOLS))
                    .target(Target::new("b", "big")),
            )
            .policy(
                Policy::new("extract")
                    .priority(10)
                    .step_types([StepType::Extraction])
                    .route(["vision"]),
            )
            .policy(
                Policy::new("pinned")
                    .priority(5)
                    .tags(["pin"])
                    .then(crate::RouteStep::target("vision", "b")),
            )
            .policy(Policy::new("default").route(["text-only", "vision"]))
            .compile(None)
            .unwrap()
    }

    fn names(snapshot: &Snapshot, plan: &Plan) -> Vec<String> {
        plan.candidates
            .iter()
            .map(|c| {
                snapshot.models[c.model].targets[c.target]
                    .target
                    .to_string()
            })
            .collect()
    }

    fn plan_for(
        snapshot: &Snapshot,
        step: StepType,
        request: &ChatRequest,
    ) -> Result<Plan, PlanError> {
        let needs = request.required_capabilities();
        plan(snapshot, &step, &Purpose::Chat, request, needs, |_, _| {})
    }

    #[test]
    fn route_expands_to_every_target_in_declared_order() {
        let s = snapshot();
        let plan = plan_for(&s, StepType::Inference, &ChatRequest::user("hi")).unwrap();
        assert_eq!(s.policies[plan.policy].name.as_ref(), "default");
        assert_eq!(
            names(&s, &plan),
            ["text-only/a/small", "vision/a/big", "vision/b/big"]
        );
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn first_matching_policy_by_priority_wins_and_misses_are_reported() {
        let s = snapshot();
        let mut misses = Vec::new();
        let request = ChatRequest::user("hi").tag("pin");
        let plan = plan(
            &s,
            &StepType::Inference,
            &Purpose::Chat,
            &request,
            Capabilities::NONE,
            |i, m| misses.push((s.policies[i].name.to_string(), m)),
        )
        .unwrap();
        assert_eq!(s.policies[plan.policy].name.as_ref(), "pinned");
        assert_eq!(names(&s, &plan), ["vision/b/big"]);
        assert_eq!(misses, [("extract".to_owned(), MatchMiss::StepType)]);
    }

    #[test]
    fn models_and_targets_lacking_a_needed_capability_are_skipped_with_reasons() {
        let s = snapshot();
        let request = ChatRequest::new().message(crate::Message::user_parts([
            crate::ContentPart::image_url("https://x/y.png"),
        ]));
        let plan = plan_for(&s, StepType::Inference, &request).unwrap();
        assert_eq!(names(&s, &plan), ["vision/b/big"]);
        let reasons: Vec<_> = plan
            .skipped
            .iter()
            .map(|k| (k.target.to_string(), k.reason.clone()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "text-only/a/small".to_owned(),
                    SkipReason::ModelLacks {
                        capability: Capability::Vision
                    }
                ),
                (
                    "vision/a/big".to_owned(),
                    SkipReason::TargetLacks {
                        capability: Capability::Vision
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_need_no_route_model_meets_is_a_capability_error_naming_the_primary() {
        let s = snapshot();
        let request = ChatRequest::user("hi").response_format(crate::ResponseFormat::JsonObject);
        let err = plan_for(&s, StepType::Inference, &request).unwrap_err();
        assert_eq!(err.policy, Some(2));
        match err.error {
            Error::MissingCapability {
                model, capability, ..
            } => {
                assert_eq!(&*model, "text-only");
                assert_eq!(capability, Capability::JsonMode);
            }
            other => panic!("expected MissingCapability, got {other:?}"),
        }
    }

    #[test]
    fn capable_model_whose_targets_all_lack_the_need_is_no_available_target() {
        let s = RouterBuilder::new()
            .account(ProviderAccount::new("a", SimProvider::new()))
            .model(
                LogicalModel::new("vision")
                    .capabilities(Capabilities::VISION)
                    .target(Target::new("a", "blind").capabilities(Capabilities::NONE)),
            )
            .policy(Policy::new("p").route(["vision"]))
            .compile(None)
            .unwrap();
        let request = ChatRequest::new().message(crate::Message::user_parts([
            crate::ContentPart::image_url("https://x/y.png"),
        ]));
        let err = plan_for(&s, StepType::Inference, &request).unwrap_err();
        match err.error {
            Error::NoAvailableTarget { skipped, .. } => {
                assert_eq!(skipped.len(), 1);
                assert_eq!(skipped[0].target.to_string(), "vision/a/blind");
            }
            other => panic!("expected NoAvailableTarget, got {other:?}"),
        }
    }

    #[test]
    fn no_matching_policy_is_reported_without_a_policy() {
        let s = RouterBuilder::new()
            .account(ProviderAccount::new("a", SimProvider::new()))
            .model(LogicalModel::new("m").target(Target::new("a", "x")))
            .policy(
                Policy::new("only-chat")
                    .purposes([Purpose::Chat])
                    .route(["m"]),
            )
            .compile(None)
            .unwrap();
        let request = ChatRequest::user("hi");
        let err = plan(
            &s,
            &StepType::Inference,
            &Purpose::Summarization,
            &request,
            Capabilities::NONE,
            |_, _| {},
        )
        .unwrap_err();
        assert_eq!(err.policy, None);
        assert!(matches!(err.error, Error::NoMatchingPolicy { .. }));
    }
}
