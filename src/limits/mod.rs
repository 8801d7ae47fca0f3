//! Rate limits per provider account: requests and tokens per minute, reserved before a
//! call and settled to actual usage after it.
//!
//! - [`RateLimits`]: the configuration (account-wide, optionally per provider model).
//! - [`Limiter`]: sliding 60-second windows, exact under concurrency;
//!   [`Limiter::try_reserve`] returns a [`LimitReservation`] that settles or gives its
//!   capacity back on drop, or [`Limited`] with when capacity returns.
//! - 429 cool-downs: every provider HTTP 429 pauses the account (or the account × model,
//!   where the provider limits per model) until its retry-after, limits configured or
//!   not ([`CoolDownStatus`] shows them).
//! - [`Headroom`]: what one more request would leave of the limits, the figure
//!   [`Balance::Headroom`](crate::Balance::Headroom) balances by.
//! - [`TokenEstimate`]: what a request may use (prompt counted with OpenAI's tokenizers
//!   where they apply, plus the most it may generate).

mod config;
mod cooldown;
mod headroom;
mod limiter;
mod tokens;
mod window;

pub use config::{LimitsConfigError, RateLimits};
pub use cooldown::CoolDownStatus;
pub(crate) use cooldown::{CoolDowns, CoolProbe, Cooling, PROBE_PENDING_WAIT};
pub use headroom::{Headroom, TightestLimit};
pub use limiter::{
    DEFAULT_RETRY_AFTER, LimitCause, LimitReservation, Limited, Limiter, LimiterSnapshot, WindowUse,
};
pub use tokens::{
    DEFAULT_MAX_OUTPUT_TOKENS, TokenCounting, TokenEstimate, count_prompt_tokens,
    count_prompt_tokens_within, estimate_prompt_tokens,
};
