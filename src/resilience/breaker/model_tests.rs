//! The breaker against a reference model: a plain state machine over a list of events,
//! driven by random sequences of calls, outcomes, abandoned permits and clock moves.

use proptest::prelude::*;

use super::*;

const WINDOW_MS: u64 = 10_000;
const SLOT_MS: u64 = WINDOW_MS / 10;
const RECOVERY_MS: u64 = 5_000;

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Succeed(usize),
    Fail(usize, ErrorKind),
    Abandon(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop::sample::select(vec![
        ErrorKind::ServerError,
        ErrorKind::Timeout,
        ErrorKind::RateLimited,
        ErrorKind::InvalidRequest,
        ErrorKind::Auth,
    ]);
    prop_oneof![
        4 => Just(Op::Acquire),
        3 => any::<usize>().prop_map(Op::Succeed),
        3 => (any::<usize>(), kind).prop_map(|(i, k)| Op::Fail(i, k)),
        1 => any::<usize>().prop_map(Op::Abandon),
        2 => (0..2 * WINDOW_MS).prop_map(Op::Advance),
    ]
}

fn config() -> impl Strategy<Value = BreakerConfig> {
    (
        prop::option::of(1..6u32),
        prop::option::of((0.2..=1.0f64, 1..8u32)),
        1..4u32,
    )
        .prop_filter("one criterion", |(count, rate, _)| {
            count.is_some() || rate.is_some()
        })
        .prop_map(|(count, rate, trials)| {
            let mut config = BreakerConfig::default()
                .failure_threshold(count)
                .window(Duration::from_millis(WINDOW_MS))
                .recovery(Duration::from_millis(RECOVERY_MS))
                .half_open_trials(trials);
            if let Some((rate, min_calls)) = rate {
                config = config.failure_rate(rate, min_calls);
            }
            config
        })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ModelPhase {
    Closed,
    Open { until_ms: u64 },
    HalfOpen { started: u32, succeeded: u32 },
}

/// The breaker as the docs describe it, without atomics or packing.
struct Model {
    config: BreakerConfig,
    phase: ModelPhase,
    period: u64,
    /// `(slot, fault)` of each counted call in the current closed period.
    events: Vec<(u64, bool)>,
}

/// A permit as the model sees it: the period it belongs to and whether it is a trial.
#[derive(Clone, Copy, Debug)]
struct ModelPermit {
    period: u64,
    trial: bool,
}

impl Model {
    fn window(&self, now_ms: u64) -> (u64, u64) {
        let slot = now_ms / SLOT_MS;
        let recent = self.events.iter().filter(|(s, _)| slot - s < 10);
        let calls = recent.clone().count() as u64;
        let faults = recent.filter(|(_, fault)| *fault).count() as u64;
        (calls, faults)
    }

    fn enter(&mut self, phase: ModelPhase) {
        self.phase = phase;
        self.period += 1;
    }

    fn acquire(&mut self, now_ms: u64) -> Option<ModelPermit> {
        if let ModelPhase::Open { until_ms } = self.phase
            && now_ms >= until_ms
        {
            self.enter(ModelPhase::HalfOpen {
                started: 0,
                succeeded: 0,
            });
        }
        match &mut self.phase {
            ModelPhase::Closed => Some(ModelPermit {
                period: self.period,
                trial: false,
            }),
            ModelPhase::Open { .. } => None,
            ModelPhase::HalfOpen { started, .. } => {
                (*started < self.config.half_open_trials).then(|| {
                    *started += 1;
                    ModelPermit {
                        period: self.period,
                        trial: true,
                    }
                })
            }
        }
    }

    fn succeed(&mut self, permit: ModelPermit, now_ms: u64) {
        if permit.period != self.period {
            return;
        }
        match &mut self.phase {
            ModelPhase::Closed => self.events.push((now_ms / SLOT_MS, false)),
            ModelPhase::HalfOpen { succeeded, .. } => {
                *succeeded += 1;
                if *succeeded == self.config.half_open_trials {
                    self.events.clear();
                    self.enter(ModelPhase::Closed);
                }
            }
            ModelPhase::Open { .. } => {}
        }
    }

    fn fail(&mut self, permit: ModelPermit, kind: ErrorKind, now_ms: u64) {
        if !kind.is_provider_fault() {
            self.abandon(permit);
            return;
        }
        if permit.period != self.period {
            return;
        }
        let open = ModelPhase::Open {
            until_ms: now_ms + RECOVERY_MS,
        };
        match self.phase {
            ModelPhase::Closed => {
                self.events.push((now_ms / SLOT_MS, true));
                let (calls, faults) = self.window(now_ms);
                if self.config.trips(faults, calls) {
                    self.enter(open);
                }
            }
            ModelPhase::HalfOpen { .. } => self.enter(open),
            ModelPhase::Open { .. } => {}
        }
    }

    fn abandon(&mut self, permit: ModelPermit) {
        if let ModelPhase::HalfOpen { started, succeeded } = &mut self.phase
            && permit.trial
            && permit.period == self.period
            && *started > *succeeded
        {
            *started -= 1;
        }
    }
}

fn check_agrees(breaker: &CircuitBreaker, model: &Model, t0: Instant, now_ms: u64) {
    let now = t0 + Duration::from_millis(now_ms);
    let expected = match model.phase {
        ModelPhase::Closed => BreakerState::Closed,
        ModelPhase::Open { until_ms } if now_ms < until_ms => BreakerState::Open {
            until: t0 + Duration::from_millis(until_ms),
        },
        _ => BreakerState::HalfOpen,
    };
    assert_eq!(breaker.state(now), expected, "at {now_ms} ms");
    let snapshot = breaker.snapshot(now);
    let (calls, faults) = model.window(now_ms);
    assert_eq!(
        (snapshot.calls, snapshot.faults),
        (calls, faults),
        "window at {now_ms} ms"
    );
    if let ModelPhase::HalfOpen { started, succeeded } = model.phase {
        assert_eq!(snapshot.trials_in_flight, started - succeeded);
        assert_eq!(snapshot.trial_successes, succeeded);
    }
}

proptest! {
    #[test]
    fn the_breaker_behaves_like_its_model(config in config(), ops in prop::collection::vec(op(), 1..80)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        // A paused clock stands still, so the breaker's origin is exactly `t0`.
        let _context = runtime.enter();
        let t0 = Instant::now();
        let breaker = Arc::new(CircuitBreaker::new("model", config.clone()).unwrap());
        let mut model = Model { config, phase: ModelPhase::Closed, period: 0, events: Vec::new() };
        let mut held: Vec<(BreakerPermit, ModelPermit)> = Vec::new();
        let mut now_ms = 0;
        for op in ops {
            let now = t0 + Duration::from_millis(now_ms);
            match op {
                Op::Acquire => {
                    let real = breaker.try_acquire(now);
                    let expected = model.acquire(now_ms);
                    prop_assert_eq!(real.is_some(), expected.is_some(), "admission at {} ms", now_ms);
                    if let (Some(real), Some(expected)) = (real, expected) {
                        prop_assert_eq!(real.is_trial(), expected.trial);
                        held.push((real, expected));
                    }
                }
                Op::Succeed(i) if !held.is_empty() => {
                    let (real, expected) = held.swap_remove(i % held.len());
                    real.success(now);
                    model.succeed(expected, now_ms);
                }
                Op::Fail(i, kind) if !held.is_empty() => {
                    let (real, expected) = held.swap_remove(i % held.len());
                    real.failure(kind, now);
                    model.fail(expected, kind, now_ms);
                }
                Op::Abandon(i) if !held.is_empty() => {
                    let (real, expected) = held.swap_remove(i % held.len());
                    drop(real);
                    model.abandon(expected);
                }
                Op::Advance(ms) => now_ms += ms,
                _ => {}
            }
            check_agrees(&breaker, &model, t0, now_ms);
        }
    }
}
