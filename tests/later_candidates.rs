//! A route is planned up to its first candidate; the candidates after it are planned when
//! the request reaches them. These scenarios make the first candidate fail and check
//! what happens after: the order of the fallbacks, the targets passed over and why, and
//! the attempt caps. Each runs twice: on its policy as it is (planned lazily), and with
//! `cheapest_first` on a route without prices, which keeps route order but makes the
//! router plan the whole route up front. Both must give the same answer, and the one
//! written in the test.

use std::time::Duration;

use routewise::sim::{SimProvider, SimStep};
use routewise::{
    BreakerConfig, Budget, ChatRequest, Error, ErrorKind, HealthConfig, LogicalModel, Policy,
    Price, ProviderAccount, Purpose, RateLimits, RetryPolicy, RouteOptions, RouteStep, Router,
    RouterBuilder, StepType, Target, Usd,
};

/// The two ways a route is planned.
const PLANNINGS: [Planning; 2] = [Planning::UpToFirst, Planning::Whole];

#[derive(Clone, Copy, Debug)]
enum Planning {
    /// The policy as written: its route is planned up to the first candidate.
    UpToFirst,
    /// The same route with `cheapest_first` and no prices: planned whole, same order.
    Whole,
}

/// What a request's end looks like from outside, in comparable form.
#[derive(Debug, PartialEq)]
struct Seen {
    /// The account that answered, or the error's kind.
    end: String,
    /// The accounts called, in order, with how each call ended.
    attempts: Vec<(String, String)>,
    /// The accounts passed over, in the order the error lists them, with why.
    skipped: Vec<(String, String)>,
}

fn seen(result: Result<routewise::ChatResponse, Error>) -> Seen {
    let (end, attempts, skipped) = match result {
        Ok(response) => (
            response.served_by.account.to_string(),
            response.attempts,
            Vec::new(),
        ),
        Err(error) => {
            let end = format!("{error:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap()
                .to_owned();
            let (attempts, skipped) = match error {
                Error::RateLimited {
                    attempts, skipped, ..
                } => (attempts, skipped),
                Error::AllTargetsFailed { attempts, .. } => (attempts, Vec::new()),
                Error::NoAvailableTarget { skipped, .. }
                | Error::BudgetExhausted { skipped, .. }
                | Error::CircuitOpen { skipped, .. } => (Vec::new(), skipped),
                other => panic!("unexpected error: {other:?}"),
            };
            (end, attempts, skipped)
        }
    };
    Seen {
        end,
        attempts: attempts
            .iter()
            .map(|a| {
                let outcome = match &a.outcome {
                    routewise::AttemptOutcome::Failed { error } => error.kind().to_string(),
                    other => format!("{other:?}"),
                };
                (a.target.account.to_string(), outcome)
            })
            .collect(),
        skipped: skipped
            .iter()
            .map(|s| {
                let reason = format!("{:?}", s.reason);
                let reason = reason.split([' ', '{']).next().unwrap().to_owned();
                (s.target.account.to_string(), reason)
            })
            .collect(),
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn policy(planning: Planning) -> Policy {
    let policy = Policy::new("default").retry(RetryPolicy::none());
    match planning {
        Planning::UpToFirst => policy,
        Planning::Whole => policy.cheapest_first(),
    }
}

fn request() -> ChatRequest {
    ChatRequest::user("hi")
}

async fn send(router: &Router, request: ChatRequest) -> Result<routewise::ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
}

/// A request pinned to `account`'s target of model `m`, to set its state up.
fn pinned(account: &str) -> ChatRequest {
    let mut options = RouteOptions::new();
    options.pin = Some(RouteStep::target("m", account));
    request().options(options)
}

fn failing(kind: ErrorKind) -> SimProvider {
    SimProvider::new().failure_kind(kind).always_fail()
}

/// Health that never demotes, so only what a scenario sets moves traffic.
fn lenient_health() -> HealthConfig {
    HealthConfig::default().max_error_rate(1.0)
}

#[tokio::test(start_paused = true)]
async fn fallbacks_follow_tiers_then_models_in_route_order() {
    for planning in PLANNINGS {
        let sims: Vec<SimProvider> = (0..5)
            .map(|i| match i {
                4 => SimProvider::new().reply("e"),
                _ => failing(ErrorKind::ServerError),
            })
            .collect();
        let names = ["a", "b", "c", "d", "e"];
        let mut builder = RouterBuilder::new().health(lenient_health());
        for (name, sim) in names.iter().zip(&sims) {
            builder = builder.account(ProviderAccount::new(*name, sim.clone()));
        }
        // Tier 0 of `first` is a then c; b is its tier 1; `second` follows.
        let router = builder
            .model(
                LogicalModel::new("first")
                    .target(Target::new("a", "x"))
                    .target(Target::new("b", "x").tier(1))
                    .target(Target::new("c", "x")),
            )
            .model(
                LogicalModel::new("second")
                    .target(Target::new("d", "x"))
                    .target(Target::new("e", "x")),
            )
            .policy(policy(planning).route(["first", "second"]))
            .build()
            .unwrap();
        let outcome = seen(send(&router, request()).await);
        let attempts = pairs(&[
            ("a", "server error"),
            ("c", "server error"),
            ("b", "server error"),
            ("d", "server error"),
            ("e", "Success"),
        ]);
        assert_eq!(
            outcome,
            Seen {
                end: "e".into(),
                attempts,
                skipped: Vec::new()
            },
            "{planning:?}"
        );
        let calls: Vec<u64> = sims.iter().map(SimProvider::calls).collect();
        assert_eq!(calls, [1, 1, 1, 1, 1], "{planning:?}");
        assert_eq!(
            router.stats().policy("default").unwrap().fallbacks,
            4,
            "{planning:?}"
        );
    }
}

/// Model `m` over accounts a to e: a and e answer 429, b's one request a minute is spent,
/// c's breaker is open, d's budget cannot cover the request's worst case.
async fn passed_over_router(planning: Planning) -> (Router, Vec<SimProvider>) {
    let sims = vec![
        failing(ErrorKind::RateLimited),
        SimProvider::new().reply("b"),
        failing(ErrorKind::ServerError),
        SimProvider::new().reply("d"),
        failing(ErrorKind::RateLimited),
    ];
    let price = Price::per_million(Usd::from_cents(100), Usd::from_cents(200));
    let router = RouterBuilder::new()
        .account(ProviderAccount::new("a", sims[0].clone()))
        .account(ProviderAccount::new("b", sims[1].clone()).limits(RateLimits::new().rpm(1)))
        .account(ProviderAccount::new("c", sims[2].clone()))
        .account(ProviderAccount::new("d", sims[3].clone()).budget(Budget::monthly_usd(0.01)))
        .account(ProviderAccount::new("e", sims[4].clone()))
        .model(
            LogicalModel::new("m")
                .defaults(routewise::SamplingParams::new().max_tokens(1_000_000))
                .target(Target::new("a", "x"))
                .target(Target::new("b", "x"))
                .target(Target::new("c", "x"))
                .target(Target::new("d", "x").price(price))
                .target(Target::new("e", "x")),
        )
        .policy(policy(planning).route(["m"]))
        .breaker_defaults(
            BreakerConfig::default()
                .failure_threshold(1)
                .recovery(Duration::from_secs(600)),
        )
        .health(lenient_health())
        .queue_time(Duration::ZERO)
        .build()
        .unwrap();
    // b spends its request of the minute; c fails once and its breaker opens.
    assert_eq!(send(&router, pinned("b")).await.unwrap().content, "b");
    assert!(send(&router, pinned("c")).await.is_err());
    (router, sims)
}

#[tokio::test(start_paused = true)]
async fn targets_reached_after_a_failure_are_passed_over_for_limits_breakers_and_budget() {
    for planning in PLANNINGS {
        let (router, sims) = passed_over_router(planning).await;
        let outcome = seen(send(&router, request()).await);
        let expected = Seen {
            end: "RateLimited".into(),
            attempts: pairs(&[("a", "rate limited"), ("e", "rate limited")]),
            skipped: pairs(&[
                ("b", "RateLimited"),
                ("c", "BreakerOpen"),
                ("d", "BudgetExhausted"),
            ]),
        };
        assert_eq!(outcome, expected, "{planning:?}");
        let calls: Vec<u64> = sims.iter().map(SimProvider::calls).collect();
        assert_eq!(calls, [1, 1, 1, 0, 1], "{planning:?}: setup calls included");
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_capped_before_the_end_of_its_route_still_lists_every_target_passed_over() {
    for planning in PLANNINGS {
        let (router, sims) = passed_over_router(planning).await;
        let capped = request().options(RouteOptions::new().max_attempts(1));
        let outcome = seen(send(&router, capped).await);
        let expected = Seen {
            end: "RateLimited".into(),
            attempts: pairs(&[("a", "rate limited")]),
            skipped: pairs(&[
                ("b", "RateLimited"),
                ("c", "BreakerOpen"),
                ("d", "BudgetExhausted"),
            ]),
        };
        assert_eq!(outcome, expected, "{planning:?}");
        assert_eq!(sims[4].calls(), 0, "{planning:?}: e is never called");
    }
}

#[tokio::test(start_paused = true)]
async fn the_attempt_cap_counts_retries_and_fallbacks_exactly() {
    for planning in PLANNINGS {
        for cap in 1..=6 {
            let sims: Vec<SimProvider> = (0..5).map(|_| failing(ErrorKind::ServerError)).collect();
            let mut model = LogicalModel::new("m");
            let mut builder = RouterBuilder::new().health(lenient_health());
            for (i, sim) in sims.iter().enumerate() {
                let name = format!("t{i}");
                builder = builder.account(ProviderAccount::new(name.as_str(), sim.clone()));
                model = model.target(Target::new(name.as_str(), "x"));
            }
            let retry_once = RetryPolicy::none()
                .max_retries(1)
                .jitter(routewise::Jitter::None);
            let router = builder
                .model(model)
                .policy(
                    policy(planning)
                        .route(["m"])
                        .retry(retry_once)
                        .max_attempts(cap),
                )
                .without_breakers()
                .build()
                .unwrap();
            let outcome = seen(send(&router, request()).await);
            assert_eq!(outcome.end, "AllTargetsFailed", "{planning:?} cap {cap}");
            assert_eq!(
                outcome.attempts.len(),
                cap as usize,
                "{planning:?} cap {cap}"
            );
            // Each target is called twice (one retry) until the cap runs out.
            let calls: Vec<u64> = sims.iter().map(SimProvider::calls).collect();
            let expected: Vec<u64> = (0..5u32)
                .map(|i| u64::from(cap.saturating_sub(2 * i).min(2)))
                .collect();
            assert_eq!(calls, expected, "{planning:?} cap {cap}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn without_fallbacks_only_the_first_candidate_is_called() {
    for planning in PLANNINGS {
        let first = failing(ErrorKind::ServerError);
        let second = SimProvider::new().reply("second");
        let router = RouterBuilder::new()
            .account(ProviderAccount::new("first", first.clone()))
            .account(ProviderAccount::new("second", second.clone()))
            .model(
                LogicalModel::new("m")
                    .target(Target::new("first", "x"))
                    .target(Target::new("second", "x")),
            )
            .policy(policy(planning).route(["m"]))
            .build()
            .unwrap();
        let once = request().options(RouteOptions::new().no_fallback());
        let outcome = seen(send(&router, once).await);
        assert_eq!(outcome.end, "AllTargetsFailed", "{planning:?}");
        assert_eq!(outcome.attempts, pairs(&[("first", "server error")]));
        assert_eq!((first.calls(), second.calls()), (1, 0), "{planning:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_candidate_on_an_unhealthy_account_waits_until_every_healthy_one_failed() {
    for planning in PLANNINGS {
        let sick = SimProvider::new().reply("sick");
        let flaky = SimProvider::new().script([SimStep::Fail(ErrorKind::ServerError)]);
        let last = failing(ErrorKind::ServerError);
        let router = RouterBuilder::new()
            .account(ProviderAccount::new("sick", sick.clone()))
            .account(ProviderAccount::new("flaky", flaky.clone()))
            .account(ProviderAccount::new("last", last.clone()))
            .model(
                LogicalModel::new("m")
                    .target(Target::new("sick", "x"))
                    .target(Target::new("flaky", "x"))
                    .target(Target::new("last", "x")),
            )
            .policy(policy(planning).route(["m"]))
            .without_breakers()
            .health(
                HealthConfig::default()
                    .window(Duration::from_secs(60))
                    .min_samples(2)
                    .max_error_rate(0.5),
            )
            .build()
            .unwrap();
        sick.set_down(true);
        for _ in 0..2 {
            assert!(send(&router, pinned("sick")).await.is_err());
        }
        sick.set_down(false);
        let outcome = seen(send(&router, request()).await);
        let expected = Seen {
            end: "sick".into(),
            attempts: pairs(&[
                ("flaky", "server error"),
                ("last", "server error"),
                ("sick", "Success"),
            ]),
            skipped: Vec::new(),
        };
        assert_eq!(outcome, expected, "{planning:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn when_no_target_can_serve_the_error_lists_every_skip_in_route_order() {
    for planning in PLANNINGS {
        let (router, _) = passed_over_router(planning).await;
        // a and e answered 429: their breakers (threshold 1) opened, so every target is
        // passed over at planning.
        let _ = send(&router, request()).await;
        let outcome = seen(send(&router, request()).await);
        let expected = Seen {
            end: "NoAvailableTarget".into(),
            attempts: Vec::new(),
            skipped: pairs(&[
                ("a", "BreakerOpen"),
                ("b", "RateLimited"),
                ("c", "BreakerOpen"),
                ("d", "BudgetExhausted"),
                ("e", "BreakerOpen"),
            ]),
        };
        assert_eq!(outcome, expected, "{planning:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_moves_on_at_once_when_a_later_candidate_can_serve() {
    for planning in PLANNINGS {
        let limited = failing(ErrorKind::RateLimited);
        let backup = SimProvider::new().reply("backup");
        let router = RouterBuilder::new()
            .account(ProviderAccount::new("limited", limited.clone()))
            .account(ProviderAccount::new("backup", backup.clone()))
            .model(
                LogicalModel::new("m")
                    .target(Target::new("limited", "x"))
                    .target(Target::new("backup", "x")),
            )
            .policy(
                policy(planning)
                    .route(["m"])
                    .retry(RetryPolicy::none().max_retries(3)),
            )
            .without_breakers()
            .build()
            .unwrap();
        let outcome = seen(send(&router, request()).await);
        let expected = Seen {
            end: "backup".into(),
            attempts: pairs(&[("limited", "rate limited"), ("backup", "Success")]),
            skipped: Vec::new(),
        };
        assert_eq!(outcome, expected, "{planning:?}");
        assert_eq!(
            limited.calls(),
            1,
            "{planning:?}: no retry after its cool-down"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn skips_found_by_the_planner_come_before_skips_found_at_attempt_time() {
    for planning in PLANNINGS {
        let first = failing(ErrorKind::RateLimited);
        // Fails once (its breaker opens), then holds the half-open breaker's one trial.
        let trial = SimProvider::new().script([
            SimStep::Fail(ErrorKind::ServerError),
            SimStep::Delay(Duration::from_secs(10)),
        ]);
        let broke = SimProvider::new().reply("broke");
        let price = Price::per_million(Usd::from_cents(100), Usd::from_cents(200));
        let router = RouterBuilder::new()
            .account(ProviderAccount::new("first", first.clone()))
            .account(ProviderAccount::new("trial", trial.clone()))
            .account(ProviderAccount::new("broke", broke.clone()).budget(Budget::monthly_usd(0.01)))
            .model(
                LogicalModel::new("m")
                    .defaults(routewise::SamplingParams::new().max_tokens(1_000_000))
                    .target(Target::new("first", "x"))
                    .target(Target::new("trial", "x"))
                    .target(Target::new("broke", "x").price(price)),
            )
            .policy(policy(planning).route(["m"]))
            .breaker_defaults(
                BreakerConfig::default()
                    .failure_threshold(1)
                    .recovery(Duration::from_secs(1))
                    .half_open_trials(1),
            )
            .health(lenient_health())
            .queue_time(Duration::ZERO)
            .build()
            .unwrap();
        assert!(send(&router, pinned("trial")).await.is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        let held = tokio::spawn({
            let router = router.clone();
            async move { send(&router, pinned("trial")).await }
        });
        while trial.calls() < 2 {
            tokio::task::yield_now().await;
        }
        // `trial` passes planning (its breaker is half-open) but admission refuses it (the
        // trial is taken); `broke` is passed over by planning.
        let outcome = seen(send(&router, request()).await);
        let expected = Seen {
            end: "RateLimited".into(),
            attempts: pairs(&[("first", "rate limited")]),
            skipped: pairs(&[("broke", "BudgetExhausted"), ("trial", "BreakerOpen")]),
        };
        assert_eq!(outcome, expected, "{planning:?}");
        held.abort();
    }
}
