//! Breakers, retries, timeouts and health, wired into routing. Paused clock throughout.

mod support;

use std::time::Duration;

use routewise::sim::{SimProvider, SimStep};
use routewise::{
    BreakerConfig, ChatRequest, Error, ErrorKind, HealthConfig, HedgePolicy, Jitter, LogicalModel,
    Policy, ProviderAccount, Purpose, RateLimits, RetryPolicy, RouteOptions, Router, SkipReason,
    StepType, Target, Timeouts,
};
use support::one_model;

async fn send(router: &Router) -> Result<routewise::ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
}

fn breaker() -> BreakerConfig {
    BreakerConfig::default()
        .failure_threshold(3)
        .window(Duration::from_secs(60))
        .recovery(Duration::from_secs(30))
        .half_open_trials(1)
}

/// Health set to never demote, so only breakers move traffic.
fn lenient_health() -> HealthConfig {
    HealthConfig::default().max_error_rate(1.0)
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opens_at_its_threshold_shifts_traffic_and_recovers_after_the_window() {
    let primary = SimProvider::new().reply("primary");
    let backup = SimProvider::new().reply("backup");
    let router = one_model(&[("primary", &primary), ("backup", &backup)])
        .breaker_defaults(breaker())
        .health(lenient_health())
        .build()
        .unwrap();

    primary.set_down(true);
    for _ in 0..3 {
        assert_eq!(send(&router).await.unwrap().content, "backup");
    }
    assert_eq!(primary.calls(), 3, "the third fault opens the breaker");
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    assert!(
        matches!(
            explanation.skipped[0].reason,
            SkipReason::BreakerOpen { .. }
        ),
        "{explanation}"
    );

    for _ in 0..5 {
        let response = send(&router).await.unwrap();
        assert_eq!(
            (response.content.as_str(), response.attempts.len()),
            ("backup", 1)
        );
    }
    assert_eq!(primary.calls(), 3, "an open breaker's target is not called");

    primary.set_down(false);
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(
        send(&router).await.unwrap().content,
        "primary",
        "the half-open trial succeeds"
    );
    assert_eq!(
        send(&router).await.unwrap().content,
        "primary",
        "and closes the breaker"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_half_open_trial_opens_the_breaker_again() {
    let primary = SimProvider::new();
    let backup = SimProvider::new().reply("backup");
    let router = one_model(&[("primary", &primary), ("backup", &backup)])
        .breaker_defaults(breaker())
        .health(lenient_health())
        .build()
        .unwrap();
    primary.set_down(true);
    for _ in 0..3 {
        send(&router).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(31)).await;
    send(&router).await.unwrap();
    assert_eq!(primary.calls(), 4, "one trial");
    send(&router).await.unwrap();
    assert_eq!(primary.calls(), 4, "open again after the failed trial");
}

#[tokio::test(start_paused = true)]
async fn when_every_breaker_is_open_the_request_fails_fast_saying_when_recovery_is_due() {
    let only = SimProvider::new().always_fail();
    let router = one_model(&[("only", &only)])
        .breaker_defaults(breaker())
        .health(lenient_health())
        .build()
        .unwrap();
    for _ in 0..3 {
        assert!(matches!(
            send(&router).await,
            Err(Error::AllTargetsFailed { .. })
        ));
    }
    tokio::time::advance(Duration::from_secs(10)).await;
    let err = send(&router).await.unwrap_err();
    match &err {
        Error::CircuitOpen { retry_after, .. } => assert_eq!(*retry_after, Duration::from_secs(20)),
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
    assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(only.calls(), 3);
}

/// Found by the chaos run: a request whose one candidate was refused by its half-open
/// breaker, after the planner had skipped the other target for its rate limit, failed
/// with `CircuitOpen` ("every target's circuit breaker is open") naming only the first.
#[tokio::test(start_paused = true)]
async fn a_request_that_made_no_attempt_names_every_target_passed_over_and_why() {
    let flaky = SimProvider::new().script([
        SimStep::Fail(ErrorKind::ServerError),
        SimStep::Delay(Duration::from_secs(10)),
    ]);
    let limited = SimProvider::new().reply("limited");
    let router = Router::builder()
        .account(ProviderAccount::new("flaky", flaky.clone()))
        .account(ProviderAccount::new("limited", limited.clone()).limits(RateLimits::new().rpm(1)))
        .model(
            LogicalModel::new("m")
                .target(Target::new("flaky", "x"))
                .target(Target::new("limited", "y")),
        )
        .policy(Policy::new("default").route(["m"]))
        .breaker_defaults(
            breaker()
                .failure_threshold(1)
                .recovery(Duration::from_secs(1)),
        )
        .health(lenient_health())
        .build()
        .unwrap();
    // `flaky` fails and its breaker opens; `limited` serves and spends its one request.
    assert_eq!(send(&router).await.unwrap().content, "limited");
    tokio::time::advance(Duration::from_secs(1)).await;
    // The half-open breaker's one trial call is slow and stays in flight.
    let trial = tokio::spawn({
        let router = router.clone();
        async move { send(&router).await }
    });
    while flaky.calls() < 2 {
        tokio::task::yield_now().await;
    }

    let error = send(&router).await.unwrap_err();
    let Error::NoAvailableTarget { skipped, .. } = &error else {
        panic!("expected NoAvailableTarget, got {error:?}");
    };
    let reasons: Vec<_> = skipped
        .iter()
        .map(|s| (s.target.account.to_string(), s.reason.clone()))
        .collect();
    assert!(
        matches!(
            reasons.as_slice(),
            [(limited, SkipReason::RateLimited { .. }), (flaky, SkipReason::BreakerOpen { .. })]
                if limited == "limited" && flaky == "flaky"
        ),
        "{reasons:?}"
    );
    let answer = trial.await.unwrap().unwrap();
    assert_eq!(&*answer.served_by.account, "flaky", "the trial succeeds");
}

#[tokio::test(start_paused = true)]
async fn invalid_requests_never_open_a_breaker() {
    let primary = SimProvider::new()
        .failure_kind(ErrorKind::InvalidRequest)
        .always_fail();
    let router = one_model(&[("primary", &primary)])
        .breaker_defaults(breaker())
        .build()
        .unwrap();
    for _ in 0..10 {
        assert!(matches!(send(&router).await, Err(Error::Rejected { .. })));
    }
    assert_eq!(primary.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn retries_on_the_same_target_come_before_the_fallback_but_a_429_moves_on() {
    let primary = SimProvider::new().reply("primary").script([
        SimStep::Fail(ErrorKind::ServerError),
        SimStep::RateLimited(Duration::from_secs(2)),
    ]);
    let backup = SimProvider::new().reply("backup");
    let router = one_model(&[("primary", &primary), ("backup", &backup)])
        .policy(
            Policy::new("retrying").priority(1).route(["m"]).retry(
                RetryPolicy::default()
                    .max_retries(2)
                    .backoff(Duration::from_millis(100), Duration::from_secs(1))
                    .jitter(Jitter::None),
            ),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let response = send(&router).await.unwrap();
    // The 500 is retried on the same target after the backoff; the 429 that follows is
    // not waited out, since the backup can serve now.
    assert_eq!(response.content, "backup");
    assert_eq!(response.attempts.len(), 3);
    assert_eq!(primary.calls(), 2);
    assert_eq!(backup.calls(), 1);
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(router.stats().policy("retrying").unwrap().fallbacks, 1);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_target_times_out_per_attempt_and_the_deadline_bounds_the_request() {
    let hanging = SimProvider::new().script([SimStep::Hang, SimStep::Hang]);
    let backup = SimProvider::new().reply("backup");
    let router = one_model(&[("hanging", &hanging), ("backup", &backup)])
        .policy(
            Policy::new("timed")
                .priority(1)
                .route(["m"])
                .timeouts(Timeouts::new().attempt(Duration::from_secs(2))),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let response = send(&router).await.unwrap();
    assert_eq!(response.content, "backup");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    match &response.attempts[0].outcome {
        routewise::AttemptOutcome::Failed { error } => assert_eq!(error.kind(), ErrorKind::Timeout),
        other => panic!("{other:?}"),
    }

    let request =
        ChatRequest::user("hi").options(RouteOptions::new().deadline(Duration::from_secs(1)));
    let started = tokio::time::Instant::now();
    let err = router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_account_goes_last_and_returns_when_its_window_clears() {
    let sick = SimProvider::new().reply("sick");
    let well = SimProvider::new().reply("well");
    let router = one_model(&[("sick", &sick), ("well", &well)])
        .without_breakers()
        .health(
            HealthConfig::default()
                .window(Duration::from_secs(10))
                .min_samples(4)
                .max_error_rate(0.5),
        )
        .build()
        .unwrap();
    sick.set_down(true);
    for _ in 0..4 {
        assert_eq!(send(&router).await.unwrap().content, "well");
    }
    sick.set_down(false);
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    assert_eq!(
        explanation.candidates[0].account.as_ref(),
        "well",
        "{explanation}"
    );
    assert!(
        explanation
            .to_string()
            .contains("account unhealthy: moved last")
    );
    assert_eq!(send(&router).await.unwrap().content, "well");

    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(
        send(&router).await.unwrap().content,
        "sick",
        "healthy again once the window slid"
    );
}

#[tokio::test(start_paused = true)]
async fn background_probes_mark_a_down_account_unhealthy_and_stop_with_the_router() {
    let flaky = SimProvider::new().reply("flaky");
    let steady = SimProvider::new().reply("steady");
    let router = one_model(&[("flaky", &flaky), ("steady", &steady)])
        .health(
            HealthConfig::default()
                .probe_every(Duration::from_secs(5))
                .unavailable_after_probe_failures(2),
        )
        .build()
        .unwrap();
    flaky.set_down(true);
    tokio::time::sleep(Duration::from_secs(11)).await;
    flaky.set_down(false);
    let response = send(&router).await.unwrap();
    assert_eq!(
        response.content, "steady",
        "two failed probes demoted the account"
    );
    assert_eq!(flaky.probes(), 2);
    drop(router);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        flaky.probes(),
        2,
        "no probe runs after the router is dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hedge_races_the_next_candidate_when_the_first_is_slow_and_cancels_the_loser() {
    let slow = SimProvider::new()
        .reply("slow")
        .latency(Duration::from_millis(500));
    let fast = SimProvider::new()
        .reply("fast")
        .latency(Duration::from_millis(50));
    let router = one_model(&[("slow", &slow), ("fast", &fast)])
        .policy(
            Policy::new("hedged")
                .priority(1)
                .route(["m"])
                .hedge(HedgePolicy::After(Duration::from_millis(100))),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let response = send(&router).await.unwrap();
    assert_eq!(response.content, "fast");
    assert_eq!(started.elapsed(), Duration::from_millis(150));
    let outcomes: Vec<(&str, bool)> = response
        .attempts
        .iter()
        .map(|a| {
            (
                &*a.target.account,
                matches!(a.outcome, routewise::AttemptOutcome::Cancelled),
            )
        })
        .collect();
    assert_eq!(outcomes, [("slow", true), ("fast", false)]);
    let stats = router.stats();
    let slow_stats = stats.target("m", "slow").unwrap();
    assert_eq!(
        (slow_stats.attempts, slow_stats.cancelled, slow_stats.failed),
        (1, 1, 0)
    );
    let policy = stats.policy("hedged").unwrap();
    assert_eq!(
        (policy.matched, policy.succeeded, policy.fallbacks),
        (1, 1, 0)
    );
    assert_eq!(slow.calls() + fast.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_fast_first_answer_starts_no_hedge_and_a_failed_hedge_leaves_the_first_running() {
    let first = SimProvider::new()
        .reply("first")
        .latency(Duration::from_millis(300));
    let second = SimProvider::new()
        .always_fail()
        .latency(Duration::from_millis(10));
    let router = one_model(&[("first", &first), ("second", &second)])
        .policy(
            Policy::new("hedged")
                .priority(1)
                .route(["m"])
                .hedge(HedgePolicy::After(Duration::from_millis(100))),
        )
        .build()
        .unwrap();
    let response = send(&router).await.unwrap();
    assert_eq!(
        response.content, "first",
        "the hedge failed; the first call still answered"
    );
    assert_eq!(response.attempts.len(), 2);
    assert_eq!(second.calls(), 1);

    let quick = SimProvider::new()
        .reply("quick")
        .latency(Duration::from_millis(20));
    let spare = SimProvider::new();
    let router = one_model(&[("quick", &quick), ("spare", &spare)])
        .policy(
            Policy::new("hedged")
                .priority(1)
                .route(["m"])
                .hedge(HedgePolicy::After(Duration::from_millis(100))),
        )
        .build()
        .unwrap();
    assert_eq!(send(&router).await.unwrap().attempts.len(), 1);
    assert_eq!(spare.calls(), 0, "no hedge before the delay");
}

#[tokio::test(start_paused = true)]
async fn retries_per_error_kind_are_exact_and_request_errors_are_never_retried() {
    let flaky = SimProvider::new().reply("flaky").script([
        SimStep::Fail(ErrorKind::ServerError),
        SimStep::Fail(ErrorKind::ServerError),
        SimStep::Fail(ErrorKind::ServerError),
        SimStep::RateLimited(Duration::from_secs(1)),
    ]);
    let backup = SimProvider::new().reply("backup");
    let policy = Policy::new("per-kind")
        .priority(1)
        .route(["m"])
        .retry(RetryPolicy::default().backoff(Duration::from_millis(10), Duration::from_millis(10)))
        .retry_on(ErrorKind::ServerError, 3)
        .retry_on(ErrorKind::RateLimited, 0);
    let router = one_model(&[("flaky", &flaky), ("backup", &backup)])
        .without_breakers()
        .policy(policy)
        .build()
        .unwrap();
    let response = send(&router).await.unwrap();
    assert_eq!(
        response.content, "backup",
        "three 500s retried, then the 429 falls back at once"
    );
    assert_eq!(flaky.calls(), 4);
    assert_eq!(response.attempts.len(), 5);

    let err = Router::builder()
        .account(routewise::ProviderAccount::new("a", SimProvider::new()))
        .model(routewise::LogicalModel::new("m").target(routewise::Target::new("a", "x")))
        .policy(
            Policy::new("p")
                .route(["m"])
                .retry_on(ErrorKind::InvalidRequest, 2),
        )
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid request is never retried on the same target"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_breaker_with_per_kind_thresholds_opens_on_one_429_but_only_on_the_fifth_500() {
    let strict_on_429 = || {
        breaker()
            .failure_threshold(5)
            .failure_threshold_for(ErrorKind::RateLimited, 1)
    };
    let router_for = |primary: &SimProvider, backup: &SimProvider| {
        one_model(&[("primary", primary), ("backup", backup)])
            .breaker_defaults(strict_on_429())
            .health(lenient_health())
            .build()
            .unwrap()
    };
    let backup = SimProvider::new().reply("backup");

    let failing = SimProvider::new()
        .reply("primary")
        .failure_kind(ErrorKind::ServerError);
    failing.set_down(true);
    let router = router_for(&failing, &backup);
    for _ in 0..4 {
        assert_eq!(send(&router).await.unwrap().content, "backup");
    }
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    assert!(explanation.skipped.is_empty(), "four 500s: {explanation}");
    send(&router).await.unwrap();
    assert_eq!(failing.calls(), 5);
    send(&router).await.unwrap();
    assert_eq!(failing.calls(), 5, "the fifth 500 opened the breaker");

    let limited = SimProvider::new()
        .reply("primary")
        .script([SimStep::RateLimited(Duration::from_millis(1))]);
    let router = router_for(&limited, &backup);
    assert_eq!(send(&router).await.unwrap().content, "backup");
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    assert!(
        matches!(
            explanation.skipped[0].reason,
            SkipReason::BreakerOpen { .. }
        ),
        "one 429: {explanation}"
    );
    assert_eq!(send(&router).await.unwrap().content, "backup");
    assert_eq!(limited.calls(), 1, "an open breaker's target is not called");
}
