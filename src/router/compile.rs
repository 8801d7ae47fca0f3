//! Compiling a [`RouterBuilder`] into a [`Snapshot`]: every name resolved to an index,
//! every problem collected into one [`ConfigError`], live state (counters, loads,
//! breakers, health) carried over from the previous snapshot on reload.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::RouterBuilder;
use super::code_added::CodeAdded;
use super::matching::PolicyIndex;
use super::snapshot::{
    CompiledAccount, CompiledModel, CompiledPolicy, CompiledTarget, RouteEntry, Snapshot,
};
use super::telemetry::{PolicyTelemetry, kind_name};
use std::time::SystemTime;

use crate::account::ProviderAccount;
use crate::budget::{Budget, BudgetLedger};
use crate::error::{ConfigError, ConfigProblem};
use crate::limits::{Limiter, RateLimits};
use crate::model::{LogicalModel, Target};
use crate::policy::{BreakerChoice, Policy};
use crate::provider::ErrorKind;
use crate::provider::profile::{ModelProfile, ParameterPolicy};
use crate::resilience::{
    BreakerConfig, CircuitBreaker, Credentials, CredentialsBackoff, HealthConfig, HealthTracker,
    ResilienceConfigError,
};
use crate::suggest::unknown;
use crate::types::TargetRef;

impl RouterBuilder {
    /// Checks and compiles. State of policies, targets and accounts that exist in
    /// `previous` under the same names is carried over, so stats, loads, breakers and
    /// health survive a reload.
    pub(crate) fn compile(self, previous: Option<&Snapshot>) -> Result<Snapshot, ConfigError> {
        self.compile_with_paths(previous, PathStyle::Names)
    }

    /// [`compile`](Self::compile), naming problem paths in `style`.
    pub(crate) fn compile_with_paths(
        self,
        previous: Option<&Snapshot>,
        style: PathStyle,
    ) -> Result<Snapshot, ConfigError> {
        let mut problems = Problems {
            list: Vec::new(),
            style,
        };
        let code_added = CodeAdded::of(&self);
        let provider_kinds = match (&self.from_file, previous) {
            (Some(file), _) => file.provider_kinds.clone(),
            (None, Some(previous)) => previous.provider_kinds.clone(),
            (None, None) => Default::default(),
        };
        let accounts = index_names(
            self.accounts.iter().map(|a| a.name()),
            "accounts",
            &mut problems,
        );
        let models = index_names(
            self.models.iter().map(|m| m.name.as_str()),
            "models",
            &mut problems,
        );
        index_names(
            self.policies.iter().map(|p| p.name.as_str()),
            "policies",
            &mut problems,
        );
        if self.policies.is_empty() {
            problems.push("policies", "at least one policy is required".into());
        }
        problems.resilience("health", self.health.validate());
        problems.resilience("credentials_backoff", self.credentials_backoff.validate());
        if let Some(defaults) = &self.breaker_defaults {
            problems.resilience("breaker_defaults", defaults.validate());
        }

        for (i, account) in self.accounts.iter().enumerate() {
            let path = problems.item("accounts", i, account.name());
            if let Some(Err(error)) = account.limits.as_ref().map(RateLimits::validate) {
                problems.push(format!("{path}.limits"), error.to_string());
            }
            if let Some(Err(error)) = account.budget.as_ref().map(Budget::validate) {
                problems.push(format!("{path}.budget"), error.to_string());
            }
        }

        let mut next_id = 0;
        let compiled_models: Vec<CompiledModel> = self
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let cx = ModelContext {
                    path: problems.item("models", i, &m.name),
                    accounts: &accounts,
                    account_defs: &self.accounts,
                    previous,
                    parameter_policy: self.parameter_policy,
                };
                compile_model(m, &cx, &mut next_id, &mut problems)
            })
            .collect();
        let context = PolicyContext {
            model_defs: &self.models,
            models: &models,
            accounts: &accounts,
            compiled_models: &compiled_models,
            targets: next_id,
            breaker_defaults: self.breaker_defaults.as_ref(),
            previous,
        };
        let mut compiled_policies: Vec<CompiledPolicy> = self
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let path = problems.item("policies", i, &p.name);
                compile_policy(p, &path, &context, &mut problems)
            })
            .collect();

        if !problems.list.is_empty() {
            return Err(ConfigError::new(problems.list));
        }
        // Stable: equal priorities keep declaration order.
        compiled_policies.sort_by_key(|p| Reverse(p.priority));
        let model_index = compiled_models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        let health = self.health;
        let credentials_backoff = self.credentials_backoff;
        #[cfg(feature = "redis")]
        let shared = self.shared;
        #[cfg(feature = "redis")]
        let state_store = match &shared {
            Some(state) => Some(Arc::new(state.clone()) as Arc<dyn crate::state::StateStore>),
            None => self.state_store,
        };
        #[cfg(not(feature = "redis"))]
        let state_store = self.state_store;
        let mut snapshot = Snapshot {
            policy_index: PolicyIndex::new(compiled_policies.iter().map(|p| &p.matcher)),
            policies: compiled_policies,
            models: compiled_models,
            model_index,
            accounts: self
                .accounts
                .into_iter()
                .map(|a| {
                    let compiled = compile_account(a, &health, credentials_backoff, previous);
                    #[cfg(feature = "redis")]
                    let compiled = share_account(compiled, shared.as_ref());
                    compiled
                })
                .collect(),
            alert_sinks: self.alert_sinks.into(),
            state_store,
            state_source: None,
            provider_kinds,
            code_added,
            queue_time: self.queue_time,
            cool_down: self.cool_down,
            cancelled_charge: self.cancelled_charge,
        };
        super::plan::mark_lazy(&mut snapshot);
        Ok(snapshot)
    }
}

/// How problem paths name an account, model or policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathStyle {
    /// By name, `policies["chat"]`: what a builder's user knows.
    Names,
    /// By position, `policies[2]`: what a config file's reader can find.
    Indices,
}

struct Problems {
    list: Vec<ConfigProblem>,
    style: PathStyle,
}

impl Problems {
    fn push(&mut self, path: impl Into<String>, message: String) {
        self.list.push(ConfigProblem {
            path: path.into(),
            message,
            location: None,
        });
    }

    /// The path of item `index`, named `name`, of `section`.
    fn item(&self, section: &str, index: usize, name: &str) -> String {
        match self.style {
            PathStyle::Names => format!("{section}[\"{name}\"]"),
            PathStyle::Indices => format!("{section}[{index}]"),
        }
    }

    fn resilience(&mut self, path: &str, checked: Result<(), ResilienceConfigError>) {
        if let Err(error) = checked {
            self.push(
                format!("{path}.{}", error.field()),
                error.problem().to_owned(),
            );
        }
    }
}

/// Maps names to their positions, reporting empty and duplicate names.
fn index_names<'a>(
    names: impl Iterator<Item = &'a str>,
    section: &str,
    problems: &mut Problems,
) -> HashMap<&'a str, usize> {
    let mut index = HashMap::new();
    for (i, name) in names.enumerate() {
        if name.trim().is_empty() {
            problems.push(format!("{section}[{i}]"), "name must not be empty".into());
        } else if index.insert(name, i).is_some() {
            let path = problems.item(section, i, name);
            problems.push(path, "is declared more than once".into());
        }
    }
    index
}

/// Compiles one (validated) account, keeping the previous snapshot's health tracker,
/// limiter and ledger when their settings did not change.
fn compile_account(
    account: ProviderAccount,
    health: &HealthConfig,
    credentials_backoff: CredentialsBackoff,
    previous: Option<&Snapshot>,
) -> CompiledAccount {
    let name = account.info.name().to_owned();
    let server = super::server::server_of(&account);
    let survivor = previous.and_then(|s| s.account(&name));
    let tracker = survivor
        .filter(|a| a.health.config() == health)
        .map(|a| a.health.clone())
        .unwrap_or_else(|| {
            let tracker = HealthTracker::new(name.as_str(), health.clone());
            Arc::new(tracker.expect("health settings were validated"))
        });
    let limiter = account.limits.map(|limits| {
        survivor
            .and_then(|a| a.limiter.clone())
            .filter(|l| l.limits() == &limits)
            .unwrap_or_else(|| Limiter::new(limits).expect("limits were validated"))
    });
    let budget = account.budget.map(|budget| {
        let kept = survivor
            .and_then(|a| a.budget.as_ref())
            .filter(|(old, _)| old == &budget)
            .map(|(_, ledger)| ledger.clone());
        let ledger = kept.unwrap_or_else(|| {
            BudgetLedger::new(name.as_str(), budget.clone(), SystemTime::now())
                .expect("budget was validated")
        });
        (budget, ledger)
    });
    let cool_downs = survivor.map_or_else(Default::default, |a| a.cool_downs.clone());
    let fingerprint = account.info.credentials_fingerprint();
    let credentials = survivor
        .filter(|a| a.credentials_fingerprint == fingerprint)
        .map(|a| a.credentials.clone())
        .filter(|c| c.backoff() == credentials_backoff)
        .unwrap_or_else(|| Arc::new(Credentials::new(credentials_backoff)));
    CompiledAccount {
        server,
        info: account.info,
        per_model_limits: account.provider.rate_limits_per_model(),
        provider: account.provider,
        health: tracker,
        limiter,
        cool_downs,
        credentials,
        credentials_fingerprint: fingerprint,
        budget,
        #[cfg(feature = "redis")]
        shared: None,
    }
}

/// Connects an account to the fleet's shared state, when the router has one.
#[cfg(feature = "redis")]
fn share_account(
    mut account: CompiledAccount,
    shared: Option<&crate::shared::RedisState>,
) -> CompiledAccount {
    account.shared = shared.map(|state| {
        Arc::new(super::shared::SharedAccount::new(
            state,
            account.info.name(),
            account.limiter.as_ref().map(|l| l.limits()),
            account.budget.as_ref().map(|(budget, _)| budget),
        ))
    });
    account
}

/// What compiling a model needs to know about accounts.
struct ModelContext<'a> {
    /// Where the model is, such as `models["fast"]`.
    path: String,
    accounts: &'a HashMap<&'a str, usize>,
    account_defs: &'a [ProviderAccount],
    previous: Option<&'a Snapshot>,
    /// The router-wide parameter policy.
    parameter_policy: ParameterPolicy,
}

fn compile_model(
    model: &LogicalModel,
    cx: &ModelContext<'_>,
    next_id: &mut usize,
    problems: &mut Problems,
) -> CompiledModel {
    let (accounts, previous, path) = (cx.accounts, cx.previous, &cx.path);
    let name: Arc<str> = model.name.as_str().into();
    if model.targets.is_empty() {
        problems.push(path, "has no targets".into());
    }
    for (field, message) in model.defaults.problems() {
        problems.push(format!("{path}.defaults.{field}"), message);
    }
    let mut seen = HashSet::new();
    let mut targets = Vec::with_capacity(model.targets.len());
    for (i, target) in model.targets.iter().enumerate() {
        let target_path = format!("{path}.targets[{i}]");
        if target.model.trim().is_empty() {
            problems.push(format!("{target_path}.model"), "must not be empty".into());
        }
        if !seen.insert((&target.account, &target.model)) {
            problems.push(
                &target_path,
                format!(
                    "repeats account `{}` with model `{}`",
                    target.account, target.model
                ),
            );
        }
        if target.weight == Some(0) {
            problems.push(format!("{target_path}.weight"), "must be at least 1".into());
        }
        let Some(&account) = accounts.get(target.account.as_str()) else {
            problems.push(
                format!("{target_path}.account"),
                unknown("account", &target.account, accounts.keys().copied()),
            );
            continue;
        };
        let target_ref = TargetRef {
            logical_model: name.clone(),
            account: target.account.as_str().into(),
            provider_model: target.model.as_str().into(),
        };
        let survivor = previous.and_then(|s| s.target(&target_ref));
        let account_def = &cx.account_defs[account];
        let profile = target_profile(account_def, target);
        let price = target
            .price
            .or_else(|| {
                let pricing = account_def.pricing.as_ref()?;
                pricing.get(&target.model).ok()
            })
            .or(profile.price);
        if price.is_none() && account_def.budget.is_some() {
            problems.push(
                format!("{target_path}.price"),
                format!(
                    "no price known for model `{}`, and account `{}` has a budget: set Target::price or the account's pricing",
                    target.model, target.account
                ),
            );
        }
        if let Some(config) = &target.breaker {
            problems.resilience(&format!("{target_path}.breaker"), config.validate());
        }
        targets.push(CompiledTarget {
            price,
            breaker: target.breaker.clone(),
            id: *next_id,
            account,
            capabilities: target.capabilities.unwrap_or(model.capabilities),
            tier: target.tier,
            weight: target.weight.unwrap_or(1),
            window: target.context_window.or(profile.window),
            profile,
            counters: survivor.map(|t| t.counters.clone()).unwrap_or_default(),
            load: survivor.map(|t| t.load.clone()).unwrap_or_default(),
            target: target_ref,
        });
        *next_id += 1;
    }
    let mut tier_numbers: Vec<u32> = targets.iter().map(|t| t.tier).collect();
    tier_numbers.sort_unstable();
    tier_numbers.dedup();
    let tiers: Vec<Vec<usize>> = tier_numbers
        .iter()
        .map(|tier| {
            (0..targets.len())
                .filter(|&i| targets[i].tier == *tier)
                .collect()
        })
        .collect();
    CompiledModel {
        name,
        capabilities: model.capabilities,
        defaults: model.defaults.clone(),
        cursors: tiers.iter().map(|_| AtomicUsize::new(0)).collect(),
        tiers,
        balance: model.balance,
        parameter_policy: model.parameter_policy.unwrap_or(cx.parameter_policy),
        targets,
    }
}

/// The profile of a target's model in its account's table, under the target's own rules,
/// with the parameters the account's backend refuses for every model added.
fn target_profile(account: &ProviderAccount, target: &Target) -> Arc<ModelProfile> {
    let profile = account.profiles.lookup(&target.model).unwrap_or_default();
    let mut profile = match &target.profile {
        Some(rules) => Arc::new((*profile).clone().with_rules(rules)),
        None => profile,
    };
    let refused = account.provider.refused_parameters();
    if refused.iter().any(|p| !profile.refuses(p)) {
        let owned = Arc::make_mut(&mut profile);
        for parameter in refused {
            if !owned.refuses(parameter) {
                owned.unsupported.push((*parameter).to_owned());
            }
        }
    }
    profile
}

/// What compiling a policy needs to know about the rest of the configuration.
struct PolicyContext<'a> {
    model_defs: &'a [LogicalModel],
    models: &'a HashMap<&'a str, usize>,
    accounts: &'a HashMap<&'a str, usize>,
    compiled_models: &'a [CompiledModel],
    /// Targets of all models.
    targets: usize,
    breaker_defaults: Option<&'a BreakerConfig>,
    previous: Option<&'a Snapshot>,
}

fn compile_policy(
    policy: &Policy,
    path: &str,
    cx: &PolicyContext<'_>,
    problems: &mut Problems,
) -> CompiledPolicy {
    if policy.route.is_empty() {
        problems.push(
            format!("{path}.route"),
            "must name at least one logical model".into(),
        );
    }
    if policy.fallback.max_attempts == Some(0) {
        problems.push(
            format!("{path}.fallback.max_attempts"),
            "must be at least 1".into(),
        );
    }
    problems.resilience(&format!("{path}.retry"), policy.retry.validate());
    for (kind, _) in &policy.retries_by_kind {
        if !retryable(*kind) {
            problems.push(
                format!("{path}.retry_on.{}", kind_name(*kind)),
                format!("{kind} is never retried on the same target"),
            );
        }
    }
    problems.resilience(&format!("{path}.timeouts"), policy.timeouts.validate());
    problems.resilience(&format!("{path}.hedge"), policy.hedge.validate());
    let breaker = match &policy.breaker {
        BreakerChoice::RouterDefault => cx.breaker_defaults,
        BreakerChoice::Disabled => None,
        BreakerChoice::Custom(config) => {
            problems.resilience(&format!("{path}.breaker"), config.validate());
            Some(config)
        }
    };

    let route = compile_route(policy, cx, path, problems);
    let larger_context = compile_larger_context(policy, &route, cx, path, problems);
    let survivor = cx.previous.and_then(|s| s.policy(&policy.name));
    let mut breakers = Vec::new();
    if let Some(policy_config) = breaker.filter(|c| c.validate().is_ok()) {
        for entry in route.iter().chain(&larger_context) {
            let model = &cx.compiled_models[entry.model];
            for (t, target) in model.targets.iter().enumerate() {
                if entry.only_target.is_some_and(|only| only != t) {
                    continue;
                }
                // A target's own settings win over the policy's.
                let config = match &target.breaker {
                    Some(own) if own.validate().is_ok() => own,
                    Some(_) => continue,
                    None => policy_config,
                };
                let kept = survivor
                    .and_then(|p| {
                        cx.previous?
                            .target(&target.target)
                            .and_then(|old| p.breaker(old))
                    })
                    .filter(|b| b.config() == config)
                    .cloned();
                let breaker = kept.unwrap_or_else(|| {
                    let name = format!("{}/{}", policy.name, target.target);
                    Arc::new(
                        CircuitBreaker::new(name, config.clone())
                            .expect("breaker settings were validated"),
                    )
                });
                breakers.push((target.id, breaker));
            }
        }
    }
    let name: Arc<str> = policy.name.as_str().into();
    CompiledPolicy {
        telemetry: Arc::new(PolicyTelemetry::new(name.clone(), cx.targets)),
        name,
        priority: policy.priority,
        matcher: policy.matcher.clone(),
        route,
        fallback: policy.fallback,
        retry: policy.retry,
        retries_by_kind: policy.retries_by_kind.clone(),
        timeouts: policy.timeouts,
        cheapest_first: policy.cheapest_first,
        hedge: policy.hedge,
        plans_lazily: false,
        larger_context,
        stream_recovery: policy.stream_recovery,
        breakers: {
            // One breaker per target, found by binary search: a target routed twice
            // (a model and one of its targets) keeps its first.
            breakers.sort_by_key(|(id, _)| *id);
            breakers.dedup_by_key(|(id, _)| *id);
            breakers.into()
        },
        counters: survivor.map(|p| p.counters.clone()).unwrap_or_default(),
    }
}

fn compile_route(
    policy: &Policy,
    cx: &PolicyContext<'_>,
    path: &str,
    problems: &mut Problems,
) -> Vec<RouteEntry> {
    let mut seen = HashSet::new();
    let mut route = Vec::with_capacity(policy.route.len());
    for (i, step) in policy.route.iter().enumerate() {
        let step_path = format!("{path}.route[{i}]");
        if !seen.insert(step) {
            problems.push(&step_path, "repeats an earlier route step".into());
        }
        let Some(&model) = cx.models.get(step.model.as_str()) else {
            problems.push(
                step_path,
                unknown("logical model", &step.model, cx.models.keys().copied()),
            );
            continue;
        };
        let def = &cx.model_defs[model];
        let missing = def.capabilities.missing(policy.requires);
        if !missing.is_empty() {
            problems.push(
                &step_path,
                format!(
                    "logical model `{}` lacks {missing}, which the policy requires",
                    def.name
                ),
            );
        }
        let only_target = match &step.account {
            None => None,
            Some(account) => {
                let position = def.targets.iter().position(|t| &t.account == account);
                if position.is_none() {
                    let message = if cx.accounts.contains_key(account.as_str()) {
                        format!(
                            "logical model `{}` has no target on account `{account}`",
                            def.name
                        )
                    } else {
                        unknown("account", account, cx.accounts.keys().copied())
                    };
                    problems.push(format!("{step_path}.account"), message);
                }
                position
            }
        };
        route.push(RouteEntry { model, only_target });
    }
    route
}

/// Resolves a policy's larger-context models: known, each once, off the route, and with
/// the capabilities the policy requires.
fn compile_larger_context(
    policy: &Policy,
    route: &[RouteEntry],
    cx: &PolicyContext<'_>,
    path: &str,
    problems: &mut Problems,
) -> Vec<RouteEntry> {
    let mut entries: Vec<RouteEntry> = Vec::with_capacity(policy.larger_context.len());
    for (i, name) in policy.larger_context.iter().enumerate() {
        let step_path = format!("{path}.larger_context[{i}]");
        let Some(&model) = cx.models.get(name.as_str()) else {
            problems.push(
                step_path,
                unknown("logical model", name, cx.models.keys().copied()),
            );
            continue;
        };
        if route.iter().any(|e| e.model == model) {
            problems.push(
                step_path,
                format!("logical model `{name}` is already on the route"),
            );
            continue;
        }
        if entries.iter().any(|e| e.model == model) {
            problems.push(step_path, format!("repeats logical model `{name}`"));
            continue;
        }
        let missing = cx.model_defs[model].capabilities.missing(policy.requires);
        if !missing.is_empty() {
            problems.push(
                step_path,
                format!("logical model `{name}` lacks {missing}, which the policy requires"),
            );
        }
        entries.push(RouteEntry {
            model,
            only_target: None,
        });
    }
    entries
}

/// Whether a failure of `kind` may be retried on the same target at all.
pub(super) fn retryable(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::InvalidRequest
            | ErrorKind::Auth
            | ErrorKind::NotFound
            | ErrorKind::ContextLengthExceeded
    )
}
