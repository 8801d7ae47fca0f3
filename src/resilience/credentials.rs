//! Rejected credentials: an account whose key a provider refused (HTTP 401/403) leaves
//! every plan until a probe call succeeds, instead of costing every request a failing
//! call first.
//!
//! The first probe is due [`CredentialsBackoff::first`] after the rejection; each probe
//! the provider refuses again doubles the wait, up to [`CredentialsBackoff::max`]. One
//! call probes at a time; one success puts the account back in rotation. A reload that
//! changes the account's credentials starts it afresh.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use super::error::{ResilienceConfigError, check_nonzero};
use crate::budget::{rfc3339, serialize_rfc3339};
use crate::types::millis;

/// How long an account whose credentials were rejected stays out of rotation before a
/// call probes it again.
///
/// ```
/// use std::time::Duration;
/// use routewise::resilience::CredentialsBackoff;
///
/// let backoff = CredentialsBackoff::default();
/// assert_eq!(backoff.first, Duration::from_secs(300));
/// assert_eq!(backoff.max, Duration::from_secs(3600));
/// let quick = CredentialsBackoff::new(Duration::from_secs(30), Duration::from_secs(600));
/// assert!(quick.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialsBackoff {
    /// The wait before the first probe (default 5 minutes).
    pub first: Duration,
    /// The longest wait, however often probes are refused (default 1 hour).
    pub max: Duration,
}

impl Default for CredentialsBackoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(300),
            max: Duration::from_secs(3600),
        }
    }
}

impl CredentialsBackoff {
    /// A backoff starting at `first` and doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ResilienceConfigError> {
        check_nonzero("first", self.first)?;
        if self.first > self.max {
            return Err(ResilienceConfigError::new(
                "max",
                format!(
                    "must not be shorter than first ({:?} < {:?})",
                    self.max, self.first
                ),
            ));
        }
        Ok(())
    }
}

/// An account's credentials were rejected: sent once per transition, through every
/// [`AlertSink`](crate::AlertSink) of the router
/// ([`AlertSink::send_credentials_rejected`](crate::AlertSink::send_credentials_rejected)).
///
/// Serializes to JSON: `{"alert":"credentials_rejected","account":"openai-main",
/// "status":401,"rejected_at":"2025-01-19T14:03:10Z","next_probe_in_ms":300000}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CredentialsAlert {
    /// Always `credentials_rejected`, so webhook consumers can tell it from a budget alert.
    pub alert: &'static str,
    /// The account.
    pub account: Arc<str>,
    /// The HTTP status the provider answered, when known.
    pub status: Option<u16>,
    /// When the rejection was seen.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub rejected_at: SystemTime,
    /// Milliseconds until a call probes the account again.
    pub next_probe_in_ms: u64,
}

impl fmt::Display for CredentialsAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "account `{}`: the provider rejected its credentials",
            self.account
        )?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        write!(
            f,
            " at {}; it is out of rotation, probed again in {} s. Fix its API key and reload the router",
            rfc3339(self.rejected_at),
            self.next_probe_in_ms / 1000
        )
    }
}

/// An account whose credentials stand rejected, for
/// [`AccountStatus`](crate::stats::AccountStatus).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CredentialsStatus {
    /// Milliseconds until the next probe; 0 while one is in flight.
    pub next_probe_in_ms: u64,
    /// The current wait between probes, in milliseconds.
    pub backoff_ms: u64,
}

/// One account's credentials state. Cheap to check while the credentials stand (one
/// atomic load); a mutex guards the rare rest, never held across an `.await`.
pub(crate) struct Credentials {
    rejected: AtomicBool,
    state: Mutex<Option<Rejected>>,
    backoff: CredentialsBackoff,
}

struct Rejected {
    probe_at: Instant,
    wait: Duration,
    probing: bool,
}

/// What a rejection changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The account was in rotation and leaves it: alert, and tell the fleet.
    Transition { wait: Duration },
    /// A probe was refused again: the wait grows.
    ProbeRefused { wait: Duration },
    /// Already rejected (a call that started before the rejection): nothing changes.
    Known,
}

impl Credentials {
    pub(crate) fn new(backoff: CredentialsBackoff) -> Self {
        Self {
            rejected: AtomicBool::new(false),
            state: Mutex::new(None),
            backoff,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Rejected>> {
        // Every update is a few infallible steps: a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The backoff the state was made with.
    pub(crate) fn backoff(&self) -> CredentialsBackoff {
        self.backoff
    }

    /// How long until the account may be called again, when it may not be now.
    pub(crate) fn check(&self, now: Instant) -> Option<Duration> {
        if !self.rejected.load(Ordering::Acquire) {
            return None;
        }
        let state = self.lock();
        let rejected = state.as_ref()?;
        blocked_for(rejected, now)
    }

    /// Admits a call: `Ok(Some(_))` when it probes rejected credentials, `Err` with the
    /// wait when the account must be passed over.
    pub(crate) fn admit(
        self: &Arc<Self>,
        now: Instant,
    ) -> Result<Option<CredentialsProbe>, Duration> {
        if !self.rejected.load(Ordering::Acquire) {
            return Ok(None);
        }
        let mut state = self.lock();
        let Some(rejected) = state.as_mut() else {
            return Ok(None);
        };
        if let Some(wait) = blocked_for(rejected, now) {
            return Err(wait);
        }
        rejected.probing = true;
        Ok(Some(CredentialsProbe {
            credentials: Some(self.clone()),
        }))
    }

    /// Records a rejection (HTTP 401/403) seen at `now`.
    pub(crate) fn reject(&self, now: Instant) -> Rejection {
        let mut state = self.lock();
        let rejection = match state.as_mut() {
            None => {
                let wait = self.backoff.first;
                *state = Some(Rejected {
                    probe_at: now + wait,
                    wait,
                    probing: false,
                });
                Rejection::Transition { wait }
            }
            Some(rejected) if rejected.probing => {
                let wait = rejected.wait.saturating_mul(2).min(self.backoff.max);
                *rejected = Rejected {
                    probe_at: now + wait,
                    wait,
                    probing: false,
                };
                Rejection::ProbeRefused { wait }
            }
            Some(_) => Rejection::Known,
        };
        self.rejected.store(true, Ordering::Release);
        rejection
    }

    /// Takes over a rejection another instance saw, with `left` until its probe is due.
    /// Returns whether the account was in rotation here until now.
    #[cfg(feature = "redis")]
    pub(crate) fn adopt(&self, now: Instant, left: Duration) -> bool {
        let mut state = self.lock();
        let fresh = state.is_none();
        match state.as_mut() {
            Some(rejected) if rejected.probing => {}
            Some(rejected) => rejected.probe_at = rejected.probe_at.max(now + left),
            None => {
                *state = Some(Rejected {
                    probe_at: now + left,
                    wait: self.backoff.first.max(left),
                    probing: false,
                });
            }
        }
        self.rejected.store(true, Ordering::Release);
        fresh
    }

    /// The state, while the credentials stand rejected.
    pub(crate) fn status(&self, now: Instant) -> Option<CredentialsStatus> {
        if !self.rejected.load(Ordering::Acquire) {
            return None;
        }
        let state = self.lock();
        let rejected = state.as_ref()?;
        Some(CredentialsStatus {
            next_probe_in_ms: millis::saturating(rejected.probe_at.saturating_duration_since(now)),
            backoff_ms: millis::saturating(rejected.wait),
        })
    }
}

/// How long the account is passed over from `now`: until its probe is due, or, while a
/// probe is in flight, about one call's time.
fn blocked_for(rejected: &Rejected, now: Instant) -> Option<Duration> {
    if rejected.probing {
        return Some(crate::limits::PROBE_PENDING_WAIT);
    }
    (rejected.probe_at > now).then(|| rejected.probe_at - now)
}

/// The one call probing rejected credentials. [`succeeded`](Self::succeeded) puts the
/// account back in rotation; dropping it otherwise lets the next call probe (a refusal
/// has already pushed the next probe back through [`Credentials::reject`]).
pub(crate) struct CredentialsProbe {
    credentials: Option<Arc<Credentials>>,
}

impl CredentialsProbe {
    /// The provider accepted the credentials.
    pub(crate) fn succeeded(mut self) {
        if let Some(credentials) = self.credentials.take() {
            let mut state = credentials.lock();
            *state = None;
            credentials.rejected.store(false, Ordering::Release);
        }
    }
}

impl Drop for CredentialsProbe {
    fn drop(&mut self) {
        if let Some(credentials) = self.credentials.take()
            && let Some(rejected) = credentials.lock().as_mut()
        {
            rejected.probing = false;
        }
    }
}

impl fmt::Debug for CredentialsProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsProbe").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Arc<Credentials> {
        Arc::new(Credentials::new(CredentialsBackoff::new(
            Duration::from_secs(60),
            Duration::from_secs(200),
        )))
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejection_passes_the_account_over_until_the_probe_is_due() {
        let credentials = credentials();
        let now = Instant::now();
        assert!(credentials.admit(now).unwrap().is_none());
        assert_eq!(
            credentials.reject(now),
            Rejection::Transition {
                wait: Duration::from_secs(60)
            }
        );
        assert_eq!(credentials.reject(now), Rejection::Known, "one transition");
        assert_eq!(credentials.check(now), Some(Duration::from_secs(60)));
        let due = now + Duration::from_secs(60);
        assert_eq!(credentials.check(due), None);
        let probe = credentials
            .admit(due)
            .unwrap()
            .expect("the first call probes");
        assert!(credentials.admit(due).is_err(), "one probe at a time");
        probe.succeeded();
        assert!(credentials.check(due).is_none());
        assert!(credentials.status(due).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn refused_probes_double_the_wait_up_to_the_max() {
        let credentials = credentials();
        let mut now = Instant::now();
        credentials.reject(now);
        let mut waits = Vec::new();
        for _ in 0..3 {
            now += credentials.check(now).unwrap();
            let _probe = credentials.admit(now).unwrap().unwrap();
            match credentials.reject(now) {
                Rejection::ProbeRefused { wait } => waits.push(wait.as_secs()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(waits, [120, 200, 200]);
    }

    #[test]
    fn a_first_wait_longer_than_the_max_is_refused() {
        let backoff = CredentialsBackoff::new(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(backoff.validate().unwrap_err().field(), "max");
    }
}
