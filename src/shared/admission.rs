//! The two round trips of an attempt: admit (check and reserve everything together) and
//! settle (to what the attempt actually used), as typed calls of the Lua scripts.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::clock::local_ms;
use super::keys::AccountKeys;
use super::state::{RedisState, may_have_run};
use crate::state::{StateError, WriteId};
use crate::types::millis;

/// The rate limits an admission checks, 0 meaning none.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WindowLimits {
    pub(crate) rpm: u64,
    pub(crate) tpm: u64,
}

/// A shared breaker to consult: its key and how many half-open trials the whole fleet
/// may run at once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BreakerKey<'a> {
    pub(crate) key: &'a str,
    pub(crate) trials: u32,
}

/// What one admission asks for.
#[derive(Debug)]
pub(crate) struct Ask<'a> {
    pub(crate) keys: &'a AccountKeys,
    /// The provider model's own window and limits, when it has any.
    pub(crate) model: Option<(&'a [String; 2], WindowLimits)>,
    pub(crate) account: WindowLimits,
    pub(crate) requests: u64,
    pub(crate) tokens: u64,
    /// The budget window's label, its limit and the worst-case cost, in nano-dollars.
    pub(crate) budget: Option<(&'a str, u64, u64)>,
    pub(crate) breaker: Option<BreakerKey<'a>>,
}

/// Requests and tokens in an account's rate window and its model's, as an admission
/// left them (0 for a window without limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WindowsSeen {
    pub(crate) account: (u64, u64),
    pub(crate) model: (u64, u64),
}

/// Redis's answer to an [`Ask`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admitted {
    Granted {
        /// The reservation, chosen by the instance that asked (so that it can revoke it
        /// without having seen the answer).
        id: u128,
        /// The breaker generation, when this is one of its half-open trials.
        trial: Option<u64>,
        /// The budget window's spend, in nano-dollars.
        spend: u64,
        /// The rate windows with this grant in them.
        windows: WindowsSeen,
    },
    CoolingDown(Duration),
    /// `None`: the ask alone exceeds a limit.
    RateLimited(Option<Duration>),
    OverBudget {
        committed: u64,
        limit: u64,
    },
    BreakerOpen(Duration),
}

/// How a breaker trial or a local breaker changes the shared breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BreakerVerdict {
    None,
    TrialSucceeded {
        generation: u64,
    },
    TrialFailed {
        generation: u64,
    },
    TrialReleased {
        generation: u64,
    },
    /// This instance's own breaker opened: the fleet skips the target too.
    OpenedHere,
}

/// What one settlement writes.
#[derive(Debug)]
pub(crate) struct Settle<'a> {
    pub(crate) keys: &'a AccountKeys,
    pub(crate) model: Option<&'a [String; 2]>,
    /// 0 when only a cool-down, a breaker verdict or health is recorded.
    pub(crate) id: u128,
    pub(crate) requests: u64,
    pub(crate) tokens: u64,
    /// The budget window's label, limit and alert thresholds.
    pub(crate) budget: Option<(&'a str, u64, &'a str)>,
    /// The spend to add to the budget, in nano-dollars.
    pub(crate) spend: u64,
    pub(crate) cooldown: Option<Duration>,
    pub(crate) breaker: Option<(&'a str, BreakerVerdict, Duration)>,
    /// `Some(true)` for a success, `Some(false)` for a provider fault.
    pub(crate) health: Option<(bool, Duration)>,
    /// Applied once, however often it is sent.
    pub(crate) write: WriteId,
    /// The reservation is revoked: its asker gave up before the answer, so it is
    /// released if it was granted and refused if its admission arrives later.
    pub(crate) revoke: bool,
}

/// Redis's answer to a [`Settle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settled {
    pub(crate) spend: u64,
    /// Bit `i` set: the `i`-th alert threshold fired with this settlement, here and
    /// nowhere else.
    pub(crate) fired: u64,
}

/// Breaker keys outlive their recovery by this much, so a half-open breaker nobody tries
/// closes by itself.
const BREAKER_LINGER: Duration = Duration::from_secs(60);

impl RedisState {
    /// Asks Redis to admit `ask`. The reservation's id is chosen here, and the script
    /// refuses the admission once the Redis clock has passed this call's timeout. If the
    /// call fails in a way that may still let it run (a timeout: a stalled Redis runs
    /// what it had read when it resumes), a revocation is kept and sent once Redis
    /// answers, so a grant nobody waits for never holds capacity.
    pub(crate) async fn admit(&self, ask: &Ask<'_>) -> Result<Admitted, StateError> {
        let inner = &self.inner;
        let keys = ask.keys;
        let id = WriteId::fresh().get();
        let (model_window, model_limits) = match ask.model {
            Some((window, limits)) => (window, limits),
            None => (&keys.unused, WindowLimits::default()),
        };
        let (spend_key, limit, cost) = match ask.budget {
            Some((label, limit, cost)) => (Cow::Owned(keys.spend(label)), limit, cost),
            None => (Cow::Borrowed(keys.unused[0].as_str()), 0, 0),
        };
        let (breaker_key, trials) = match ask.breaker {
            Some(breaker) => (breaker.key, breaker.trials),
            None => (keys.unused[0].as_str(), 0),
        };
        let sent_ms = local_ms();
        let timeout_ms = i64::try_from(millis::saturating(inner.timeout)).unwrap_or(i64::MAX);
        let deadline = inner
            .clock
            .to_redis(sent_ms)
            .map_or(0, |redis_ms| redis_ms.saturating_add(timeout_ms));
        let mut invocation = inner.scripts.admit.prepare_invoke();
        account_keys(&mut invocation, keys, model_window, &spend_key);
        invocation
            .key(&keys.revoked)
            .key(breaker_key)
            .arg(ask.requests)
            .arg(ask.tokens)
            .arg(ask.account.rpm)
            .arg(ask.account.tpm)
            .arg(model_limits.rpm)
            .arg(model_limits.tpm)
            .arg(millis::saturating(inner.rate_window))
            .arg(cost)
            .arg(limit)
            .arg(millis::saturating(inner.reservation_ttl))
            .arg(trials)
            .arg(millis::saturating(inner.reservation_ttl))
            .arg(id)
            .arg(deadline);
        let reply: Vec<i64> = match self
            .run("admit", |mut connection| async move {
                invocation.invoke_async(&mut connection).await
            })
            .await
        {
            Ok(reply) => reply,
            Err(error) => {
                if may_have_run(&error) {
                    self.revoke_later(keys, ask.model.map(|(window, _)| window), id);
                }
                return Err(error);
            }
        };
        if let Some(&redis_ms) = reply.get(1) {
            inner.clock.learn(sent_ms, local_ms(), redis_ms);
        }
        let unexpected = || StateError::Unavailable {
            operation: "admit",
            reason: format!("unexpected script reply {reply:?}").into(),
        };
        match parse_admitted(&reply, id) {
            Some(Some(admitted)) => Ok(admitted),
            // Past its deadline by the Redis clock: this instance's clock estimate is
            // off by more than the round trip, or Redis answered just after the timeout.
            Some(None) => Err(StateError::Unavailable {
                operation: "admit",
                reason: "Redis ran the admission after its deadline and refused it".into(),
            }),
            None => Err(unexpected()),
        }
    }

    /// Keeps a revocation of reservation `id` for when Redis answers again.
    fn revoke_later(&self, keys: &AccountKeys, model: Option<&[String; 2]>, id: u128) {
        let state = self.clone();
        let keys = keys.clone();
        let model = model.cloned();
        let write = WriteId::fresh();
        self.retry_later(Box::new(move || state.revoke(keys, model, id, write)));
    }

    /// Releases reservation `id` if it was granted, and refuses it if its admission
    /// arrives later; kept for another try if Redis does not answer.
    fn revoke(
        self,
        keys: AccountKeys,
        model: Option<[String; 2]>,
        id: u128,
        write: WriteId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move { self.send_revocation(keys, model, id, write).await })
    }

    async fn send_revocation(
        self,
        keys: AccountKeys,
        model: Option<[String; 2]>,
        id: u128,
        write: WriteId,
    ) {
        let revocation = Settle {
            keys: &keys,
            model: model.as_ref(),
            id,
            requests: 0,
            tokens: 0,
            budget: None,
            spend: 0,
            cooldown: None,
            breaker: None,
            health: None,
            write,
            revoke: true,
        };
        if self.settle(&revocation).await.is_err() {
            let state = self.clone();
            self.retry_later(Box::new(move || state.revoke(keys, model, id, write)));
        }
    }

    pub(crate) async fn settle(&self, settle: &Settle<'_>) -> Result<Settled, StateError> {
        let inner = &self.inner;
        let keys = settle.keys;
        let unused = keys.unused[0].as_str();
        let model_window = settle.model.unwrap_or(&keys.unused);
        let (spend_key, alerts_key, limit, thresholds) = match settle.budget {
            Some((label, limit, thresholds)) => (
                Cow::Owned(keys.spend(label)),
                Cow::Owned(keys.alerts(label)),
                limit,
                thresholds,
            ),
            None => (Cow::Borrowed(unused), Cow::Borrowed(unused), 0, ""),
        };
        let (breaker_key, verdict, recovery) = match settle.breaker {
            Some((key, verdict, recovery)) => (key, verdict, recovery),
            None => (unused, BreakerVerdict::None, Duration::ZERO),
        };
        let (verdict, generation) = match verdict {
            BreakerVerdict::None => (0, 0),
            BreakerVerdict::TrialSucceeded { generation } => (1, generation),
            BreakerVerdict::TrialFailed { generation } => (2, generation),
            BreakerVerdict::TrialReleased { generation } => (3, generation),
            BreakerVerdict::OpenedHere => (4, 0),
        };
        let (health, latency) = match settle.health {
            None => (0, Duration::ZERO),
            Some((true, latency)) => (1, latency),
            Some((false, latency)) => (2, latency),
        };
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // Spend keys expire 40 days after their last write: past the end of a monthly
        // window, for late settlements and reports.
        let spend_ttl = millis::saturating(Duration::from_secs(40 * 24 * 3600));
        let mut invocation = inner.scripts.settle.prepare_invoke();
        account_keys(&mut invocation, keys, model_window, &spend_key);
        invocation
            .key(&*alerts_key)
            .key(breaker_key)
            .key(&keys.health)
            .key(&keys.applied)
            .key(&keys.revoked)
            .arg(settle.id)
            .arg(settle.requests)
            .arg(settle.tokens)
            // Spend is recorded only against a budget (the placeholder key stays empty).
            .arg(if settle.budget.is_some() {
                settle.spend
            } else {
                0
            })
            .arg(limit)
            .arg(thresholds)
            .arg(settle.cooldown.map_or(0, millis::saturating))
            .arg(verdict)
            .arg(generation)
            .arg(millis::saturating(recovery))
            .arg(health)
            .arg(latency_us)
            .arg(spend_ttl)
            .arg(millis::saturating(recovery + BREAKER_LINGER))
            .arg(settle.write.get())
            // Long enough for a write-back to be sent again after any stall it
            // outlived, and for a late admission to find its revocation.
            .arg(millis::saturating(inner.reservation_ttl))
            .arg(u8::from(settle.revoke));
        let (spend, fired): (u64, u64) = self
            .run("settle", |mut connection| async move {
                invocation.invoke_async(&mut connection).await
            })
            .await?;
        Ok(Settled { spend, fired })
    }
}

/// The keys both scripts start with, in their order: the account's cool-down, rate
/// window, the model's window, the budget window's spend and the budget reservations.
fn account_keys(
    invocation: &mut redis::ScriptInvocation<'_>,
    keys: &AccountKeys,
    model_window: &[String; 2],
    spend_key: &str,
) {
    invocation
        .key(&keys.cooldown)
        .key(&keys.window[0])
        .key(&keys.window[1])
        .key(&model_window[0])
        .key(&model_window[1])
        .key(spend_key)
        .key(&keys.budget_held[0])
        .key(&keys.budget_held[1]);
}

/// The script's reply `{code, redis ms, ...}` to the admission of reservation `id`;
/// `Some(None)` when it was refused for arriving after its deadline or its revocation.
fn parse_admitted(reply: &[i64], id: u128) -> Option<Option<Admitted>> {
    let at = |i: usize| reply.get(i).copied();
    let unsigned = |i: usize| at(i).and_then(|v| u64::try_from(v).ok());
    let wait = |i: usize| unsigned(i).map(Duration::from_millis);
    Some(Some(match at(0)? {
        0 => Admitted::Granted {
            id,
            trial: (at(2)? == 1).then(|| unsigned(3)).flatten(),
            spend: unsigned(4)?,
            windows: WindowsSeen {
                account: (unsigned(5)?, unsigned(6)?),
                model: (unsigned(7)?, unsigned(8)?),
            },
        },
        1 => Admitted::CoolingDown(wait(2)?),
        2 => Admitted::RateLimited(wait(2)),
        3 => Admitted::OverBudget {
            committed: unsigned(2)?,
            limit: unsigned(3)?,
        },
        4 => Admitted::BreakerOpen(wait(2)?),
        5 => return Some(None),
        _ => return None,
    }))
}
