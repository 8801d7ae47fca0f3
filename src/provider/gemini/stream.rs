//! `streamGenerateContent?alt=sse`: every server-sent event is a whole
//! `GenerateContentResponse` chunk, and the stream ends when the connection closes.

use std::collections::VecDeque;

use super::request::AnswerFunction;
use super::response::{self, GenerateContentResponse};
use crate::account::AccountInfo;
use crate::provider::event_stream::{EventDecoder, Flow};
use crate::provider::{ErrorKind, ProviderError, ProviderEvent};
use crate::types::{ToolCallDelta, Usage};

/// What the chunks so far add up to.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// The function a JSON-mode answer comes through, if any: its call is the text, and
    /// not counted as a tool call.
    answer: Option<AnswerFunction>,
    tool_calls: usize,
    finish_reason: Option<String>,
    usage: Usage,
    /// Whether the answer's id and model version were passed on.
    identified: bool,
}

impl Progress {
    /// The progress of a stream whose JSON-mode answer (if any) comes through `answer`.
    pub(super) fn answering(answer: Option<AnswerFunction>) -> Self {
        Self {
            answer,
            ..Self::default()
        }
    }

    /// The events of one chunk: text and tool call deltas. Usage and the finish reason are
    /// kept for the end, because a later chunk may still update them.
    fn chunk(
        &mut self,
        mut chunk: GenerateContentResponse,
        account: &AccountInfo,
        out: &mut VecDeque<ProviderEvent>,
    ) -> Result<(), ProviderError> {
        if let Some(failure) = chunk.failure(account) {
            return Err(failure);
        }
        if let Some(usage) = &chunk.usage_metadata {
            self.usage = usage.to_usage();
        }
        if !self.identified
            && let Some(info) =
                ProviderEvent::response_info(chunk.response_id.take(), chunk.model_version.take())
        {
            self.identified = true;
            out.push_back(info);
        }
        let Some(candidate) = chunk.candidates.into_iter().next() else {
            return Ok(());
        };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                let call = response::tool_call(call, self.tool_calls);
                if let Some(answer) = self.answer.as_ref().filter(|a| a.name == call.name) {
                    out.push_back(ProviderEvent::TextDelta(answer.answer(&call.arguments)));
                    continue;
                }
                out.push_back(ProviderEvent::ToolCallDelta(ToolCallDelta {
                    index: u32::try_from(self.tool_calls).unwrap_or(u32::MAX),
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                }));
                self.tool_calls += 1;
            } else if let Some(text) = part.text.filter(|t| !part.thought && !t.is_empty()) {
                out.push_back(ProviderEvent::TextDelta(text));
            }
        }
        if candidate.finish_reason.is_some() {
            self.finish_reason = candidate.finish_reason;
        }
        Ok(())
    }

    /// The final event, once the connection closed: only a stream that reported why it
    /// finished is complete.
    fn finish(self) -> Result<ProviderEvent, ProviderError> {
        let reason = self.finish_reason.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::MalformedResponse,
                "stream ended before Gemini reported a finish reason",
            )
        })?;
        Ok(ProviderEvent::Finished {
            finish_reason: response::finish_reason(Some(&reason), self.tool_calls > 0),
            usage: self.usage,
        })
    }
}

/// Each event is a whole response chunk; the stream is complete when the connection closes
/// after a chunk that said why it finished.
impl EventDecoder for Progress {
    fn decode(
        &mut self,
        data: &str,
        account: &AccountInfo,
        out: &mut VecDeque<ProviderEvent>,
    ) -> Result<Flow, ProviderError> {
        let chunk = GenerateContentResponse::decode(data.as_bytes(), account)?;
        self.chunk(chunk, account, out)?;
        Ok(Flow::More)
    }

    fn end(&mut self) -> Result<ProviderEvent, ProviderError> {
        std::mem::take(self).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FinishReason;
    use serde_json::json;

    fn feed(progress: &mut Progress, chunk: serde_json::Value) -> Vec<ProviderEvent> {
        let account = AccountInfo::new("g");
        let chunk =
            GenerateContentResponse::decode(chunk.to_string().as_bytes(), &account).unwrap();
        let mut out = VecDeque::new();
        progress.chunk(chunk, &account, &mut out).unwrap();
        out.into()
    }

    #[test]
    fn chunks_become_deltas_and_the_last_usage_wins() {
        let mut progress = Progress::default();
        let first = feed(
            &mut progress,
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
                   "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1}}),
        );
        assert_eq!(first, [ProviderEvent::TextDelta("Hel".into())]);
        let second = feed(
            &mut progress,
            json!({"candidates": [{"content": {"role": "model", "parts": [
                {"text": "lo"}, {"functionCall": {"name": "f", "args": {"a": 1}}}]},
                "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 9}}),
        );
        assert_eq!(second[0], ProviderEvent::TextDelta("lo".into()));
        assert_eq!(
            second[1],
            ProviderEvent::ToolCallDelta(ToolCallDelta {
                index: 0,
                id: Some("call_0".into()),
                name: Some("f".into()),
                arguments: r#"{"a":1}"#.into(),
            })
        );
        assert_eq!(
            progress.finish().unwrap(),
            ProviderEvent::Finished {
                finish_reason: FinishReason::ToolCalls,
                usage: Usage::new(4, 9),
            }
        );
    }

    #[test]
    fn a_stream_without_a_finish_reason_is_incomplete() {
        let mut progress = Progress::default();
        feed(
            &mut progress,
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}),
        );
        let err = progress.finish().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    }
}
