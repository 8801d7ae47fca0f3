//! What a builder that came from a config file
//! ([`RouterConfig::to_builder`](crate::RouterConfig::to_builder)) holds beside the file:
//! the accounts, models and policies code added are kept when the router reloads a config
//! file, which knows only its own, and so are the provider kinds the file was read with.

use std::collections::HashSet;

use super::RouterBuilder;
use crate::account::ProviderAccount;
use crate::config::ProviderKinds;
use crate::model::LogicalModel;
use crate::policy::Policy;

/// What a builder made from a config file knows of it: the names it declared and the
/// provider kinds it was read with.
#[derive(Clone, Debug, Default)]
pub(crate) struct FromFile {
    pub(crate) accounts: HashSet<String>,
    pub(crate) models: HashSet<String>,
    pub(crate) policies: HashSet<String>,
    pub(crate) provider_kinds: ProviderKinds,
}

/// The accounts, models and policies of a running router that its code added beside a
/// config file's.
#[derive(Clone, Default)]
pub(crate) struct CodeAdded {
    accounts: Vec<ProviderAccount>,
    models: Vec<LogicalModel>,
    policies: Vec<Policy>,
}

impl CodeAdded {
    /// What `builder` holds beyond the names of the file it came from; nothing for a
    /// builder that did not come from a file.
    pub(crate) fn of(builder: &RouterBuilder) -> Self {
        let Some(file) = &builder.from_file else {
            return Self::default();
        };
        Self {
            accounts: (builder.accounts.iter())
                .filter(|a| !file.accounts.contains(a.name()))
                .cloned()
                .collect(),
            models: (builder.models.iter())
                .filter(|m| !file.models.contains(&m.name))
                .cloned()
                .collect(),
            policies: (builder.policies.iter())
                .filter(|p| !file.policies.contains(&p.name))
                .cloned()
                .collect(),
        }
    }

    /// `builder`, made from a config file that declared `file`, with what code added
    /// before, except where the file now declares the same name.
    pub(crate) fn add_to(&self, mut builder: RouterBuilder, file: &FromFile) -> RouterBuilder {
        for account in &self.accounts {
            if !file.accounts.contains(account.name()) {
                builder = builder.account(account.clone());
            }
        }
        for model in &self.models {
            if !file.models.contains(&model.name) {
                builder = builder.model(model.clone());
            }
        }
        for policy in &self.policies {
            if !file.policies.contains(&policy.name) {
                builder = builder.policy(policy.clone());
            }
        }
        builder
    }
}
