//! [`RouterBuilder`]: collects accounts, models, policies and router-wide settings; `build`
//! checks and compiles them (see `compile.rs`).

use std::sync::Arc;
use std::time::Duration;

use super::{FromFile, Router};
use crate::account::ProviderAccount;
use crate::budget::{AlertSink, CancelledCharge};
use crate::error::ConfigError;
use crate::limits::DEFAULT_RETRY_AFTER;
use crate::model::LogicalModel;
use crate::policy::Policy;
use crate::provider::profile::ParameterPolicy;
use crate::replay::Recorder;
use crate::resilience::{BreakerConfig, CredentialsBackoff, HealthConfig};
use crate::state::StateStore;

/// Builds a [`Router`]. Every problem in the configuration is reported together by
/// [`build`](Self::build).
///
/// ```
/// use routewise::{LogicalModel, Policy, ProviderAccount, Router, Target};
/// use routewise::sim::SimProvider;
///
/// let router = Router::builder()
///     .account(ProviderAccount::new("sim", SimProvider::new()))
///     .model(LogicalModel::new("primary-llm").target(Target::new("sim", "sim-large")))
///     .policy(Policy::new("default").route(["primary-llm"]))
///     .build()
///     .expect("valid configuration");
/// # let _ = router;
/// ```
#[derive(Clone)]
#[must_use]
pub struct RouterBuilder {
    pub(super) accounts: Vec<ProviderAccount>,
    pub(super) models: Vec<LogicalModel>,
    pub(super) policies: Vec<Policy>,
    pub(super) breaker_defaults: Option<BreakerConfig>,
    pub(super) health: HealthConfig,
    pub(super) alert_sinks: Vec<Arc<dyn AlertSink>>,
    pub(super) state_store: Option<Arc<dyn StateStore>>,
    #[cfg(feature = "redis")]
    pub(super) shared: Option<crate::shared::RedisState>,
    pub(super) queue_time: Duration,
    pub(super) cool_down: Duration,
    pub(super) credentials_backoff: CredentialsBackoff,
    pub(super) parameter_policy: ParameterPolicy,
    pub(super) cancelled_charge: CancelledCharge,
    pub(super) recorder: Option<Recorder>,
    /// What the config file this builder came from declared (`None`: not from a file).
    pub(super) from_file: Option<FromFile>,
}

impl Default for RouterBuilder {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            models: Vec::new(),
            policies: Vec::new(),
            breaker_defaults: Some(BreakerConfig::default()),
            health: HealthConfig::default(),
            alert_sinks: Vec::new(),
            state_store: None,
            #[cfg(feature = "redis")]
            shared: None,
            queue_time: Duration::ZERO,
            cool_down: DEFAULT_RETRY_AFTER,
            credentials_backoff: CredentialsBackoff::default(),
            parameter_policy: ParameterPolicy::Adapt,
            cancelled_charge: CancelledCharge::WorstCase,
            recorder: None,
            from_file: None,
        }
    }
}

impl std::fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterBuilder")
            .field("accounts", &self.accounts)
            .field("models", &self.models)
            .field("policies", &self.policies)
            .field("breaker_defaults", &self.breaker_defaults)
            .field("health", &self.health)
            .field("alert_sinks", &self.alert_sinks.len())
            .field("state_store", &self.state_store.is_some())
            .field("shared_state", &self.has_shared_state())
            .field("queue_time", &self.queue_time)
            .field("cool_down", &self.cool_down)
            .field("credentials_backoff", &self.credentials_backoff)
            .field("parameter_policy", &self.parameter_policy)
            .field("recorder", &self.recorder)
            .finish()
    }
}

impl RouterBuilder {
    /// Marks the builder as made from the config file `file` describes: the router keeps
    /// its provider kinds, and what code adds beside the file's names, for reloads.
    pub(crate) fn made_from_file(mut self, file: FromFile) -> Self {
        self.from_file = Some(file);
        self
    }

    fn has_shared_state(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.shared.is_some();
        #[cfg(not(feature = "redis"))]
        false
    }

    /// An empty builder: circuit breakers on with [`BreakerConfig::default`], health
    /// tracked with [`HealthConfig::default`] (no active probes).
    pub fn new() -> Self {
        Self::default()
    }

    /// The breaker settings of every policy that does not choose its own.
    ///
    /// ```
    /// use std::time::Duration;
    /// use routewise::{BreakerConfig, Router};
    ///
    /// let builder = Router::builder()
    ///     .breaker_defaults(BreakerConfig::default().failure_threshold(3).recovery(Duration::from_secs(10)));
    /// # let _ = builder;
    /// ```
    pub fn breaker_defaults(mut self, config: BreakerConfig) -> Self {
        self.breaker_defaults = Some(config);
        self
    }

    /// Turns breakers off for every policy that does not choose its own.
    pub fn without_breakers(mut self) -> Self {
        self.breaker_defaults = None;
        self
    }

    /// Where budget alerts go (any number of sinks; each alert reaches every sink once).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use routewise::Router;
    /// use routewise::budget::TracingSink;
    ///
    /// let builder = Router::builder().alert_sink(Arc::new(TracingSink));
    /// # let _ = builder;
    /// ```
    pub fn alert_sink(mut self, sink: Arc<dyn AlertSink>) -> Self {
        self.alert_sinks.push(sink);
        self
    }

    /// Where spend is kept so it survives restarts (and, with a shared store, is shared
    /// between routers). The router syncs every budget with it after each settled
    /// request; call [`Router::sync_state`] once at start-up to restore earlier spend.
    pub fn state_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.state_store = Some(store);
        self
    }

    /// Shares every account's rate limits, budget, 429 cool-downs, breaker state and
    /// health with the other routers using the same Redis state (feature `redis`). The
    /// state also takes the place of [`state_store`](Self::state_store): the budgets sync
    /// through it. See [`shared`](crate::shared).
    ///
    /// ```no_run
    /// use routewise::Router;
    /// use routewise::shared::RedisState;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let shared = RedisState::builder("redis://127.0.0.1:6379").build()?;
    /// let builder = Router::builder().shared_state(shared);
    /// # let _ = builder;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared_state(mut self, state: crate::shared::RedisState) -> Self {
        self.shared = Some(state);
        self
    }

    /// What happens to a parameter a target's model cannot take (its
    /// [profile](crate::ModelProfile) says so), for every logical model that does not
    /// choose for itself: [`ParameterPolicy::Adapt`] (the default) changes the request
    /// for that target and records each change on the attempt; [`ParameterPolicy::Strict`]
    /// skips the target.
    ///
    /// ```
    /// use routewise::{ParameterPolicy, Router};
    ///
    /// let builder = Router::builder().parameter_policy(ParameterPolicy::Strict);
    /// # let _ = builder;
    /// ```
    pub fn parameter_policy(mut self, policy: ParameterPolicy) -> Self {
        self.parameter_policy = policy;
        self
    }

    /// How long a request may wait for rate-limit capacity when every candidate is
    /// limited, before failing with [`Error::RateLimited`](crate::Error::RateLimited)
    /// (default: no wait).
    pub fn queue_time(mut self, wait: Duration) -> Self {
        self.queue_time = wait;
        self
    }

    /// How long an account (or account × model) cools down after a provider's HTTP 429
    /// that says nothing about when to retry (default
    /// [`DEFAULT_RETRY_AFTER`](crate::limits::DEFAULT_RETRY_AFTER), 1 s). A 429 with a
    /// retry-after cools it down for that long instead. Either way, while it cools down
    /// every plan passes it over (limits configured or not), and other candidates serve.
    ///
    /// ```
    /// use std::time::Duration;
    /// use routewise::Router;
    ///
    /// let builder = Router::builder().cool_down(Duration::from_secs(5));
    /// ```
    pub fn cool_down(mut self, wait: Duration) -> Self {
        self.cool_down = wait;
        self
    }

    /// How long an account whose credentials a provider rejected (HTTP 401/403) stays out
    /// of rotation before a call probes it again, and how far refused probes push the
    /// next one back (default [`CredentialsBackoff::default`]: 5 minutes, doubling up to 1
    /// hour). A reload that changes the account's credentials puts it back at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use routewise::Router;
    /// use routewise::resilience::CredentialsBackoff;
    ///
    /// let builder = Router::builder()
    ///     .credentials_backoff(CredentialsBackoff::new(Duration::from_secs(60), Duration::from_secs(900)));
    /// ```
    pub fn credentials_backoff(mut self, backoff: CredentialsBackoff) -> Self {
        self.credentials_backoff = backoff;
        self
    }

    /// What an attempt is charged when it is cancelled after its call to the provider
    /// started (default [`CancelledCharge::WorstCase`]): it keeps its rate-limit slot
    /// either way, since the provider counted it.
    pub fn cancelled_charge(mut self, charge: CancelledCharge) -> Self {
        self.cancelled_charge = charge;
        self
    }

    /// How account health is judged, and whether accounts are probed in the background
    /// ([`HealthConfig::probe_every`]). Unhealthy accounts go last in every plan.
    pub fn health(mut self, config: HealthConfig) -> Self {
        self.health = config;
        self
    }

    /// Adds a provider account.
    pub fn account(mut self, account: ProviderAccount) -> Self {
        self.accounts.push(account);
        self
    }

    /// Adds a logical model.
    pub fn model(mut self, model: LogicalModel) -> Self {
        self.models.push(model);
        self
    }

    /// Adds a routing policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policies.push(policy);
        self
    }

    /// Records every request the router completes (see [`Recorder`]). Off by default;
    /// without a recorder the request path does not touch one. The recorder stays with
    /// the router across [`Router::reload`].
    ///
    /// ```no_run
    /// use routewise::Router;
    /// use routewise::replay::Recorder;
    ///
    /// let recorder = Recorder::builder("/var/log/app/traffic.jsonl").start()?;
    /// let builder = Router::builder().recorder(recorder);
    /// # let _ = builder;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The configuration with every account's provider replaced by `provider(account)`
    /// and everything that reaches outside the process (state store, shared state, alert
    /// sinks, recorder) left out: what a replay routes through.
    #[cfg(feature = "replay")]
    pub(crate) fn for_replay(
        mut self,
        provider: impl Fn(&str) -> Arc<dyn crate::provider::Provider>,
    ) -> Self {
        for account in &mut self.accounts {
            account.provider = provider(account.info.name());
        }
        self.state_store = None;
        #[cfg(feature = "redis")]
        {
            self.shared = None;
        }
        self.alert_sinks.clear();
        self.recorder = None;
        self
    }

    /// Checks the configuration and builds the router.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem found, each with its path: duplicate or empty
    /// names, unknown accounts or models, empty routes, models lacking a capability their
    /// policy requires, out-of-range numbers.
    pub fn build(self) -> Result<Router, ConfigError> {
        let recorder = self.recorder.clone();
        Router::from_snapshot(self.compile(None)?, recorder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Capabilities, Target};
    use crate::sim::SimProvider;
    use crate::types::SamplingParams;

    fn paths(err: &ConfigError) -> Vec<&str> {
        err.problems().iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_path() {
        let err = RouterBuilder::new()
            .account(ProviderAccount::new("sim", SimProvider::new()))
            .account(ProviderAccount::new("sim", SimProvider::new()))
            .model(LogicalModel::new("empty"))
            .model(
                LogicalModel::new("fast")
                    .defaults(SamplingParams::new().temperature(5.0))
                    .target(Target::new("simm", "m")),
            )
            .policy(Policy::new("no-route"))
            .policy(Policy::new("typo").route(["fsat"]).max_attempts(0))
            .policy(
                Policy::new("needs-vision")
                    .route(["fast"])
                    .requires(Capabilities::VISION),
            )
            .build()
            .unwrap_err();
        assert_eq!(
            paths(&err),
            [
                "accounts[\"sim\"]",
                "models[\"empty\"]",
                "models[\"fast\"].defaults.temperature",
                "models[\"fast\"].targets[0].account",
                "policies[\"no-route\"].route",
                "policies[\"typo\"].fallback.max_attempts",
                "policies[\"typo\"].route[0]",
                "policies[\"needs-vision\"].route[0]",
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("unknown account `simm`; did you mean `sim`?"),
            "{text}"
        );
        assert!(
            text.contains("unknown logical model `fsat`; did you mean `fast`?"),
            "{text}"
        );
        assert!(
            text.contains("lacks vision, which the policy requires"),
            "{text}"
        );
    }

    #[test]
    fn a_router_needs_at_least_one_policy() {
        let err = RouterBuilder::new().build().unwrap_err();
        assert_eq!(paths(&err), ["policies"]);
    }

    #[test]
    fn a_route_step_may_only_name_an_account_the_model_uses() {
        let err = RouterBuilder::new()
            .account(ProviderAccount::new("a", SimProvider::new()))
            .account(ProviderAccount::new("b", SimProvider::new()))
            .model(LogicalModel::new("m").target(Target::new("a", "x")))
            .policy(Policy::new("p").then(crate::RouteStep::target("m", "b")))
            .build()
            .unwrap_err();
        assert_eq!(err.problems()[0].path, "policies[\"p\"].route[0].account");
        assert!(
            err.problems()[0]
                .message
                .contains("has no target on account `b`")
        );
    }

    #[test]
    fn policies_are_ordered_by_priority_then_declaration() {
        let snapshot = RouterBuilder::new()
            .account(ProviderAccount::new("a", SimProvider::new()))
            .model(LogicalModel::new("m").target(Target::new("a", "x")))
            .policy(Policy::new("low").priority(1).route(["m"]))
            .policy(Policy::new("high-1").priority(5).route(["m"]))
            .policy(Policy::new("high-2").priority(5).route(["m"]))
            .compile(None)
            .unwrap();
        let order: Vec<&str> = snapshot.policies.iter().map(|p| &*p.name).collect();
        assert_eq!(order, ["high-1", "high-2", "low"]);
    }
}
