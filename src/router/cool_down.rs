//! 429 cool-downs around an attempt: a 429 cools its account (or account × model) down,
//! here and, with shared state, across the fleet; an admission asks the cool-downs
//! first, and lets one call probe an account whose cool-down just ended.

use std::time::Duration;

use tokio::time::Instant;

use super::accounting::cooling_down;
use super::execution::Resolved;
use super::skip::SkipReason;
use crate::limits::CoolProbe;
use crate::provider::{ErrorKind, ProviderError};

impl Resolved<'_> {
    /// Starts the cool-down a failed call's 429 asks for (the provider's retry-after, or
    /// `default` without one), ending at `ended` plus the wait. Returns the wait when it
    /// covers the whole account (a per-model provider cools only the model down).
    pub(crate) fn cool_down_after(
        &self,
        error: &ProviderError,
        default: Duration,
        ended: Instant,
    ) -> Option<Duration> {
        if error.kind() != ErrorKind::RateLimited {
            return None;
        }
        let wait = error.retry_after().unwrap_or(default);
        let model = &self.target.target.provider_model;
        let scope = self.account.per_model_limits.then_some(model);
        self.account.cool_downs.cool(scope, ended + wait);
        tracing::info!(
            routewise.account = self.account.info.name(),
            gen_ai.request.model = scope.map(|m| &**m),
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "provider answered HTTP 429; cooling down"
        );
        #[cfg(feature = "redis")]
        self.share_cool_down(scope.is_some(), wait);
        scope.is_none().then_some(wait)
    }

    /// Tells the fleet about a cool-down, off the request path.
    #[cfg(feature = "redis")]
    fn share_cool_down(&self, per_model: bool, wait: Duration) {
        let Some(shared) = &self.account.shared else {
            return;
        };
        let key = if per_model {
            shared
                .keys
                .model_cooldown(&self.target.target.provider_model)
        } else {
            shared.keys.cooldown.clone()
        };
        let state = shared.state.clone();
        tokio::spawn(async move {
            if let Err(error) = state.mark_cool_down(&key, wait).await {
                tracing::debug!(%error, "could not share a 429 cool-down");
            }
        });
    }

    /// Admits a call as the cool-downs allow: `Ok(Some(_))` when it probes an account
    /// whose cool-down just ended, `Err` with the reason to pass it over.
    pub(crate) async fn admit_cool_downs(
        &self,
        now: Instant,
    ) -> Result<Option<CoolProbe>, SkipReason> {
        let model = &self.target.target.provider_model;
        #[cfg(feature = "redis")]
        self.learn_fleet_cool_downs(now).await;
        self.account
            .cool_downs
            .admit(model, now)
            .map_err(cooling_down)
    }

    /// Takes over the cool-downs other instances marked on a shared account.
    #[cfg(feature = "redis")]
    async fn learn_fleet_cool_downs(&self, now: Instant) {
        let Some(shared) = &self.account.shared else {
            return;
        };
        if !shared.state.is_available() {
            return;
        }
        let model = &self.target.target.provider_model;
        let model_key = shared.keys.model_cooldown(model);
        let Ok(marks) = shared
            .state
            .fleet_marks(&shared.keys.cooldown, &model_key)
            .await
        else {
            return;
        };
        let cool_downs = &self.account.cool_downs;
        if let Some(left) = marks.account_cool_down {
            cool_downs.cool(None, now + left);
        }
        if let Some(left) = marks.model_cool_down {
            cool_downs.cool(Some(model), now + left);
        }
    }
}
