use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use tokio::time::advance;

use super::*;
use crate::resilience::test_support::EventLog;

const RECOVERY: Duration = Duration::from_secs(30);

fn breaker(config: BreakerConfig) -> Arc<CircuitBreaker> {
    Arc::new(CircuitBreaker::new("chat/primary", config).unwrap())
}

fn count_breaker(threshold: u32) -> Arc<CircuitBreaker> {
    breaker(
        BreakerConfig::default()
            .failure_threshold(threshold)
            .recovery(RECOVERY),
    )
}

fn fault(b: &Arc<CircuitBreaker>, now: Instant) {
    b.try_acquire(now)
        .expect("admitted")
        .failure(ErrorKind::ServerError, now);
}

fn succeed(b: &Arc<CircuitBreaker>, now: Instant) {
    b.try_acquire(now).expect("admitted").success(now);
}

/// Opens `b` (a count breaker of threshold `n`) and moves the clock to its recovery.
async fn open_then_recover(b: &Arc<CircuitBreaker>, n: u32) {
    for _ in 0..n {
        fault(b, Instant::now());
    }
    assert!(b.state(Instant::now()).is_open());
    advance(RECOVERY).await;
}

#[tokio::test(start_paused = true)]
async fn opens_exactly_at_the_failure_count() {
    let b = count_breaker(3);
    let now = Instant::now();
    succeed(&b, now);
    fault(&b, now);
    fault(&b, now);
    assert_eq!(b.state(now), BreakerState::Closed);
    fault(&b, now);
    assert_eq!(
        b.state(now),
        BreakerState::Open {
            until: now + RECOVERY
        }
    );
    assert!(b.try_acquire(now).is_none());
}

#[tokio::test(start_paused = true)]
async fn opens_exactly_at_the_failure_rate_once_min_calls_are_reached() {
    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(None)
            .failure_rate(0.5, 10),
    );
    let now = Instant::now();
    for _ in 0..9 {
        fault(&b, now);
    }
    assert_eq!(
        b.state(now),
        BreakerState::Closed,
        "9 calls: below min_calls"
    );
    fault(&b, now);
    assert!(b.state(now).is_open(), "10 calls, all faults");

    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(None)
            .failure_rate(0.5, 10),
    );
    for _ in 0..5 {
        succeed(&b, now);
    }
    for _ in 0..4 {
        fault(&b, now);
    }
    assert_eq!(b.state(now), BreakerState::Closed, "4 of 9 calls");
    fault(&b, now);
    assert!(b.state(now).is_open(), "5 of 10 calls is a rate of 0.5");
}

fn fault_of(b: &Arc<CircuitBreaker>, kind: ErrorKind, now: Instant) {
    b.try_acquire(now).expect("admitted").failure(kind, now);
}

/// One 429 opens it; 500s count towards the general threshold of 5.
fn strict_on_rate_limits() -> Arc<CircuitBreaker> {
    breaker(
        BreakerConfig::default()
            .failure_threshold(5)
            .failure_threshold_for(ErrorKind::RateLimited, 1)
            .recovery(RECOVERY),
    )
}

#[tokio::test(start_paused = true)]
async fn one_fault_of_a_strict_kind_opens_while_four_of_another_do_not_and_five_do() {
    let now = Instant::now();
    let b = strict_on_rate_limits();
    fault_of(&b, ErrorKind::RateLimited, now);
    assert!(b.state(now).is_open(), "one 429 opens it");

    let b = strict_on_rate_limits();
    for _ in 0..4 {
        fault_of(&b, ErrorKind::ServerError, now);
    }
    assert_eq!(
        b.state(now),
        BreakerState::Closed,
        "four 500s are tolerated"
    );
    fault_of(&b, ErrorKind::ServerError, now);
    assert!(b.state(now).is_open(), "the fifth 500 opens it");
}

#[tokio::test(start_paused = true)]
async fn faults_with_a_threshold_of_their_own_do_not_count_towards_the_general_one() {
    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(3)
            .failure_threshold_for(ErrorKind::Timeout, 4),
    );
    let now = Instant::now();
    for _ in 0..3 {
        fault_of(&b, ErrorKind::Timeout, now);
    }
    fault_of(&b, ErrorKind::ServerError, now);
    fault_of(&b, ErrorKind::ServerError, now);
    assert_eq!(
        b.state(now),
        BreakerState::Closed,
        "3 timeouts of 4 and 2 server errors of 3"
    );
    assert_eq!(b.snapshot(now).faults, 5, "every fault is still shown");
    fault_of(&b, ErrorKind::Timeout, now);
    assert!(b.state(now).is_open(), "the fourth timeout");
}

#[tokio::test(start_paused = true)]
async fn per_kind_faults_leave_the_window_and_are_forgotten_when_the_breaker_closes() {
    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(10)
            .failure_threshold_for(ErrorKind::RateLimited, 2)
            .window(Duration::from_secs(10))
            .recovery(RECOVERY),
    );
    fault_of(&b, ErrorKind::RateLimited, Instant::now());
    advance(Duration::from_secs(10)).await;
    fault_of(&b, ErrorKind::RateLimited, Instant::now());
    assert_eq!(b.state(Instant::now()), BreakerState::Closed);
    fault_of(&b, ErrorKind::RateLimited, Instant::now());
    assert!(b.state(Instant::now()).is_open());
    advance(RECOVERY).await;
    succeed(&b, Instant::now());
    assert_eq!(b.state(Instant::now()), BreakerState::Closed);
    fault_of(&b, ErrorKind::RateLimited, Instant::now());
    assert_eq!(
        b.state(Instant::now()),
        BreakerState::Closed,
        "the faults before it closed are forgotten"
    );
}

#[tokio::test(start_paused = true)]
async fn faults_that_left_the_window_no_longer_count() {
    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(3)
            .window(Duration::from_secs(10)),
    );
    fault(&b, Instant::now());
    fault(&b, Instant::now());
    advance(Duration::from_secs(10)).await;
    fault(&b, Instant::now());
    assert_eq!(b.state(Instant::now()), BreakerState::Closed);
    assert_eq!(b.snapshot(Instant::now()).faults, 1);
}

#[tokio::test(start_paused = true)]
async fn stays_open_for_the_recovery_window() {
    let b = count_breaker(1);
    let opened = Instant::now();
    fault(&b, opened);
    advance(RECOVERY - Duration::from_millis(1)).await;
    assert!(b.try_acquire(Instant::now()).is_none());
    assert!(b.state(Instant::now()).is_open());
    advance(Duration::from_millis(1)).await;
    assert_eq!(b.state(Instant::now()), BreakerState::HalfOpen);
    let trial = b.try_acquire(Instant::now()).expect("recovery is due");
    assert!(trial.is_trial());
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_configured_trials() {
    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(1)
            .recovery(RECOVERY)
            .half_open_trials(3),
    );
    open_then_recover(&b, 1).await;
    let now = Instant::now();
    let trials: Vec<_> = (0..3).map(|_| b.try_acquire(now).expect("trial")).collect();
    assert!(trials.iter().all(BreakerPermit::is_trial));
    assert!(b.try_acquire(now).is_none(), "a fourth trial");
    assert_eq!(b.snapshot(now).trials_in_flight, 3);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_trial_permit_frees_its_slot() {
    let b = count_breaker(1);
    open_then_recover(&b, 1).await;
    let now = Instant::now();
    let trial = b.try_acquire(now).expect("trial");
    assert!(b.try_acquire(now).is_none());
    drop(trial);
    assert_eq!(b.snapshot(now).trials_in_flight, 0);
    assert!(b.try_acquire(now).is_some_and(|p| p.is_trial()));
}

#[tokio::test(start_paused = true)]
async fn closes_once_every_trial_succeeds() {
    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(2)
            .recovery(RECOVERY)
            .half_open_trials(2),
    );
    open_then_recover(&b, 2).await;
    let now = Instant::now();
    let first = b.try_acquire(now).unwrap();
    let second = b.try_acquire(now).unwrap();
    first.success(now);
    assert_eq!(b.state(now), BreakerState::HalfOpen, "one of two trials");
    assert!(
        b.try_acquire(now).is_none(),
        "a succeeded trial keeps its slot"
    );
    second.success(now);
    assert_eq!(b.state(now), BreakerState::Closed);
    let snapshot = b.snapshot(now);
    assert_eq!((snapshot.calls, snapshot.faults), (0, 0), "a fresh window");
    fault(&b, now);
    assert_eq!(
        b.state(now),
        BreakerState::Closed,
        "old faults are forgotten"
    );
}

#[tokio::test(start_paused = true)]
async fn reopens_for_another_recovery_window_when_a_trial_fails() {
    let b = count_breaker(1);
    open_then_recover(&b, 1).await;
    let now = Instant::now();
    b.try_acquire(now).unwrap().failure(ErrorKind::Timeout, now);
    assert_eq!(
        b.state(now),
        BreakerState::Open {
            until: now + RECOVERY
        }
    );
    assert_eq!(b.snapshot(now).times_opened, 2);
    advance(RECOVERY).await;
    assert!(b.try_acquire(Instant::now()).is_some_and(|p| p.is_trial()));
}

#[tokio::test(start_paused = true)]
async fn request_errors_never_open_the_breaker() {
    let b = count_breaker(1);
    let now = Instant::now();
    let request_errors = [
        ErrorKind::InvalidRequest,
        ErrorKind::Auth,
        ErrorKind::NotFound,
        ErrorKind::ContentFiltered,
        ErrorKind::ContextLengthExceeded,
    ];
    for kind in request_errors {
        for _ in 0..100 {
            b.try_acquire(now).unwrap().failure(kind, now);
        }
    }
    assert_eq!(b.state(now), BreakerState::Closed);
    assert_eq!(
        b.snapshot(now).calls,
        0,
        "counted as neither success nor fault"
    );
}

#[tokio::test(start_paused = true)]
async fn every_provider_fault_counts() {
    let faults = [
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::RateLimited,
        ErrorKind::ServerError,
        ErrorKind::Overloaded,
        ErrorKind::MalformedResponse,
    ];
    for kind in faults {
        let b = count_breaker(1);
        let now = Instant::now();
        b.try_acquire(now).unwrap().failure(kind, now);
        assert!(b.state(now).is_open(), "{kind} should count");
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_error_on_a_trial_hands_its_slot_back() {
    let b = count_breaker(1);
    open_then_recover(&b, 1).await;
    let now = Instant::now();
    b.try_acquire(now)
        .unwrap()
        .failure(ErrorKind::InvalidRequest, now);
    assert_eq!(b.state(now), BreakerState::HalfOpen);
    assert!(b.try_acquire(now).is_some_and(|p| p.is_trial()));
}

#[tokio::test(start_paused = true)]
async fn outcomes_from_an_earlier_period_are_ignored() {
    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(1)
            .recovery(RECOVERY)
            .half_open_trials(2),
    );
    let now = Instant::now();
    let slow = b.try_acquire(now).unwrap();
    fault(&b, now);
    slow.success(now);
    assert!(b.state(now).is_open(), "a late success cannot close it");

    advance(RECOVERY).await;
    let now = Instant::now();
    let late_trial = b.try_acquire(now).unwrap();
    fault(&b, now);
    advance(RECOVERY).await;
    let now = Instant::now();
    let current = b.try_acquire(now).unwrap();
    late_trial.success(now);
    let snapshot = b.snapshot(now);
    assert_eq!(
        snapshot.trial_successes, 0,
        "the late trial belongs to the last period"
    );
    assert_eq!(snapshot.trials_in_flight, 1);
    current.success(now);
    assert_eq!(b.snapshot(now).trial_successes, 1);
}

#[tokio::test(start_paused = true)]
async fn reading_the_state_changes_nothing() {
    let b = count_breaker(1);
    open_then_recover(&b, 1).await;
    let now = Instant::now();
    for _ in 0..3 {
        assert_eq!(b.state(now), BreakerState::HalfOpen);
        let _ = b.snapshot(now);
    }
    assert_eq!(b.word().phase, Phase::Open, "only try_acquire moves it on");
}

#[tokio::test(start_paused = true)]
async fn snapshot_reports_the_window_and_the_time_to_recovery() {
    let b = count_breaker(2);
    let now = Instant::now();
    succeed(&b, now);
    fault(&b, now);
    fault(&b, now);
    advance(Duration::from_secs(10)).await;
    let snapshot = b.snapshot(Instant::now());
    assert_eq!(
        snapshot,
        BreakerSnapshot {
            state: BreakerState::Open {
                until: now + RECOVERY
            },
            recovers_in_ms: Some(20_000),
            calls: 3,
            faults: 2,
            trials_in_flight: 0,
            trial_successes: 0,
            times_opened: 1,
        }
    );
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["state"], "open");
    assert_eq!(json["recovers_in_ms"], 20_000);
}

#[tokio::test(start_paused = true)]
async fn every_state_change_is_traced() {
    let (log, _guard) = EventLog::install();
    let b = count_breaker(1);
    open_then_recover(&b, 1).await;
    let now = Instant::now();
    b.try_acquire(now).unwrap().success(now);
    let changes: Vec<_> = log
        .matching("circuit breaker")
        .iter()
        .map(|e| {
            assert!(e.contains("routewise.breaker=chat/primary"), "{e}");
            let from = e.split("from=").nth(1).unwrap().split(' ').next().unwrap();
            let to = e.split("to=").nth(1).unwrap().split(' ').next().unwrap();
            format!("{from}->{to}")
        })
        .collect();
    assert_eq!(
        changes,
        ["closed->open", "open->half_open", "half_open->closed"]
    );
}

#[test]
fn concurrent_outcomes_are_neither_lost_nor_double_counted() {
    let b = breaker(BreakerConfig::default().failure_threshold(u32::MAX));
    let now = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let b = &b;
            s.spawn(move || {
                for i in 0..1_000 {
                    let permit = b.try_acquire(now).unwrap();
                    match (t + i) % 4 {
                        0 => permit.failure(ErrorKind::Overloaded, now),
                        1 => permit.failure(ErrorKind::InvalidRequest, now),
                        _ => permit.success(now),
                    }
                }
            });
        }
    });
    let snapshot = b.snapshot(now);
    assert_eq!(snapshot.faults, 2_000);
    assert_eq!(snapshot.calls, 6_000, "request errors are not calls");
    assert_eq!(snapshot.state, BreakerState::Closed);
}

#[test]
fn concurrent_trials_never_exceed_the_limit() {
    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(1)
            .half_open_trials(3)
            .recovery(RECOVERY),
    );
    let start = Instant::now();
    fault(&b, start);
    let now = start + RECOVERY;
    let in_flight = AtomicUsize::new(0);
    let most = AtomicUsize::new(0);
    let granted = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..1_000 {
                    if let Some(permit) = b.try_acquire(now) {
                        assert!(permit.is_trial());
                        granted.fetch_add(1, SeqCst);
                        let held = in_flight.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(held, SeqCst);
                        std::hint::spin_loop();
                        in_flight.fetch_sub(1, SeqCst);
                        drop(permit);
                    }
                }
            });
        }
    });
    assert!(most.load(SeqCst) <= 3, "at most 3 trials at once");
    assert!(granted.load(SeqCst) >= 3);
    assert_eq!(
        b.snapshot(now).trials_in_flight,
        0,
        "every slot handed back"
    );
    assert_eq!(b.state(now), BreakerState::HalfOpen);
}

#[test]
fn concurrent_trial_successes_close_the_breaker_exactly_once() {
    let b = breaker(
        BreakerConfig::default()
            .failure_threshold(1)
            .half_open_trials(3)
            .recovery(RECOVERY),
    );
    let start = Instant::now();
    fault(&b, start);
    let now = start + RECOVERY;
    let trials = AtomicUsize::new(0);
    // While the trials run, the breaker refuses every other call: only permits granted
    // after it closed count as closed-period calls.
    let closed_calls = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..1_000 {
                    if let Some(permit) = b.try_acquire(now) {
                        let counter = if permit.is_trial() {
                            &trials
                        } else {
                            &closed_calls
                        };
                        counter.fetch_add(1, SeqCst);
                        permit.success(now);
                    }
                }
            });
        }
    });
    assert_eq!(trials.load(SeqCst), 3, "exactly the configured trials");
    let snapshot = b.snapshot(now);
    assert_eq!(snapshot.state, BreakerState::Closed);
    assert_eq!(snapshot.times_opened, 1);
    assert_eq!(
        snapshot.calls as usize,
        closed_calls.load(SeqCst),
        "every closed-period success counted, none twice"
    );
    assert!(
        closed_calls.load(SeqCst) > 0,
        "the breaker closed while the threads were still calling"
    );
}

#[test]
fn word_round_trips() {
    let word = Word {
        phase: Phase::HalfOpen,
        started: 65_535,
        succeeded: 7,
        generation: GENERATION_MASK,
    };
    assert_eq!(Word::unpack(word.pack()), word);
    assert_eq!(word.next(Phase::Closed).generation, 0, "generations wrap");
}
