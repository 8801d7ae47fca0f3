//! Canonical request, response and stream types.
//!
//! These are the shapes an application speaks to the [`Router`](crate::Router) and that every
//! [`Provider`](crate::Provider) translates to and from its own wire format. They carry
//! everything the big providers accept: system, user, assistant and tool messages; text and
//! image parts; tool definitions and calls; response formats; sampling parameters; metadata.

pub(crate) mod millis;
mod options;
mod params;
mod reasoning;
mod request;
mod response;
mod stream;

pub use options::RouteOptions;
pub(crate) use params::no_params;
pub use params::{EffectiveParams, SamplingParams};
pub use reasoning::{Reasoning, ReasoningEffort};
pub use request::{
    ChatRequest, ContentPart, Image, ImageDetail, ImageSource, Message, ResponseFormat, Tool,
    ToolCall, ToolChoice,
};
pub use response::{Attempt, AttemptOutcome, ChatResponse, FinishReason, TargetRef, Usage};
pub use stream::{StreamEvent, StreamRecovered, ToolCallDelta};
