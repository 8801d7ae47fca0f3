use tokio::time::advance;

use super::*;
use crate::resilience::test_support::EventLog;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn tracker(config: HealthConfig) -> HealthTracker {
    HealthTracker::new("openai-main", config).unwrap()
}

fn record_many(health: &HealthTracker, calls: u32, success: bool, latency: Duration) {
    for _ in 0..calls {
        health.record(success, latency, Instant::now());
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_account_is_healthy() {
    let health = tracker(HealthConfig::default());
    assert!(health.is_healthy(Instant::now()));
    assert_eq!(health.status(Instant::now()), HealthStatus::default());
}

#[tokio::test(start_paused = true)]
async fn turns_unhealthy_just_past_the_error_rate_threshold() {
    let health = tracker(HealthConfig::default().max_error_rate(0.5).min_samples(10));
    record_many(&health, 5, true, ms(100));
    record_many(&health, 5, false, ms(100));
    assert!(health.is_healthy(Instant::now()), "exactly 50% is allowed");
    health.record(false, ms(100), Instant::now());
    let status = health.status(Instant::now());
    assert!(status.error_rate_exceeded, "6 of 11 failed");
    assert!(!status.is_healthy());
}

#[tokio::test(start_paused = true)]
async fn too_few_calls_are_not_judged() {
    let health = tracker(HealthConfig::default().min_samples(10));
    record_many(&health, 9, false, ms(100));
    assert!(health.is_healthy(Instant::now()), "9 calls, all failed");
    health.record(false, ms(100), Instant::now());
    assert!(!health.is_healthy(Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn recovers_as_failures_slide_out_of_the_window() {
    let health = tracker(
        HealthConfig::default()
            .window(Duration::from_secs(60))
            .min_samples(4),
    );
    record_many(&health, 6, false, ms(100));
    advance(Duration::from_secs(30)).await;
    record_many(&health, 4, true, ms(100));
    assert!(!health.is_healthy(Instant::now()), "6 of 10 failed");
    advance(Duration::from_secs(29)).await;
    assert!(
        !health.is_healthy(Instant::now()),
        "the failures are 59 s old"
    );
    advance(Duration::from_secs(1)).await;
    assert!(
        health.is_healthy(Instant::now()),
        "only the 4 successes are left"
    );
    assert_eq!(health.snapshot(Instant::now()).calls, 4);
}

#[tokio::test(start_paused = true)]
async fn a_slow_p95_makes_the_account_unhealthy() {
    let health = tracker(
        HealthConfig::default()
            .max_p95_latency(ms(1_000))
            .min_samples(20),
    );
    record_many(&health, 19, true, ms(200));
    record_many(&health, 1, true, ms(5_000));
    assert!(
        health.is_healthy(Instant::now()),
        "1 slow call in 20 is 5%, the p95 is fast"
    );
    record_many(&health, 1, true, ms(5_000));
    let status = health.status(Instant::now());
    assert!(
        status.latency_exceeded,
        "2 slow in 21 puts the p95 in the slow tail"
    );
    assert!(!status.error_rate_exceeded);
}

#[tokio::test(start_paused = true)]
async fn failures_do_not_feed_latency() {
    let health = tracker(
        HealthConfig::default()
            .max_p95_latency(ms(1_000))
            .min_samples(1),
    );
    health.record(false, ms(30_000), Instant::now());
    assert_eq!(health.latency().ewma(), None);
    assert!(!health.status(Instant::now()).latency_exceeded);
}

#[tokio::test(start_paused = true)]
async fn latency_figures_are_close_to_the_truth() {
    let health = tracker(HealthConfig::default().ewma_alpha(0.05));
    // Latencies 100 ms .. 1,099 ms in a shuffled order: p95 is 1,049 ms, mean 599.5 ms.
    for i in 0..1_000u64 {
        health.record(true, ms(100 + (i * 337) % 1_000), Instant::now());
    }
    let snapshot = health.snapshot(Instant::now());
    let p95 = snapshot.latency.p95_ms.unwrap();
    assert!((p95 - 1_049.0).abs() / 1_049.0 < 0.0625, "p95 {p95}");
    // With alpha 0.05 the average mostly reflects the last ~40 calls, which are uniform
    // too; it should sit near the mean.
    let ewma = snapshot.latency.ewma_ms.unwrap();
    assert!((ewma - 599.5).abs() < 150.0, "ewma {ewma}");
}

#[tokio::test(start_paused = true)]
async fn a_successful_call_ends_an_unavailable_spell() {
    let health = tracker(HealthConfig::default().unavailable_after_probe_failures(2));
    health.record_probe(false, Instant::now());
    health.record_probe(false, Instant::now());
    assert!(health.status(Instant::now()).unavailable);
    health.record(true, ms(100), Instant::now());
    assert!(health.is_healthy(Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn probe_failures_must_be_consecutive() {
    let health = tracker(HealthConfig::default().unavailable_after_probe_failures(3));
    for ok in [false, false, true, false, false] {
        health.record_probe(ok, Instant::now());
    }
    assert!(health.is_healthy(Instant::now()));
    health.record_probe(false, Instant::now());
    assert!(health.status(Instant::now()).unavailable);
}

#[tokio::test(start_paused = true)]
async fn reading_changes_nothing_and_refresh_reports_a_silent_recovery() {
    let (log, _guard) = EventLog::install();
    let health = tracker(HealthConfig::default().min_samples(2));
    record_many(&health, 2, false, ms(100));
    assert_eq!(log.matching("account unhealthy").len(), 1);
    advance(Duration::from_secs(60)).await;
    assert!(health.is_healthy(Instant::now()));
    assert!(
        log.matching("healthy again").is_empty(),
        "reads emit nothing"
    );
    assert!(health.refresh(Instant::now()).is_healthy());
    assert!(health.refresh(Instant::now()).is_healthy());
    let events = log.matching("healthy again");
    assert_eq!(events.len(), 1, "one event per transition");
    assert!(events[0].contains("routewise.account=openai-main"));
}

#[tokio::test(start_paused = true)]
async fn transitions_name_their_reasons() {
    let (log, _guard) = EventLog::install();
    let health = tracker(HealthConfig::default().min_samples(1));
    health.record(false, ms(100), Instant::now());
    let events = log.matching("account unhealthy");
    assert_eq!(events.len(), 1);
    assert!(
        events[0].contains("error_rate_exceeded=true"),
        "{}",
        events[0]
    );
    assert!(events[0].contains("unavailable=false"), "{}", events[0]);
}

#[tokio::test(start_paused = true)]
async fn snapshot_holds_every_figure() {
    let health = tracker(HealthConfig::default().min_samples(4));
    record_many(&health, 3, true, ms(100));
    health.record(false, ms(100), Instant::now());
    health.record_probe(false, Instant::now());
    let snapshot = health.snapshot(Instant::now());
    assert!(snapshot.healthy);
    assert_eq!((snapshot.calls, snapshot.failures), (4, 1));
    assert_eq!(snapshot.error_rate, Some(0.25));
    assert_eq!(snapshot.latency.samples, 3);
    assert_eq!(snapshot.consecutive_probe_failures, 1);
    assert_eq!(snapshot.last_probe_ok, Some(false));
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["status"]["error_rate_exceeded"], false);
    assert_eq!(json["latency"]["samples"], 3);
}

#[test]
fn status_reads_as_its_reasons() {
    assert_eq!(HealthStatus::default().to_string(), "healthy");
    let status = HealthStatus {
        error_rate_exceeded: true,
        latency_exceeded: false,
        unavailable: true,
    };
    assert_eq!(
        status.to_string(),
        "unhealthy: error rate above the limit, probes failing"
    );
}

#[test]
fn concurrent_records_are_all_counted() {
    let health = tracker(HealthConfig::default());
    let now = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let health = &health;
            s.spawn(move || {
                for i in 0..1_000 {
                    health.record((t + i) % 4 != 0, ms(100), now);
                }
            });
        }
    });
    let snapshot = health.snapshot(now);
    assert_eq!((snapshot.calls, snapshot.failures), (8_000, 2_000));
    assert_eq!(snapshot.latency.samples, 6_000);
}

/// The verdict straight from the window's totals, with no shortcut.
fn judged_from_totals(health: &HealthTracker, now: Instant) -> HealthStatus {
    let [succeeded, failed, slow] = health.outcomes.totals(now);
    health.judge(succeeded, failed, slow)
}

proptest::proptest! {
    /// `status` skips the window while no failed or slow call is in it; whatever calls
    /// come and go, that must never change the verdict.
    #[test]
    fn status_always_agrees_with_judging_the_window_totals(
        calls in proptest::collection::vec((0u64..4_000, proptest::bool::ANY, 0u64..2_000), 1..80),
        probes_failing in 0u32..3,
        look_ahead in proptest::collection::vec(0u64..25_000, 1..6),
    ) {
        let health = tracker(
            HealthConfig::default()
                .window(Duration::from_secs(10))
                .min_samples(3)
                .max_p95_latency(ms(1_000))
                .unavailable_after_probe_failures(2),
        );
        let mut now = Instant::now();
        for _ in 0..probes_failing {
            health.record_probe(false, now);
        }
        for (gap, success, latency) in calls {
            now += ms(gap);
            health.record(success, ms(latency), now);
            proptest::prop_assert_eq!(health.status(now), judged_from_totals(&health, now));
            for ahead in &look_ahead {
                let later = now + ms(*ahead);
                proptest::prop_assert_eq!(
                    health.status(later),
                    judged_from_totals(&health, later)
                );
            }
        }
    }
}
