//! How many tokens a request may use, for rate limit and budget reservations.
//!
//! Prompts for OpenAI model families are counted with the model's own tokenizer (with the
//! opt-in `tiktoken` feature): `o200k_base` for GPT-4o, GPT-4.1, GPT-4.5, GPT-5 and the
//! o-series, `cl100k_base` for GPT-4 and GPT-3.5. On top of the text, each message costs
//! 3 tokens of framing and every reply is primed with 3 more, as OpenAI documents for its
//! chat format; an image costs 85 tokens at low detail and 765 otherwise (a 1024×1024
//! image at high detail); a tool definition costs its name, description and JSON schema
//! plus 8 tokens of framing (OpenAI does not document that format, so tools are close,
//! not exact).
//!
//! Every other model (and every model without the `tiktoken` feature) gets an estimate
//! of four characters per token over all text, tool definitions and images (an image
//! counting as 1,000 characters), plus 16 characters per message: close for English
//! prose on most tokenizers, high for code, and low for languages with many
//! multi-byte characters per token.
//!
//! The worst-case output is the effective `max_tokens` (the request's, else the logical
//! model's default), or [`DEFAULT_MAX_OUTPUT_TOKENS`] when neither sets one.

use serde::Serialize;

use crate::provider::ProviderRequest;
use crate::types::{ContentPart, ImageDetail, Message, Tool};

/// The output tokens reserved for a request that sets no `max_tokens`: 4,096, the output
/// cap of many current models. Set `max_tokens` (or a logical model default) to reserve
/// precisely.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4_096;

/// How a prompt's tokens were counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenCounting {
    /// OpenAI's `o200k_base` tokenizer (GPT-4o, GPT-4.1, GPT-4.5, GPT-5, o-series).
    O200kBase,
    /// OpenAI's `cl100k_base` tokenizer (GPT-4, GPT-3.5).
    Cl100kBase,
    /// About four characters per token.
    CharsPerToken,
}

impl TokenCounting {
    /// How prompts for `model` (a provider model id, optionally `ft:`-prefixed or with a
    /// `provider/` path) are counted in this build.
    ///
    /// ```
    /// use routewise::limits::TokenCounting;
    ///
    /// assert_eq!(TokenCounting::for_model("claude-sonnet-4-5"), TokenCounting::CharsPerToken);
    /// # #[cfg(feature = "tiktoken")] {
    /// assert_eq!(TokenCounting::for_model("gpt-4o-mini"), TokenCounting::O200kBase);
    /// assert_eq!(TokenCounting::for_model("gpt-4-turbo"), TokenCounting::Cl100kBase);
    /// # }
    /// ```
    pub fn for_model(model: &str) -> Self {
        if cfg!(feature = "tiktoken") {
            openai_family(model).unwrap_or(TokenCounting::CharsPerToken)
        } else {
            TokenCounting::CharsPerToken
        }
    }
}

/// Model id prefixes by tokenizer; `o200k` ones are tried first, so `gpt-4o` is not read
/// as `gpt-4`.
const O200K_PREFIXES: &[&str] = &[
    "gpt-4o",
    "chatgpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "gpt-oss",
    "o1",
    "o3",
    "o4",
];
const CL100K_PREFIXES: &[&str] = &["gpt-4", "gpt-3.5", "gpt-35"];

fn openai_family(model: &str) -> Option<TokenCounting> {
    let model = model.rsplit('/').next().unwrap_or(model);
    let model = model.strip_prefix("ft:").unwrap_or(model);
    let has_prefix = |prefix: &&str| {
        model.strip_prefix(*prefix).is_some_and(|rest| {
            rest.is_empty()
                || rest.starts_with('-')
                || rest.starts_with('.')
                || rest.starts_with(':')
        })
    };
    if O200K_PREFIXES.iter().any(has_prefix) {
        Some(TokenCounting::O200kBase)
    } else if CL100K_PREFIXES.iter().any(has_prefix) {
        Some(TokenCounting::Cl100kBase)
    } else {
        None
    }
}

/// The tokens one request may use: its prompt and the most it may generate.
///
/// ```
/// use routewise::{AccountInfo, ChatRequest, ProviderRequest, SamplingParams};
/// use routewise::limits::{TokenEstimate, DEFAULT_MAX_OUTPUT_TOKENS};
///
/// let account = AccountInfo::new("main");
/// let chat = ChatRequest::user("How many tokens is this?");
/// let defaults = SamplingParams::new();
/// let estimate = TokenEstimate::of(&ProviderRequest::new("claude-haiku-4-5", &account, &chat, &defaults));
/// assert_eq!(estimate.max_output, DEFAULT_MAX_OUTPUT_TOKENS);
/// assert_eq!(estimate.total(), u64::from(estimate.prompt) + 4_096);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TokenEstimate {
    /// Prompt tokens.
    pub prompt: u32,
    /// The most output tokens the request may produce.
    pub max_output: u32,
    /// How the prompt was counted.
    pub counting: TokenCounting,
}

impl TokenEstimate {
    /// Counts the prompt of `request` for its model and takes its effective `max_tokens`
    /// (or [`DEFAULT_MAX_OUTPUT_TOKENS`]) as the output bound.
    pub fn of(request: &ProviderRequest<'_>) -> Self {
        let (prompt, counting) =
            count_prompt_tokens(request.model(), request.messages(), request.tools());
        Self {
            prompt,
            max_output: request
                .params()
                .max_tokens()
                .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS),
            counting,
        }
    }

    /// Prompt plus maximum output: what a rate limit reservation holds.
    pub fn total(&self) -> u64 {
        u64::from(self.prompt) + u64::from(self.max_output)
    }
}

/// Counts the prompt tokens of `messages` and `tools` for `model`, and says how.
pub fn count_prompt_tokens(
    model: &str,
    messages: &[Message],
    tools: &[Tool],
) -> (u32, TokenCounting) {
    count_prompt_tokens_within(model, messages, tools, u32::MAX)
}

/// [`count_prompt_tokens`], stopping once the count is past `cap` (such as the largest
/// context window the prompt could go to): a prompt over it returns some count above
/// `cap`, not its exact count, after tokenizing little more than `cap` tokens' worth of
/// text. A long text is tokenized in pieces of 64 KiB, split at character boundaries,
/// so a count can differ from the whole text's by a token or two per piece.
///
/// ```
/// use routewise::ChatRequest;
/// use routewise::limits::count_prompt_tokens_within;
///
/// let long = ChatRequest::user("word ".repeat(100_000));
/// let (count, _) = count_prompt_tokens_within("gpt-4o", &long.messages, &[], 1_000);
/// assert!(count > 1_000);
/// ```
pub fn count_prompt_tokens_within(
    model: &str,
    messages: &[Message],
    tools: &[Tool],
    cap: u32,
) -> (u32, TokenCounting) {
    let counting = TokenCounting::for_model(model);
    // Only the exact tokenizers stop at the cap; the estimate is cheap at any length.
    #[cfg(not(feature = "tiktoken"))]
    let _ = cap;
    let tokens = match counting {
        #[cfg(feature = "tiktoken")]
        TokenCounting::O200kBase => {
            bpe_count(tiktoken_rs::o200k_base_singleton(), messages, tools, cap)
        }
        #[cfg(feature = "tiktoken")]
        TokenCounting::Cl100kBase => {
            bpe_count(tiktoken_rs::cl100k_base_singleton(), messages, tools, cap)
        }
        _ => estimate_prompt_tokens(messages, tools),
    };
    (tokens, counting)
}

/// About four characters per token over every text, tool definition and image (an image
/// counting as 1,000 characters), plus 16 characters per message.
pub fn estimate_prompt_tokens(messages: &[Message], tools: &[Tool]) -> u32 {
    let mut chars: usize = 0;
    visit_prompt(messages, tools, |piece| {
        chars += match piece {
            Piece::Message => 16,
            Piece::Tool => 0,
            Piece::Text(text) => text.len(),
            Piece::Image(_) => 1000,
        };
    });
    saturate(chars.div_ceil(4))
}

/// Texts longer than this are tokenized piece by piece, so counting can stop early.
#[cfg(feature = "tiktoken")]
const BPE_PIECE_BYTES: usize = 64 * 1024;

#[cfg(feature = "tiktoken")]
fn bpe_count(bpe: &tiktoken_rs::CoreBPE, messages: &[Message], tools: &[Tool], cap: u32) -> u32 {
    const REPLY_PRIMING: usize = 3;
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut tokens = REPLY_PRIMING;
    visit_prompt(messages, tools, |piece| {
        if tokens > cap {
            return;
        }
        tokens += match piece {
            Piece::Message => 3,
            Piece::Tool => 8,
            Piece::Text(text) => bpe_text(bpe, text, cap - tokens.min(cap)),
            Piece::Image(Some(ImageDetail::Low)) => 85,
            Piece::Image(_) => 765,
        };
    });
    saturate(tokens)
}

/// The tokens of `text`, or some number above `room` once that many are passed.
#[cfg(feature = "tiktoken")]
fn bpe_text(bpe: &tiktoken_rs::CoreBPE, mut text: &str, room: usize) -> usize {
    let mut tokens = 0;
    while !text.is_empty() && tokens <= room {
        let mut end = text.len().min(BPE_PIECE_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, rest) = text.split_at(end);
        tokens += bpe.encode_ordinary(piece).len();
        text = rest;
    }
    tokens
}

/// One countable part of a prompt.
enum Piece<'a> {
    /// The start of a message (its framing).
    Message,
    /// The start of a tool definition (its framing).
    Tool,
    Text(&'a str),
    /// Only the tokenizer path prices detail levels differently.
    #[cfg_attr(not(feature = "tiktoken"), allow(dead_code))]
    Image(Option<ImageDetail>),
}

fn visit_prompt(messages: &[Message], tools: &[Tool], mut visit: impl FnMut(Piece<'_>)) {
    for message in messages {
        visit(Piece::Message);
        match message {
            Message::System { content } | Message::Tool { content, .. } => {
                visit(Piece::Text(content));
            }
            Message::User { content } => {
                for part in content {
                    visit(match part {
                        ContentPart::Text(text) => Piece::Text(text),
                        ContentPart::Image(image) => Piece::Image(image.detail),
                    });
                }
            }
            Message::Assistant {
                content,
                tool_calls,
            } => {
                if let Some(text) = content {
                    visit(Piece::Text(text));
                }
                for call in tool_calls {
                    visit(Piece::Text(&call.name));
                    visit(Piece::Text(&call.arguments));
                }
            }
        }
    }
    for tool in tools {
        visit(Piece::Tool);
        visit(Piece::Text(&tool.name));
        if let Some(description) = &tool.description {
            visit(Piece::Text(description));
        }
        visit(Piece::Text(&tool.parameters.to_string()));
    }
}

fn saturate(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccountInfo, ChatRequest, SamplingParams};
    use serde_json::json;

    #[cfg(feature = "tiktoken")]
    #[test]
    fn counting_a_huge_prompt_stops_one_piece_past_the_cap() {
        // About two million tokens of text.
        let huge = "word ".repeat(2 * 1024 * 1024);
        let messages = [Message::user(huge.as_str())];
        let (count, counting) = count_prompt_tokens_within("gpt-4o", &messages, &[], 128_000);
        assert_eq!(counting, TokenCounting::O200kBase);
        assert!(count > 128_000, "{count}");
        // At most one 64 KiB piece (about 13,000 tokens of this text) past the cap.
        assert!(count < 128_000 + 20_000, "{count}");
        let (small, _) = count_prompt_tokens_within("gpt-4o", &[Message::user("hi")], &[], 10);
        assert_eq!(
            small,
            count_prompt_tokens("gpt-4o", &[Message::user("hi")], &[]).0
        );
    }

    #[test]
    fn model_families_map_to_their_tokenizer_with_boundaries_respected() {
        let family = |m| openai_family(m);
        for model in [
            "gpt-4o",
            "gpt-4o-mini-2024-07-18",
            "gpt-4.1-nano",
            "gpt-5",
            "gpt-5.1",
            "o1",
            "o3-mini",
            "o4-mini",
            "ft:gpt-4o-mini:acme::abc",
            "openai/gpt-5-mini",
        ] {
            assert_eq!(family(model), Some(TokenCounting::O200kBase), "{model}");
        }
        for model in ["gpt-4", "gpt-4-turbo", "gpt-4-0613", "gpt-3.5-turbo"] {
            assert_eq!(family(model), Some(TokenCounting::Cl100kBase), "{model}");
        }
        for model in ["gpt-40", "o10", "claude-3-opus", "gemini-2.5-pro", "o3x"] {
            assert_eq!(family(model), None, "{model}");
        }
    }

    #[test]
    fn estimate_is_a_quarter_of_the_characters_plus_message_framing() {
        let messages = [
            Message::user("a".repeat(400)),
            Message::system("b".repeat(84)),
        ];
        assert_eq!(estimate_prompt_tokens(&messages, &[]), (400 + 84 + 32) / 4);
        let tool = Tool::new("f", json!({"type": "object"}));
        let with_tool = estimate_prompt_tokens(&messages, std::slice::from_ref(&tool));
        assert_eq!(with_tool, (400 + 84 + 32 + 1 + 17_u32).div_ceil(4));
    }

    #[test]
    fn worst_case_output_is_the_effective_max_tokens_or_the_default() {
        let account = AccountInfo::new("a");
        let chat = ChatRequest::user("hi");
        let defaults = SamplingParams::new().max_tokens(256);
        let with_default =
            TokenEstimate::of(&ProviderRequest::new("m", &account, &chat, &defaults));
        assert_eq!(with_default.max_output, 256);
        let chat = ChatRequest::user("hi").max_tokens(64);
        let with_request =
            TokenEstimate::of(&ProviderRequest::new("m", &account, &chat, &defaults));
        assert_eq!(with_request.max_output, 64);
        let plain = ChatRequest::user("hi");
        let no_defaults = SamplingParams::new();
        let unset = TokenEstimate::of(&ProviderRequest::new("m", &account, &plain, &no_defaults));
        assert_eq!(unset.max_output, DEFAULT_MAX_OUTPUT_TOKENS);
        assert_eq!(unset.counting, TokenCounting::CharsPerToken);
    }

    #[cfg(feature = "tiktoken")]
    #[test]
    fn openai_prompts_are_counted_with_the_real_tokenizer() {
        // "hello world" is 2 tokens in both o200k_base and cl100k_base; one message adds 3
        // of framing and the reply priming 3 more.
        let messages = [Message::user("hello world")];
        assert_eq!(
            count_prompt_tokens("gpt-4o", &messages, &[]),
            (8, TokenCounting::O200kBase)
        );
        assert_eq!(
            count_prompt_tokens("gpt-3.5-turbo", &messages, &[]),
            (8, TokenCounting::Cl100kBase)
        );
        // The estimate for the same prompt differs: (11 + 16) / 4 rounded up.
        assert_eq!(
            count_prompt_tokens("claude-haiku-4-5", &messages, &[]),
            (7, TokenCounting::CharsPerToken)
        );
    }

    #[cfg(feature = "tiktoken")]
    #[test]
    fn tokenizers_differ_where_their_vocabularies_do() {
        // o200k_base has a far larger share of non-English vocabulary than cl100k_base.
        let text = "Привет, как дела? Сегодня хорошая погода.".repeat(10);
        let messages = [Message::user(text)];
        let (o200k, _) = count_prompt_tokens("gpt-4o", &messages, &[]);
        let (cl100k, _) = count_prompt_tokens("gpt-4", &messages, &[]);
        assert!(o200k < cl100k, "o200k {o200k} vs cl100k {cl100k}");
    }

    #[cfg(feature = "tiktoken")]
    #[test]
    fn images_cost_by_detail_on_openai_models() {
        let low = Message::user_parts([ContentPart::Image(crate::Image {
            source: crate::ImageSource::Url("https://x/y.png".into()),
            detail: Some(ImageDetail::Low),
        })]);
        let auto = Message::user_parts([ContentPart::image_url("https://x/y.png")]);
        assert_eq!(count_prompt_tokens("gpt-4o", &[low], &[]).0, 3 + 3 + 85);
        assert_eq!(count_prompt_tokens("gpt-4o", &[auto], &[]).0, 3 + 3 + 765);
    }
}
