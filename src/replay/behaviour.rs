//! [`Behaviours`]: how each provider target behaved in a recording (latency, errors by
//! kind, 429 episodes, output tokens), with hand-made changes on top ("what if this
//! account has a 30-minute outage at 14:00?", "what if its RPM were halved?").

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::quantiles::Quantiles;
use super::record::AttemptStatus;
use super::traffic::Traffic;
use crate::model::Capability;
use crate::provider::ErrorKind;

/// How one target (a provider model on an account) behaves.
///
/// Replayed calls first check the 429 episodes (a call inside one gets a 429 asking to
/// wait until it ends), then draw an error from [`error_rates`](Self::error_rates),
/// then take a latency from [`latency_ms`](Self::latency_ms) (or
/// [`failure_latency_ms`](Self::failure_latency_ms) for a failure).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TargetBehaviour {
    /// Calls observed (0 for a hand-made behaviour).
    pub calls: u64,
    /// Latency of answered calls, in milliseconds.
    pub latency_ms: Quantiles,
    /// Latency of failed calls, in milliseconds (answered calls' latency when empty).
    pub failure_latency_ms: Quantiles,
    /// The share of calls (outside 429 episodes) failing with each kind.
    pub error_rates: Vec<ErrorRate>,
    /// Periods in which the target answered 429, each until the retry-after it gave ran
    /// out; overlapping ones merged.
    pub rate_limit_episodes: Vec<Window>,
    /// Output tokens of answered calls, for requests whose own answer was not recorded.
    pub output_tokens: Quantiles,
    /// The share of streamed calls that opened (outside 429 episodes) but broke after
    /// sending content, by kind: what [`Policy::stream_recovery`](crate::Policy::stream_recovery)
    /// continues elsewhere.
    pub stream_breaks: Vec<ErrorRate>,
}

/// The share of calls failing with one kind of error.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorRate {
    /// The kind.
    pub kind: ErrorKind,
    /// The share of calls, `0.0..=1.0`.
    pub rate: f64,
}

/// A period of wall-clock time, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The first millisecond inside.
    pub from_unix_ms: u64,
    /// The first millisecond after.
    pub until_unix_ms: u64,
}

impl Window {
    /// Whether `unix_ms` falls inside.
    pub fn contains(&self, unix_ms: u64) -> bool {
        (self.from_unix_ms..self.until_unix_ms).contains(&unix_ms)
    }
}

/// A simulated outage of an account: every call in the window fails with `kind`, and
/// health probes fail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Outage {
    /// The account.
    pub account: String,
    /// When.
    pub window: Window,
    /// How calls fail.
    pub kind: ErrorKind,
}

/// Behaviour models of every target, fitted from traffic and edited by hand; they drive
/// the simulated providers of a [`Replay`](super::Replay).
///
/// ```
/// use std::time::Duration;
/// use routewise::replay::{Behaviours, TargetBehaviour, Quantiles, Traffic};
///
/// let traffic = Traffic::default();
/// let mut behaviours = Behaviours::fit(&traffic);
/// // What if "anthropic" is down for 30 minutes, an hour into the traffic, and
/// // "openai" only takes 300 requests a minute?
/// behaviours
///     .outage_after("anthropic", Duration::from_secs(3600), Duration::from_secs(1800))
///     .provider_rpm("openai", 300);
/// let mut cheap = TargetBehaviour::default();
/// cheap.latency_ms = Quantiles::constant(80.0);
/// behaviours.set_target("openai", "gpt-4o-mini", cheap);
/// assert!(behaviours.target("openai", "gpt-4o-mini").is_some());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Behaviours {
    targets: HashMap<String, HashMap<String, TargetBehaviour>>,
    unseen: TargetBehaviour,
    outages: Vec<Outage>,
    provider_rpm: HashMap<String, u32>,
    start_unix_ms: u64,
    seed: u64,
}

/// What one target's recorded calls add up to, before it becomes a [`TargetBehaviour`].
#[derive(Default)]
struct Observed {
    calls: u64,
    latency: Vec<f64>,
    failure_latency: Vec<f64>,
    errors: HashMap<ErrorKind, u64>,
    rate_limited: Vec<Window>,
    output_tokens: Vec<f64>,
    /// Streamed calls that opened, and those of them that broke mid-stream.
    streams_opened: u64,
    stream_breaks: HashMap<ErrorKind, u64>,
}

impl Behaviours {
    /// Fits every target seen in `traffic`. Targets it never called behave like the
    /// pooled answered calls of all targets, with no errors (see
    /// [`for_unseen_targets`](Self::for_unseen_targets)).
    pub fn fit(traffic: &Traffic) -> Self {
        let mut observed: HashMap<(String, String), Observed> = HashMap::new();
        let mut pooled = Observed::default();
        for record in traffic.records() {
            let streamed = record.needs.contains(Capability::Streaming);
            let mut elapsed_us = 0;
            for attempt in &record.attempts {
                let started = record.unix_ms + elapsed_us / 1000;
                elapsed_us += attempt.latency_us;
                if attempt.outcome == AttemptStatus::Cancelled {
                    continue;
                }
                let key = (
                    attempt.account.to_string(),
                    attempt.provider_model.to_string(),
                );
                let target = observed.entry(key).or_default();
                target.calls += 1;
                let latency_ms = attempt.latency_us as f64 / 1000.0;
                target.streams_opened += u64::from(
                    streamed && (attempt.outcome == AttemptStatus::Success || attempt.mid_stream),
                );
                match (attempt.outcome, attempt.error) {
                    (_, kind) if attempt.mid_stream => {
                        let kind = kind.unwrap_or(ErrorKind::Connection);
                        *target.stream_breaks.entry(kind).or_default() += 1;
                    }
                    (AttemptStatus::Success, _) => {
                        target.latency.push(latency_ms);
                        pooled.latency.push(latency_ms);
                        if let Some(usage) = attempt.usage {
                            target.output_tokens.push(f64::from(usage.output_tokens));
                            pooled.output_tokens.push(f64::from(usage.output_tokens));
                        }
                    }
                    (_, Some(ErrorKind::RateLimited)) => {
                        target.failure_latency.push(latency_ms);
                        let answered = record.unix_ms + elapsed_us / 1000;
                        let wait = attempt.retry_after_ms.unwrap_or(1_000);
                        target.rate_limited.push(Window {
                            from_unix_ms: started,
                            until_unix_ms: answered + wait.max(1),
                        });
                    }
                    (_, kind) => {
                        target.failure_latency.push(latency_ms);
                        let kind = kind.unwrap_or(ErrorKind::ServerError);
                        *target.errors.entry(kind).or_default() += 1;
                    }
                }
            }
        }
        let mut targets: HashMap<String, HashMap<String, TargetBehaviour>> = HashMap::new();
        for ((account, model), seen) in observed {
            targets
                .entry(account)
                .or_default()
                .insert(model, seen.into_behaviour());
        }
        Self {
            targets,
            unseen: pooled.into_behaviour(),
            outages: Vec::new(),
            provider_rpm: HashMap::new(),
            start_unix_ms: traffic.start_unix_ms(),
            seed: 0x5EED,
        }
    }

    /// The behaviour of `provider_model` on `account`, if fitted or set.
    pub fn target(&self, account: &str, provider_model: &str) -> Option<&TargetBehaviour> {
        self.targets.get(account)?.get(provider_model)
    }

    /// Every fitted or set target as `(account, provider model, behaviour)`.
    pub fn targets(&self) -> impl Iterator<Item = (&str, &str, &TargetBehaviour)> {
        self.targets.iter().flat_map(|(account, models)| {
            models
                .iter()
                .map(move |(model, b)| (account.as_str(), model.as_str(), b))
        })
    }

    /// Replaces (or adds) the behaviour of `provider_model` on `account`: a target the
    /// recording never called, or a changed one.
    pub fn set_target(
        &mut self,
        account: impl Into<String>,
        provider_model: impl Into<String>,
        behaviour: TargetBehaviour,
    ) -> &mut Self {
        self.targets
            .entry(account.into())
            .or_default()
            .insert(provider_model.into(), behaviour);
        self
    }

    /// How targets neither fitted nor set behave.
    pub fn for_unseen_targets(&mut self, behaviour: TargetBehaviour) -> &mut Self {
        self.unseen = behaviour;
        self
    }

    /// Makes every call to `account` fail with a server error from `from` for `length`
    /// (wall-clock time, as recorded).
    pub fn outage(
        &mut self,
        account: impl Into<String>,
        from: SystemTime,
        length: Duration,
    ) -> &mut Self {
        let from_unix_ms = from
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, millis);
        self.add_outage(account, from_unix_ms, length, ErrorKind::ServerError)
    }

    /// As [`outage`](Self::outage), starting `after` the traffic's first request.
    pub fn outage_after(
        &mut self,
        account: impl Into<String>,
        after: Duration,
        length: Duration,
    ) -> &mut Self {
        let from = self.start_unix_ms.saturating_add(millis(after));
        self.add_outage(account, from, length, ErrorKind::ServerError)
    }

    /// Adds an outage failing with `kind` (a connection error, an overload, ...).
    pub fn add_outage(
        &mut self,
        account: impl Into<String>,
        from_unix_ms: u64,
        length: Duration,
        kind: ErrorKind,
    ) -> &mut Self {
        self.outages.push(Outage {
            account: account.into(),
            window: Window {
                from_unix_ms,
                until_unix_ms: from_unix_ms.saturating_add(millis(length)),
            },
            kind,
        });
        self
    }

    /// Makes `account`'s provider answer 429 beyond `rpm` calls per clock minute, as a
    /// provider enforcing a lower limit would.
    pub fn provider_rpm(&mut self, account: impl Into<String>, rpm: u32) -> &mut Self {
        self.provider_rpm.insert(account.into(), rpm);
        self
    }

    /// Seeds the random draws (the same seed replays the same way).
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.seed = seed;
        self
    }

    /// The highest number of calls `account` received in any clock minute of `traffic`:
    /// a starting point for [`provider_rpm`](Self::provider_rpm).
    pub fn peak_rpm(traffic: &Traffic, account: &str) -> u32 {
        let mut per_minute: HashMap<u64, u32> = HashMap::new();
        for record in traffic.records() {
            let calls = record
                .attempts
                .iter()
                .filter(|a| &*a.account == account)
                .count();
            *per_minute.entry(record.unix_ms / 60_000).or_default() +=
                u32::try_from(calls).unwrap_or(u32::MAX);
        }
        per_minute.into_values().max().unwrap_or(0)
    }

    pub(crate) fn behaviour_of(&self, account: &str, provider_model: &str) -> &TargetBehaviour {
        self.target(account, provider_model).unwrap_or(&self.unseen)
    }

    pub(crate) fn outage_at(&self, account: &str, unix_ms: u64) -> Option<ErrorKind> {
        self.outages
            .iter()
            .find(|o| o.account == account && o.window.contains(unix_ms))
            .map(|o| o.kind)
    }

    pub(crate) fn rpm_of(&self, account: &str) -> Option<u32> {
        self.provider_rpm.get(account).copied()
    }

    pub(crate) fn seed_value(&self) -> u64 {
        self.seed
    }
}

impl TargetBehaviour {
    /// The episode covering `unix_ms`, if the target is rate limiting then.
    pub(crate) fn rate_limited_at(&self, unix_ms: u64) -> Option<&Window> {
        let after = self
            .rate_limit_episodes
            .partition_point(|w| w.until_unix_ms <= unix_ms);
        self.rate_limit_episodes
            .get(after)
            .filter(|w| w.contains(unix_ms))
    }

    /// The error a uniform draw `u` gives, if any.
    pub(crate) fn error_for(&self, u: f64) -> Option<ErrorKind> {
        drawn_kind(&self.error_rates, u)
    }

    /// The mid-stream break a uniform draw `u` gives an opened stream, if any.
    pub(crate) fn stream_break_for(&self, u: f64) -> Option<ErrorKind> {
        drawn_kind(&self.stream_breaks, u)
    }
}

fn drawn_kind(rates: &[ErrorRate], u: f64) -> Option<ErrorKind> {
    let mut bound = 0.0;
    for ErrorRate { kind, rate } in rates {
        bound += rate;
        if u < bound {
            return Some(*kind);
        }
    }
    None
}

/// Shares of `total`, by kind, in the order of the kinds.
fn rates(counts: HashMap<ErrorKind, u64>, total: u64) -> Vec<ErrorRate> {
    let total = total.max(1) as f64;
    let mut rates: Vec<ErrorRate> = counts
        .into_iter()
        .map(|(kind, count)| ErrorRate {
            kind,
            rate: count as f64 / total,
        })
        .collect();
    rates.sort_by_key(|e| e.kind as u8);
    rates
}

impl Observed {
    fn into_behaviour(mut self) -> TargetBehaviour {
        let rate_limited_calls = self.rate_limited.len() as u64;
        let error_rates = rates(self.errors, self.calls.saturating_sub(rate_limited_calls));
        self.rate_limited.sort_by_key(|w| w.from_unix_ms);
        let mut episodes: Vec<Window> = Vec::with_capacity(self.rate_limited.len());
        for window in self.rate_limited {
            match episodes.last_mut() {
                Some(last) if window.from_unix_ms <= last.until_unix_ms => {
                    last.until_unix_ms = last.until_unix_ms.max(window.until_unix_ms);
                }
                _ => episodes.push(window),
            }
        }
        let latency = Quantiles::from_values(self.latency);
        let failure_latency = if self.failure_latency.is_empty() {
            latency.clone()
        } else {
            Quantiles::from_values(self.failure_latency)
        };
        TargetBehaviour {
            calls: self.calls,
            latency_ms: latency,
            failure_latency_ms: failure_latency,
            error_rates,
            rate_limit_episodes: episodes,
            output_tokens: Quantiles::from_values(self.output_tokens),
            stream_breaks: rates(self.stream_breaks, self.streams_opened),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::TrafficRecord;

    fn record(unix_ms: u64, attempts: &str) -> TrafficRecord {
        let line = format!(
            r#"{{"unix_ms":{unix_ms},"step":"inference","purpose":"chat","input_tokens":10,"outcome":"ok","latency_us":1,"attempts":[{attempts}]}}"#
        );
        serde_json::from_str(&line).unwrap()
    }

    fn ok(latency_ms: u64, output: u32) -> String {
        format!(
            r#"{{"model":"m","account":"a","provider_model":"x","outcome":"success","latency_us":{},"usage":{{"output_tokens":{output}}}}}"#,
            latency_ms * 1000
        )
    }

    fn failed(kind: &str, retry_after_ms: Option<u64>) -> String {
        let retry = retry_after_ms.map_or(String::new(), |ms| format!(r#","retry_after_ms":{ms}"#));
        format!(
            r#"{{"model":"m","account":"a","provider_model":"x","outcome":"failed","error":"{kind}","latency_us":5000{retry}}}"#
        )
    }

    #[test]
    fn fitting_separates_429_episodes_from_error_rates() {
        let traffic = Traffic::from_records([
            record(0, &ok(100, 10)),
            record(
                1_000,
                &format!("{},{}", failed("server_error", None), ok(300, 30)),
            ),
            record(2_000, &failed("rate_limited", Some(4_000))),
            // Inside the first episode's retry-after: merged into one.
            record(3_000, &failed("rate_limited", Some(1_000))),
            record(20_000, &failed("rate_limited", None)),
            record(30_000, &ok(200, 20)),
        ]);
        let fitted = Behaviours::fit(&traffic);
        let target = fitted.target("a", "x").unwrap();
        assert_eq!(target.calls, 7);
        // One server error among the four calls outside 429s.
        assert_eq!(
            target.error_rates,
            [ErrorRate {
                kind: ErrorKind::ServerError,
                rate: 0.25
            }]
        );
        let episodes: Vec<(u64, u64)> = target
            .rate_limit_episodes
            .iter()
            .map(|w| (w.from_unix_ms, w.until_unix_ms))
            .collect();
        // A 429 without retry-after counts as one second.
        assert_eq!(episodes, [(2_000, 6_005), (20_000, 21_005)]);
        assert_eq!(target.latency_ms.quantile(0.0), 100.0);
        assert_eq!(target.latency_ms.quantile(1.0), 300.0);
        assert_eq!(target.output_tokens.quantile(0.5), 20.0);
        assert!(target.rate_limited_at(4_000).is_some());
        assert!(target.rate_limited_at(6_005).is_none());
        assert!(fitted.target("a", "unknown").is_none());
        assert_eq!(fitted.behaviour_of("a", "unknown").error_rates, []);
        assert_eq!(
            fitted.behaviour_of("a", "unknown").latency_ms.quantile(1.0),
            300.0
        );
    }

    #[test]
    fn outages_and_rpm_caps_apply_to_their_account_only() {
        let traffic = Traffic::from_records([record(10_000, &ok(100, 10))]);
        let mut behaviours = Behaviours::fit(&traffic);
        behaviours
            .outage_after("a", Duration::from_secs(60), Duration::from_secs(30))
            .provider_rpm("b", 5);
        assert_eq!(behaviours.outage_at("a", 69_999), None);
        assert_eq!(
            behaviours.outage_at("a", 70_000),
            Some(ErrorKind::ServerError)
        );
        assert_eq!(behaviours.outage_at("a", 100_000), None);
        assert_eq!(behaviours.outage_at("b", 80_000), None);
        assert_eq!(behaviours.rpm_of("b"), Some(5));
        assert_eq!(behaviours.rpm_of("a"), None);
    }

    #[test]
    fn error_draws_follow_the_rates_in_order() {
        let behaviour = TargetBehaviour {
            error_rates: vec![
                ErrorRate {
                    kind: ErrorKind::Timeout,
                    rate: 0.1,
                },
                ErrorRate {
                    kind: ErrorKind::ServerError,
                    rate: 0.2,
                },
            ],
            ..TargetBehaviour::default()
        };
        assert_eq!(behaviour.error_for(0.05), Some(ErrorKind::Timeout));
        assert_eq!(behaviour.error_for(0.25), Some(ErrorKind::ServerError));
        assert_eq!(behaviour.error_for(0.31), None);
    }
}
