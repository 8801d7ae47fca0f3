//! Context windows: how many tokens a provider model can take in and give out.
//!
//! routewise ships the windows of common models ([`ContextWindow::for_model`]); a
//! [`Target`](crate::Target) can override them. The planner skips a target whose window
//! cannot hold the estimated prompt plus the requested output.

use serde::{Deserialize, Serialize};

/// The token limits of one provider model.
///
/// ```
/// use routewise::ContextWindow;
///
/// let window = ContextWindow::for_model("gpt-4o-2024-08-06").expect("known family");
/// assert_eq!(window, ContextWindow::new(128_000, 16_384));
/// assert!(window.fits(100_000, 4_096));
/// assert!(!window.fits(126_000, 4_096));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ContextWindow {
    /// Prompt plus output tokens the model can hold at once.
    pub context: u32,
    /// The most tokens one answer may have.
    pub max_output: u32,
}

/// Shipped windows, by model-id prefix (longest prefix wins, so dated ids such as
/// `gpt-4o-2024-08-06` find their family). From the providers' model pages, 2026-11.
const KNOWN: &[(&str, ContextWindow)] = &[
    ("gpt-3.5-turbo", ContextWindow::new(16_385, 4_096)),
    ("gpt-4", ContextWindow::new(8_192, 8_192)),
    ("gpt-4-turbo", ContextWindow::new(128_000, 4_096)),
    ("gpt-4o", ContextWindow::new(128_000, 16_384)),
    ("gpt-4o-mini", ContextWindow::new(128_000, 16_384)),
    ("gpt-4.1", ContextWindow::new(1_047_576, 32_768)),
    ("gpt-5", ContextWindow::new(400_000, 128_000)),
    ("o1", ContextWindow::new(200_000, 100_000)),
    ("o3", ContextWindow::new(200_000, 100_000)),
    ("o4-mini", ContextWindow::new(200_000, 100_000)),
    ("claude-3-5-haiku", ContextWindow::new(200_000, 8_192)),
    ("claude-3-7-sonnet", ContextWindow::new(200_000, 64_000)),
    ("claude-haiku-4", ContextWindow::new(200_000, 64_000)),
    ("claude-sonnet-4", ContextWindow::new(200_000, 64_000)),
    ("claude-opus-4", ContextWindow::new(200_000, 32_000)),
    ("gemini-1.5-pro", ContextWindow::new(2_097_152, 8_192)),
    ("gemini-1.5-flash", ContextWindow::new(1_048_576, 8_192)),
    ("gemini-2.0-flash", ContextWindow::new(1_048_576, 8_192)),
    ("gemini-2.5-pro", ContextWindow::new(1_048_576, 65_536)),
    ("gemini-2.5-flash", ContextWindow::new(1_048_576, 65_536)),
];

impl ContextWindow {
    /// A window of `context` tokens in all, at most `max_output` of them generated.
    pub const fn new(context: u32, max_output: u32) -> Self {
        Self {
            context,
            max_output,
        }
    }

    /// The shipped window of a provider model id, by its longest known prefix.
    pub fn for_model(model: &str) -> Option<Self> {
        KNOWN
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, window)| *window)
    }

    /// Whether a prompt of `input` tokens with room for `output` generated tokens fits.
    pub fn fits(&self, input: u32, output: u32) -> bool {
        output <= self.max_output && u64::from(input) + u64::from(output) <= u64::from(self.context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_decides() {
        assert_eq!(
            ContextWindow::for_model("gpt-4"),
            Some(ContextWindow::new(8_192, 8_192))
        );
        assert_eq!(
            ContextWindow::for_model("gpt-4o-mini-2024-07-18"),
            Some(ContextWindow::new(128_000, 16_384))
        );
        assert_eq!(
            ContextWindow::for_model("claude-sonnet-4-5-20250929").map(|w| w.context),
            Some(200_000)
        );
        assert_eq!(ContextWindow::for_model("my-local-llama"), None);
    }

    #[test]
    fn output_beyond_the_model_maximum_does_not_fit() {
        let window = ContextWindow::new(1_000, 100);
        assert!(window.fits(900, 100));
        assert!(!window.fits(901, 100));
        assert!(!window.fits(10, 101));
    }
}
