//! The planner: given a request and a snapshot, the ordered list of targets to try.
//!
//! No I/O and no counters touched: [`Router::complete`](crate::Router::complete),
//! [`Router::stream`](crate::Router::stream) and [`Router::explain`](crate::Router::explain)
//! all call [`plan`], so an explanation cannot disagree with what routing does. (The one
//! side effect, advancing a round-robin position, happens only for real requests.)

use std::borrow::Cow;
use tokio::time::Instant;

use super::accounting::Tokens;
use super::adaptation::{self, PlannedAdaptation};
use super::balance;
use super::counting::PromptCounts;
use super::execution::Execution;
use super::matching;
use super::skip::{SkipReason, SkippedTarget, no_candidate_error};
use super::snapshot::{CompiledPolicy, RouteEntry, Snapshot};
use crate::error::Error;
use crate::limits::Headroom;
use crate::model::{Balance, Capabilities};
use crate::policy::{MatchMiss, Purpose, RouteStep, StepType};
use crate::provider::ProviderRequest;
use crate::types::millis;
use crate::types::{ChatRequest, RouteOptions};

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
        input,
        candidates: Vec::with_capacity(targets),
        skipped: Vec::new(),
        prompt_tokens: None,
        adaptations: Vec::new(),
        counts: PromptCounts::default(),
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
        let primary = &snapshot.models[route[0].model];
        let capability = primary
            .capabilities
            .missing(input.needs)
            .first()
            .expect("no capable model implies the primary lacks something");
        return Err(fail(Error::MissingCapability {
            policy: policy.name.clone(),
            model: primary.name.clone(),
            capability,
        }));
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
    })
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

/// The policy's route, or the route the request's overrides make of it.
fn effective_route<'s>(
    snapshot: &Snapshot,
    policy: &'s CompiledPolicy,
    options: &RouteOptions,
) -> Result<Cow<'s, [RouteEntry]>, Error> {
    if options.pin.is_none() && options.extra_fallbacks.is_empty() {
        return Ok(Cow::Borrowed(&policy.route));
    }
    let mut problems = Vec::new();
    let mut route = match &options.pin {
        Some(pin) => resolve(snapshot, pin, "options.pin", &mut problems)
            .into_iter()
            .collect(),
        None => policy.route.clone(),
    };
    for (i, model) in options.extra_fallbacks.iter().enumerate() {
        let step = RouteStep::model(model.as_str());
        let field = format!("options.extra_fallbacks[{i}]");
        if let Some(entry) = resolve(snapshot, &step, &field, &mut problems)
            && !route
                .iter()
                .any(|e| e.model == entry.model && e.only_target.is_none())
        {
            route.push(entry);
        }
    }
    if problems.is_empty() {
        Ok(Cow::Owned(route))
    } else {
        Err(Error::InvalidRequest { problems })
    }
}

/// Resolves a route step named in a request; unknown names are request problems.
fn resolve(
    snapshot: &Snapshot,
    step: &RouteStep,
    field: &str,
    problems: &mut Vec<(String, String)>,
) -> Option<RouteEntry> {
    let Some(&model) = snapshot.model_index.get(step.model.as_str()) else {
        problems.push((
            field.to_owned(),
            format!("names unknown logical model `{}`", step.model),
        ));
        return None;
    };
    let only_target = match &step.account {
        None => None,
        Some(account) => {
            let position = snapshot.models[model]
                .targets
                .iter()
                .position(|t| &*t.target.account == account);
            if position.is_none() {
                problems.push((
                    field.to_owned(),
                    format!(
                        "logical model `{}` has no target on account `{account}`",
                        step.model
                    ),
                ));
                return None;
            }
            position
        }
    };
    Some(RouteEntry { model, only_target })
}

/// A usable target's tokens (when its account is metered) and headroom (when measured).
type Checked = (Option<Tokens>, Option<Headroom>);

struct Planner<'a, 'r> {
    snapshot: &'a Snapshot,
    policy: &'a CompiledPolicy,
    input: &'a PlanRequest<'r>,
    candidates: Vec<Candidate>,
    skipped: Vec<SkippedTarget>,
    /// Estimated once, on the first target with a known window.
    prompt_tokens: Option<u32>,
    adaptations: Vec<PlannedAdaptation>,
    /// Counted once per way of counting, for the metered targets.
    counts: PromptCounts,
}

impl Planner<'_, '_> {
    /// Plans the policy's larger-context models. When the route left no candidate and
    /// at least one target was skipped for its context window, they become the plan
    /// (returned: nothing held back, `true`). Otherwise they are held back for a
    /// context-length error, planned without advancing round-robin positions (a plan
    /// that never uses them must not move them), and their skips are not reported.
    fn add_larger_context(&mut self) -> (Vec<Candidate>, bool) {
        let too_long = self.candidates.is_empty()
            && self
                .skipped
                .iter()
                .any(|s| matches!(s.reason, SkipReason::ContextWindow { .. }));
        let input = PlanRequest {
            for_real: self.input.for_real && too_long,
            ..*self.input
        };
        let mut planner = Planner {
            snapshot: self.snapshot,
            policy: self.policy,
            input: &input,
            candidates: Vec::new(),
            skipped: Vec::new(),
            prompt_tokens: self.prompt_tokens,
            adaptations: Vec::new(),
            counts: self.counts,
        };
        for entry in &self.policy.larger_context {
            planner.add_entry(*entry);
        }
        self.adaptations.append(&mut planner.adaptations);
        if !too_long {
            return (planner.candidates, false);
        }
        self.candidates = planner.candidates;
        self.skipped.append(&mut planner.skipped);
        (Vec::new(), true)
    }

    /// Adds one route entry's targets, tier by tier. Returns whether the model can do what
    /// the request needs.
    fn add_entry(&mut self, entry: RouteEntry) -> bool {
        let model = &self.snapshot.models[entry.model];
        let model_missing = model.capabilities.missing(self.input.needs).first();
        for (tier, members) in model.tiers.iter().enumerate() {
            // The tier's usable targets are appended here, then put in balance order.
            let tier_start = self.candidates.len();
            for &t in members {
                if entry.only_target.is_some_and(|only| only != t) {
                    continue;
                }
                let checked = match model_missing {
                    Some(capability) => Err(SkipReason::ModelLacks { capability }),
                    None => self.check_target(entry.model, t),
                };
                match checked {
                    Ok((tokens, headroom)) => self.candidates.push(Candidate {
                        model: entry.model,
                        target: t,
                        tokens,
                        headroom,
                    }),
                    Err(reason) => self.skipped.push(SkippedTarget {
                        target: model.targets[t].target.clone(),
                        reason,
                    }),
                }
            }
            balance::order(
                model.balance,
                &mut self.candidates[tier_start..],
                &model.targets,
                &model.cursors[tier],
                self.input.for_real,
            );
        }
        model_missing.is_none()
    }

    /// Whether target `t` of model `m` can take the request: its tokens when its account
    /// is metered and its headroom when its model balances by it, or why not.
    fn check_target(&mut self, m: usize, t: usize) -> Result<Checked, SkipReason> {
        let model = &self.snapshot.models[m];
        let measure = model.balance == Balance::Headroom;
        let target = &model.targets[t];
        if let Some(capability) = target.capabilities.missing(self.input.needs).first() {
            return Err(SkipReason::TargetLacks { capability });
        }
        if let Some(adapted) = adaptation::for_target(self.snapshot, m, t, self.input.request)? {
            self.adaptations.push(adapted);
        }
        if let Some(until) = self
            .policy
            .breaker(target)
            .and_then(|b| b.state(self.input.now).open_until())
        {
            let left = until.saturating_duration_since(self.input.now);
            return Err(SkipReason::BreakerOpen {
                recovers_in_ms: millis::saturating(left),
            });
        }
        let resolved = Execution::resolve(
            self.snapshot,
            Candidate {
                model: m,
                target: t,
                tokens: None,
                headroom: None,
            },
        );
        let request = self.input.request;
        let Some(window) = target.window else {
            let tokens = resolved.tokens(request, &mut self.counts, u32::MAX);
            let headroom = resolved.check(tokens, self.input.now, measure)?;
            return Ok((tokens, headroom));
        };
        let prompt = *self.prompt_tokens.get_or_insert_with(|| {
            let account = &self.snapshot.accounts[target.account];
            let call = ProviderRequest::new(
                &target.target.provider_model,
                &account.info,
                request,
                &model.defaults,
            );
            account.provider.estimate_input_tokens(&call)
        });
        let output = request
            .params
            .max_tokens
            .or(model.defaults.max_tokens)
            .unwrap_or(0);
        // The cheap estimate decides first: a prompt no window can hold is never
        // tokenized, and the count of one that may fit stops past the window.
        if !window.fits(prompt, output) {
            return Err(SkipReason::ContextWindow {
                needed: prompt.saturating_add(output),
                context: window.context,
                max_output: window.max_output,
            });
        }
        let tokens = resolved.tokens(request, &mut self.counts, window.context);
        let headroom = resolved.check(tokens, self.input.now, measure)?;
        Ok((tokens, headroom))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Capability;
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
        let input = PlanRequest {
            step: &step,
            purpose: &Purpose::Chat,
            request,
            needs: request.required_capabilities(),
            for_real: true,
            now: Instant::now(),
        };
        plan(snapshot, &input)
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
        let input = PlanRequest {
            step: &StepType::Inference,
            purpose: &Purpose::Chat,
            request: &request,
            needs: Capabilities::NONE,
            for_real: true,
            now: Instant::now(),
        };
        let plan = plan_explained(&s, &input, |i, m| {
            misses.push((s.policies[i].name.to_string(), m))
        })
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
        let input = PlanRequest {
            step: &StepType::Inference,
            purpose: &Purpose::Summarization,
            request: &request,
            needs: Capabilities::NONE,
            for_real: true,
            now: Instant::now(),
        };
        let err = plan(&s, &input).unwrap_err();
        assert_eq!(err.policy, None);
        assert!(matches!(err.error, Error::NoMatchingPolicy { .. }));
    }
}
