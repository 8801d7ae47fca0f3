//! 429 cool-downs: after a provider answers HTTP 429, the account (or, where the provider
//! scopes its limits per model, the account × provider model) is passed over until the
//! retry-after has passed, whether or not the account has limits configured.
//!
//! When a cool-down ends, one call probes the account before the rest follow: the others
//! keep passing it over until that call has answered, so a crowd of concurrent requests
//! does not rush an account that may still be limited.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::types::millis;

/// How long others wait on a probe in flight before asking again: about one call's time.
pub(crate) const PROBE_PENDING_WAIT: Duration = Duration::from_millis(50);

/// The cool-downs of one account. Cheap to check while none is in force (one atomic
/// load); a per-account mutex guards the rare rest, never held across an `.await`.
#[derive(Default)]
pub(crate) struct CoolDowns {
    /// Whether any entry exists: the common case, none, never takes the lock.
    any: AtomicBool,
    /// Keyed by provider model; `None` is the whole account.
    entries: Mutex<HashMap<Option<Arc<str>>, Entry>>,
}

struct Entry {
    until: Instant,
    /// A call admitted after the cool-down ended has not answered yet.
    probing: bool,
}

/// Why an account (or one of its models) is passed over now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cooling {
    /// Until the cool-down ends, or until the probe in flight is likely to have answered.
    pub(crate) wait: Duration,
    /// The provider model cooling down; `None` for the whole account.
    pub(crate) model: Option<Arc<str>>,
}

/// A cool-down in force, for [`AccountStatus`](crate::stats::AccountStatus).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CoolDownStatus {
    /// The provider model cooling down; `None` for the whole account.
    pub model: Option<String>,
    /// Milliseconds left; 0 once it has ended and one call is probing the account.
    pub remaining_ms: u64,
}

impl CoolDowns {
    fn lock(&self) -> MutexGuard<'_, HashMap<Option<Arc<str>>, Entry>> {
        // Every update is a few infallible steps: a poisoned lock is still consistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts (or extends, never shortens) a cool-down of `model` (`None`: the account)
    /// until `until`.
    pub(crate) fn cool(&self, model: Option<&Arc<str>>, until: Instant) {
        let mut entries = self.lock();
        let entry = entries.entry(model.cloned()).or_insert(Entry {
            until,
            probing: false,
        });
        entry.until = entry.until.max(until);
        entry.probing = false;
        self.any.store(true, Ordering::Release);
    }

    /// Why `model` cannot be called now, without taking anything: for planning.
    pub(crate) fn check(&self, model: &Arc<str>, now: Instant) -> Option<Cooling> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.lock();
        blocking(&entries, model, now).map(|(_, cooling)| cooling)
    }

    /// Admits a call to `model` now: `Ok(None)` when nothing is cooling, `Ok(Some(_))`
    /// when the call is the probe of a cool-down that just ended, `Err` when it must wait.
    pub(crate) fn admit(
        self: &Arc<Self>,
        model: &Arc<str>,
        now: Instant,
    ) -> Result<Option<CoolProbe>, Cooling> {
        if !self.any.load(Ordering::Acquire) {
            return Ok(None);
        }
        let mut entries = self.lock();
        if let Some((_, cooling)) = blocking(&entries, model, now) {
            return Err(cooling);
        }
        // Ended cool-downs that nobody probes yet: this call probes them all.
        let mut keys = Vec::new();
        for key in [None, Some(model.clone())] {
            if let Some(entry) = entries.get_mut(&key) {
                entry.probing = true;
                keys.push(key);
            }
        }
        Ok((!keys.is_empty()).then(|| CoolProbe {
            cool_downs: self.clone(),
            keys,
        }))
    }

    /// The cool-downs in force, or ended and being probed.
    pub(crate) fn status(&self, now: Instant) -> Vec<CoolDownStatus> {
        if !self.any.load(Ordering::Acquire) {
            return Vec::new();
        }
        let entries = self.lock();
        let mut status: Vec<CoolDownStatus> = entries
            .iter()
            .filter(|(_, entry)| entry.until > now || entry.probing)
            .map(|(model, entry)| CoolDownStatus {
                model: model.as_deref().map(str::to_owned),
                remaining_ms: millis::saturating(entry.until.saturating_duration_since(now)),
            })
            .collect();
        status.sort_by(|a, b| a.model.cmp(&b.model));
        status
    }

    /// When `model` can next be called (`now` when it can now).
    pub(crate) fn earliest(&self, model: &Arc<str>, now: Instant) -> Instant {
        self.check(model, now).map_or(now, |c| now + c.wait)
    }
}

/// The cool-down keeping `model` from being called now, if any: the account's or the
/// model's, whichever lasts longer.
fn blocking(
    entries: &HashMap<Option<Arc<str>>, Entry>,
    model: &Arc<str>,
    now: Instant,
) -> Option<(Option<Arc<str>>, Cooling)> {
    let account = entries.get(&None).map(|e| (None, e));
    let own = entries
        .get_key_value(&Some(model.clone()))
        .map(|(key, e)| (key.clone(), e));
    account
        .into_iter()
        .chain(own)
        .filter_map(|(key, entry)| {
            let wait = if entry.until > now {
                entry.until - now
            } else if entry.probing {
                PROBE_PENDING_WAIT
            } else {
                return None;
            };
            Some((key.clone(), Cooling { wait, model: key }))
        })
        .max_by_key(|(_, cooling)| cooling.wait)
}

/// The one call let through after a cool-down ended. [`succeeded`](Self::succeeded)
/// ends the cool-down; dropping it otherwise lets the next call probe again (a 429
/// starts a new cool-down on its own).
pub(crate) struct CoolProbe {
    cool_downs: Arc<CoolDowns>,
    keys: Vec<Option<Arc<str>>>,
}

impl CoolProbe {
    /// The probe was answered: the cool-downs it probed are over.
    pub(crate) fn succeeded(mut self) {
        let mut entries = self.cool_downs.lock();
        for key in self.keys.drain(..) {
            if entries.get(&key).is_some_and(|e| e.probing) {
                entries.remove(&key);
            }
        }
        if entries.is_empty() {
            self.cool_downs.any.store(false, Ordering::Release);
        }
    }
}

impl std::fmt::Debug for CoolProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoolProbe")
            .field("keys", &self.keys)
            .finish()
    }
}

impl Drop for CoolProbe {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let mut entries = self.cool_downs.lock();
        for key in &self.keys {
            if let Some(entry) = entries.get_mut(key) {
                entry.probing = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[tokio::test(start_paused = true)]
    async fn a_model_cool_down_leaves_the_accounts_other_models_free() {
        let cool_downs = Arc::new(CoolDowns::default());
        let now = Instant::now();
        cool_downs.cool(Some(&model("gpt-4o")), now + Duration::from_secs(2));
        let cooling = cool_downs.check(&model("gpt-4o"), now).unwrap();
        assert_eq!(cooling.wait, Duration::from_secs(2));
        assert_eq!(cooling.model.as_deref(), Some("gpt-4o"));
        assert!(cool_downs.check(&model("gpt-4o-mini"), now).is_none());
        assert!(matches!(
            cool_downs.admit(&model("gpt-4o-mini"), now),
            Ok(None)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn an_account_cool_down_covers_every_model() {
        let cool_downs = Arc::new(CoolDowns::default());
        let now = Instant::now();
        cool_downs.cool(None, now + Duration::from_secs(1));
        assert!(cool_downs.admit(&model("any"), now).is_err());
        cool_downs.cool(None, now + Duration::from_millis(10));
        let cooling = cool_downs.check(&model("any"), now).unwrap();
        assert_eq!(cooling.wait, Duration::from_secs(1), "never shortened");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_cool_down_one_call_probes_and_the_rest_wait_for_it() {
        let cool_downs = Arc::new(CoolDowns::default());
        let m = model("m");
        let start = Instant::now();
        cool_downs.cool(None, start + Duration::from_secs(2));
        let later = start + Duration::from_secs(2);
        assert!(
            cool_downs.check(&m, later).is_none(),
            "the planner may plan it"
        );
        let probe = cool_downs
            .admit(&m, later)
            .unwrap()
            .expect("the first call probes");
        let waiting = cool_downs.admit(&m, later).unwrap_err();
        assert_eq!(waiting.wait, PROBE_PENDING_WAIT);
        drop(probe);
        let probe = cool_downs
            .admit(&m, later)
            .unwrap()
            .expect("a dropped probe frees the slot");
        probe.succeeded();
        assert!(matches!(cool_downs.admit(&m, later), Ok(None)));
        assert!(cool_downs.status(later).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_on_the_probe_starts_a_new_cool_down() {
        let cool_downs = Arc::new(CoolDowns::default());
        let m = model("m");
        let start = Instant::now();
        cool_downs.cool(Some(&m), start + Duration::from_secs(1));
        let later = start + Duration::from_secs(1);
        let probe = cool_downs.admit(&m, later).unwrap().unwrap();
        cool_downs.cool(Some(&m), later + Duration::from_secs(3));
        drop(probe);
        let status = cool_downs.status(later);
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].remaining_ms, 3_000);
        assert_eq!(status[0].model.as_deref(), Some("m"));
    }
}
