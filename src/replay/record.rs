//! One recorded request: what routing needed to decide and what each attempt did, and
//! nothing of the conversation unless the recorder was asked to keep it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::capture::Ending;
use crate::error::Error;
use crate::model::Capabilities;
use crate::policy::{Purpose, StepType};
use crate::provider::ErrorKind;
use crate::router::SkipReason;
#[cfg(feature = "replay")]
use crate::types::ChatResponse;
use crate::types::{Attempt, AttemptOutcome, Message, RouteOptions, TargetRef, Usage};

/// The `outcome` of a request that was answered.
pub const OUTCOME_OK: &str = "ok";

/// One routed request, as one line of a traffic file.
///
/// Times are milliseconds since the Unix epoch; latencies are microseconds. Prompt and
/// answer text ([`messages`](Self::messages), [`answer`](Self::answer)) are present only
/// when the recorder was built with
/// [`with_text`](super::RecorderBuilder::with_text).
///
/// ```
/// use routewise::replay::TrafficRecord;
///
/// let line = r#"{"unix_ms":1700000000000,"step":"inference","purpose":"chat","input_tokens":120,
///   "outcome":"ok","latency_us":250000,"attempts":[{"model":"primary-llm","account":"openai",
///   "provider_model":"gpt-4o","outcome":"success","latency_us":250000,
///   "usage":{"input_tokens":120,"output_tokens":40},"cost_usd":0.0007}]}"#;
/// let record: TrafficRecord = serde_json::from_str(line)?;
/// assert!(record.succeeded());
/// assert_eq!(record.attempts[0].usage.unwrap().output_tokens, 40);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrafficRecord {
    /// When the request arrived.
    pub unix_ms: u64,
    /// The step type it was routed with.
    pub step: StepType,
    /// The purpose it was routed with.
    pub purpose: Purpose,
    /// The logical model it asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Its tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The capabilities it needed (tools, vision, JSON mode).
    #[serde(default, skip_serializing_if = "no_needs")]
    pub needs: Capabilities,
    /// Its prompt tokens, estimated at four characters per token.
    pub input_tokens: u32,
    /// The `max_tokens` it set, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Its routing overrides (pins, no fallback, attempt cap, deadline).
    #[serde(default, skip_serializing_if = "RouteOptions::is_empty")]
    pub options: RouteOptions,
    /// The policy that matched, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Arc<str>>,
    /// [`OUTCOME_OK`], or the error's code (`all_targets_failed`, `no_matching_policy`,
    /// `budget_exhausted`, ...: the `routewise.outcome` of its span).
    pub outcome: Cow<'static, str>,
    /// From arrival to answer or error.
    pub latency_us: u64,
    /// Every provider call, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
    /// For a request that failed with every target passed over: the accounts passed over
    /// because their budget was spent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budget_refused: Vec<Arc<str>>,
    /// The conversation, when the recorder keeps text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    /// The answer's text, when the recorder keeps text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// One provider call of a [`TrafficRecord`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// The logical model the target serves.
    pub model: Arc<str>,
    /// The provider account.
    pub account: Arc<str>,
    /// The provider's model id.
    pub provider_model: Arc<str>,
    /// `success`, `failed` or `cancelled` (a hedged call that lost the race).
    pub outcome: AttemptStatus,
    /// The error's kind, for a failed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    /// The retry-after the provider asked for, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// How long the call took.
    pub latency_us: u64,
    /// Token usage, for the call that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Its cost in US dollars, when the target is priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// For a stream: the call failed after its stream had sent content (another target
    /// continued it, or the stream ended interrupted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mid_stream: bool,
}

/// How one recorded call went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttemptStatus {
    /// The target answered.
    Success,
    /// The target failed.
    Failed,
    /// A parallel (hedged) call answered first.
    Cancelled,
}

impl TrafficRecord {
    /// This request as a replay routed it: the same request, a new outcome. Text is not
    /// carried over.
    #[cfg(feature = "replay")]
    pub(crate) fn replayed(&self, latency: Duration, ending: &Ending<'_>) -> Self {
        let result_part = ResultPart::of(ending);
        Self {
            policy: result_part.policy,
            outcome: result_part.outcome,
            latency_us: micros(latency),
            attempts: result_part.attempts,
            budget_refused: result_part.budget_refused,
            messages: None,
            answer: None,
            step: self.step.clone(),
            purpose: self.purpose.clone(),
            model: self.model.clone(),
            tags: self.tags.clone(),
            options: self.options.clone(),
            ..*self
        }
    }

    /// Whether the request was answered.
    pub fn succeeded(&self) -> bool {
        self.outcome == OUTCOME_OK
    }

    /// The answering call, for a request that was answered.
    pub fn served_by(&self) -> Option<&AttemptRecord> {
        self.attempts
            .iter()
            .rev()
            .find(|a| a.outcome == AttemptStatus::Success)
    }

    /// The cost of the request: the sum over its priced calls.
    pub fn cost_usd(&self) -> f64 {
        self.attempts.iter().filter_map(|a| a.cost_usd).sum()
    }

    /// Whether it was answered after at least one other target failed or was passed over
    /// in the race.
    pub fn fell_back(&self) -> bool {
        self.served_by().is_some_and(|served| {
            self.attempts
                .iter()
                .any(|a| a.account != served.account || a.model != served.model)
        })
    }

    /// The end-to-end latency.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us)
    }
}

impl AttemptRecord {
    /// The target as `logical/account/provider-model`, as [`TargetRef`] displays.
    pub fn target_label(&self) -> String {
        format!("{}/{}/{}", self.model, self.account, self.provider_model)
    }

    /// How long the call took.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us)
    }
}

/// What a request's result adds to its record.
#[cfg(feature = "replay")]
struct ResultPart {
    policy: Option<Arc<str>>,
    outcome: Cow<'static, str>,
    attempts: Vec<AttemptRecord>,
    budget_refused: Vec<Arc<str>>,
}

#[cfg(feature = "replay")]
impl ResultPart {
    fn of(ending: &Ending<'_>) -> Self {
        match *ending {
            Ending::Answered(response) => Self {
                policy: Some(response.policy.clone()),
                outcome: Cow::Borrowed(OUTCOME_OK),
                attempts: attempt_records(&response.attempts, Some(response), ending),
                budget_refused: Vec::new(),
            },
            Ending::Failed(error) => Self {
                policy: error.policy().map(Arc::from),
                outcome: Cow::Borrowed(crate::router::error_code(error)),
                attempts: attempt_records(error.attempts(), None, ending),
                budget_refused: budget_refused(error),
            },
            Ending::Abandoned { policy, attempts } => Self {
                policy: Some(policy.clone()),
                outcome: Cow::Borrowed(super::capture::OUTCOME_ABANDONED),
                attempts: attempt_records(attempts, None, ending),
                budget_refused: Vec::new(),
            },
        }
    }
}

#[cfg(feature = "replay")]
fn attempt_records(
    attempts: &[Attempt],
    response: Option<&ChatResponse>,
    ending: &Ending<'_>,
) -> Vec<AttemptRecord> {
    let broken = broke_mid_stream(ending, attempts);
    attempts
        .iter()
        .enumerate()
        .map(|(i, attempt)| AttemptRecord {
            mid_stream: broken & bit(i) != 0,
            ..attempt_record(attempt, response)
        })
        .collect()
}

/// One call of a request, with the response's usage and cost when it is the call that
/// answered.
#[cfg(feature = "replay")]
fn attempt_record(attempt: &Attempt, response: Option<&ChatResponse>) -> AttemptRecord {
    let TargetRef {
        logical_model,
        account,
        provider_model,
    } = &attempt.target;
    let (outcome, error, retry_after) = match &attempt.outcome {
        AttemptOutcome::Success => (AttemptStatus::Success, None, None),
        AttemptOutcome::Failed { error } => (
            AttemptStatus::Failed,
            Some(error.kind()),
            error.retry_after().map(millis),
        ),
        AttemptOutcome::Cancelled => (AttemptStatus::Cancelled, None, None),
    };
    let answered = response.filter(|_| outcome == AttemptStatus::Success);
    AttemptRecord {
        model: logical_model.clone(),
        account: account.clone(),
        provider_model: provider_model.clone(),
        outcome,
        error,
        retry_after_ms: retry_after,
        latency_us: micros(attempt.latency),
        usage: answered.map(|r| r.usage),
        cost_usd: answered.and_then(|r| r.cost_usd),
        mid_stream: false,
    }
}

/// Which of `attempts` (a bit per index, the first 64) broke after their stream sent
/// content: for an answer, the failed call on each recovery's interrupted target, in
/// order; for an interrupted stream, the last failed call on its target.
pub(crate) fn broke_mid_stream(ending: &Ending<'_>, attempts: &[Attempt]) -> u64 {
    let failed_on = |target: &TargetRef, attempt: &Attempt| {
        attempt.target == *target && matches!(attempt.outcome, AttemptOutcome::Failed { .. })
    };
    match ending {
        Ending::Answered(response) => {
            let mut broken = 0;
            let mut from = 0;
            for recovery in &response.recoveries {
                let found = attempts[from..]
                    .iter()
                    .position(|a| failed_on(&recovery.interrupted, a));
                if let Some(offset) = found {
                    broken |= bit(from + offset);
                    from += offset + 1;
                }
            }
            broken
        }
        Ending::Failed(Error::StreamInterrupted { target, .. }) => attempts
            .iter()
            .rposition(|a| failed_on(target, a))
            .map_or(0, bit),
        _ => 0,
    }
}

pub(crate) fn bit(index: usize) -> u64 {
    1u64.checked_shl(u32::try_from(index).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

pub(crate) fn budget_refused(error: &Error) -> Vec<Arc<str>> {
    let skipped = match error {
        Error::CircuitOpen { skipped, .. }
        | Error::RateLimited { skipped, .. }
        | Error::BudgetExhausted { skipped, .. }
        | Error::SharedStateUnavailable { skipped, .. }
        | Error::NoAvailableTarget { skipped, .. } => skipped,
        _ => return Vec::new(),
    };
    skipped
        .iter()
        .filter(|s| matches!(s.reason, SkipReason::BudgetExhausted { .. }))
        .map(|s| s.target.account.clone())
        .collect()
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(feature = "replay")]
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn no_needs(needs: &Capabilities) -> bool {
    needs.is_empty()
}
