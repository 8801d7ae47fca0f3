//! [`Lease`]: blocks of capacity taken from Redis ahead of need, served locally.

use std::time::Duration;

use crate::budget::Usd;

/// Lease mode: an instance takes a block of an account's capacity in one round trip and
/// admits requests from it locally, with no round trip, until the block is spent or
/// [`ttl`](Self::ttl) has passed; then it hands back what is left and takes the next.
///
/// The block is reserved in Redis like any request, so the fleet's grants still never
/// exceed a limit in any window of grants. What a lease changes is *when* a slot counts:
/// at the block's grant rather than at the request's. Requests sent from a block up to
/// `ttl` later can therefore meet, in one window of actual sends, slots granted in the
/// window before. **Bound**: in any rate window, requests actually sent ≤ limit +
/// instances × block (each instance holds at most one block at a time), and the same for
/// tokens. Budgets are not overshot by leases: a block's dollars are reserved against the
/// budget, and requests inside it reserve their worst case from it.
///
/// The price is capacity held idle: a block one instance holds is unavailable to the
/// others until used or returned, so a fleet near its limit refuses a little early. Keep
/// blocks small next to the limit (for RPM 1,000 and 10 instances, blocks of 10–20).
///
/// ```
/// use std::time::Duration;
/// use routewise::budget::Usd;
/// use routewise::shared::Lease;
///
/// let lease = Lease::requests(20)
///     .tokens(40_000)
///     .usd(Usd::from_cents(50))
///     .ttl(Duration::from_secs(2));
/// assert_eq!(lease.block_requests(), 20);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Lease {
    requests: u32,
    tokens: u64,
    usd: Usd,
    ttl: Duration,
}

impl Lease {
    /// Blocks of `requests` requests (and, by default, no tokens or dollars: set them
    /// with [`tokens`](Self::tokens) and [`usd`](Self::usd) for accounts with a TPM limit
    /// or a budget; a request that needs more than a block holds goes to Redis alone).
    pub fn requests(requests: u32) -> Self {
        Self {
            requests,
            tokens: 0,
            usd: Usd::ZERO,
            ttl: Duration::from_secs(1),
        }
    }

    /// Tokens per block.
    pub fn tokens(mut self, tokens: u64) -> Self {
        self.tokens = tokens;
        self
    }

    /// Budget per block.
    pub fn usd(mut self, amount: Usd) -> Self {
        self.usd = amount;
        self
    }

    /// How long a block is served from before what is left goes back (default 1 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Requests per block.
    pub fn block_requests(&self) -> u32 {
        self.requests
    }

    /// Tokens per block.
    pub fn block_tokens(&self) -> u64 {
        self.tokens
    }

    /// Budget per block.
    pub fn block_usd(&self) -> Usd {
        self.usd
    }

    /// How long a block is served from.
    pub fn block_ttl(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.requests == 0 {
            return Err("a lease needs at least one request per block".into());
        }
        if self.ttl.is_zero() {
            return Err("a lease's ttl must be greater than zero".into());
        }
        Ok(())
    }
}
