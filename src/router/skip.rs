//! Why the planner or the attempt loop passed a target over, and the error a request
//! gets when every target was passed over.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::budget::Usd;
use crate::error::Error;
use crate::model::Capability;
use crate::types::TargetRef;

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
    /// The estimated prompt plus the requested output does not fit the target's window.
    ContextWindow {
        /// Estimated prompt tokens plus requested output tokens.
        needed: u32,
        /// The target's context window.
        context: u32,
        /// The most output tokens the target allows.
        max_output: u32,
    },
    /// A target with a window at least this large already refused the request as too
    /// long (a context-length error), so this one cannot hold it either.
    ContextRefused {
        /// The target's context window.
        context: u32,
        /// The window of the target that refused.
        refused_by: u32,
    },
    /// The policy's circuit breaker for this target is open.
    BreakerOpen {
        /// Milliseconds until it lets a trial call through.
        recovers_in_ms: u64,
    },
    /// The account's rate limits (or a provider 429) leave no room for the request.
    RateLimited {
        /// Milliseconds until there is room; `None` when the request alone needs more
        /// tokens than the limit allows in a minute.
        retry_in_ms: Option<u64>,
    },
    /// The provider answered HTTP 429 and the account (or, where the provider limits per
    /// model, this provider model on it) is cooling down until its retry-after, or one
    /// call is probing it after the cool-down ended.
    CoolingDown {
        /// Milliseconds until it may be called again.
        retry_in_ms: u64,
        /// The provider model cooling down; `None` when the whole account is.
        model: Option<String>,
    },
    /// The provider rejected the account's credentials (HTTP 401/403): it stays out of
    /// rotation until a probe call succeeds, or a reload changes its credentials.
    CredentialsRejected {
        /// Milliseconds until a call probes the credentials again.
        probe_in_ms: u64,
    },
    /// The account's budget cannot cover the request's worst-case cost this window.
    BudgetExhausted {
        /// Spend this window, in dollars.
        spent_usd: f64,
        /// The window's budget, in dollars.
        limit_usd: f64,
    },
    /// The account's limits, budget or breaker are shared through Redis, Redis does not
    /// answer, and the shared state's fail mode is `Closed`.
    SharedStateUnavailable,
    /// The target's model cannot take a parameter of the request as it is, and the
    /// logical model's [`ParameterPolicy`](crate::ParameterPolicy) is `Strict`.
    ParameterUnsupported {
        /// The first parameter that would have to change.
        parameter: String,
        /// The provider model.
        model: String,
        /// The change it would need, and why.
        detail: String,
    },
}

impl SkipReason {
    /// When waiting would help: the time until the reason may go away.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SkipReason::BreakerOpen { recovers_in_ms } => {
                Some(Duration::from_millis(*recovers_in_ms))
            }
            SkipReason::RateLimited { retry_in_ms } => retry_in_ms.map(Duration::from_millis),
            SkipReason::CoolingDown { retry_in_ms, .. } => {
                Some(Duration::from_millis(*retry_in_ms))
            }
            _ => None,
        }
    }
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
            SkipReason::ContextWindow {
                needed,
                context,
                max_output,
            } => write!(
                f,
                "needs about {needed} tokens; the window holds {context} (at most {max_output} output)"
            ),
            SkipReason::ContextRefused {
                context,
                refused_by,
            } => write!(
                f,
                "its window holds {context}, and a target whose window holds {refused_by} refused the request as too long"
            ),
            SkipReason::BreakerOpen { recovers_in_ms } => {
                write!(f, "circuit breaker open for another {recovers_in_ms} ms")
            }
            SkipReason::RateLimited {
                retry_in_ms: Some(ms),
            } => write!(f, "rate limited for another {ms} ms"),
            SkipReason::RateLimited { retry_in_ms: None } => {
                write!(f, "the request alone exceeds the tokens-per-minute limit")
            }
            SkipReason::CoolingDown {
                retry_in_ms,
                model: None,
            } => write!(
                f,
                "account cooling down after HTTP 429 for another {retry_in_ms} ms"
            ),
            SkipReason::CoolingDown {
                retry_in_ms,
                model: Some(model),
            } => write!(
                f,
                "model `{model}` cooling down on this account after HTTP 429 for another {retry_in_ms} ms"
            ),
            SkipReason::CredentialsRejected { probe_in_ms } => write!(
                f,
                "the provider rejected the account's credentials (HTTP 401/403); probed again in {} s, or fix the key and reload",
                probe_in_ms.div_ceil(1000)
            ),
            SkipReason::BudgetExhausted {
                spent_usd,
                limit_usd,
            } => write!(
                f,
                "budget exhausted ({} of {} spent this window)",
                exact_dollars(*spent_usd),
                exact_dollars(*limit_usd)
            ),
            SkipReason::SharedStateUnavailable => {
                f.write_str("shared state (Redis) unavailable, failing closed")
            }
            SkipReason::ParameterUnsupported {
                parameter,
                model,
                detail,
            } => write!(
                f,
                "`{model}` cannot take `{parameter}` as sent and the parameter policy is strict (would have {detail})"
            ),
        }
    }
}

/// A dollar amount with every significant digit (to the nano-dollar): `$0.015`, never a
/// rounded `$0.01` that would misstate what was spent.
fn exact_dollars(dollars: f64) -> Usd {
    // Amounts come from nano-dollar counts, so rounding to the nano-dollar is exact.
    Usd::from_nanos((dollars * 1e9).round() as u64)
}

/// The error for a request whose every candidate was skipped: the specific one when all
/// share a reason (breakers, rate limits, budgets, context windows), else the general one.
pub(crate) fn no_candidate_error(policy: Arc<str>, skipped: Vec<SkippedTarget>) -> Error {
    let all = |test: fn(&SkipReason) -> bool| {
        !skipped.is_empty() && skipped.iter().all(|s| test(&s.reason))
    };
    let first_retry = || skipped.iter().filter_map(|s| s.reason.retry_after()).min();
    if all(|r| matches!(r, SkipReason::BreakerOpen { .. })) {
        let retry_after = first_retry().unwrap_or_default();
        return Error::CircuitOpen {
            policy,
            retry_after,
            skipped,
        };
    }
    if all(|r| {
        matches!(
            r,
            SkipReason::RateLimited { .. } | SkipReason::CoolingDown { .. }
        )
    }) {
        let retry_after = first_retry();
        return Error::RateLimited {
            policy,
            retry_after,
            skipped,
            attempts: Vec::new(),
        };
    }
    if all(|r| matches!(r, SkipReason::BudgetExhausted { .. })) {
        return Error::BudgetExhausted { policy, skipped };
    }
    if all(|r| matches!(r, SkipReason::SharedStateUnavailable)) {
        return Error::SharedStateUnavailable { policy, skipped };
    }
    if all(|r| matches!(r, SkipReason::ContextWindow { .. })) {
        let windows = skipped.iter().filter_map(|s| match s.reason {
            SkipReason::ContextWindow {
                needed, context, ..
            } => Some((needed, context)),
            _ => None,
        });
        let (needed, largest) = windows.fold((u32::MAX, 0), |(n, l), (needed, context)| {
            (n.min(needed), l.max(context))
        });
        return Error::ContextTooLong {
            policy,
            needed,
            largest,
        };
    }
    Error::NoAvailableTarget { policy, skipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_amounts_print_with_every_significant_digit() {
        let reason = SkipReason::BudgetExhausted {
            spent_usd: Usd::from_nanos(15_000_000).dollars(),
            limit_usd: 0.02,
        };
        assert_eq!(
            reason.to_string(),
            "budget exhausted ($0.015 of $0.02 spent this window)"
        );
    }
}
