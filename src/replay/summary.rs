//! [`Summary`]: the figures of a set of traffic records (a recording or a replay): per
//! policy, per target, per budget.

use std::collections::BTreeMap;

use serde::Serialize;

use super::quantiles::Quantiles;
use super::record::{AttemptStatus, TrafficRecord};

/// What a set of requests came to. Built the same way from a recording
/// ([`Summary::of`] its records) and from a replay ([`ReplayRun::summary`](super::ReplayRun::summary)),
/// so the two compare like for like.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Requests.
    pub requests: u64,
    /// Requests answered.
    pub answered: u64,
    /// `answered / requests` (0 without requests).
    pub success_rate: f64,
    /// Answered requests served by another target than the first one called.
    pub fallbacks: u64,
    /// Median end-to-end latency, in milliseconds.
    pub p50_ms: f64,
    /// 95th percentile end-to-end latency, in milliseconds.
    pub p95_ms: f64,
    /// Dollars spent (priced calls only).
    pub cost_usd: f64,
    /// Requests no target was called for: no policy, no capable model, every target
    /// skipped (breakers, limits, budgets).
    pub unrouted: u64,
    /// Requests by outcome (`ok` or the error's code).
    pub outcomes: BTreeMap<String, u64>,
    /// Per policy (`(none)` for requests no policy matched).
    pub policies: BTreeMap<String, PolicySummary>,
    /// Per target, as `logical/account/provider-model`.
    pub targets: BTreeMap<String, TargetSummary>,
    /// Per account with a budget (replays only).
    pub budgets: BTreeMap<String, BudgetSummary>,
}

/// The figures of one policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PolicySummary {
    /// Requests it matched.
    pub matches: u64,
    /// Of those, answered.
    pub answered: u64,
    /// `answered / matches`.
    pub success_rate: f64,
    /// Answered by another target than the first one called.
    pub fallbacks: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// Dollars spent.
    pub cost_usd: f64,
}

/// The figures of one target.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TargetSummary {
    /// Calls made to it (hedged calls that lost the race included).
    pub calls: u64,
    /// Requests it answered.
    pub answered: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Its share of all answered requests, `0.0..=1.0`.
    pub share: f64,
    /// Dollars spent on it.
    pub cost_usd: f64,
}

/// Spend against one account's budget over the replayed period.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BudgetSummary {
    /// The budget of one window, in dollars.
    pub limit_usd: f64,
    /// Spent over the whole traffic.
    pub spent_usd: f64,
    /// When the router first refused a request for this budget, or what was left of the
    /// limit fell below the dearest request the account had served, whichever came
    /// first, as RFC 3339 wall time of the traffic; `None` if neither happened. Assumes
    /// the traffic spans one budget window.
    pub exhausted_at: Option<String>,
}

const NO_POLICY: &str = "(none)";

impl Summary {
    /// The figures of `records`.
    pub fn of(records: &[TrafficRecord]) -> Self {
        let mut summary = Summary::default();
        let mut latencies = Vec::with_capacity(records.len());
        let mut policy_latencies: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for record in records {
            let latency_ms = record.latency_us as f64 / 1000.0;
            let answered = record.succeeded();
            let fell_back = record.fell_back();
            let cost = record.cost_usd();
            summary.requests += 1;
            summary.answered += u64::from(answered);
            summary.fallbacks += u64::from(fell_back);
            summary.cost_usd += cost;
            summary.unrouted += u64::from(!answered && record.attempts.is_empty());
            *summary
                .outcomes
                .entry(record.outcome.to_string())
                .or_default() += 1;
            latencies.push(latency_ms);
            let name = record.policy.as_deref().unwrap_or(NO_POLICY).to_owned();
            let policy = summary.policies.entry(name.clone()).or_default();
            policy.matches += 1;
            policy.answered += u64::from(answered);
            policy.fallbacks += u64::from(fell_back);
            policy.cost_usd += cost;
            policy_latencies.entry(name).or_default().push(latency_ms);
            for attempt in &record.attempts {
                let target = summary.targets.entry(attempt.target_label()).or_default();
                target.calls += 1;
                target.failed += u64::from(attempt.outcome == AttemptStatus::Failed);
                target.answered += u64::from(attempt.outcome == AttemptStatus::Success);
                target.cost_usd += attempt.cost_usd.unwrap_or(0.0);
            }
        }
        summary.success_rate = ratio(summary.answered, summary.requests);
        (summary.p50_ms, summary.p95_ms) = percentiles(latencies);
        for (name, policy) in &mut summary.policies {
            policy.success_rate = ratio(policy.answered, policy.matches);
            let latencies = policy_latencies.remove(name).unwrap_or_default();
            (policy.p50_ms, policy.p95_ms) = percentiles(latencies);
        }
        for target in summary.targets.values_mut() {
            target.share = ratio(target.answered, summary.answered);
        }
        summary
    }

    /// Adds spend against each `(account, limit in dollars)` and when it ran out.
    #[must_use]
    pub fn with_budgets(mut self, records: &[TrafficRecord], limits: &[(String, f64)]) -> Self {
        for (account, limit) in limits {
            let mut spent = 0.0;
            let mut dearest: f64 = 0.0;
            let mut exhausted_at = None;
            for record in records {
                let cost: f64 = record
                    .attempts
                    .iter()
                    .filter(|a| &*a.account == account)
                    .filter_map(|a| a.cost_usd)
                    .sum();
                spent += cost;
                dearest = dearest.max(cost);
                let refused = record.budget_refused.iter().any(|a| &**a == account);
                let spent_out = cost > 0.0 && limit - spent < dearest;
                if exhausted_at.is_none() && (refused || spent_out) {
                    exhausted_at = Some(record.unix_ms);
                }
            }
            let exhausted_at = exhausted_at.map(|ms| {
                crate::budget::window::rfc3339(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
                )
            });
            self.budgets.insert(
                account.clone(),
                BudgetSummary {
                    limit_usd: *limit,
                    spent_usd: spent,
                    exhausted_at,
                },
            );
        }
        self
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn percentiles(values: Vec<f64>) -> (f64, f64) {
    let distribution = Quantiles::exact(values);
    (distribution.quantile(0.5), distribution.quantile(0.95))
}
