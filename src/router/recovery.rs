//! Stream recovery ([`StreamRecovery::Continue`](crate::StreamRecovery::Continue)): the
//! request that asks the next candidate to continue a partial answer, dropping the part of
//! its continuation that repeats what the caller already has, and the bookkeeping that
//! sums usage and cost over the attempts and records each recovery.

use super::execution::Execution;
use super::plan::Candidate;
use crate::budget::Usd;
use crate::provider::ProviderError;
use crate::types::{ChatRequest, ChatResponse, Message, StreamRecovered, TargetRef, Usage};

/// The user message that asks a provider without assistant prefill to continue a partial
/// answer, sent after that answer as an assistant message
/// ([`Policy::stream_recovery`](crate::Policy::stream_recovery)).
pub const CONTINUE_PROMPT: &str = "Your previous answer was cut off. Continue it exactly where it \
stopped, without repeating anything already written and without any preamble.";

/// `request` extended to ask for the rest of `partial`: as a trailing assistant message to
/// continue in place when the provider supports prefill (without trailing whitespace,
/// which prefill APIs refuse), else followed by [`CONTINUE_PROMPT`].
pub(super) fn continuation(request: &ChatRequest, partial: &str, prefill: bool) -> ChatRequest {
    let mut next = request.clone();
    if prefill {
        next.messages.push(Message::assistant(partial.trim_end()));
    } else {
        next.messages.push(Message::assistant(partial));
        next.messages.push(Message::user(CONTINUE_PROMPT));
    }
    next
}

/// Holds back the start of a continuation until it is clear whether it repeats the end of
/// the text already sent, then lets it through without the repeat.
///
/// A repeat is a tail of the sent text that starts at a word boundary (the start of the
/// text, or where whitespace and non-whitespace meet), so the whole text, its last words,
/// or only its trailing whitespace; the longest tail the continuation starts with is
/// dropped. The start is held back only while it could still grow into such a tail, so
/// at most as much text as was sent.
#[derive(Debug, Default)]
pub(super) struct Overlap {
    held: String,
}

/// What an [`Overlap`] let through once it decided.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Released {
    /// The continuation's text, without the repeat.
    pub(super) text: String,
    /// Characters dropped as a repeat.
    pub(super) dropped: usize,
}

impl Overlap {
    /// Takes the continuation's next piece of text. `None` while it is undecided; once
    /// decided, the text to pass on (later pieces no longer go through the overlap).
    pub(super) fn push(&mut self, sent: &str, text: &str) -> Option<Released> {
        self.held.push_str(text);
        let undecided =
            tails(sent).any(|tail| tail.len() > self.held.len() && tail.starts_with(&*self.held));
        (!undecided).then(|| self.finish(sent))
    }

    /// Decides with what is held (the continuation ended or carries something else).
    pub(super) fn finish(&mut self, sent: &str) -> Released {
        let held = std::mem::take(&mut self.held);
        let repeat = tails(sent)
            .find(|tail| held.starts_with(tail))
            .map_or(0, str::len);
        let dropped = held[..repeat].chars().count();
        let text = if repeat == 0 {
            held
        } else {
            held[repeat..].to_owned()
        };
        Released { text, dropped }
    }
}

/// A routed stream's recovery state. Left at its default (nothing allocated) unless a
/// stream breaks after content was sent.
#[derive(Debug, Default)]
pub(super) struct Recovering {
    /// The latest break: the final error names it if no candidate continues.
    pub(super) broke: Option<(TargetRef, ProviderError)>,
    /// The start of the active continuation, until it is clear whether it repeats.
    pub(super) overlap: Option<Overlap>,
    /// A recovery whose continuation has not released text yet.
    open: Option<Open>,
    /// The target of the active continuation.
    pub(super) resumed_on: Option<TargetRef>,
    recovered: Vec<StreamRecovered>,
    /// Estimated usage of the broken attempts.
    usage: Usage,
    cost: Usd,
    /// Whether a broken attempt had no price (the total cost is then unknown).
    unpriced: bool,
}

#[derive(Debug)]
struct Open {
    interrupted: TargetRef,
    chars_sent: usize,
    repeat_dropped: usize,
    usage: Usage,
}

impl Recovering {
    /// Whether the stream is being recovered (later attempts send continuations).
    pub(super) fn is_active(&self) -> bool {
        self.broke.is_some()
    }

    /// Records a break of `interrupted` after `sent` reached the caller, whose attempt
    /// used `usage` (estimated) costing `cost`.
    pub(super) fn broke(
        &mut self,
        interrupted: TargetRef,
        error: ProviderError,
        sent: &str,
        usage: Usage,
        cost: Option<Usd>,
    ) {
        self.usage.add(&usage);
        match cost {
            Some(cost) => self.cost = self.cost.saturating_add(cost),
            None => self.unpriced = true,
        }
        match &mut self.open {
            // The continuation broke before it added anything: still the same recovery.
            Some(open) => open.usage.add(&usage),
            None => {
                self.open = Some(Open {
                    interrupted: interrupted.clone(),
                    chars_sent: sent.chars().count(),
                    repeat_dropped: 0,
                    usage,
                });
            }
        }
        self.broke = Some((interrupted, error));
    }

    /// Counts characters of the continuation dropped as a repeat.
    pub(super) fn dropped(&mut self, chars: usize) {
        if let Some(open) = &mut self.open {
            open.repeat_dropped += chars;
        }
    }

    /// The continuation released text (or finished): the open recovery is complete.
    pub(super) fn resumed(&mut self) {
        if let (Some(open), Some(resumed_on)) = (self.open.take(), &self.resumed_on) {
            self.recovered.push(StreamRecovered {
                interrupted: open.interrupted,
                resumed_on: resumed_on.clone(),
                chars_sent: open.chars_sent,
                repeat_dropped: open.repeat_dropped,
                interrupted_usage: open.usage,
            });
        }
    }

    /// Adds the broken attempts' usage and cost and the recovery records to the final
    /// response.
    pub(super) fn complete(&mut self, response: &mut ChatResponse) {
        if !self.is_active() {
            return;
        }
        self.resumed();
        response.usage.add(&self.usage);
        response.cost_usd = response
            .cost_usd
            .filter(|_| !self.unpriced)
            .map(|last| last + self.cost.dollars());
        response.recoveries = std::mem::take(&mut self.recovered);
    }
}

impl Execution {
    /// The estimated usage of an attempt on `candidate` that sent `request` and streamed
    /// `output_bytes` of text before it broke: the provider's prompt estimate, and about
    /// four bytes of text per output token.
    pub(super) fn estimated_usage(
        &self,
        candidate: Candidate,
        request: &ChatRequest,
        output_bytes: usize,
    ) -> Usage {
        let resolved = Self::resolve(self.snapshot(), candidate);
        let prompt = resolved
            .account
            .provider
            .estimate_input_tokens(&resolved.request(request));
        let output = u32::try_from(output_bytes.div_ceil(4)).unwrap_or(u32::MAX);
        Usage::new(prompt, output)
    }

    /// The target a candidate stands for.
    pub(super) fn target_ref(&self, candidate: Candidate) -> TargetRef {
        Self::resolve(self.snapshot(), candidate)
            .target
            .target
            .clone()
    }
}

/// The tails of `text` that start at a word boundary, longest first.
fn tails(text: &str) -> impl Iterator<Item = &str> {
    let mut previous: Option<bool> = None;
    text.char_indices().filter_map(move |(i, c)| {
        let space = c.is_whitespace();
        let boundary = previous != Some(space);
        previous = Some(space);
        boundary.then(|| &text[i..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sent: &str, pieces: &[&str]) -> (String, usize) {
        let mut overlap = Overlap::default();
        let mut out = String::new();
        for (i, piece) in pieces.iter().enumerate() {
            if let Some(released) = overlap.push(sent, piece) {
                out.push_str(&released.text);
                out.extend(pieces[i + 1..].iter().copied());
                return (out, released.dropped);
            }
        }
        let released = overlap.finish(sent);
        (released.text, released.dropped)
    }

    #[test]
    fn a_continuation_that_repeats_everything_sent_loses_the_repeat() {
        let sent = "The quick brown";
        assert_eq!(
            run(sent, &["The qu", "ick bro", "wn fox", " jumps"]),
            (" fox jumps".to_owned(), 15)
        );
    }

    #[test]
    fn a_continuation_that_repeats_the_last_words_loses_them() {
        assert_eq!(
            run("The quick brown", &["brown", " fox"]),
            (" fox".to_owned(), 5)
        );
        assert_eq!(
            run("The quick brown", &[" quick brown fox"]),
            (" fox".to_owned(), 12)
        );
    }

    #[test]
    fn trailing_whitespace_sent_is_not_sent_twice() {
        assert_eq!(run("The answer is ", &[" 42."]), ("42.".to_owned(), 1));
    }

    #[test]
    fn a_continuation_without_repeat_passes_whole_and_at_once() {
        let mut overlap = Overlap::default();
        assert_eq!(
            overlap.push("The quick brown", " fox"),
            Some(Released {
                text: " fox".to_owned(),
                dropped: 0
            })
        );
    }

    #[test]
    fn a_repeat_must_start_at_a_word_boundary() {
        assert_eq!(run("The rain", &["in Spain"]), ("in Spain".to_owned(), 0));
    }

    #[test]
    fn a_continuation_that_ends_while_undecided_is_decided_with_what_came() {
        assert_eq!(
            run("one two three", &["two thr"]),
            ("two thr".to_owned(), 0)
        );
        assert_eq!(run("one two three", &["three"]), (String::new(), 5));
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        assert_eq!(
            run("Grüße aus Köln", &["Köln und Bonn"]),
            (" und Bonn".to_owned(), 4)
        );
    }

    #[test]
    fn the_continuation_request_prefills_or_asks() {
        let request = ChatRequest::user("Tell me a story.");
        let prefilled = continuation(&request, "Once upon a time ", true);
        assert_eq!(prefilled.messages.len(), 2);
        assert_eq!(prefilled.messages[1].text(), "Once upon a time");
        let asked = continuation(&request, "Once upon a time ", false);
        assert_eq!(asked.messages.len(), 3);
        assert_eq!(asked.messages[1].text(), "Once upon a time ");
        assert_eq!(asked.messages[2].text(), CONTINUE_PROMPT);
        assert_eq!(request.messages.len(), 1, "the original is left as it was");
    }
}
