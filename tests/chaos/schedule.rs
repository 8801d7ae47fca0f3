//! The seeded fault schedule: what an upstream does with each chat request it receives.
//!
//! A fault is a pure function of the seed, the upstream, the request id (carried in the
//! prompt) and how many times this upstream has seen that request, so a run is
//! reproducible request by request even though 256 requests race each other.

/// What the upstream does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A complete, valid answer (a JSON body, or a whole event stream).
    Ok,
    /// HTTP 429 with `retry-after-ms`.
    RateLimited,
    /// HTTP 500.
    ServerError,
    /// HTTP 503.
    Unavailable,
    /// HTTP 529 (Anthropic's "overloaded").
    Overloaded,
    /// No answer, or a stream that stalls after its first events, until the client gives up.
    Hang,
    /// The connection is reset (RST) before any answer.
    Reset,
    /// A 200 whose JSON body, or one of whose stream events, is cut mid-value.
    MalformedJson,
    /// The body or event stream stops mid-way and the connection closes.
    Cut,
}

impl Fault {
    pub const ALL: [Fault; 9] = [
        Fault::Ok,
        Fault::RateLimited,
        Fault::ServerError,
        Fault::Unavailable,
        Fault::Overloaded,
        Fault::Hang,
        Fault::Reset,
        Fault::MalformedJson,
        Fault::Cut,
    ];

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::Ok => "200 ok",
            Fault::RateLimited => "429 + retry-after",
            Fault::ServerError => "500",
            Fault::Unavailable => "503",
            Fault::Overloaded => "529",
            Fault::Hang => "hang past the timeout",
            Fault::Reset => "connection reset",
            Fault::MalformedJson => "malformed JSON",
            Fault::Cut => "body / SSE stream cut",
        }
    }
}

/// Per mille weights in normal operation: 70 % answers, 30 % faults.
const WEIGHTS: [(Fault, u64); 9] = [
    (Fault::Ok, 700),
    (Fault::RateLimited, 40),
    (Fault::ServerError, 40),
    (Fault::Unavailable, 40),
    (Fault::Overloaded, 40),
    (Fault::Hang, 20),
    (Fault::Reset, 40),
    (Fault::MalformedJson, 40),
    (Fault::Cut, 40),
];

/// During an outage nine requests in ten fail with a server-side fault, so breakers open
/// and health turns.
const OUTAGE: [Fault; 4] = [
    Fault::ServerError,
    Fault::Unavailable,
    Fault::Overloaded,
    Fault::Reset,
];

/// The schedule of one upstream.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    seed: u64,
    upstream: u64,
    /// Request ids `[start, end)` during which this upstream has an outage.
    outage: (u64, u64),
}

/// What to do with one request, and a few more random bits for where in the answer.
#[derive(Clone, Copy, Debug)]
pub struct Decision {
    pub fault: Fault,
    /// Free random bits (where a stream breaks, how long a retry-after is).
    pub bits: u64,
}

impl Schedule {
    pub fn new(seed: u64, upstream: u64, outage: (u64, u64)) -> Self {
        Self {
            seed,
            upstream,
            outage,
        }
    }

    pub fn decide(&self, request: u64, arrival: u64) -> Decision {
        let roll = mix(self.seed ^ mix(self.upstream + 1) ^ mix(request << 8 | arrival));
        let bits = mix(roll);
        let per_mille = roll % 1000;
        if (self.outage.0..self.outage.1).contains(&request) && per_mille < 900 {
            return Decision {
                fault: OUTAGE[(bits % 4) as usize],
                bits,
            };
        }
        let mut left = per_mille;
        for (fault, weight) in WEIGHTS {
            if left < weight {
                return Decision { fault, bits };
            }
            left -= weight;
        }
        Decision {
            fault: Fault::Ok,
            bits,
        }
    }
}

/// SplitMix64's finaliser: a well-spread 64-bit hash.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
