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

/// The hash tag and prefix every key of `account` starts with.
fn account_base(prefix: &str, account: &str) -> String {
    format!("{prefix}:{{{account}}}")
}

/// Where an account's fleet health buckets live.
pub(crate) fn health(prefix: &str, account: &str) -> String {
    format!("{}:health", account_base(prefix, account))
}

/// The fixed keys of one account.
#[derive(Debug)]
pub(crate) struct AccountKeys {
    pub(crate) sequence: String,
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
            sequence: format!("{base}:seq"),
            cooldown: format!("{base}:cooldown"),
            window: [format!("{base}:rate:log"), format!("{base}:rate:held")],
            budget_held: [
                format!("{base}:budget:held"),
                format!("{base}:budget:amounts"),
            ],
            health: health(prefix, account),
            unused: [format!("{base}:unused"), format!("{base}:unused")],
            base,
            prefix: prefix.to_owned(),
            account: account.to_owned(),
        }
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
        state_key(&self.prefix, &StateKey::spend(&self.account, window))
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
            keys.sequence.clone(),
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
    fn keys_of_no_account_get_a_slot_of_their_own() {
        assert_eq!(state_key("rw", &StateKey::new("requests")), "rw:{requests}");
    }
}
