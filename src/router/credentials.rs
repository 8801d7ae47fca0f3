//! Rejected credentials after an attempt: a 401/403 takes the account out of rotation
//! (here and, with shared state, across the fleet), with one alert and one warning per
//! transition.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::execution::Resolved;
use crate::budget::AlertSink;
use crate::provider::{ErrorKind, ProviderError};
use crate::resilience::{CredentialsAlert, Rejection};
use crate::types::millis;

impl Resolved<'_> {
    /// Records a call's rejection of the account's credentials, if `error` is one.
    pub(crate) fn reject_credentials(
        &self,
        error: &ProviderError,
        sinks: &Arc<[Arc<dyn AlertSink>]>,
        now: Instant,
    ) {
        if error.kind() != ErrorKind::Auth {
            return;
        }
        let account = self.account.info.name();
        match self.account.credentials.reject(now) {
            Rejection::Known => {}
            Rejection::ProbeRefused { wait } => {
                tracing::warn!(
                    routewise.account = account,
                    next_probe_in_ms = millis::saturating(wait),
                    "the provider still rejects the account's credentials"
                );
                #[cfg(feature = "redis")]
                self.share_credentials_mark(wait);
            }
            Rejection::Transition { wait } => {
                let alert = CredentialsAlert {
                    alert: "credentials_rejected",
                    account: account.into(),
                    status: error.status(),
                    rejected_at: SystemTime::now(),
                    next_probe_in_ms: millis::saturating(wait),
                };
                tracing::warn!(
                    routewise.account = account,
                    http.response.status_code = error.status(),
                    next_probe_in_ms = alert.next_probe_in_ms,
                    "the provider rejected the account's credentials; out of rotation"
                );
                #[cfg(feature = "redis")]
                self.share_credentials_mark(wait);
                deliver(sinks.clone(), alert);
            }
        }
    }

    /// Marks the credentials rejected for the fleet, off the request path.
    #[cfg(feature = "redis")]
    fn share_credentials_mark(&self, wait: std::time::Duration) {
        let Some(shared) = &self.account.shared else {
            return;
        };
        let (state, key) = (shared.state.clone(), shared.keys.credentials());
        let fingerprint = self.account.credentials_fingerprint;
        tokio::spawn(async move {
            if let Err(error) = state.set_mark(&key, fingerprint, wait).await {
                tracing::debug!(%error, "could not share a credentials rejection");
            }
        });
    }

    /// Clears the fleet's mark once a probe got through, off the request path.
    #[cfg(feature = "redis")]
    pub(crate) fn clear_fleet_credentials_mark(&self) {
        let Some(shared) = &self.account.shared else {
            return;
        };
        let (state, key) = (shared.state.clone(), shared.keys.credentials());
        tokio::spawn(async move {
            if let Err(error) = state.clear_mark(&key).await {
                tracing::debug!(%error, "could not clear a credentials rejection");
            }
        });
    }
}

/// Hands the alert to every sink, off the request path.
fn deliver(sinks: Arc<[Arc<dyn AlertSink>]>, alert: CredentialsAlert) {
    if sinks.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for sink in sinks.iter() {
            if let Err(error) = sink.send_credentials_rejected(&alert).await {
                tracing::warn!(%error, "a credentials alert could not be delivered");
            }
        }
    });
}
