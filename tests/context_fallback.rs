//! Requests too long for a target: a context-length error is never retried on the same
//! target, moves on only to targets that can hold the request, and reaches a policy's
//! larger-context models.

use routewise::sim::{SimProvider, SimStep};
use routewise::{
    AttemptOutcome, ChatRequest, ContextWindow, Error, ErrorKind, LogicalModel, Policy,
    ProviderAccount, Purpose, RetryPolicy, Router, SkipReason, StepType, Target,
};

/// Model `m` on accounts `a` and `b` (8k windows each), model `wide` on `c` (8k) and
/// `d` (32k), model `huge` on `h` (1M). The policy routes `m` then `wide`, retries
/// provider faults, and names `huge` as its larger-context model.
fn router(sims: &[(&str, &SimProvider)]) -> Router {
    let window = |context| ContextWindow::new(context, 4_000);
    let mut builder = Router::builder();
    for (name, sim) in sims {
        builder = builder.account(ProviderAccount::new(*name, (*sim).clone()));
    }
    builder
        .model(
            LogicalModel::new("m")
                .target(Target::new("a", "x").context_window(window(8_000)))
                .target(Target::new("b", "x").context_window(window(8_000))),
        )
        .model(
            LogicalModel::new("wide")
                .target(Target::new("c", "y").context_window(window(8_000)))
                .target(Target::new("d", "y").context_window(window(32_000))),
        )
        .model(
            LogicalModel::new("huge")
                .target(Target::new("h", "z").context_window(window(1_000_000))),
        )
        .policy(
            Policy::new("default")
                .route(["m", "wide"])
                .retry(RetryPolicy::default().max_retries(3))
                .larger_context(["huge"]),
        )
        .build()
        .unwrap()
}

struct Sims {
    a: SimProvider,
    b: SimProvider,
    c: SimProvider,
    d: SimProvider,
    h: SimProvider,
}

impl Sims {
    fn new(a: SimProvider) -> Self {
        Self {
            a,
            b: SimProvider::new().reply("b"),
            c: SimProvider::new().reply("c"),
            d: SimProvider::new().reply("d"),
            h: SimProvider::new().reply("h"),
        }
    }

    fn router(&self) -> Router {
        router(&[
            ("a", &self.a),
            ("b", &self.b),
            ("c", &self.c),
            ("d", &self.d),
            ("h", &self.h),
        ])
    }
}

async fn send(router: &Router, request: ChatRequest) -> Result<routewise::ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
}

fn accounts(response: &routewise::ChatResponse) -> Vec<&str> {
    response
        .attempts
        .iter()
        .map(|a| &*a.target.account)
        .collect()
}

#[tokio::test]
async fn a_context_length_error_is_not_retried_and_skips_targets_no_larger_than_the_one_that_refused()
 {
    let sims =
        Sims::new(SimProvider::new().script([SimStep::Fail(ErrorKind::ContextLengthExceeded)]));
    let router = sims.router();

    let response = send(&router, ChatRequest::user("a long document"))
        .await
        .unwrap();

    assert_eq!(response.content, "d");
    assert_eq!(accounts(&response), ["a", "d"], "b and c hold 8k too");
    assert_eq!(sims.a.calls(), 1, "never retried on the same target");
    assert_eq!(sims.b.calls() + sims.c.calls() + sims.h.calls(), 0);
    let AttemptOutcome::Failed { error } = &response.attempts[0].outcome else {
        panic!("the first attempt failed");
    };
    assert_eq!(error.kind(), ErrorKind::ContextLengthExceeded);
}

#[tokio::test]
async fn the_larger_context_model_comes_after_every_route_target_that_could_hold_the_request() {
    let sims = Sims {
        d: SimProvider::new().script([SimStep::Fail(ErrorKind::ContextLengthExceeded)]),
        ..Sims::new(SimProvider::new().script([SimStep::Fail(ErrorKind::ContextLengthExceeded)]))
    };
    let router = sims.router();

    let response = send(&router, ChatRequest::user("a longer document"))
        .await
        .unwrap();

    assert_eq!(response.content, "h");
    assert_eq!(accounts(&response), ["a", "d", "h"]);
    assert_eq!(&*response.served_by.logical_model, "huge");
}

#[tokio::test]
async fn the_larger_context_model_is_not_tried_for_other_failures() {
    let failing = || SimProvider::new().always_fail();
    let sims = Sims {
        b: failing(),
        c: failing(),
        d: failing(),
        ..Sims::new(failing())
    };
    let router = sims.router();

    let err = send(&router, ChatRequest::user("hi")).await.unwrap_err();

    assert!(matches!(err, Error::AllTargetsFailed { .. }), "{err}");
    assert_eq!(sims.h.calls(), 0);
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    assert_eq!(explanation.candidates.len(), 4);
    assert!(!explanation.context_fallback);
    assert_eq!(explanation.larger_context.len(), 1);
    assert_eq!(explanation.larger_context[0].to_string(), "huge/h/z");
    let shown = explanation.to_string();
    assert!(
        shown.contains("5. huge/h/z (larger-context fallback, only after a context-length error)"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_request_too_long_for_every_route_target_goes_to_the_larger_context_model() {
    let sims = Sims::new(SimProvider::new().reply("a"));
    let router = sims.router();
    let long = ChatRequest::user("word ".repeat(40_000)); // about 50,000 tokens

    let explanation = router.explain(StepType::Inference, Purpose::Chat, &long);
    assert!(explanation.context_fallback);
    assert_eq!(explanation.candidates.len(), 1);
    assert_eq!(explanation.candidates[0].to_string(), "huge/h/z");
    assert!(explanation.larger_context.is_empty());
    assert_eq!(explanation.skipped.len(), 4);
    assert!(
        explanation
            .skipped
            .iter()
            .all(|s| matches!(s.reason, SkipReason::ContextWindow { .. }))
    );
    let shown = explanation.to_string();
    assert!(
        shown.contains("1. huge/h/z (larger-context fallback)"),
        "{shown}"
    );

    let response = send(&router, long).await.unwrap();
    assert_eq!(response.content, "h");
    assert_eq!(response.attempts.len(), 1);
    assert_eq!(sims.a.calls() + sims.d.calls(), 0);
}

#[tokio::test]
async fn a_request_too_long_even_for_the_larger_context_model_names_the_largest_window() {
    let sims = Sims::new(SimProvider::new());
    let router = sims.router();
    let err = send(&router, ChatRequest::user("word ".repeat(1_000_000)))
        .await
        .unwrap_err();
    match err {
        Error::ContextTooLong { largest, .. } => assert_eq!(largest, 1_000_000),
        other => panic!("expected ContextTooLong, got {other:?}"),
    }
    assert_eq!(sims.h.calls(), 0);
}

#[tokio::test]
async fn a_larger_context_model_must_be_known_and_off_the_route() {
    let err = Router::builder()
        .account(ProviderAccount::new("a", SimProvider::new()))
        .model(LogicalModel::new("m").target(Target::new("a", "x")))
        .policy(Policy::new("p").route(["m"]).larger_context(["m", "hug"]))
        .build()
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains(
            "policies[\"p\"].larger_context[0]: logical model `m` is already on the route"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("policies[\"p\"].larger_context[1]: unknown logical model `hug`"),
        "{shown}"
    );
}
