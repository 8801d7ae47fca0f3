//! Context windows: how many tokens a provider model can take in and give out.
//!
//! routewise ships the windows of common models in its profile table
//! ([`ContextWindow::for_model`]); a
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

impl ContextWindow {
    /// A window of `context` tokens in all, at most `max_output` of them generated.
    pub const fn new(context: u32, max_output: u32) -> Self {
        Self {
            context,
            max_output,
        }
    }

    /// The shipped window of a provider model id: the window of its profile in
    /// [`ProfileTable::builtin`](crate::ProfileTable::builtin), looked up as the table
    /// documents.
    pub fn for_model(model: &str) -> Option<Self> {
        crate::ProfileTable::builtin()
            .lookup(model)
            .and_then(|profile| profile.window)
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
    fn dated_ids_find_their_model() {
        assert_eq!(
            ContextWindow::for_model("gpt-4"),
            Some(ContextWindow::new(8_192, 4_096))
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
