//! What a router is configured with, as data: its logical models and its policies
//! ([`Router::models`], [`Router::policies`]).

use std::sync::Arc;

use serde::Serialize;

use super::Router;
use crate::model::Capabilities;
use crate::policy::Match;
use crate::types::TargetRef;

/// One logical model as the running configuration declares it, from [`Router::models`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ModelInfo {
    /// The name requests and routes use.
    pub name: Arc<str>,
    /// What every target of the model promises.
    pub capabilities: Capabilities,
    /// Its targets, in declaration order.
    pub targets: Vec<TargetRef>,
}

/// One routing policy as the running configuration declares it, from
/// [`Router::policies`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PolicyInfo {
    /// The policy's name.
    pub name: Arc<str>,
    /// Its priority (highest evaluated first).
    pub priority: i32,
    /// What requests it takes.
    #[serde(rename = "match")]
    pub matcher: Match,
    /// The logical models of its route, primary first (a model pinned to one account
    /// appears once per step).
    pub route: Vec<Arc<str>>,
}

impl Router {
    /// The logical models of the running configuration, in declaration order, with their
    /// capabilities and targets: what a server in front of the router can list as its
    /// models.
    ///
    /// ```
    /// use routewise::{Capabilities, Capability, LogicalModel, Policy, ProviderAccount, Router, Target};
    /// use routewise::sim::SimProvider;
    ///
    /// let router = Router::builder()
    ///     .account(ProviderAccount::new("sim", SimProvider::new()))
    ///     .model(LogicalModel::new("fast").capabilities(Capabilities::STREAMING).target(Target::new("sim", "small")))
    ///     .policy(Policy::new("default").route(["fast"]))
    ///     .build()
    ///     .unwrap();
    /// let models = router.models();
    /// assert_eq!(&*models[0].name, "fast");
    /// assert!(models[0].capabilities.contains(Capability::Streaming));
    /// assert_eq!(&*models[0].targets[0].provider_model, "small");
    /// ```
    pub fn models(&self) -> Vec<ModelInfo> {
        let snapshot = self.inner.snapshot.load();
        snapshot
            .models
            .iter()
            .map(|model| ModelInfo {
                name: model.name.clone(),
                capabilities: model.capabilities,
                targets: model.targets.iter().map(|t| t.target.clone()).collect(),
            })
            .collect()
    }

    /// The policies of the running configuration, in evaluation order (priority
    /// descending, declaration order among equals), with what they match and their
    /// routes. Their counters are in [`stats`](Self::stats).
    ///
    /// ```
    /// use routewise::{LogicalModel, Policy, ProviderAccount, Router, Target};
    /// use routewise::sim::SimProvider;
    ///
    /// let router = Router::builder()
    ///     .account(ProviderAccount::new("sim", SimProvider::new()))
    ///     .model(LogicalModel::new("m").target(Target::new("sim", "x")))
    ///     .policy(Policy::new("default").route(["m"]))
    ///     .policy(Policy::new("asked-for-m").priority(5).for_models(["m"]).route(["m"]))
    ///     .build()
    ///     .unwrap();
    /// let policies = router.policies();
    /// assert_eq!(&*policies[0].name, "asked-for-m");
    /// assert_eq!(policies[0].matcher.models, ["m"]);
    /// assert_eq!(&*policies[1].route[0], "m");
    /// ```
    pub fn policies(&self) -> Vec<PolicyInfo> {
        let snapshot = self.inner.snapshot.load();
        snapshot
            .policies
            .iter()
            .map(|policy| PolicyInfo {
                name: policy.name.clone(),
                priority: policy.priority,
                matcher: policy.matcher.clone(),
                route: policy
                    .route
                    .iter()
                    .map(|entry| snapshot.models[entry.model].name.clone())
                    .collect(),
            })
            .collect()
    }
}
