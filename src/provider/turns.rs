//! The conversation as the Messages-style APIs take it (Anthropic Messages, Bedrock
//! Converse): system messages lifted out of the turns, a tool's result sent as a user turn,
//! and consecutive turns of one role merged into one, since both APIs want the roles to
//! alternate. Each adapter spells only its own content blocks, through [`Blocks`].

use serde::Serialize;

use crate::provider::ProviderError;
use crate::provider::tool_use::tool_input;
use crate::types::{ContentPart, Message, ToolCall};

/// One turn: who speaks and what they say.
#[derive(Debug, Serialize)]
pub(crate) struct Turn<B> {
    pub(crate) role: Role,
    pub(crate) content: Vec<B>,
}

/// Who speaks a turn: these APIs have no system or tool turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    User,
    Assistant,
}

/// An adapter's content blocks, each made from the part of a message it carries.
pub(crate) trait Blocks<'a>: Sized {
    /// A user's part as a block; `None` for empty text, which these APIs refuse.
    fn user(part: &'a ContentPart) -> Option<Result<Self, ProviderError>>;
    /// An assistant's text (never empty).
    fn text(text: &'a str) -> Self;
    /// An assistant's tool call, with its arguments as a JSON object.
    fn tool_use(call: &'a ToolCall, input: serde_json::Value) -> Self;
    /// A tool's result, answering the call `tool_use_id`.
    fn tool_result(tool_use_id: &'a str, content: &'a str) -> Self;
}

/// The system prompts that are not empty, in order, and the turns.
///
/// # Errors
///
/// What [`Blocks::user`] refuses, and tool-call arguments that are not a JSON object.
pub(crate) fn conversation<'a, B: Blocks<'a>>(
    messages: &'a [Message],
) -> Result<(Vec<&'a str>, Vec<Turn<B>>), ProviderError> {
    let mut system: Vec<&str> = Vec::new();
    let mut turns: Vec<Turn<B>> = Vec::new();
    for message in messages {
        let (role, blocks) = match message {
            Message::System { content } => {
                if !content.is_empty() {
                    system.push(content);
                }
                continue;
            }
            Message::User { content } => (
                Role::User,
                content
                    .iter()
                    .filter_map(B::user)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Message::Assistant {
                content,
                tool_calls,
            } => (
                Role::Assistant,
                assistant_blocks(content.as_deref(), tool_calls)?,
            ),
            Message::Tool {
                tool_call_id,
                content,
            } => (Role::User, vec![B::tool_result(tool_call_id, content)]),
        };
        match turns.last_mut() {
            _ if blocks.is_empty() => {}
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => turns.push(Turn {
                role,
                content: blocks,
            }),
        }
    }
    Ok((system, turns))
}

/// An assistant message's blocks: its text, if any, then its tool calls.
fn assistant_blocks<'a, B: Blocks<'a>>(
    text: Option<&'a str>,
    tool_calls: &'a [ToolCall],
) -> Result<Vec<B>, ProviderError> {
    let mut blocks = Vec::with_capacity(tool_calls.len() + 1);
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        blocks.push(B::text(text));
    }
    for call in tool_calls {
        blocks.push(B::tool_use(call, tool_input(call)?));
    }
    Ok(blocks)
}
