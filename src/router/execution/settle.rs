//! What an attempt's end does outside the request: its breaker, its account's health,
//! limits and budget. The timing of a call comes from one clock reading, which every one
//! of them shares.

use std::time::Duration;

use tokio::time::Instant;

use super::{Execution, Resolved};
use crate::budget::Usd;
use crate::provider::{ErrorKind, ProviderError};
use crate::resilience::BreakerPermit;
use crate::router::accounting::{Broken, Held, after_settle};
use crate::router::gate::Probes;
use crate::router::plan::Candidate;
use crate::types::Usage;

/// How long a provider call ran and when it ended, from one clock reading: the end time
/// serves the breaker, health and the request's duration without reading the clock again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallTime {
    pub(crate) latency: Duration,
    pub(crate) ended: Instant,
}

impl CallTime {
    /// A call that started at `started` and ends now.
    pub(crate) fn since(started: Instant) -> Self {
        let ended = Instant::now();
        Self {
            latency: ended.saturating_duration_since(started),
            ended,
        }
    }
}

/// What an attempt holds while it runs: its breaker permit and its account's
/// reservations. Dropping it before its call starts hands everything back; after, the
/// breaker permit goes back and the reservations are charged as the router's
/// [`CancelledCharge`](crate::CancelledCharge) says.
pub(crate) struct Admission {
    pub(super) permit: Option<BreakerPermit>,
    pub(super) held: Held,
    /// What the call probes: an account whose 429 cool-down just ended, or whose
    /// credentials were rejected.
    pub(super) probes: Probes,
}

impl Admission {
    /// The call to the provider starts now.
    pub(crate) fn mark_sent(&mut self) {
        self.held.mark_sent();
    }
}

impl Execution {
    /// Feeds a failed call to the breaker, the account's health and its limits, and
    /// releases the budget reservation.
    pub(crate) fn observe_failure(
        &self,
        candidate: Candidate,
        admission: Admission,
        error: &ProviderError,
        time: CallTime,
    ) {
        let CallTime { latency, ended } = time;
        let resolved = Self::resolve(&self.snapshot, candidate);
        let breaker_opened = self.report_fault(&resolved, admission.permit, error, ended);
        if error.is_provider_fault() {
            resolved.account.health.record(false, latency, ended);
        }
        let cool_down = resolved.cool_down_after(error, self.snapshot.cool_down, ended);
        resolved.reject_credentials(error, &self.snapshot.alert_sinks, ended);
        if error.kind() == ErrorKind::Auth && admission.probes.credentials.is_some() {
            self.note_refused_probe();
        }
        admission
            .held
            .fail(error, cool_down, latency, breaker_opened);
    }

    /// Hands a failure to the breaker permit; returns whether the breaker is open after
    /// it (so a shared breaker can tell the other instances).
    fn report_fault(
        &self,
        resolved: &Resolved<'_>,
        permit: Option<BreakerPermit>,
        error: &ProviderError,
        now: Instant,
    ) -> bool {
        let Some(permit) = permit else {
            return false;
        };
        permit.failure(error.kind(), now);
        let breaker = self.policy().breaker(resolved.target);
        breaker.is_some_and(|b| b.state(now).is_open())
    }

    /// Settles a stream attempt that broke after producing text: a failure for its
    /// breaker and health, but charged with `usage` against its account's limits and
    /// budget (the provider bills what it generated). Returns its cost, when priced.
    pub(crate) fn observe_broken_stream(
        &self,
        candidate: Candidate,
        admission: Admission,
        error: &ProviderError,
        time: CallTime,
        usage: &Usage,
    ) -> Option<Usd> {
        let CallTime { latency, ended } = time;
        let resolved = Self::resolve(&self.snapshot, candidate);
        let breaker_opened = self.report_fault(&resolved, admission.permit, error, ended);
        if error.is_provider_fault() {
            resolved.account.health.record(false, latency, ended);
        }
        let cool_down = resolved.cool_down_after(error, self.snapshot.cool_down, ended);
        let cost = resolved.cost(usage);
        let broken = Broken {
            error,
            cool_down,
            latency,
            breaker_opened,
        };
        let alerts = admission.held.settle_broken(usage, cost, &broken);
        after_settle(&self.snapshot, &resolved, alerts);
        cost
    }
}
