//! `ErrorKind::Declined`: a custom provider says "not this request" and the router moves on
//! quietly, with no retry and nothing counted against the backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use async_trait::async_trait;
use routewise::{
    BreakerConfig, BreakerState, ChatRequest, ErrorKind, LogicalModel, Policy, Provider,
    ProviderAccount, ProviderError, ProviderRequest, ProviderResponse, Purpose, RetryPolicy,
    Router, StepType, Target, Usage,
};

use crate::support::upstream::{Answer, Upstream};

/// A local model that only takes prompts of up to 20 characters and declines the rest.
#[derive(Default)]
struct ShortPromptsOnly {
    calls: AtomicU64,
}

#[async_trait]
impl Provider for ShortPromptsOnly {
    fn provider_name(&self) -> &str {
        "short-only"
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        self.calls.fetch_add(1, SeqCst);
        let length: usize = request.messages().iter().map(|m| m.text().len()).sum();
        if length > 20 {
            return Err(ProviderError::new(
                ErrorKind::Declined,
                "prompt too long for the local model",
            ));
        }
        Ok(ProviderResponse::text("local", Usage::new(1, 1)))
    }
}

#[tokio::test]
async fn a_declining_backend_falls_back_quietly_and_is_never_held_against() {
    let local = Arc::new(ShortPromptsOnly::default());
    let upstream = Upstream::start(Answer::Ok).await;
    let router = Router::builder()
        .account(ProviderAccount::with_shared_provider(
            "local",
            local.clone(),
        ))
        .account(upstream.account("cloud", "sk-cloud"))
        .model(
            LogicalModel::new("m")
                .target(Target::new("local", "tiny"))
                .target(Target::new("cloud", "gpt-4o")),
        )
        .policy(
            Policy::new("p")
                .route(["m"])
                .retry(RetryPolicy::default().max_retries(3))
                .breaker(BreakerConfig::default().failure_threshold(1)),
        )
        .build()
        .unwrap();

    let long = "please summarise this rather long document";
    for _ in 0..5 {
        let response = router
            .complete(StepType::Inference, Purpose::Chat, ChatRequest::user(long))
            .await
            .unwrap();
        assert_eq!(&*response.served_by.account, "cloud");
    }
    assert_eq!(
        local.calls.load(SeqCst),
        5,
        "asked once per request, never retried"
    );
    assert_eq!(upstream.calls(), 5);

    let stats = router.stats();
    let local_target = stats.target("m", "local").unwrap();
    assert_eq!(
        local_target.failed, 0,
        "no failure counted: {local_target:?}"
    );
    let breaker = stats
        .breakers
        .iter()
        .find(|b| &*b.target.account == "local")
        .unwrap();
    assert_eq!(breaker.breaker.state, BreakerState::Closed);
    assert_eq!(breaker.breaker.faults, 0);
    let health = &router.accounts()[0].health;
    assert!(health.healthy);
    assert_eq!(health.failures, 0);

    // It still serves what it takes, first in the plan.
    let response = router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(&*response.served_by.account, "local");
    assert_eq!(upstream.calls(), 5);
}
