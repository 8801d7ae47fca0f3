//! The simulated provider of a replay: one per account, answering as the [`Behaviours`]
//! say, on tokio's (paused) clock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use super::behaviour::Behaviours;
use crate::account::AccountInfo;
use crate::provider::{
    ErrorKind, Provider, ProviderError, ProviderEvent, ProviderRequest, ProviderResponse,
    ProviderStream,
};
use crate::types::Usage;

/// The metadata key under which a replayed request carries its recorded token counts.
pub(crate) const HINT_KEY: &str = "routewise.replay";

/// Where replay time stands: the tokio clock, mapped onto the recording's wall clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplayClock {
    pub(crate) started: Instant,
    pub(crate) start_unix_ms: u64,
}

impl ReplayClock {
    pub(crate) fn unix_ms(&self) -> u64 {
        let elapsed = self.started.elapsed().as_millis();
        self.start_unix_ms + u64::try_from(elapsed).unwrap_or(u64::MAX)
    }
}

pub(crate) struct ModelledProvider {
    account: Arc<str>,
    behaviours: Arc<Behaviours>,
    clock: ReplayClock,
    rng: AtomicU64,
    /// The clock minute and the calls counted in it, for a provider-side RPM cap.
    minute: Mutex<(u64, u32)>,
}

impl ModelledProvider {
    pub(crate) fn new(account: Arc<str>, behaviours: Arc<Behaviours>, clock: ReplayClock) -> Self {
        let seed = account
            .bytes()
            .fold(behaviours.seed_value() ^ 0x9E37_79B9_7F4A_7C15, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
            });
        Self {
            account,
            behaviours,
            clock,
            rng: AtomicU64::new(seed | 1),
            minute: Mutex::new((0, 0)),
        }
    }

    /// A uniform draw from `0.0..1.0` (xorshift64*).
    fn uniform(&self) -> f64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        let previous = self
            .rng
            .fetch_update(Relaxed, Relaxed, |x| Some(step(x)))
            .unwrap_or_else(|x| x);
        let value = step(previous).wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A 429 when the provider-side RPM cap is reached this minute.
    fn over_rpm(&self, now_ms: u64) -> Option<ProviderError> {
        let cap = self.behaviours.rpm_of(&self.account)?;
        let minute = now_ms / 60_000;
        let mut counted = self.minute.lock().unwrap_or_else(|e| e.into_inner());
        if counted.0 != minute {
            *counted = (minute, 0);
        }
        if counted.1 >= cap {
            let wait = (minute + 1) * 60_000 - now_ms;
            return Some(rate_limited(wait));
        }
        counted.1 += 1;
        None
    }

    /// How a call of `request` goes, drawn now: its answer or error and how long it
    /// takes.
    fn draw(
        &self,
        request: &ProviderRequest<'_>,
    ) -> (Result<ProviderResponse, ProviderError>, f64) {
        let behaviour = self.behaviours.behaviour_of(&self.account, request.model());
        let now_ms = self.clock.unix_ms();
        let failure = if let Some(kind) = self.behaviours.outage_at(&self.account, now_ms) {
            Some(failure(kind))
        } else if let Some(episode) = behaviour.rate_limited_at(now_ms) {
            Some(rate_limited(episode.until_unix_ms - now_ms))
        } else if let Some(error) = self.over_rpm(now_ms) {
            Some(error)
        } else {
            behaviour.error_for(self.uniform()).map(failure)
        };
        if let Some(error) = failure {
            let latency = if behaviour.failure_latency_ms.is_empty() {
                &behaviour.latency_ms
            } else {
                &behaviour.failure_latency_ms
            };
            return (Err(error), latency.draw(self.uniform()));
        }
        let latency = behaviour.latency_ms.draw(self.uniform());
        let hint = request.metadata().get(HINT_KEY);
        let input =
            hint_tokens(hint, "input_tokens").unwrap_or_else(|| request.estimate_input_tokens());
        let drawn = behaviour.output_tokens.draw(self.uniform()).round();
        let mut output = hint_tokens(hint, "output_tokens")
            .unwrap_or(drawn as u32)
            .max(1);
        if let Some(max) = request.params().max_tokens() {
            output = output.min(max);
        }
        let answer = ProviderResponse::text("replayed", Usage::new(input, output));
        (Ok(answer), latency)
    }
}

#[async_trait]
impl Provider for ModelledProvider {
    fn provider_name(&self) -> &str {
        "replay"
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let (result, latency_ms) = self.draw(&request);
        pause(latency_ms).await;
        result
    }

    /// A failing call fails to open after its latency, as a refused HTTP request would;
    /// an answering one opens at once and sends its answer after its latency, so a caller
    /// that gives up on the stream before then cancels the call. A stream drawn to break
    /// (the target's `stream_breaks`) sends half its answer halfway, then fails.
    async fn stream(&self, request: ProviderRequest<'_>) -> Result<ProviderStream, ProviderError> {
        let (result, latency_ms) = self.draw(&request);
        if result.is_err() {
            pause(latency_ms).await;
        }
        let answer = result?;
        let behaviour = self.behaviours.behaviour_of(&self.account, request.model());
        let events: Vec<Result<ProviderEvent, ProviderError>> =
            match behaviour.stream_break_for(self.uniform()) {
                // Half the answer, then the break, halfway through the time.
                Some(kind) => {
                    let half = answer.content.len() / 2;
                    let text = answer.content.get(..half.max(1)).unwrap_or("r").to_owned();
                    vec![Ok(ProviderEvent::TextDelta(text)), Err(failure(kind))]
                }
                None => answer.into_events().into_iter().map(Ok).collect(),
            };
        let wait = if events.last().is_some_and(Result::is_err) {
            latency_ms / 2.0
        } else {
            latency_ms
        };
        let later = async move {
            pause(wait).await;
            futures::stream::iter(events)
        };
        Ok(Box::pin(futures::stream::once(later).flatten()))
    }

    async fn health_check(&self, _account: &AccountInfo) -> Result<(), ProviderError> {
        match self
            .behaviours
            .outage_at(&self.account, self.clock.unix_ms())
        {
            Some(_) => Err(ProviderError::new(
                ErrorKind::Connection,
                "simulated outage",
            )),
            None => Ok(()),
        }
    }
}

fn hint_tokens(hint: Option<&Value>, field: &str) -> Option<u32> {
    hint?
        .get(field)?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
}

async fn pause(ms: f64) {
    if ms > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(ms / 1000.0)).await;
    }
}

fn failure(kind: ErrorKind) -> ProviderError {
    ProviderError::new(kind, "simulated failure (replay)")
}

fn rate_limited(wait_ms: u64) -> ProviderError {
    failure(ErrorKind::RateLimited)
        .with_status(429)
        .with_retry_after(Duration::from_millis(wait_ms.max(1)))
}
