//! 429 cool-downs after an attempt: a 429 cools its account (or account × model) down,
//! here and, with shared state, across the fleet. Admission asks them in
//! [`gate`](super::gate).

use std::time::Duration;

use tokio::time::Instant;

use super::execution::Resolved;
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
            if let Err(error) = state.set_mark(&key, 1, wait).await {
                tracing::debug!(%error, "could not share a 429 cool-down");
            }
        });
    }
}
