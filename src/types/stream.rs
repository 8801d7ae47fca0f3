use serde::{Deserialize, Serialize};

use super::{ChatResponse, TargetRef, Usage};

/// One event of a routed stream ([`Router::stream`](crate::Router::stream)).
///
/// A successful stream yields deltas and ends with exactly one [`StreamEvent::Done`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamEvent {
    /// A piece of the answer's text.
    TextDelta {
        /// The new text.
        text: String,
    },
    /// A piece of a tool call.
    ToolCallDelta(ToolCallDelta),
    /// The stream is complete: the whole answer, usage, cost, the serving target and every
    /// attempt, as a non-streaming call would have returned it.
    Done(Box<ChatResponse>),
}

/// A fragment of a tool call in a stream. Fragments with the same `index` belong to one
/// call: the first carries `id` and `name`, and `arguments` concatenate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call (in order of appearance) this fragment belongs to.
    pub index: u32,
    /// The call id, on the first fragment.
    pub id: Option<String>,
    /// The function name, on the first fragment.
    pub name: Option<String>,
    /// More argument JSON text.
    pub arguments: String,
}

/// How a routed stream recovered from a target that broke after content was sent
/// ([`StreamRecovery::Continue`](crate::StreamRecovery::Continue)), as listed in
/// [`ChatResponse::recoveries`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamRecovered {
    /// The target whose stream broke.
    pub interrupted: TargetRef,
    /// The target that continued the answer.
    pub resumed_on: TargetRef,
    /// Characters of the answer the caller had received when the stream broke.
    pub chars_sent: usize,
    /// Characters the continuation repeated of what was already sent, dropped before
    /// they reached the caller.
    pub repeat_dropped: usize,
    /// The interrupted attempt's usage, estimated (a broken stream reports none): its
    /// prompt as the provider estimates it, and about four characters per output token.
    /// It is settled against the interrupted target's account and included in the
    /// response's usage and cost.
    pub interrupted_usage: Usage,
}
