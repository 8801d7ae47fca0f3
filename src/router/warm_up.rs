//! [`Router::warm_up`]: opening every account's connection before the first request, and
//! [`WarmUpError`], the accounts that could not be reached.

use std::fmt;
use std::sync::Arc;

use super::Router;
use crate::provider::ProviderError;

/// The accounts [`Router::warm_up`] could not prepare, each with why.
#[derive(Debug)]
#[non_exhaustive]
pub struct WarmUpError {
    /// Each failed account's name and its provider's error, in declaration order.
    pub failures: Vec<(Arc<str>, ProviderError)>,
}

impl fmt::Display for WarmUpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warm-up failed for")?;
        for (i, (account, error)) in self.failures.iter().enumerate() {
            let separator = if i == 0 { " " } else { "; " };
            write!(f, "{separator}account `{account}`: {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for WarmUpError {}

impl Router {
    /// Prepares every account for its first request, all at once: the HTTP adapters open
    /// a connection to their endpoint (see [`Provider::warm_up`](crate::Provider::warm_up)),
    /// so the first request through each account costs what later ones do. HTTP clients
    /// themselves are already built when the router is.
    ///
    /// Optional: an account that is not warmed up opens its connection on its first
    /// request. Call it after building the router and before taking traffic.
    ///
    /// ```
    /// use routewise::sim::SimProvider;
    /// use routewise::{LogicalModel, Policy, ProviderAccount, Router, Target};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let router = Router::builder()
    ///     .account(ProviderAccount::new("sim", SimProvider::new()))
    ///     .model(LogicalModel::new("m").target(Target::new("sim", "x")))
    ///     .policy(Policy::new("default").route(["m"]))
    ///     .build()?;
    /// router.warm_up().await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// A [`WarmUpError`] naming every account whose endpoint could not be reached and
    /// why; the others are warmed up all the same, and the router works either way.
    pub async fn warm_up(&self) -> Result<(), WarmUpError> {
        let snapshot = self.inner.snapshot.load_full();
        let calls = snapshot.accounts.iter().map(|account| async move {
            let outcome = account.provider.warm_up(&account.info).await;
            outcome
                .err()
                .map(|error| (Arc::from(account.info.name()), error))
        });
        let failures: Vec<_> = futures::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(WarmUpError { failures })
        }
    }
}
