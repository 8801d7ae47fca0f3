//! What an account's own state says about admitting a call, before its breaker, limits
//! and budget are asked: its 429 cool-downs and its rejected credentials (with shared
//! state, as the whole fleet marked them). After a cool-down or a rejection, one call
//! probes the account while the others keep passing it over.

use tokio::time::Instant;

use super::accounting::cooling_down;
use super::execution::Resolved;
use super::skip::SkipReason;
use crate::limits::CoolProbe;
use crate::resilience::CredentialsProbe;
use crate::types::millis;

/// The probes an admitted call carries: settled by its outcome, released if dropped.
#[derive(Default)]
pub(crate) struct Probes {
    pub(crate) cool_down: Option<CoolProbe>,
    pub(crate) credentials: Option<CredentialsProbe>,
}

impl Resolved<'_> {
    /// Admits a call as the account's state allows, or says why it is passed over.
    pub(crate) async fn admit_account(&self, now: Instant) -> Result<Probes, SkipReason> {
        #[cfg(feature = "redis")]
        self.learn_fleet_marks(now).await;
        let model = &self.target.target.provider_model;
        let cool_down = self
            .account
            .cool_downs
            .admit(model, now)
            .map_err(cooling_down)?;
        let credentials = self.account.credentials.admit(now).map_err(|wait| {
            SkipReason::CredentialsRejected {
                probe_in_ms: millis::saturating(wait).max(1),
            }
        })?;
        Ok(Probes {
            cool_down,
            credentials,
        })
    }

    /// Takes over the cool-downs and credential rejections other instances marked on a
    /// shared account (one round trip; nothing when Redis is away).
    #[cfg(feature = "redis")]
    async fn learn_fleet_marks(&self, now: Instant) {
        let Some(shared) = &self.account.shared else {
            return;
        };
        if !shared.state.is_available() {
            return;
        }
        let model = &self.target.target.provider_model;
        let model_cool_down = shared.keys.model_cooldown(model);
        let credentials = shared.keys.credentials();
        let keys = crate::shared::MarkKeys {
            account_cool_down: &shared.keys.cooldown,
            model_cool_down: &model_cool_down,
            credentials: &credentials,
        };
        let Ok(marks) = shared.state.fleet_marks(&keys).await else {
            return;
        };
        let cool_downs = &self.account.cool_downs;
        if let Some(left) = marks.account_cool_down {
            cool_downs.cool(None, now + left);
        }
        if let Some(left) = marks.model_cool_down {
            cool_downs.cool(Some(model), now + left);
        }
        if let Some((fingerprint, left)) = marks.credentials_rejected
            && fingerprint == self.account.credentials_fingerprint
            && self.account.credentials.adopt(now, left)
        {
            tracing::warn!(
                routewise.account = self.account.info.name(),
                "another instance saw this account's credentials rejected; out of rotation"
            );
        }
    }
}

impl Probes {
    /// The call succeeded: whatever it probed is over.
    pub(crate) fn succeeded(self, resolved: &Resolved<'_>) {
        if let Some(probe) = self.cool_down {
            probe.succeeded();
        }
        if let Some(probe) = self.credentials {
            probe.succeeded();
            tracing::info!(
                routewise.account = resolved.account.info.name(),
                "the provider accepted the account's credentials again; back in rotation"
            );
            #[cfg(feature = "redis")]
            resolved.clear_fleet_credentials_mark();
        }
    }
}
