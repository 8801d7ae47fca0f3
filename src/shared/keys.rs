//! Where each shared value lives in Redis.
//!
//! Every key of one account carries the account in a hash tag (`routewise:{openai-main}:…`),
//! so Redis Cluster puts them in one slot and one script may touch them all.

use crate::state::StateKey;

/// The Redis key of a [`StateKey`]: per-account keys in their account's slot, any other
/// key in a slot of its own.
pub(crate) fn state_key(prefix: &str, key: &StateKey) -> String {
    match key.account() {
        Some(account) => format!("{prefix}:{{{account}}}:{key}"),
        None => format!("{prefix}:{{{key}}}"),
    }
}

/// The keys of a [`StateKey`]'s reservations, in the same slot as the key.
pub(crate) fn reservation_keys(redis_key: &str) -> [String; 2] {
    [format!("{redis_key}:held"), format!("{redis_key}:amounts")]
}

/// Where the write ids already applied to a [`StateKey`]'s counter are remembered, in
/// the same slot as the key.
pub(crate) fn applied_key(redis_key: &str) -> String {
    format!("{redis_key}:applied")
}

/// The hash tag and prefix every key of `account` starts with.
fn account_base(prefix: &str, account: &str) -> String {
    format!("{prefix}:{{{account}}}")
}

/// Where an account's fleet health buckets live.
pub(crate) fn health(prefix: &str, account: &str) -> String {
    format!("{}:health", account_base(prefix, account))
}

/// The keys an account's fleet usage is read from.
#[derive(Debug)]
pub(crate) struct UsageKeys {
    pub(crate) cooldown: String,
    pub(crate) window: [String; 2],
    /// The budget window's spend, or a key nothing writes when none is asked for.
    pub(crate) spend: String,
    pub(crate) budget_held: [String; 2],
}

impl UsageKeys {
    pub(crate) fn new(prefix: &str, account: &str, budget_window: Option<&str>) -> Self {
        let base = account_base(prefix, account);
        Self {
            cooldown: cooldown(&base),
            window: rate_window(&base),
            spend: match budget_window {
                Some(label) => spend(prefix, account, label),
                None => unused(&base),
            },
            budget_held: budget_held(&base),
        }
    }
}

fn cooldown(base: &str) -> String {
    format!("{base}:cooldown")
}

fn rate_window(base: &str) -> [String; 2] {
    [format!("{base}:rate:log"), format!("{base}:rate:held")]
}

fn budget_held(base: &str) -> [String; 2] {
    [
        format!("{base}:budget:held"),
        format!("{base}:budget:amounts"),
    ]
}

fn spend(prefix: &str, account: &str, window: &str) -> String {
    state_key(prefix, &StateKey::spend(account, window))
}

fn unused(base: &str) -> String {
    format!("{base}:unused")
}

/// The fixed keys of one account.
#[derive(Clone, Debug)]
pub(crate) struct AccountKeys {
    /// Admissions revoked by the instance that asked (it gave up waiting): refused if
    /// they arrive after the revocation.
    pub(crate) revoked: String,
    /// Settlements applied, by write id, so that one sent again is applied once.
    pub(crate) applied: String,
    pub(crate) cooldown: String,
    pub(crate) window: [String; 2],
    pub(crate) budget_held: [String; 2],
    pub(crate) health: String,
    /// A key nothing writes, in the account's slot, twice: what a script gets in the key
    /// positions a call does not use (no model window, no budget, no breaker).
    pub(crate) unused: [String; 2],
    base: String,
    prefix: String,
    account: String,
}

impl AccountKeys {
    pub(crate) fn new(prefix: &str, account: &str) -> Self {
        let base = account_base(prefix, account);
        Self {
            revoked: format!("{base}:revoked"),
            applied: format!("{base}:applied"),
            cooldown: cooldown(&base),
            window: rate_window(&base),
            budget_held: budget_held(&base),
            health: health(prefix, account),
            unused: [unused(&base), unused(&base)],
            base,
            prefix: prefix.to_owned(),
            account: account.to_owned(),
        }
    }

    /// The mark of rejected credentials (holding their fingerprint).
    pub(crate) fn credentials(&self) -> String {
        format!("{}:credentials", self.base)
    }

    /// The 429 cool-down mark of one provider model of the account.
    pub(crate) fn model_cooldown(&self, model: &str) -> String {
        format!("{}:model:{model}:cooldown", self.base)
    }

    /// The rate window of one provider model of the account.
    pub(crate) fn model_window(&self, model: &str) -> [String; 2] {
        [
            format!("{}:model:{model}:rate:log", self.base),
            format!("{}:model:{model}:rate:held", self.base),
        ]
    }

    /// The spend of one budget window, the same key the ledger syncs through the store.
    pub(crate) fn spend(&self, window: &str) -> String {
        spend(&self.prefix, &self.account, window)
    }

    /// The alert thresholds fired in one budget window.
    pub(crate) fn alerts(&self, window: &str) -> String {
        state_key(&self.prefix, &StateKey::alerts_fired(&self.account, window))
    }

    /// A breaker of one of the account's targets, by the breaker's name (which names
    /// the policy and the target).
    pub(crate) fn breaker(&self, name: &str) -> String {
        format!("{}:breaker:{name}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_tag(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = open + key[open..].find('}').unwrap();
        &key[open + 1..close]
    }

    #[test]
    fn every_key_of_an_account_shares_its_hash_tag() {
        let keys = AccountKeys::new("rw", "openai-main");
        let all = [
            keys.revoked.clone(),
            keys.applied.clone(),
            keys.cooldown.clone(),
            keys.health.clone(),
            keys.spend("2025-01"),
            keys.alerts("2025-01"),
            keys.breaker("chat/primary/openai-main/gpt-4o"),
        ]
        .into_iter()
        .chain(keys.window.clone())
        .chain(keys.unused.clone())
        .chain(keys.budget_held.clone())
        .chain(keys.model_window("gpt-4o"));
        for key in all {
            assert_eq!(slot_tag(&key), "openai-main", "{key}");
        }
    }

    #[test]
    fn the_ledger_and_the_scripts_name_the_same_spend_key() {
        let keys = AccountKeys::new("rw", "main");
        let through_store = state_key("rw", &StateKey::spend("main", "2025-01"));
        assert_eq!(keys.spend("2025-01"), through_store);
        assert_eq!(through_store, "rw:{main}:spend:2025-01:main");
    }

    #[test]
    fn usage_is_read_from_the_keys_the_scripts_write() {
        let keys = AccountKeys::new("rw", "main");
        let usage = UsageKeys::new("rw", "main", Some("2025-01"));
        assert_eq!(usage.cooldown, keys.cooldown);
        assert_eq!(usage.window, keys.window);
        assert_eq!(usage.spend, keys.spend("2025-01"));
        assert_eq!(usage.budget_held, keys.budget_held);
        let no_budget = UsageKeys::new("rw", "main", None);
        assert_eq!(no_budget.spend, keys.unused[0]);
    }

    #[test]
    fn keys_of_no_account_get_a_slot_of_their_own() {
        assert_eq!(state_key("rw", &StateKey::new("requests")), "rw:{requests}");
    }
}
