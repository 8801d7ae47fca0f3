//! Gateway keys: stored as SHA-256 digests, looked up in constant time, each with its
//! own allowed models, request rate and monthly budget (shared by every instance through
//! the router's Redis state, when it has one).

use std::sync::Arc;
use std::time::SystemTime;

use routewise::{Budget, BudgetLedger, Limiter, RateLimits};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::{ConfigFileError, KeyConfig};

/// The SHA-256 of a gateway key, lowercase hex: what a config file stores instead of the
/// key.
///
/// ```
/// assert_eq!(
///     routewise_gateway::hash_key("sk-routewise-demo"),
///     "5ba410922bf083e881de97461dcc718c09138648ccd502eeb4f23257b6283497"
/// );
/// ```
pub fn hash_key(key: &str) -> String {
    digest(key).iter().map(|b| format!("{b:02x}")).collect()
}

/// The admin key's digest: what `/stats`, `/accounts`, `/metrics`, `/explain` and the
/// dashboard ask for when `[gateway] admin_sha256` is set.
#[derive(Clone, Copy)]
pub(crate) struct AdminKey([u8; 32]);

impl AdminKey {
    /// Reads `[gateway] admin_sha256`.
    pub(crate) fn parse(hex: &str) -> Result<Self, ConfigFileError> {
        parse_digest(hex).map(Self).ok_or_else(|| ConfigFileError::AdminKey {
            problem: "must be 64 hex digits: the admin key's SHA-256 (`routewise-gateway hash-key KEY` prints it)".into(),
        })
    }

    /// Whether `presented` is the admin key, compared in constant time.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        self.0.ct_eq(&digest(presented)).into()
    }
}

fn digest(key: &str) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()).as_ref());
    out
}

/// Every configured key, ready to authenticate against.
pub(crate) struct KeyTable {
    entries: Vec<Arc<KeyEntry>>,
}

/// One key: its digest and what it may do.
#[derive(Clone)]
pub(crate) struct KeyEntry {
    pub(crate) name: Arc<str>,
    hash: [u8; 32],
    /// Logical or requested model names it may use; empty: any.
    pub(crate) models: Vec<String>,
    /// Its requests-per-minute limit, when it has one.
    pub(crate) limiter: Option<Limiter>,
    /// Its monthly spend, when it has a budget.
    pub(crate) ledger: Option<BudgetLedger>,
    /// Its rate and budget shared by every instance, when the router shares state.
    #[cfg(feature = "redis")]
    pub(crate) quota: Option<routewise::shared::SharedQuota>,
    rpm: Option<u32>,
    monthly_usd: Option<f64>,
}

impl KeyEntry {
    /// Whether the key may use the model a request names.
    pub(crate) fn allows(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }
}

impl KeyTable {
    /// Builds the table, keeping the rate windows and spend of keys whose name and
    /// limits survive from `previous`.
    pub(crate) fn build(
        configs: &[KeyConfig],
        previous: Option<&KeyTable>,
    ) -> Result<Self, ConfigFileError> {
        let mut entries = Vec::with_capacity(configs.len());
        for config in configs {
            let problem = |problem: String| ConfigFileError::Key {
                name: config.name.clone(),
                problem,
            };
            let hash = parse_digest(&config.sha256).ok_or_else(|| {
                problem(
                    "`sha256` must be 64 hex digits: the key's SHA-256 (`routewise-gateway hash-key KEY` prints it)".into(),
                )
            })?;
            if entries
                .iter()
                .any(|e: &Arc<KeyEntry>| *e.name == *config.name)
            {
                return Err(problem("another key has this name".into()));
            }
            let kept = previous.and_then(|p| {
                p.entries.iter().find(|e| {
                    *e.name == *config.name
                        && e.rpm == config.rpm
                        && e.monthly_usd == config.monthly_usd
                })
            });
            let (limiter, ledger) = match kept {
                Some(old) => (old.limiter.clone(), old.ledger.clone()),
                None => (
                    config
                        .rpm
                        .map(|rpm| Limiter::new(RateLimits::new().rpm(rpm)))
                        .transpose()
                        .map_err(|e| problem(format!("`rpm`: {e}")))?,
                    config
                        .monthly_usd
                        .map(|usd| {
                            BudgetLedger::new(
                                quota_name(&config.name),
                                Budget::monthly_usd(usd),
                                SystemTime::now(),
                            )
                        })
                        .transpose()
                        .map_err(|e| problem(format!("`monthly_usd`: {e}")))?,
                ),
            };
            entries.push(Arc::new(KeyEntry {
                name: config.name.as_str().into(),
                hash,
                models: config.models.clone(),
                limiter,
                ledger,
                #[cfg(feature = "redis")]
                quota: None,
                rpm: config.rpm,
                monthly_usd: config.monthly_usd,
            }));
        }
        Ok(Self { entries })
    }

    /// The key `presented` is, if any. Every stored digest is compared, each in constant
    /// time, so the time taken says nothing about which key (or how much of one) matched.
    pub(crate) fn authenticate(&self, presented: &str) -> Option<Arc<KeyEntry>> {
        let wanted = digest(presented);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, entry) in self.entries.iter().enumerate() {
            let equal = entry.hash.ct_eq(&wanted);
            index = u64::conditional_select(&index, &(i as u64), equal);
            found |= equal;
        }
        bool::from(found).then(|| self.entries[index as usize].clone())
    }

    /// The table with every limited key's rate and budget shared through `state`, or
    /// kept on this instance without one.
    #[cfg(feature = "redis")]
    pub(crate) fn shared_through(mut self, state: Option<&routewise::shared::RedisState>) -> Self {
        for entry in &mut self.entries {
            let quota = state
                .filter(|_| entry.limiter.is_some() || entry.ledger.is_some())
                .map(|state| {
                    routewise::shared::SharedQuota::new(
                        state,
                        &quota_name(&entry.name),
                        entry.limiter.clone(),
                        entry.ledger.clone(),
                    )
                });
            *entry = Arc::new(KeyEntry {
                quota,
                ..KeyEntry::clone(entry)
            });
        }
        self
    }

    /// Whether no key is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The name a key's budget and shared quota go by, apart from provider accounts.
fn quota_name(key: &str) -> String {
    format!("gateway-key:{key}")
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_authenticates_by_its_digest_and_no_other_does() {
        let table = KeyTable::build(
            &[KeyConfig::new("a", "key-a"), KeyConfig::new("b", "key-b")],
            None,
        )
        .unwrap();
        assert_eq!(&*table.authenticate("key-b").unwrap().name, "b");
        assert_eq!(&*table.authenticate("key-a").unwrap().name, "a");
        assert!(table.authenticate("key-c").is_none());
        assert!(table.authenticate("").is_none());
    }

    #[test]
    fn a_malformed_digest_is_rejected_with_what_to_do() {
        let mut config = KeyConfig::new("a", "key-a");
        config.sha256 = "not-hex".into();
        let error = KeyTable::build(&[config], None).err().unwrap();
        assert!(error.to_string().contains("hash-key"), "{error}");
    }

    #[test]
    fn a_reload_keeps_the_rate_window_of_an_unchanged_key() {
        let configs = [KeyConfig::new("a", "key-a").rpm(1)];
        let first = KeyTable::build(&configs, None).unwrap();
        let limiter = first.entries[0].limiter.clone().unwrap();
        let _used = limiter
            .try_reserve("", 0, tokio::time::Instant::now())
            .unwrap();
        let second = KeyTable::build(&configs, Some(&first)).unwrap();
        let kept = second.entries[0].limiter.as_ref().unwrap();
        assert!(
            kept.check("", 0, tokio::time::Instant::now()).is_err(),
            "the one request a minute is still used"
        );
    }
}
