//! Planning a route's targets: capability, context-window, breaker, limit and budget
//! checks per target, then each tier put in its balance order.

use super::super::accounting::Tokens;
use super::super::adaptation::{self, PlannedAdaptation};
use super::super::balance;
use super::super::counting::PromptCounts;
use super::super::execution::Execution;
use super::super::skip::{SkipReason, SkippedTarget};
use super::super::snapshot::{CompiledPolicy, RouteEntry, Snapshot};
use super::{Candidate, PlanRequest};
use crate::limits::Headroom;
use crate::model::{Balance, Capabilities};
use crate::provider::ProviderRequest;
use crate::types::{ChatRequest, millis};
use tokio::time::Instant;

/// A usable target's tokens (when its account is metered) and headroom (when measured).
pub(super) type Checked = (Option<Tokens>, Option<Headroom>);

/// What checking a target needs of the request: a [`PlanRequest`] without the step type
/// and purpose, which only matching reads (so a plan can go on after matching is over).
#[derive(Clone, Copy)]
pub(super) struct Checking<'r> {
    pub(super) request: &'r ChatRequest,
    pub(super) needs: Capabilities,
    pub(super) for_real: bool,
    pub(super) now: Instant,
}

impl<'r> From<&PlanRequest<'r>> for Checking<'r> {
    fn from(input: &PlanRequest<'r>) -> Self {
        Checking {
            request: input.request,
            needs: input.needs,
            for_real: input.for_real,
            now: input.now,
        }
    }
}

/// What one plan finds out once and carries from target to target.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Carried {
    /// Estimated once, on the first target with a known window.
    pub(super) prompt_tokens: Option<u32>,
    /// Counted once per way of counting, for the metered targets.
    pub(super) counts: PromptCounts,
    /// Where the next target's breaker is looked for first.
    pub(super) next_breaker: usize,
}

/// One plan in the making: the candidates and skips found so far, and what is counted
/// once per plan.
pub(super) struct Planner<'a, 'r> {
    pub(super) snapshot: &'a Snapshot,
    pub(super) policy: &'a CompiledPolicy,
    pub(super) input: Checking<'r>,
    pub(super) candidates: Vec<Candidate>,
    pub(super) skipped: Vec<SkippedTarget>,
    pub(super) adaptations: Vec<PlannedAdaptation>,
    pub(super) carried: Carried,
}

impl Planner<'_, '_> {
    /// Plans the policy's larger-context models. When the route left no candidate and
    /// at least one target was skipped for its context window, they become the plan
    /// (returned: nothing held back, `true`). Otherwise they are held back for a
    /// context-length error, planned without advancing round-robin positions (a plan
    /// that never uses them must not move them), and their skips are not reported.
    pub(super) fn add_larger_context(&mut self) -> (Vec<Candidate>, bool) {
        let too_long = self.candidates.is_empty()
            && self
                .skipped
                .iter()
                .any(|s| matches!(s.reason, SkipReason::ContextWindow { .. }));
        let input = Checking {
            for_real: self.input.for_real && too_long,
            ..self.input
        };
        let mut planner = Planner {
            snapshot: self.snapshot,
            policy: self.policy,
            input,
            candidates: Vec::new(),
            skipped: Vec::new(),
            adaptations: Vec::new(),
            carried: Carried {
                next_breaker: 0,
                ..self.carried
            },
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
    pub(super) fn add_entry(&mut self, entry: RouteEntry) -> bool {
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
    pub(super) fn check_target(&mut self, m: usize, t: usize) -> Result<Checked, SkipReason> {
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
            .breaker_from(target, &mut self.carried.next_breaker)
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
            let tokens = resolved.tokens(request, &mut self.carried.counts, u32::MAX);
            let headroom = resolved.check(tokens, self.input.now, measure)?;
            return Ok((tokens, headroom));
        };
        let prompt = *self.carried.prompt_tokens.get_or_insert_with(|| {
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
        let tokens = resolved.tokens(request, &mut self.carried.counts, window.context);
        let headroom = resolved.check(tokens, self.input.now, measure)?;
        Ok((tokens, headroom))
    }
}
