use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::provider::profile::Adaptation;
use serde::{Deserialize, Serialize};

use super::ToolCall;
use crate::provider::ProviderError;

/// The answer to a routed request, with where it came from and what it took.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The generated text (empty when the model only called tools).
    pub content: String,
    /// Tool calls the model made.
    pub tool_calls: Vec<ToolCall>,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Token usage as reported by the provider (for a recovered stream, summed over the
    /// interrupted attempts' estimates and the final attempt).
    pub usage: Usage,
    /// The cost in US dollars, when the serving target's price is known (for a recovered
    /// stream, summed over its attempts, when every one of them is priced).
    pub cost_usd: Option<f64>,
    /// The policy that routed the request.
    pub policy: Arc<str>,
    /// The target that produced this answer.
    pub served_by: TargetRef,
    /// Every attempt made, in order; the last one succeeded.
    pub attempts: Vec<Attempt>,
    /// How a stream recovered from targets that broke after content was sent, in order
    /// (empty for an answer that came in one piece). See
    /// [`Policy::stream_recovery`](crate::Policy::stream_recovery).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recoveries: Vec<super::StreamRecovered>,
}

impl ChatResponse {
    /// How many targets failed before one answered.
    pub fn fallbacks(&self) -> usize {
        self.attempts.len().saturating_sub(1)
    }
}

/// Why generation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// The model finished its answer or hit a stop sequence.
    Stop,
    /// The token limit was reached.
    Length,
    /// The model called tools.
    ToolCalls,
    /// The provider's content filter stopped generation.
    ContentFilter,
    /// Anything else, with the provider's own word for it.
    Other(String),
}

/// Token usage of one completion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Prompt tokens, including cached ones.
    pub input_tokens: u32,
    /// Generated tokens, including reasoning ones.
    pub output_tokens: u32,
    /// Prompt tokens served from the provider's cache.
    pub cached_input_tokens: u32,
    /// Prompt tokens written to the provider's cache (Anthropic's cache creation).
    pub cache_write_tokens: u32,
    /// Generated tokens spent on hidden reasoning.
    pub reasoning_tokens: u32,
}

impl Usage {
    /// Usage with input and output token counts.
    pub fn new(input_tokens: u32, output_tokens: u32) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }

    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        u64::from(self.input_tokens) + u64::from(self.output_tokens)
    }

    /// Adds another usage to this one, field by field.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(other.reasoning_tokens);
    }
}

/// One concrete target: a provider model on an account, serving a logical model.
///
/// Cheap to clone (three shared strings). Displays as `logical/account/provider-model`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TargetRef {
    /// The logical model the target serves.
    pub logical_model: Arc<str>,
    /// The provider account.
    pub account: Arc<str>,
    /// The provider's model id.
    pub provider_model: Arc<str>,
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.logical_model, self.account, self.provider_model
        )
    }
}

/// One call to one target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attempt {
    /// Which target was called.
    pub target: TargetRef,
    /// How it went.
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
    /// How long the call took.
    #[serde(
        serialize_with = "serialize_micros",
        deserialize_with = "deserialize_micros",
        rename = "latency_us"
    )]
    pub latency: Duration,
    /// What was changed in the request for this target's model (see
    /// [`ParameterPolicy`](crate::ParameterPolicy)); empty when it was sent as it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adaptations: Vec<Adaptation>,
}

/// How one attempt went.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The target answered.
    Success,
    /// The target failed with this error.
    Failed {
        /// The classified error.
        error: ProviderError,
    },
    /// The call was cancelled because a parallel (hedged) call answered first.
    Cancelled,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            AttemptOutcome::Success => write!(f, "{}: ok in {:.1?}", self.target, self.latency),
            AttemptOutcome::Failed { error } => {
                write!(f, "{}: {error} after {:.1?}", self.target, self.latency)
            }
            AttemptOutcome::Cancelled => write!(
                f,
                "{}: cancelled after {:.1?}, a hedged call answered first",
                self.target, self.latency
            ),
        }
    }
}

fn serialize_micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn deserialize_micros<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_micros)
}
