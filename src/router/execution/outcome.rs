//! A request's outcome, counted once: by the policy's counters and in telemetry, or as
//! cancelled when the request is dropped before it finished.

use std::sync::Arc;

use tokio::time::Instant;

use crate::router::telemetry::{self, PolicyTelemetry};
use crate::stats::PolicyCounters;

/// Counts the request's outcome once, and as cancelled if it is dropped before it finished.
pub(super) struct OutcomeGuard {
    pub(super) counters: Arc<PolicyCounters>,
    pub(super) policy: Arc<PolicyTelemetry>,
    /// When the request arrived, before any wait for rate-limit capacity.
    pub(super) received: Instant,
    /// The request's span, which a stream outlives the polling context of.
    pub(super) span: tracing::Span,
    pub(super) finished: bool,
}

impl OutcomeGuard {
    pub(super) fn finish(&mut self, outcome: &'static str) {
        self.finish_at(outcome, Instant::now());
    }

    /// Finishes the request at `now`, a clock reading the caller already has.
    pub(super) fn finish_at(&mut self, outcome: &'static str, now: Instant) {
        if !self.finished {
            self.finished = true;
            self.counters.record_outcome(outcome == telemetry::SUCCESS);
            let duration = now.saturating_duration_since(self.received);
            self.span.in_scope(|| {
                telemetry::request_finished(Some(&self.policy), outcome, duration);
            });
        }
    }
}

impl Drop for OutcomeGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.counters.record_cancelled();
            self.span.in_scope(|| {
                telemetry::request_finished(
                    Some(&self.policy),
                    telemetry::CANCELLED,
                    self.received.elapsed(),
                );
            });
        }
    }
}
