//! Live statistics: lock-free counters on the request path, serializable snapshots for
//! callers ([`Router::stats`](crate::Router::stats)).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use crate::budget::BudgetSnapshot;
use crate::limits::{CoolDownStatus, LimiterSnapshot};
use crate::resilience::{BreakerSnapshot, CredentialsStatus, HealthSnapshot};
use crate::types::TargetRef;

/// Counters of one policy. Kept across reloads while the policy's name survives.
#[derive(Debug, Default)]
pub(crate) struct PolicyCounters {
    matched: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    fallbacks: AtomicU64,
}

impl PolicyCounters {
    pub(crate) fn record_match(&self) {
        self.matched.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_outcome(&self, success: bool) {
        if success {
            self.succeeded.fetch_add(1, Relaxed);
        } else {
            self.failed.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn record_cancelled(&self) {
        self.cancelled.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_fallback(&self) {
        self.fallbacks.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, name: &Arc<str>, priority: i32) -> PolicyStats {
        let succeeded = self.succeeded.load(Relaxed);
        let failed = self.failed.load(Relaxed);
        PolicyStats {
            name: name.clone(),
            priority,
            matched: self.matched.load(Relaxed),
            succeeded,
            failed,
            cancelled: self.cancelled.load(Relaxed),
            fallbacks: self.fallbacks.load(Relaxed),
            success_rate: rate(succeeded, succeeded + failed),
            error_rate: rate(failed, succeeded + failed),
        }
    }
}

/// Counters of one target. Kept across reloads while the target survives.
#[derive(Debug, Default)]
pub(crate) struct TargetCounters {
    attempts: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    latency_micros: AtomicU64,
}

impl TargetCounters {
    pub(crate) fn record(&self, success: bool, latency: Duration) {
        self.attempts.fetch_add(1, Relaxed);
        if success {
            self.succeeded.fetch_add(1, Relaxed);
        } else {
            self.failed.fetch_add(1, Relaxed);
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.fetch_add(micros, Relaxed);
    }

    /// A call abandoned because a hedged call answered first.
    pub(crate) fn record_cancelled(&self) {
        self.attempts.fetch_add(1, Relaxed);
        self.cancelled.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, target: &TargetRef, in_flight: u32) -> TargetStats {
        let attempts = self.attempts.load(Relaxed);
        let succeeded = self.succeeded.load(Relaxed);
        let failed = self.failed.load(Relaxed);
        TargetStats {
            target: target.clone(),
            attempts,
            succeeded,
            failed,
            cancelled: self.cancelled.load(Relaxed),
            in_flight,
            success_rate: rate(succeeded, succeeded + failed),
            mean_latency_us: self.latency_micros.load(Relaxed).checked_div(attempts),
        }
    }
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A point-in-time copy of every counter the router keeps.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct RouterStats {
    /// One entry per policy, in evaluation order.
    pub policies: Vec<PolicyStats>,
    /// One entry per target, in declaration order.
    pub targets: Vec<TargetStats>,
    /// One entry per circuit breaker (policy and target), in policy order.
    pub breakers: Vec<BreakerStats>,
    /// The accounts whose credentials the provider rejected (HTTP 401/403): out of
    /// rotation until a probe succeeds or a reload changes their credentials.
    pub credentials_rejected: Vec<String>,
}

/// The state of one policy's breaker for one target.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct BreakerStats {
    /// The policy.
    pub policy: Arc<str>,
    /// The target.
    pub target: TargetRef,
    /// The breaker's state and counts.
    #[serde(flatten)]
    pub breaker: BreakerSnapshot,
}

/// One provider account as it stands: health, rate-limit use, budget and spend.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct AccountStatus {
    /// The account's name.
    pub name: String,
    /// Error rate, latency, probe results and the healthy verdict.
    pub health: HealthSnapshot,
    /// Current use of its rate limits, when it has any.
    pub limits: Option<LimiterSnapshot>,
    /// 429 cool-downs in force (the whole account, or single provider models), whether or
    /// not the account has limits configured.
    pub cool_downs: Vec<CoolDownStatus>,
    /// Set while the provider's rejection of the account's credentials (HTTP 401/403)
    /// keeps it out of rotation.
    pub credentials_rejected: Option<CredentialsStatus>,
    /// Spend this window, remaining budget and thresholds crossed, when it has a budget.
    pub budget: Option<BudgetSnapshot>,
}

impl RouterStats {
    /// The stats of the policy named `name`.
    pub fn policy(&self, name: &str) -> Option<&PolicyStats> {
        self.policies.iter().find(|p| &*p.name == name)
    }

    /// The stats of the target of `logical_model` on `account`.
    pub fn target(&self, logical_model: &str, account: &str) -> Option<&TargetStats> {
        self.targets
            .iter()
            .find(|t| &*t.target.logical_model == logical_model && &*t.target.account == account)
    }
}

/// Counters of one policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PolicyStats {
    /// The policy's name.
    pub name: Arc<str>,
    /// Its priority.
    pub priority: i32,
    /// Requests the policy matched. Once every request has finished, this equals
    /// `succeeded + failed + cancelled`.
    pub matched: u64,
    /// Matched requests that got an answer.
    pub succeeded: u64,
    /// Matched requests that ended in an error.
    pub failed: u64,
    /// Matched requests whose caller dropped the future or stream before the end.
    pub cancelled: u64,
    /// Times a request moved on to another candidate after a failure.
    pub fallbacks: u64,
    /// `succeeded / (succeeded + failed)`; `None` before any request finished.
    pub success_rate: Option<f64>,
    /// `failed / (succeeded + failed)`; `None` before any request finished.
    pub error_rate: Option<f64>,
}

/// Counters of one target.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TargetStats {
    /// The target.
    pub target: TargetRef,
    /// Provider calls made.
    pub attempts: u64,
    /// Calls that succeeded.
    pub succeeded: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Calls abandoned because a hedged call answered first.
    pub cancelled: u64,
    /// Calls under way now (zero once every request has finished or been cancelled).
    pub in_flight: u32,
    /// `succeeded / (succeeded + failed)`; `None` before any call finished.
    pub success_rate: Option<f64>,
    /// Mean call latency in microseconds; `None` before any call.
    pub mean_latency_us: Option<u64>,
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

impl fmt::Display for RouterStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<24} {:>8} {:>8} {:>9} {:>7} {:>9} {:>8}",
            "policy", "priority", "matched", "succeeded", "failed", "fallbacks", "success"
        )?;
        for p in &self.policies {
            writeln!(
                f,
                "{:<24} {:>8} {:>8} {:>9} {:>7} {:>9} {:>8}",
                p.name,
                p.priority,
                p.matched,
                p.succeeded,
                p.failed,
                p.fallbacks,
                percent(p.success_rate)
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<44} {:>8} {:>9} {:>7} {:>8} {:>10}",
            "target", "attempts", "succeeded", "failed", "success", "mean lat."
        )?;
        for t in &self.targets {
            writeln!(
                f,
                "{:<44} {:>8} {:>9} {:>7} {:>8} {:>10}",
                t.target.to_string(),
                t.attempts,
                t.succeeded,
                t.failed,
                percent(t.success_rate),
                t.mean_latency_us.map_or_else(
                    || "-".to_owned(),
                    |us| format!("{:.1?}", Duration::from_micros(us))
                )
            )?;
        }
        for account in &self.credentials_rejected {
            writeln!(
                f,
                "\naccount `{account}`: credentials rejected, out of rotation"
            )?;
        }
        Ok(())
    }
}
