//! The attempt loop: which failures move on to the next candidate, which stop the request,
//! and what the caller learns about every attempt.

mod support;

use std::time::Duration;

use routewise::sim::{SimProvider, SimStep};
use routewise::{AttemptOutcome, ChatRequest, Error, ErrorKind, ErrorKindSet, Purpose, StepType};
use support::one_model;

async fn complete(router: &routewise::Router) -> Result<routewise::ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
}

#[tokio::test]
async fn every_provider_fault_and_target_specific_failure_falls_back() {
    for kind in [
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::RateLimited,
        ErrorKind::ServerError,
        ErrorKind::Overloaded,
        ErrorKind::MalformedResponse,
        ErrorKind::NotFound,
        ErrorKind::ContextLengthExceeded,
    ] {
        let primary = SimProvider::new().script([SimStep::Fail(kind)]);
        let backup = SimProvider::new().reply("backup");
        let router = one_model(&[("primary", &primary), ("backup", &backup)])
            .build()
            .unwrap();
        let response = complete(&router)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(response.content, "backup", "{kind}");
        assert_eq!(response.fallbacks(), 1, "{kind}");
        match &response.attempts[0].outcome {
            AttemptOutcome::Failed { error } => assert_eq!(error.kind(), kind),
            other => panic!("{kind}: first attempt should have failed, got {other:?}"),
        }
        assert_eq!(router.stats().policy("default").unwrap().fallbacks, 1);
    }
}

#[tokio::test]
async fn an_invalid_request_stops_at_once_without_trying_the_fallback() {
    let primary = SimProvider::new().script([SimStep::Fail(ErrorKind::InvalidRequest)]);
    let backup = SimProvider::new();
    let router = one_model(&[("primary", &primary), ("backup", &backup)])
        .build()
        .unwrap();
    let err = complete(&router).await.unwrap_err();
    match &err {
        Error::Rejected {
            target,
            error,
            attempts,
            ..
        } => {
            assert_eq!(&*target.account, "primary");
            assert_eq!(error.kind(), ErrorKind::InvalidRequest);
            assert_eq!(attempts.len(), 1);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(err.is_request_error());
    assert_eq!(backup.calls(), 0);
    let source = std::error::Error::source(&err).expect("the provider error is the source");
    assert_eq!(
        source.to_string(),
        "invalid request (HTTP 400): simulated failure"
    );
    assert!(
        !err.to_string().contains("simulated failure"),
        "display must not repeat the source"
    );
}

#[tokio::test]
async fn auth_and_content_filter_stop_by_default_but_a_policy_may_fall_back_on_them() {
    for kind in [ErrorKind::Auth, ErrorKind::ContentFiltered] {
        let primary = SimProvider::new().failure_kind(kind).always_fail();
        let backup = SimProvider::new().reply("backup");
        let strict = one_model(&[("primary", &primary), ("backup", &backup)])
            .build()
            .unwrap();
        assert!(
            matches!(complete(&strict).await, Err(Error::Rejected { .. })),
            "{kind}"
        );

        let lenient = one_model(&[("primary", &primary), ("backup", &backup)])
            .policy(
                routewise::Policy::new("lenient")
                    .priority(1)
                    .route(["m"])
                    .fallback_on(kind),
            )
            .build()
            .unwrap();
        assert_eq!(
            complete(&lenient).await.unwrap().content,
            "backup",
            "{kind}"
        );
    }
}

#[tokio::test]
async fn when_every_target_fails_the_error_lists_every_attempt_and_why() {
    let a = SimProvider::new().script([SimStep::Fail(ErrorKind::ServerError)]);
    let b = SimProvider::new().script([SimStep::RateLimited(Duration::from_secs(7))]);
    let c = SimProvider::new().script([SimStep::Fail(ErrorKind::Timeout)]);
    let router = one_model(&[("a", &a), ("b", &b), ("c", &c)])
        .build()
        .unwrap();
    let err = complete(&router).await.unwrap_err();
    let Error::AllTargetsFailed { attempts, policy } = &err else {
        panic!("expected AllTargetsFailed, got {err:?}");
    };
    assert_eq!(&**policy, "default");
    let summary: Vec<(String, ErrorKind)> = attempts
        .iter()
        .map(|a| match &a.outcome {
            AttemptOutcome::Failed { error } => (a.target.account.to_string(), error.kind()),
            other => panic!("every attempt failed, got {other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a".to_owned(), ErrorKind::ServerError),
            ("b".to_owned(), ErrorKind::RateLimited),
            ("c".to_owned(), ErrorKind::Timeout)
        ]
    );
    let text = err.to_string();
    assert!(
        text.starts_with("policy `default`: every target failed after 3 attempt(s): "),
        "{text}"
    );
    assert!(
        text.contains("m/b/b-model: rate limited (HTTP 429): simulated failure; retry after 7s"),
        "{text}"
    );
    assert!(!err.is_request_error());
    let stats = router.stats();
    let policy = stats.policy("default").unwrap();
    assert_eq!((policy.matched, policy.failed, policy.fallbacks), (1, 1, 2));
}

#[tokio::test]
async fn max_attempts_caps_the_calls_per_request() {
    let a = SimProvider::new().always_fail();
    let b = SimProvider::new().always_fail();
    let c = SimProvider::new();
    let router = one_model(&[("a", &a), ("b", &b), ("c", &c)])
        .policy(
            routewise::Policy::new("two-tries")
                .priority(1)
                .route(["m"])
                .max_attempts(2),
        )
        .build()
        .unwrap();
    let err = complete(&router).await.unwrap_err();
    assert_eq!(err.attempts().len(), 2);
    assert_eq!(c.calls(), 0);
}

#[tokio::test]
async fn a_policy_can_narrow_what_falls_back() {
    let primary = SimProvider::new().script([SimStep::Fail(ErrorKind::Timeout)]);
    let backup = SimProvider::new();
    let router = one_model(&[("primary", &primary), ("backup", &backup)])
        .policy(
            routewise::Policy::new("no-timeout-fallback")
                .priority(1)
                .route(["m"])
                .fallback_on_kinds(ErrorKindSet::default_fallback().without(ErrorKind::Timeout)),
        )
        .build()
        .unwrap();
    assert!(matches!(
        complete(&router).await,
        Err(Error::Rejected { .. })
    ));
    assert_eq!(backup.calls(), 0);
}

#[tokio::test]
async fn the_response_reports_usage_and_each_attempts_latency() {
    let primary = SimProvider::new()
        .latency(Duration::from_millis(5))
        .script([SimStep::Fail(ErrorKind::ServerError)]);
    let backup = SimProvider::new().usage(routewise::Usage::new(12, 34));
    let router = one_model(&[("primary", &primary), ("backup", &backup)])
        .build()
        .unwrap();
    let response = complete(&router).await.unwrap();
    assert_eq!(response.usage, routewise::Usage::new(12, 34));
    assert!(response.attempts[0].latency >= Duration::from_millis(5));
    assert!(matches!(
        response.attempts[1].outcome,
        AttemptOutcome::Success
    ));
    assert_eq!(response.served_by.to_string(), "m/backup/backup-model");
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["attempts"][0]["outcome"], "failed");
    assert_eq!(json["attempts"][0]["error"]["kind"], "server_error");
}
