//! [`RouterConfig`]: a router's whole configuration as data, and turning it into a
//! router.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::account::AccountConfig;
use super::alerts::AlertSinkConfig;
use super::duration;
use super::kinds::ProviderKinds;
use super::model::ModelConfig;
use super::policy::PolicyConfig;
use super::problems::Problems;
use super::resilience::{BreakerSettings, HealthSettings};
use super::shared::SharedStateConfig;
use super::state::StateStoreConfig;
use crate::error::{ConfigError, ConfigProblem};
use crate::provider::profile::ParameterPolicy;
use crate::router::{FromFile, PathStyle, Router, RouterBuilder, Snapshot};

/// Everything a [`RouterBuilder`] can express, as data read from a TOML, YAML or JSON file
/// (or nested in your own serde configuration).
///
/// Load one with [`from_path`](Self::from_path) or
/// [`from_str_format`](Self::from_str_format), then build with
/// [`Router::from_config`]; [`Router::watch_config`] reloads it when the file changes.
/// Problems are reported all at once, each under its path in the document
/// (`policies[2].route[0]`), with the line and column where the format tells them.
/// Unknown keys are errors. Secrets are never written in the file: values such as
/// `api_key = "${OPENAI_API_KEY}"` are read from the environment when the router is built
/// (see [`SecretValue`](super::SecretValue)).
///
/// It is also `Serialize`, for configurations generated in code: what it writes (in any
/// of the formats) reads back equal, with secrets as their `${NAME}` references.
///
/// ```
/// # #[cfg(feature = "json")] {
/// use routewise::config::{
///     AccountConfig, Format, ModelConfig, PolicyConfig, ProviderConfig, RouterConfig,
///     SecretValue, SimSettings, TargetConfig,
/// };
/// use routewise::RouteStep;
///
/// let mut account = AccountConfig::new("main", ProviderConfig::Sim(SimSettings::default()));
/// account.api_key = Some(SecretValue::env("MAIN_KEY"));
/// let mut model = ModelConfig::new("m");
/// model.targets.push(TargetConfig::new("main", "sim-large"));
/// let mut policy = PolicyConfig::new("default");
/// policy.route = vec![RouteStep::model("m")];
/// let mut config = RouterConfig::default();
/// config.accounts.push(account);
/// config.models.push(model);
/// config.policies.push(policy);
///
/// let text = serde_json::to_string(&config)?;
/// assert!(text.contains(r#""api_key":"${MAIN_KEY}""#));
/// assert_eq!(RouterConfig::from_str_format(&text, Format::Json)?, config);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// ```
/// # #[cfg(feature = "toml")] {
/// use routewise::config::{Format, RouterConfig};
/// use routewise::{ChatRequest, Purpose, Router, StepType};
///
/// let config = RouterConfig::from_str_format(r#"
///     queue_time = "1s"
///     breaker_defaults = { failure_threshold = 3, recovery = "10s" }
///
///     [[accounts]]
///     name = "sim"
///     provider = { kind = "sim", reply = "hello" }
///     limits = { rpm = 600 }
///     budget = { monthly_usd = 100.0, thresholds = [80, 100] }
///     pricing = { "sim-large" = { input = 1.0, output = 4.0 } }
///
///     [[models]]
///     name = "primary-llm"
///     targets = [{ account = "sim", model = "sim-large" }]
///
///     [[policies]]
///     name = "default"
///     route = ["primary-llm"]
///     retry = { max_retries = 2, base_delay = "100ms" }
///     timeouts = { request = "30s" }
/// "#, Format::Toml)?;
/// let router = Router::from_config(&config)?;
/// let plan = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
/// assert_eq!(plan.candidates[0].to_string(), "primary-llm/sim/sim-large");
/// let budget = router.accounts()[0].budget.clone().unwrap();
/// assert_eq!(budget.limit.dollars(), 100.0);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct RouterConfig {
    /// The JSON Schema the file follows, for editors (`"$schema"`); not used otherwise.
    #[serde(default, rename = "$schema")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_ref: Option<String>,
    /// Provider accounts: backends, credentials and endpoints.
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    /// Logical models and their targets.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    /// Routing policies, evaluated from highest priority to lowest.
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
    /// The circuit breaker settings of every policy that does not choose its own
    /// (default: [`BreakerConfig::default`](crate::BreakerConfig::default)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_defaults: Option<BreakerSettings>,
    /// `false` turns breakers off for every policy that does not choose its own.
    #[serde(default = "yes")]
    pub breakers: bool,
    /// How account health is judged, and whether accounts are probed.
    #[serde(default)]
    pub health: HealthSettings,
    /// How long a request may wait for rate-limit capacity when every candidate is
    /// limited (default: no wait).
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub queue_time: Option<Duration>,
    /// What happens to a parameter a target's model cannot take: `adapt` (default: drop,
    /// rename or convert it, recorded on the attempt) or `strict` (skip the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_policy: Option<ParameterPolicy>,
    /// Where budget spend is kept (default: only in the router's memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_store: Option<StateStoreConfig>,
    /// Limits, spend and breakers shared with other instances through Redis; takes the
    /// place of `state_store`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<SharedStateConfig>,
    /// Where budget alerts go.
    #[serde(default)]
    pub alerts: Vec<AlertSinkConfig>,
    /// The text the config was read from, to find the line of a problem found later.
    #[serde(skip)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<Arc<Origin>>,
    /// Provider kinds registered in code, for accounts whose `kind` is not built in.
    #[serde(skip)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub(crate) provider_kinds: ProviderKinds,
}

fn yes() -> bool {
    true
}

impl Default for RouterConfig {
    /// An empty config: no accounts, models or policies; breakers on.
    fn default() -> Self {
        Self {
            schema_ref: None,
            accounts: Vec::new(),
            models: Vec::new(),
            policies: Vec::new(),
            breaker_defaults: None,
            breakers: true,
            health: HealthSettings::default(),
            queue_time: None,
            parameter_policy: None,
            state_store: None,
            shared_state: None,
            alerts: Vec::new(),
            origin: None,
            provider_kinds: ProviderKinds::default(),
        }
    }
}

/// Where a config was read from.
pub(crate) struct Origin {
    pub(crate) file: Option<Arc<str>>,
    /// The text of a TOML file, whose values keep their positions.
    #[cfg(feature = "toml")]
    pub(crate) toml: Option<String>,
}

impl RouterConfig {
    /// This configuration, with `kinds` to build the accounts whose provider `kind` is not
    /// built in. A router built from it keeps the kinds: later configs given to
    /// [`Router::reload_config`] or read by [`Router::watch_config`] may use them without
    /// registering them again.
    ///
    /// See [`ProviderKinds`] for an example.
    pub fn with_provider_kinds(mut self, kinds: ProviderKinds) -> Self {
        self.provider_kinds = kinds;
        self
    }

    /// A builder holding this configuration, with secrets read from the process
    /// environment. Add what a file cannot express (your own [`Provider`](crate::Provider)
    /// accounts, say) before building: the router keeps the accounts, models and policies
    /// added this way across [`Router::reload_config`] and [`Router::watch_config`], unless
    /// a later file declares one of the same name (the file's then replaces it).
    ///
    /// # Errors
    ///
    /// Every missing environment variable, secret written into the file, out-of-range
    /// provider, limit, budget or price setting, bad webhook URL, and a state store that
    /// cannot be opened (a file store also needs a Tokio runtime). Problems between
    /// sections (an unknown account, say) and resilience settings out of range are found
    /// by [`RouterBuilder::build`], under name-based paths; [`Router::from_config`]
    /// reports everything at once, under document paths.
    pub fn to_builder(&self) -> Result<RouterBuilder, ConfigError> {
        self.to_builder_with_env(&process_env)
    }

    /// [`to_builder`](Self::to_builder), reading variables through `env` instead of the
    /// process environment (for a secret store, or tests).
    ///
    /// ```
    /// # #[cfg(feature = "toml")] {
    /// use routewise::config::{Format, RouterConfig};
    ///
    /// let config = RouterConfig::from_str_format(r#"
    ///     [[accounts]]
    ///     name = "main"
    ///     provider = { kind = "sim" }
    ///     api_key = "${MAIN_KEY}"
    /// "#, Format::Toml)?;
    /// let err = config.to_builder_with_env(&|_| None).unwrap_err();
    /// assert_eq!(
    ///     err.problems()[0].to_string(),
    ///     "accounts[0].api_key: environment variable `MAIN_KEY` is not set (line 5, column 15)"
    /// );
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`to_builder`](Self::to_builder).
    pub fn to_builder_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RouterBuilder, ConfigError> {
        let mut problems = Problems::default();
        let builder = self.builder(None, &self.provider_kinds, env, &mut problems);
        if problems.is_empty() {
            Ok(builder)
        } else {
            Err(self.error(problems.into_vec()))
        }
    }

    /// The builder, with every problem the builder cannot see reported into `problems`.
    /// A state store the same as `previous`'s is kept rather than opened again, and so is
    /// what code added beside `previous`'s file.
    fn builder(
        &self,
        previous: Option<&Snapshot>,
        kinds: &ProviderKinds,
        env: &dyn Fn(&str) -> Option<String>,
        problems: &mut Problems,
    ) -> RouterBuilder {
        let mut builder = self.router_settings(RouterBuilder::new(), problems);
        for (i, account) in self.accounts.iter().enumerate() {
            let at = format!("accounts[{i}]");
            builder = builder.account(account.to_account(&at, env, kinds, problems));
        }
        for (i, model) in self.models.iter().enumerate() {
            builder = builder.model(model.to_model(&format!("models[{i}]"), problems));
        }
        for (i, policy) in self.policies.iter().enumerate() {
            builder = builder.policy(policy.to_policy(&format!("policies[{i}]"), problems));
        }
        if let Some(store) = self
            .state_store
            .as_ref()
            .and_then(|store| store.open(previous, problems))
        {
            builder = builder.state_store(store);
        }
        if let Some(shared) = &self.shared_state {
            if self.state_store.is_some() {
                problems.push(
                    "shared_state",
                    "takes the place of `state_store` (budgets sync through Redis); remove one of them",
                );
            }
            builder = shared.apply(builder, env, problems);
        }
        for (i, sink) in self.alerts.iter().enumerate() {
            if let Some(sink) = sink.build(&format!("alerts[{i}]"), env, problems) {
                builder = builder.alert_sink(sink);
            }
        }
        let file = FromFile {
            accounts: self.accounts.iter().map(|a| a.name.clone()).collect(),
            models: self.models.iter().map(|m| m.name.clone()).collect(),
            policies: self.policies.iter().map(|p| p.name.clone()).collect(),
            provider_kinds: kinds.clone(),
        };
        if let Some(previous) = previous {
            builder = previous.code_added.add_to(builder, &file);
        }
        builder.made_from_file(file)
    }

    /// Breakers, health and queueing: the settings of the router as a whole.
    fn router_settings(
        &self,
        mut builder: RouterBuilder,
        problems: &mut Problems,
    ) -> RouterBuilder {
        match (self.breakers, &self.breaker_defaults) {
            (false, Some(_)) => problems.push(
                "breakers",
                "is false, so `breaker_defaults` would never apply; remove one of them",
            ),
            (false, None) => builder = builder.without_breakers(),
            (true, Some(settings)) => builder = builder.breaker_defaults(settings.to_config()),
            (true, None) => {}
        }
        builder = builder.health(self.health.to_config());
        if let Some(policy) = self.parameter_policy {
            builder = builder.parameter_policy(policy);
        }
        if let Some(wait) = self.queue_time {
            builder = builder.queue_time(wait);
        }
        builder
    }

    /// Checks everything and compiles, carrying over the counters of `previous`. Accounts
    /// of kinds that are not built in are built by this config's registered kinds, else by
    /// those the running router keeps.
    pub(crate) fn compile(
        &self,
        previous: Option<&Snapshot>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Snapshot, ConfigError> {
        let kinds = match previous {
            Some(previous) if self.provider_kinds.is_empty() => &previous.provider_kinds,
            _ => &self.provider_kinds,
        };
        let mut problems = Problems::default();
        let compiled = self
            .builder(previous, kinds, env, &mut problems)
            .compile_with_paths(previous, PathStyle::Indices);
        let mut problems = problems.into_vec();
        match compiled {
            Ok(mut snapshot) if problems.is_empty() => {
                snapshot.provider_kinds = kinds.clone();
                snapshot.state_source = self.state_store.as_ref().map(ToString::to_string);
                return Ok(snapshot);
            }
            Ok(_) => {}
            Err(error) => problems.extend_from_slice(error.problems()),
        }
        Err(self.error(problems))
    }

    /// The error for `problems`, each located in the file the config came from.
    pub(crate) fn error(&self, problems: Vec<ConfigProblem>) -> ConfigError {
        let Some(origin) = &self.origin else {
            return ConfigError::new(problems);
        };
        #[cfg(feature = "toml")]
        let problems = match &origin.toml {
            Some(text) => super::locate::locate_all(text, problems),
            None => problems,
        };
        let error = ConfigError::new(problems);
        match &origin.file {
            Some(file) => error.in_file(file.clone()),
            None => error,
        }
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Router {
    /// Builds a router from a [`RouterConfig`], reading secrets from the environment.
    ///
    /// ```
    /// # #[cfg(feature = "json")] {
    /// use routewise::config::{Format, RouterConfig};
    /// use routewise::Router;
    ///
    /// let config = RouterConfig::from_str_format(
    ///     r#"{ "policies": [{ "name": "chat", "route": ["gpt5-mini"] }] }"#,
    ///     Format::Json,
    /// )?;
    /// let err = Router::from_config(&config).unwrap_err();
    /// assert_eq!(
    ///     err.problems()[0].to_string(),
    ///     "policies[0].route[0]: unknown logical model `gpt5-mini`"
    /// );
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem, each under its path in the document (and
    /// with its line and column, for a TOML file).
    pub fn from_config(config: &RouterConfig) -> Result<Router, ConfigError> {
        Self::from_config_with_env(config, &process_env)
    }

    /// [`from_config`](Self::from_config), reading variables through `env` instead of the
    /// process environment (for a secret store, or tests).
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub fn from_config_with_env(
        config: &RouterConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Router, ConfigError> {
        Router::from_snapshot(config.compile(None, env)?, None)
            .map_err(|error| config.error(error.problems().to_vec()))
    }

    /// Replaces the whole configuration atomically with `config`, as
    /// [`reload`](Self::reload) does: requests in flight finish on the old one, and
    /// counters of policies and targets whose names survive are kept. Accounts, models
    /// and policies your code added to the builder of
    /// [`RouterConfig::to_builder`] stay, unless `config` declares one of the same name.
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config); the running configuration is then left
    /// untouched.
    pub fn reload_config(&self, config: &RouterConfig) -> Result<(), ConfigError> {
        self.swap(|previous| config.compile(Some(previous), &process_env))
            .map_err(|error| config.error(error.problems().to_vec()))
    }
}

impl PartialEq for RouterConfig {
    /// Configs are equal when they say the same, whichever file they came from.
    fn eq(&self, other: &Self) -> bool {
        self.schema_ref == other.schema_ref
            && self.accounts == other.accounts
            && self.models == other.models
            && self.policies == other.policies
            && self.breaker_defaults == other.breaker_defaults
            && self.breakers == other.breakers
            && self.health == other.health
            && self.queue_time == other.queue_time
            && self.parameter_policy == other.parameter_policy
            && self.state_store == other.state_store
            && self.shared_state == other.shared_state
            && self.alerts == other.alerts
    }
}

impl fmt::Debug for RouterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterConfig")
            .field(
                "file",
                &self.origin.as_ref().and_then(|o| o.file.as_deref()),
            )
            .field("accounts", &self.accounts)
            .field("models", &self.models)
            .field("policies", &self.policies)
            .field("breaker_defaults", &self.breaker_defaults)
            .field("breakers", &self.breakers)
            .field("shared_state", &self.shared_state)
            .field("health", &self.health)
            .field("queue_time", &self.queue_time)
            .field("parameter_policy", &self.parameter_policy)
            .field("state_store", &self.state_store)
            .field("alerts", &self.alerts)
            .finish()
    }
}
