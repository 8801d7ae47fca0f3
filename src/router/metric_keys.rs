//! The `metrics` keys a policy reports under (feature `metrics`), each built the first
//! time it is needed and kept, so that a request or an attempt that succeeds reports its
//! metrics without allocating or hashing a label.
//!
//! Keys are kept, not handles: a handle belongs to the recorder that registered it, while
//! a key is handed to whichever recorder is current each time a metric is reported. A
//! recorder installed after the router was built, globally or for a thread
//! (`metrics::with_local_recorder`), receives everything reported from then on. The keys of
//! an attempt cost about 3 KB, one set per policy and per target that policy called,
//! and a policy that made an attempt holds a 16-byte slot per target of the configuration.

use std::sync::OnceLock;

use metrics::{Key, Label};

use super::execution::Resolved;
use super::telemetry::{OPERATION, SUCCESS};
use crate::metrics as names;

/// The keys of one policy: its requests', and its attempts' on each target it called.
pub(crate) struct PolicyKeys {
    /// Targets in the snapshot: attempt keys are found by target id.
    targets: usize,
    requests: OnceLock<Box<RequestKeys>>,
    attempts: OnceLock<Box<[OnceLock<Box<AttemptKeys>>]>>,
}

/// The keys of a policy's successful requests and of its fallbacks.
pub(crate) struct RequestKeys {
    pub(crate) requests: Key,
    pub(crate) duration: Key,
    pub(crate) fallbacks: Key,
}

/// The keys of a policy's attempts on one target; a failed attempt's are built from
/// `labels` when it fails.
pub(crate) struct AttemptKeys {
    labels: Vec<Label>,
    pub(crate) succeeded: Key,
    pub(crate) duration: Key,
    pub(crate) input_tokens: Key,
    pub(crate) output_tokens: Key,
    pub(crate) first_chunk: Key,
}

impl PolicyKeys {
    /// The keys of a policy in a snapshot of `targets` targets; none built yet.
    pub(crate) fn new(targets: usize) -> Self {
        Self {
            targets,
            requests: OnceLock::new(),
            attempts: OnceLock::new(),
        }
    }

    /// The keys of the successful requests and the fallbacks of policy `policy`.
    pub(crate) fn requests(&self, policy: &str) -> &RequestKeys {
        self.requests.get_or_init(|| {
            let [requests, duration] = request_keys(policy, SUCCESS);
            let policy = Label::new("routewise.policy", policy.to_owned());
            let fallbacks = Key::from_parts(names::FALLBACKS, vec![policy]);
            Box::new(RequestKeys {
                requests,
                duration,
                fallbacks,
            })
        })
    }

    /// The keys of the attempts of policy `policy` on `resolved`'s target.
    pub(crate) fn attempts(&self, policy: &str, resolved: &Resolved<'_>) -> &AttemptKeys {
        let table = self
            .attempts
            .get_or_init(|| (0..self.targets).map(|_| OnceLock::new()).collect());
        table[resolved.target.id].get_or_init(|| Box::new(AttemptKeys::new(policy, resolved)))
    }
}

/// The [`names::REQUESTS`] and [`names::REQUEST_DURATION`] keys of a request of `policy`
/// that ended with `outcome`.
pub(crate) fn request_keys(policy: &str, outcome: &'static str) -> [Key; 2] {
    let labels = vec![
        Label::new("routewise.policy", policy.to_owned()),
        Label::from_static_parts("routewise.outcome", outcome),
    ];
    [
        Key::from_parts(names::REQUESTS, labels.clone()),
        Key::from_parts(names::REQUEST_DURATION, labels),
    ]
}

impl AttemptKeys {
    fn new(policy: &str, resolved: &Resolved<'_>) -> Self {
        let target = &resolved.target.target;
        let labels = vec![
            Label::from_static_parts("gen_ai.operation.name", OPERATION),
            Label::new(
                "gen_ai.provider.name",
                resolved.account.provider.provider_name().to_owned(),
            ),
            Label::new("gen_ai.request.model", target.provider_model.to_string()),
            Label::new("routewise.policy", policy.to_owned()),
            Label::new("routewise.logical_model", resolved.model.name.to_string()),
            Label::new("routewise.account", target.account.to_string()),
        ];
        let with = |name: &'static str, key: &'static str, value: &'static str| {
            let mut all = labels.clone();
            all.push(Label::from_static_parts(key, value));
            Key::from_parts(name, all)
        };
        Self {
            succeeded: with(names::ATTEMPTS, "routewise.outcome", SUCCESS),
            input_tokens: with(names::TOKEN_USAGE, "gen_ai.token.type", "input"),
            output_tokens: with(names::TOKEN_USAGE, "gen_ai.token.type", "output"),
            duration: Key::from_parts(names::OPERATION_DURATION, labels.clone()),
            first_chunk: Key::from_parts(names::TIME_TO_FIRST_CHUNK, labels.clone()),
            labels,
        }
    }

    /// The [`names::ATTEMPTS`] and [`names::OPERATION_DURATION`] keys of an attempt that
    /// failed with error type `kind`.
    pub(crate) fn failed(&self, kind: &'static str) -> [Key; 2] {
        let with = |key: &'static str| {
            let mut all = self.labels.clone();
            all.push(Label::from_static_parts(key, kind));
            all
        };
        [
            Key::from_parts(names::ATTEMPTS, with("routewise.outcome")),
            Key::from_parts(names::OPERATION_DURATION, with("error.type")),
        ]
    }
}
