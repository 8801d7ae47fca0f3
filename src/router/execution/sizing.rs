//! [`Sizing`]: what a request needs and how large its prompt is, found once.

use crate::model::Capabilities;
use crate::types::ChatRequest;

/// What a request needs of a model and its prompt's size (tokens estimated at four
/// characters each), found once when it starts: planning and a recorder read them.
#[derive(Clone, Copy)]
pub(crate) struct Sizing {
    pub(crate) needs: Capabilities,
    pub(crate) prompt_tokens: u32,
}

impl Sizing {
    pub(crate) fn of(request: &ChatRequest) -> Self {
        Self {
            needs: request.required_capabilities(),
            prompt_tokens: crate::limits::estimate_prompt_tokens(&request.messages, &request.tools),
        }
    }
}
