//! [`Comparison`]: current and candidate side by side, as a text table ([`Display`](fmt::Display))
//! and as JSON ([`Serialize`]).

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::driver::{ReplayRun, replay_request};
use super::summary::{PolicySummary, Summary, TargetSummary};

/// Two runs of the same traffic side by side: overall, per policy, per target and per
/// budget, and the requests the candidate no longer routes, a few of them explained.
///
/// ```
/// # use routewise::{LogicalModel, Policy, ProviderAccount, Purpose, Router, Target};
/// # use routewise::replay::{Behaviours, Comparison, Replay, Traffic, TrafficRecord};
/// # use routewise::sim::SimProvider;
/// # let line = r#"{"unix_ms":0,"step":"inference","purpose":"chat","input_tokens":50,"outcome":"ok","latency_us":1}"#;
/// # let traffic = Traffic::from_records([serde_json::from_str::<TrafficRecord>(line)?]);
/// # let config = || Router::builder()
/// #     .account(ProviderAccount::new("main", SimProvider::new()))
/// #     .model(LogicalModel::new("m").target(Target::new("main", "x")));
/// let replay = Replay::new(traffic.clone(), Behaviours::fit(&traffic));
/// let current = replay.run(config().policy(Policy::new("default").route(["m"])))?;
/// let candidate = replay.run(config().policy(Policy::new("summaries").purposes([Purpose::Summarization]).route(["m"])))?;
/// let comparison = Comparison::new(&current, &candidate);
/// assert_eq!(comparison.no_longer_routed, 1);
/// println!("{comparison}");
/// let json = serde_json::to_string_pretty(&comparison)?;
/// # let _ = json;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Comparison {
    /// The figures of the current configuration (or of the recording).
    pub current: Summary,
    /// The figures of the candidate.
    pub candidate: Summary,
    /// Requests the current configuration sent to a provider and the candidate did not.
    pub no_longer_routed: u64,
    /// Up to [`SAMPLES`](Self::SAMPLES) of them, with the candidate's explanation.
    pub samples: Vec<Unrouted>,
}

/// A request the candidate no longer routes.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Unrouted {
    /// When it arrived (ms since the Unix epoch).
    pub unix_ms: u64,
    /// Its step type.
    pub step: String,
    /// Its purpose.
    pub purpose: String,
    /// What the candidate answered (an error code).
    pub outcome: String,
    /// [`Router::explain`](crate::Router::explain) of the candidate, as text.
    pub explanation: String,
}

impl Comparison {
    /// How many unrouted requests are explained.
    pub const SAMPLES: usize = 5;

    /// Compares two replays of the same traffic.
    pub fn new(current: &ReplayRun, candidate: &ReplayRun) -> Self {
        let mut no_longer_routed = 0;
        let mut samples = Vec::new();
        for (before, after) in current.records().iter().zip(candidate.records()) {
            let routed_before = before.succeeded() || !before.attempts.is_empty();
            let routed_after = after.succeeded() || !after.attempts.is_empty();
            if !routed_before || routed_after {
                continue;
            }
            no_longer_routed += 1;
            if samples.len() < Self::SAMPLES {
                let request = replay_request(after);
                let explanation =
                    candidate
                        .router()
                        .explain(after.step.clone(), after.purpose.clone(), &request);
                samples.push(Unrouted {
                    unix_ms: after.unix_ms,
                    step: after.step.to_string(),
                    purpose: after.purpose.to_string(),
                    outcome: after.outcome.to_string(),
                    explanation: explanation.to_string(),
                });
            }
        }
        Self {
            current: current.summary(),
            candidate: candidate.summary(),
            no_longer_routed,
            samples,
        }
    }

    /// Compares two summaries (a recording's and a replay's, say), without the requests.
    pub fn of_summaries(current: Summary, candidate: Summary) -> Self {
        Self {
            current,
            candidate,
            no_longer_routed: 0,
            samples: Vec::new(),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = (&self.current, &self.candidate);
        writeln!(
            f,
            "{:<28} {:>14} {:>14} {:>10}",
            "", "current", "candidate", "change"
        )?;
        row(
            f,
            "requests",
            a.requests as f64,
            b.requests as f64,
            Unit::Count,
        )?;
        row(
            f,
            "success rate",
            a.success_rate,
            b.success_rate,
            Unit::Share,
        )?;
        row(
            f,
            "fallbacks",
            a.fallbacks as f64,
            b.fallbacks as f64,
            Unit::Count,
        )?;
        row(f, "p50 latency", a.p50_ms, b.p50_ms, Unit::Millis)?;
        row(f, "p95 latency", a.p95_ms, b.p95_ms, Unit::Millis)?;
        row(f, "cost", a.cost_usd, b.cost_usd, Unit::Dollars)?;
        row(
            f,
            "not routed",
            a.unrouted as f64,
            b.unrouted as f64,
            Unit::Count,
        )?;
        for name in keys(&a.policies, &b.policies) {
            let (p, q) = (part(&a.policies, &name), part(&b.policies, &name));
            writeln!(f, "\npolicy `{name}`")?;
            policy_rows(f, &p, &q)?;
        }
        for name in keys(&a.targets, &b.targets) {
            let (p, q) = (part(&a.targets, &name), part(&b.targets, &name));
            writeln!(f, "\ntarget {name}")?;
            target_rows(f, &p, &q)?;
        }
        for name in keys(&a.budgets, &b.budgets) {
            let (p, q) = (part(&a.budgets, &name), part(&b.budgets, &name));
            writeln!(
                f,
                "\nbudget of `{name}` (${:.2})",
                q.limit_usd.max(p.limit_usd)
            )?;
            row(f, "  spent", p.spent_usd, q.spent_usd, Unit::Dollars)?;
            let never = || "never".to_owned();
            writeln!(
                f,
                "{:<28} {:>14} {:>14}",
                "  exhausted",
                short_date(p.exhausted_at.clone().unwrap_or_else(never)),
                short_date(q.exhausted_at.clone().unwrap_or_else(never)),
            )?;
        }
        if self.no_longer_routed > 0 {
            writeln!(
                f,
                "\n{} request(s) the current configuration routed are not routed by the candidate; for example:",
                self.no_longer_routed
            )?;
            for sample in &self.samples {
                writeln!(
                    f,
                    "- {} {}: {}",
                    sample.step, sample.purpose, sample.outcome
                )?;
                for line in sample.explanation.lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        Ok(())
    }
}

fn policy_rows(f: &mut fmt::Formatter<'_>, p: &PolicySummary, q: &PolicySummary) -> fmt::Result {
    row(
        f,
        "  matches",
        p.matches as f64,
        q.matches as f64,
        Unit::Count,
    )?;
    row(
        f,
        "  success rate",
        p.success_rate,
        q.success_rate,
        Unit::Share,
    )?;
    row(
        f,
        "  fallbacks",
        p.fallbacks as f64,
        q.fallbacks as f64,
        Unit::Count,
    )?;
    row(f, "  p50 latency", p.p50_ms, q.p50_ms, Unit::Millis)?;
    row(f, "  p95 latency", p.p95_ms, q.p95_ms, Unit::Millis)?;
    row(f, "  cost", p.cost_usd, q.cost_usd, Unit::Dollars)
}

fn target_rows(f: &mut fmt::Formatter<'_>, p: &TargetSummary, q: &TargetSummary) -> fmt::Result {
    row(f, "  calls", p.calls as f64, q.calls as f64, Unit::Count)?;
    row(f, "  failed", p.failed as f64, q.failed as f64, Unit::Count)?;
    row(f, "  share of answers", p.share, q.share, Unit::Share)?;
    row(f, "  cost", p.cost_usd, q.cost_usd, Unit::Dollars)
}

#[derive(Clone, Copy)]
enum Unit {
    Count,
    Share,
    Millis,
    Dollars,
}

fn row(f: &mut fmt::Formatter<'_>, label: &str, a: f64, b: f64, unit: Unit) -> fmt::Result {
    let show = |v: f64| match unit {
        Unit::Count => format!("{v:.0}"),
        Unit::Share => format!("{:.1}%", v * 100.0),
        Unit::Millis => format!("{v:.0} ms"),
        Unit::Dollars => format!("${v:.4}"),
    };
    let change = match unit {
        Unit::Share => format!("{:+.1} pp", (b - a) * 100.0),
        _ if a == 0.0 && b == 0.0 => String::new(),
        _ if a == 0.0 => "new".to_owned(),
        _ => format!("{:+.1}%", (b - a) / a * 100.0),
    };
    writeln!(
        f,
        "{label:<28} {:>14} {:>14} {change:>10}",
        show(a),
        show(b)
    )
}

fn keys<V>(
    a: &std::collections::BTreeMap<String, V>,
    b: &std::collections::BTreeMap<String, V>,
) -> BTreeSet<String> {
    a.keys().chain(b.keys()).cloned().collect()
}

fn part<V: Clone + Default>(map: &std::collections::BTreeMap<String, V>, key: &str) -> V {
    map.get(key).cloned().unwrap_or_default()
}

/// `2026-12-03T14:05:00Z` as `2026-12-03 14:05`.
fn short_date(text: String) -> String {
    match text.get(..16) {
        Some(head) if text.len() == 20 => head.replace('T', " "),
        _ => text,
    }
}
