//! Rate limits: sliding windows, exact counts under concurrency, settling, 429 back-off.

use std::time::Duration;

use proptest::prelude::*;
use routewise::limits::{DEFAULT_RETRY_AFTER, LimitCause, Limiter, RateLimits};
use routewise::{ErrorKind, ProviderError};
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_tasks_against_rpm_100_get_exactly_100_reservations() {
    let limiter = Limiter::new(RateLimits::new().rpm(100)).unwrap();
    let now = Instant::now();
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                limiter
                    .try_reserve("gpt-4o", 10, now)
                    .map(|held| held.settle(10))
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            granted += 1;
        }
    }
    assert_eq!(granted, 100);
    assert_eq!(limiter.snapshot(now).account.requests, 100);
    // The next window opens exactly 60 s after the first grants.
    assert!(
        limiter
            .check("gpt-4o", 10, now + MINUTE - Duration::from_nanos(1))
            .is_err()
    );
    assert!(limiter.check("gpt-4o", 10, now + MINUTE).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_token_reservations_never_exceed_tpm() {
    let limiter = Limiter::new(RateLimits::new().tpm(10_000)).unwrap();
    let now = Instant::now();
    let tasks: Vec<_> = (0..500_u64)
        .map(|i| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let tokens = 50 + (i * 37) % 400;
                limiter.try_reserve("m", tokens, now).map(|held| {
                    held.settle(tokens);
                    tokens
                })
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap().unwrap_or(0);
    }
    assert!(total <= 10_000, "granted {total} tokens");
    assert!(total > 9_500, "a full minute should fill up, got {total}");
    assert_eq!(limiter.snapshot(now).account.tokens, total);
}

#[tokio::test(start_paused = true)]
async fn the_window_slides_one_reservation_at_a_time() {
    let limiter = Limiter::new(RateLimits::new().rpm(3)).unwrap();
    let t0 = Instant::now();
    for offset in [0, 10, 20] {
        limiter
            .try_reserve("m", 0, t0 + secs(offset))
            .unwrap()
            .settle(0);
    }
    let refused = limiter.try_reserve("m", 0, t0 + secs(30)).unwrap_err();
    assert_eq!(refused.cause, LimitCause::RequestsPerMinute);
    assert_eq!(refused.retry_at(), Some(t0 + MINUTE));

    tokio::time::advance(MINUTE).await;
    // Only the first grant has left: one slot, then refused until the second leaves.
    limiter
        .try_reserve("m", 0, Instant::now())
        .unwrap()
        .settle(0);
    let refused = limiter.try_reserve("m", 0, Instant::now()).unwrap_err();
    assert_eq!(refused.retry_at(), Some(t0 + secs(70)));
    assert_eq!(
        limiter.earliest_capacity("m", 0, Instant::now()),
        Some(t0 + secs(70))
    );
}

#[tokio::test(start_paused = true)]
async fn settling_below_the_estimate_frees_token_capacity_at_once() {
    let limiter = Limiter::new(RateLimits::new().tpm(1_000)).unwrap();
    let now = Instant::now();
    let held = limiter.try_reserve("m", 900, now).unwrap();
    let refused = limiter.try_reserve("m", 500, now).unwrap_err();
    assert_eq!(refused.cause, LimitCause::TokensPerMinute);
    assert_eq!(refused.retry_at(), Some(now + MINUTE));

    held.settle(300);
    assert_eq!(limiter.snapshot(now).account.tokens, 300);
    limiter.try_reserve("m", 700, now).unwrap().settle(700);
    assert!(limiter.check("m", 1, now).is_err());
}

#[tokio::test(start_paused = true)]
async fn settling_above_the_estimate_counts_the_real_usage() {
    let limiter = Limiter::new(RateLimits::new().tpm(1_000)).unwrap();
    let now = Instant::now();
    limiter.try_reserve("m", 100, now).unwrap().settle(1_200);
    let refused = limiter.check("m", 1, now + secs(1)).unwrap_err();
    assert_eq!(refused.retry_at(), Some(now + MINUTE));
    assert!(limiter.check("m", 1_000, now + MINUTE).is_ok());
}

#[tokio::test(start_paused = true)]
async fn dropping_an_unsettled_reservation_gives_request_and_tokens_back() {
    let limiter = Limiter::new(RateLimits::new().rpm(1).tpm(100)).unwrap();
    let now = Instant::now();
    let held = limiter.try_reserve("m", 100, now).unwrap();
    assert!(limiter.check("m", 0, now).is_err());
    drop(held);
    let snapshot = limiter.snapshot(now);
    assert_eq!((snapshot.account.requests, snapshot.account.tokens), (0, 0));
    limiter.try_reserve("m", 100, now).unwrap().release();
    assert!(limiter.check("m", 100, now).is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_releases_its_reservation() {
    let limiter = Limiter::new(RateLimits::new().rpm(1)).unwrap();
    let call = {
        let limiter = limiter.clone();
        async move {
            let held = limiter.try_reserve("m", 10, Instant::now()).unwrap();
            tokio::time::sleep(secs(30)).await; // the provider call, never finished
            held.settle(10);
        }
    };
    let timed_out = tokio::time::timeout(secs(1), call).await;
    assert!(timed_out.is_err());
    assert!(limiter.check("m", 10, Instant::now()).is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_provider_429_blocks_the_account_until_its_retry_after() {
    let limiter = Limiter::new(RateLimits::new()).unwrap();
    let now = Instant::now();
    limiter.mark_limited_until(now + secs(20));
    limiter.mark_limited_until(now + secs(5)); // cannot shorten the pause
    let refused = limiter.try_reserve("any-model", 1, now).unwrap_err();
    assert_eq!(refused.cause, LimitCause::ProviderBackoff);
    assert_eq!(refused.retry_at(), Some(now + secs(20)));
    assert_eq!(limiter.snapshot(now).backoff_ms, Some(20_000));

    tokio::time::advance(secs(20)).await;
    assert!(limiter.try_reserve("any-model", 1, Instant::now()).is_ok());
    assert_eq!(limiter.snapshot(Instant::now()).backoff_ms, None);
}

#[tokio::test(start_paused = true)]
async fn only_rate_limit_errors_pause_the_account() {
    let limiter = Limiter::new(RateLimits::new()).unwrap();
    let now = Instant::now();
    let overloaded = ProviderError::new(ErrorKind::Overloaded, "busy");
    assert_eq!(limiter.record_provider_error(&overloaded, now), None);
    assert!(limiter.check("m", 1, now).is_ok());

    let with_header =
        ProviderError::new(ErrorKind::RateLimited, "slow down").with_retry_after(secs(7));
    assert_eq!(
        limiter.record_provider_error(&with_header, now),
        Some(now + secs(7))
    );
    assert_eq!(
        limiter.check("m", 1, now).unwrap_err().retry_at(),
        Some(now + secs(7))
    );

    let later = now + secs(10);
    let without_header = ProviderError::new(ErrorKind::RateLimited, "slow down");
    assert_eq!(
        limiter.record_provider_error(&without_header, later),
        Some(later + DEFAULT_RETRY_AFTER)
    );
}

#[tokio::test(start_paused = true)]
async fn per_model_limits_apply_on_top_of_the_account_limits() {
    let limits = RateLimits::new()
        .rpm(3)
        .model("gpt-4o", RateLimits::new().rpm(1));
    let limiter = Limiter::new(limits).unwrap();
    let now = Instant::now();
    limiter.try_reserve("gpt-4o", 0, now).unwrap().settle(0);
    let refused = limiter.try_reserve("gpt-4o", 0, now).unwrap_err();
    assert_eq!(refused.model.as_deref(), Some("gpt-4o"));
    assert_eq!(
        refused.to_string(),
        "requests-per-minute limit reached (model `gpt-4o`)"
    );
    limiter
        .try_reserve("gpt-4o-mini", 0, now)
        .unwrap()
        .settle(0);
    limiter
        .try_reserve("gpt-4o-mini", 0, now)
        .unwrap()
        .settle(0);
    let refused = limiter.try_reserve("gpt-4o-mini", 0, now).unwrap_err();
    assert_eq!(refused.model, None);
    let snapshot = limiter.snapshot(now);
    assert_eq!(snapshot.account.requests, 3);
    assert_eq!(snapshot.models["gpt-4o"].requests, 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_larger_than_tpm_can_never_be_admitted() {
    let limiter = Limiter::new(RateLimits::new().tpm(1_000)).unwrap();
    let now = Instant::now();
    let refused = limiter.try_reserve("m", 1_001, now).unwrap_err();
    assert_eq!(
        refused.cause,
        LimitCause::RequestTooLarge {
            tokens: 1_001,
            tpm: 1_000
        }
    );
    assert_eq!(refused.retry_at(), None);
    assert_eq!(limiter.earliest_capacity("m", 1_001, now), None);
}

#[test]
fn snapshots_serialize_for_dashboards() {
    let limiter = Limiter::new(
        RateLimits::new()
            .rpm(10)
            .model("m", RateLimits::new().tpm(5)),
    )
    .unwrap();
    let now = Instant::now();
    let _held = limiter.try_reserve("m", 4, now).unwrap();
    let json = serde_json::to_value(limiter.snapshot(now)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "in_flight": 1,
            "account": {"requests": 1, "tokens": 4, "rpm": 10, "tpm": null},
            "models": {"m": {"requests": 1, "tokens": 4, "rpm": null, "tpm": 5}},
            "backoff_ms": null
        })
    );
}

/// One step of a random workload: wait, then ask for tokens, and settle (to at most the
/// reservation), keep, or drop what was granted.
#[derive(Clone, Debug)]
struct Step {
    wait_ms: u64,
    tokens: u64,
    outcome: Outcome,
}

#[derive(Clone, Debug)]
enum Outcome {
    SettleTo(u64),
    Drop,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..5_000_u64,
        0..400_u64,
        prop_oneof![3 => (0..=100_u64).prop_map(Outcome::SettleTo), 1 => Just(Outcome::Drop)],
    )
        .prop_map(|(wait_ms, tokens, outcome)| Step {
            wait_ms,
            tokens,
            outcome,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the timing, no 60-second window, wherever it starts, holds more requests
    /// than the RPM or more tokens than the TPM.
    #[test]
    fn no_sixty_second_window_exceeds_the_limits(steps in prop::collection::vec(step(), 1..300)) {
        let (rpm, tpm) = (7_u32, 1_000_u64);
        let limiter = Limiter::new(RateLimits::new().rpm(rpm).tpm(tpm)).unwrap();
        let mut now = Instant::now();
        let start = now;
        let mut granted: Vec<(Duration, u64)> = Vec::new();
        for step in steps {
            now += Duration::from_millis(step.wait_ms);
            if let Ok(held) = limiter.try_reserve("m", step.tokens, now) {
                match step.outcome {
                    Outcome::SettleTo(percent) => {
                        let actual = step.tokens * percent / 100;
                        held.settle(actual);
                        granted.push((now - start, actual));
                    }
                    Outcome::Drop => drop(held),
                }
            }
        }
        // Every window that could hold the most starts at a grant.
        for (i, (from, _)) in granted.iter().enumerate() {
            let inside: Vec<_> = granted[i..].iter().take_while(|(at, _)| *at < *from + MINUTE).collect();
            prop_assert!(inside.len() <= rpm as usize, "{} requests in the window from {from:?}", inside.len());
            let tokens: u64 = inside.iter().map(|(_, t)| t).sum();
            prop_assert!(tokens <= tpm, "{tokens} tokens in the window from {from:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Reservations settled, dropped or kept in any order: the limiter counts exactly the
    /// open ones as in flight, its window holds their tokens plus the settled calls' actual
    /// tokens, and once every one is closed nothing is in flight.
    #[test]
    fn in_flight_and_window_tokens_follow_a_reference_ledger(
        ops in prop::collection::vec((0..3_u8, 0..500_u64, 0..64_usize), 1..120)
    ) {
        let limiter = Limiter::new(RateLimits::new().rpm(10_000).tpm(10_000_000)).unwrap();
        let now = Instant::now();
        let mut open = Vec::new();
        let mut settled_tokens = 0;
        let mut settled_requests = 0;
        for (op, amount, pick) in ops {
            match op {
                0 => open.push(limiter.try_reserve("m", amount, now).unwrap()),
                _ if open.is_empty() => {}
                1 => {
                    let held = open.swap_remove(pick % open.len());
                    held.settle(amount);
                    settled_tokens += amount;
                    settled_requests += 1;
                }
                _ => drop(open.swap_remove(pick % open.len())),
            }
            let snapshot = limiter.snapshot(now);
            prop_assert_eq!(snapshot.in_flight as usize, open.len());
            prop_assert_eq!(snapshot.account.requests as usize, open.len() + settled_requests);
            let held: u64 = open.iter().map(|r| r.tokens()).sum();
            prop_assert_eq!(snapshot.account.tokens, held + settled_tokens);
        }
        drop(open);
        prop_assert_eq!(limiter.snapshot(now).in_flight, 0);
    }
}
