//! [`CancelledCharge`]: what an attempt costs when its caller walks away mid-call.

/// What an attempt is charged, in its account's rate window and budget, when it is
/// cancelled after its call to the provider started (the caller dropped the request or
/// the stream, or a hedged call lost the race).
///
/// The provider received the request and counts it against its limits and bills it,
/// but never reports the usage to a caller that has gone. Charging nothing would let
/// callers whose timeout is shorter than the model's latency send any number of calls
/// past an RPM limit for free. The attempt therefore keeps its rate-limit slot and is
/// settled to what it reserved, by default its worst case: the counted prompt plus
/// `max_tokens` of output. An attempt cancelled before its call started (waiting for
/// admission, a retry back-off, a hedge delay) gives everything back.
///
/// ```
/// use routewise::{CancelledCharge, Router};
///
/// let builder = Router::builder().cancelled_charge(CancelledCharge::InputOnly);
/// # let _ = builder;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelledCharge {
    /// The reserved worst case: the prompt's tokens and `max_tokens` of output, at the
    /// target's price. Never under what the provider bills, when `max_tokens` bounds
    /// the output.
    #[default]
    WorstCase,
    /// The prompt's tokens only, at the target's input price: for providers that do not
    /// bill output a client never read, at the risk of undercounting those that do.
    InputOnly,
}
