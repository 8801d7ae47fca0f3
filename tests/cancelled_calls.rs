//! Calls a caller walks away from after they reached the provider: the provider counts
//! and bills them, so they keep their rate-limit slot and are charged what they
//! reserved. Counted at a slow loopback upstream speaking the OpenAI wire format.

mod support;

use std::time::Duration;

use routewise::provider::ProviderRequest;
use routewise::provider::openai::OpenAi;
use routewise::{
    Budget, CancelledCharge, ChatRequest, Error, LogicalModel, Policy, Price, ProviderAccount,
    Purpose, RateLimits, RetryPolicy, Router, RouterBuilder, SamplingParams, StepType, Target,
    TokenEstimate, Usd,
};
use support::wire_server::{RecordingServer, Reply, fixture};

const RPM: u32 = 5;
const CALLERS: usize = 15;
/// The model answers after this; every caller gives up long before.
const MODEL_LATENCY: Duration = Duration::from_secs(5);
const CALLER_TIMEOUT: Duration = Duration::from_secs(1);

fn price() -> Price {
    Price::per_million(Usd::from_cents(1_000_000), Usd::from_cents(2_000_000))
}

fn request() -> ChatRequest {
    ChatRequest::user("What is the capital of France?").max_tokens(50)
}

/// The prompt's tokens and the output tokens the router reserves for [`request`].
fn reserved(account: &ProviderAccount) -> (u32, u32) {
    let request = request();
    let defaults = SamplingParams::default();
    let estimate = TokenEstimate::of(&ProviderRequest::new(
        "gpt-4o",
        account.info(),
        &request,
        &defaults,
    ));
    (estimate.prompt, estimate.max_output)
}

async fn slow_upstream() -> RecordingServer {
    let answer = Reply::json(200, fixture("openai/chat_text.json")).after(MODEL_LATENCY);
    RecordingServer::start(std::iter::repeat_n(answer, CALLERS)).await
}

fn account(server: &RecordingServer) -> ProviderAccount {
    ProviderAccount::new("openai", OpenAi::new())
        .api_key("sk-cancel-test-4e1d")
        .base_url(server.base("/v1"))
        .limits(RateLimits::new().rpm(RPM))
        .budget(Budget::monthly_usd(100.0))
}

fn builder(account: ProviderAccount) -> RouterBuilder {
    Router::builder()
        .account(account)
        .model(LogicalModel::new("m").target(Target::new("openai", "gpt-4o").price(price())))
        .policy(
            Policy::new("default")
                .route(["m"])
                .retry(RetryPolicy::none()),
        )
}

/// Sends the callers one after another, each giving up after [`CALLER_TIMEOUT`]; returns
/// how many were refused by the rate limit without a call.
async fn impatient_callers(router: &Router) -> usize {
    let mut refused = 0;
    for _ in 0..CALLERS {
        let call = router.complete(StepType::Inference, Purpose::Chat, request());
        match tokio::time::timeout(CALLER_TIMEOUT, call).await {
            Err(_gave_up) => {}
            Ok(Err(Error::RateLimited { .. })) => refused += 1,
            Ok(other) => panic!("expected a give-up or a rate limit, got {other:?}"),
        }
    }
    refused
}

/// The upstream's calls, once those in flight have arrived (on a loaded machine a call
/// given up may still be on its way).
async fn calls_at(server: &RecordingServer) -> usize {
    for _ in 0..50 {
        if server.requests().len() >= RPM as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.requests().len()
}

#[tokio::test]
async fn callers_that_give_up_mid_call_keep_their_slots_and_are_charged_the_worst_case() {
    let server = slow_upstream().await;
    let account = account(&server);
    let (prompt, output) = reserved(&account);
    let router = builder(account).build().unwrap();

    let refused = impatient_callers(&router).await;

    assert_eq!(
        calls_at(&server).await,
        RPM as usize,
        "calls past the RPM limit"
    );
    assert_eq!(refused, CALLERS - RPM as usize);
    let spent = router.accounts()[0].budget.as_ref().unwrap().spent;
    let worst = price().worst_case(prompt, output);
    assert_eq!(spent, Usd::from_nanos(worst.nanos() * u64::from(RPM)));
    let stats = router.stats();
    assert_eq!(stats.policies[0].cancelled, CALLERS as u64 - refused as u64);
}

#[tokio::test]
async fn input_only_charging_charges_the_prompt_of_each_call_given_up() {
    let server = slow_upstream().await;
    let account = account(&server);
    let (prompt, _) = reserved(&account);
    let router = builder(account)
        .cancelled_charge(CancelledCharge::InputOnly)
        .build()
        .unwrap();

    impatient_callers(&router).await;

    assert_eq!(calls_at(&server).await, RPM as usize);
    let spent = router.accounts()[0].budget.as_ref().unwrap().spent;
    let input = price().worst_case(prompt, 0);
    assert_eq!(spent, Usd::from_nanos(input.nanos() * u64::from(RPM)));
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn callers_that_give_up_mid_call_are_counted_and_charged_across_the_fleet() {
    use routewise::shared::FailMode;

    let server = slow_upstream().await;
    let account = account(&server);
    let (prompt, output) = reserved(&account);
    let shared = support::redis::fresh_state("cancelled")
        .fail_mode(FailMode::Closed)
        .build()
        .unwrap();
    let router = builder(account).shared_state(shared).build().unwrap();

    let refused = impatient_callers(&router).await;

    assert_eq!(
        calls_at(&server).await,
        RPM as usize,
        "calls past the RPM limit"
    );
    assert_eq!(refused, CALLERS - RPM as usize);
    let worst = price().worst_case(prompt, output);
    let expected = Usd::from_nanos(worst.nanos() * u64::from(RPM));
    // Settlements run after the cancellations, off the request path.
    let mut fleet = router.fleet_accounts().await.unwrap().remove(0);
    for _ in 0..50 {
        if fleet.spent == Some(expected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        fleet = router.fleet_accounts().await.unwrap().remove(0);
    }
    assert_eq!(fleet.spent, Some(expected), "{fleet:?}");
    assert_eq!(fleet.requests, u64::from(RPM), "{fleet:?}");
    assert_eq!(fleet.reserved, Usd::ZERO, "{fleet:?}");
}
