//! [`RouterBuilder`]: collects accounts, models and policies, checks them all at once, and
//! compiles them into a [`Snapshot`].

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::Router;
use super::snapshot::{
    CompiledAccount, CompiledModel, CompiledPolicy, CompiledTarget, RouteEntry, Snapshot,
};
use crate::account::ProviderAccount;
use crate::context_window::ContextWindow;
use crate::error::{ConfigError, ConfigProblem};
use crate::model::LogicalModel;
use crate::policy::Policy;
use crate::types::TargetRef;

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
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct RouterBuilder {
    accounts: Vec<ProviderAccount>,
    models: Vec<LogicalModel>,
    policies: Vec<Policy>,
}

impl RouterBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
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

    /// Checks the configuration and builds the router.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem found, each with its path: duplicate or empty
    /// names, unknown accounts or models, empty routes, models lacking a capability their
    /// policy requires, out-of-range numbers.
    pub fn build(self) -> Result<Router, ConfigError> {
        Ok(Router::from_snapshot(self.compile(None)?))
    }

    /// Checks and compiles; counters of policies and targets that exist in `previous` are
    /// carried over so stats survive a reload.
    pub(crate) fn compile(self, previous: Option<&Snapshot>) -> Result<Snapshot, ConfigError> {
        let mut problems = Problems::default();
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

        let compiled_models: Vec<CompiledModel> = self
            .models
            .iter()
            .map(|m| compile_model(m, &accounts, previous, &mut problems))
            .collect();
        let mut compiled_policies: Vec<CompiledPolicy> = self
            .policies
            .iter()
            .map(|p| compile_policy(p, &self.models, &models, &accounts, previous, &mut problems))
            .collect();

        if !problems.0.is_empty() {
            return Err(ConfigError::new(problems.0));
        }
        // Stable: equal priorities keep declaration order.
        compiled_policies.sort_by_key(|p| Reverse(p.priority));
        let model_index = compiled_models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        Ok(Snapshot {
            policies: compiled_policies,
            models: compiled_models,
            model_index,
            accounts: self
                .accounts
                .into_iter()
                .map(|a| CompiledAccount {
                    info: a.info,
                    provider: a.provider,
                })
                .collect(),
        })
    }
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn push(&mut self, path: impl Into<String>, message: String) {
        self.0.push(ConfigProblem {
            path: path.into(),
            message,
        });
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
            problems.push(
                format!("{section}[\"{name}\"]"),
                "is declared more than once".into(),
            );
        }
    }
    index
}

fn compile_model(
    model: &LogicalModel,
    accounts: &HashMap<&str, usize>,
    previous: Option<&Snapshot>,
    problems: &mut Problems,
) -> CompiledModel {
    let path = format!("models[\"{}\"]", model.name);
    let name: Arc<str> = model.name.as_str().into();
    if model.targets.is_empty() {
        problems.push(&path, "has no targets".into());
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
        let Some(&account) = accounts.get(target.account.as_str()) else {
            problems.push(
                format!("{target_path}.account"),
                unknown("account", &target.account, accounts.keys()),
            );
            continue;
        };
        let target_ref = TargetRef {
            logical_model: name.clone(),
            account: target.account.as_str().into(),
            provider_model: target.model.as_str().into(),
        };
        if target.weight == Some(0) {
            problems.push(format!("{target_path}.weight"), "must be at least 1".into());
        }
        let survivor = previous.and_then(|s| s.target(&target_ref));
        targets.push(CompiledTarget {
            account,
            capabilities: target.capabilities.unwrap_or(model.capabilities),
            tier: target.tier,
            weight: target.weight.unwrap_or(1),
            window: target
                .context_window
                .or_else(|| ContextWindow::for_model(&target.model)),
            counters: survivor.map(|t| t.counters.clone()).unwrap_or_default(),
            load: survivor.map(|t| t.load.clone()).unwrap_or_default(),
            target: target_ref,
        });
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
        targets,
    }
}

fn compile_policy(
    policy: &Policy,
    model_defs: &[LogicalModel],
    models: &HashMap<&str, usize>,
    accounts: &HashMap<&str, usize>,
    previous: Option<&Snapshot>,
    problems: &mut Problems,
) -> CompiledPolicy {
    let path = format!("policies[\"{}\"]", policy.name);
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
    let mut seen = HashSet::new();
    let mut route = Vec::with_capacity(policy.route.len());
    for (i, step) in policy.route.iter().enumerate() {
        let step_path = format!("{path}.route[{i}]");
        if !seen.insert(step) {
            problems.push(&step_path, "repeats an earlier route step".into());
        }
        let Some(&model) = models.get(step.model.as_str()) else {
            problems.push(
                step_path,
                unknown("logical model", &step.model, models.keys()),
            );
            continue;
        };
        let def = &model_defs[model];
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
                    let message = if accounts.contains_key(account.as_str()) {
                        format!(
                            "logical model `{}` has no target on account `{account}`",
                            def.name
                        )
                    } else {
                        unknown("account", account, accounts.keys())
                    };
                    problems.push(format!("{step_path}.account"), message);
                }
                position
            }
        };
        route.push(RouteEntry { model, only_target });
    }
    let counters = previous
        .and_then(|s| s.policy_counters(&policy.name))
        .cloned()
        .unwrap_or_default();
    CompiledPolicy {
        name: policy.name.as_str().into(),
        priority: policy.priority,
        matcher: policy.matcher.clone(),
        route,
        fallback: policy.fallback,
        counters,
    }
}

/// "unknown account `x`", with the closest known name when one is close.
fn unknown<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a &'a str>) -> String {
    let closest = known
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(1))
        .min();
    match closest {
        Some((_, k)) => format!("unknown {what} `{name}`; did you mean `{k}`?"),
        None => format!("unknown {what} `{name}`"),
    }
}

/// Edits (insert, delete, substitute, swap two neighbours) between two names.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
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

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("gpt5-mini", "gpt-5-mini"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("fsat", "fast"), 1);
    }
}
