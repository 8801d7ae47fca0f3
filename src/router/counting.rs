//! [`PromptCounts`]: a request's prompt counted once per way of counting, for every
//! candidate of its plan, and no further than the candidate's context window.

use crate::limits::{TokenCounting, count_prompt_tokens_within};
use crate::provider::ProviderRequest;

/// The prompt counts of one request, by [`TokenCounting`]: two targets counted the same
/// way (every `o200k` model, say) share one count.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PromptCounts {
    /// Per way of counting: the count, and the cap it stopped past (`None`: exact).
    counts: [Option<(u32, Option<u32>)>; 3],
}

fn slot(counting: TokenCounting) -> usize {
    match counting {
        TokenCounting::O200kBase => 0,
        TokenCounting::Cl100kBase => 1,
        _ => 2,
    }
}

impl PromptCounts {
    /// The prompt tokens of `request`, exact up to `cap` (a count above `cap` means
    /// "more than `cap`"). Counted at most once per way of counting, unless a later
    /// target has room for more than an earlier count stopped at.
    pub(crate) fn prompt(&mut self, request: &ProviderRequest<'_>, cap: u32) -> u32 {
        let counting = TokenCounting::for_model(request.model());
        let slot = &mut self.counts[slot(counting)];
        if let Some((count, stopped)) = *slot {
            let enough = match stopped {
                None => true,
                Some(stopped_past) => cap <= stopped_past,
            };
            if enough {
                return count;
            }
        }
        let (count, _) =
            count_prompt_tokens_within(request.model(), request.messages(), request.tools(), cap);
        *slot = Some((count, (count > cap).then_some(cap)));
        count
    }
}

#[cfg(all(test, feature = "tiktoken"))]
mod tests {
    use super::*;
    use crate::{AccountInfo, ChatRequest, SamplingParams};

    #[test]
    fn a_count_is_reused_for_the_same_tokenizer_and_redone_only_for_more_room() {
        let account = AccountInfo::new("a");
        // Longer than one 64 KiB piece, so a count can stop after the first.
        let chat = ChatRequest::user("word ".repeat(20_000));
        let defaults = SamplingParams::default();
        let request = ProviderRequest::new("gpt-4o", &account, &chat, &defaults);
        let mut counts = PromptCounts::default();
        let capped = counts.prompt(&request, 100);
        assert!(capped > 100);
        let exact = counts.prompt(&request, u32::MAX);
        assert!(exact > capped);
        // Another target counted the same way takes the count made for the first, with
        // no tokenizing (a different prompt here would otherwise count differently).
        let shorter = ChatRequest::user("word");
        let other = ProviderRequest::new("gpt-4o-mini", &account, &shorter, &defaults);
        assert_eq!(counts.prompt(&other, 50), exact);
    }
}
