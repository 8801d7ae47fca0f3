//! Provider accounts in routing: rate limits shift traffic, budgets stop spend, alerts
//! fire once, costs are exact, reservations come back, cheap work goes to cheap models.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use routewise::budget::{Alert, CallbackSink};
use routewise::sim::{SimProvider, SimStep};
use routewise::{
    Budget, ChatRequest, Error, LogicalModel, Policy, Price, ProviderAccount, Purpose, RateLimits,
    Router, RouterBuilder, SkipReason, StepType, Target, Usage, Usd,
};

/// $1 per million input tokens, $2 per million output tokens.
fn price() -> Price {
    Price::per_million(Usd::from_cents(100), Usd::from_cents(200))
}

fn two_accounts(a: ProviderAccount, b: ProviderAccount) -> RouterBuilder {
    Router::builder()
        .account(a)
        .account(b)
        .model(
            LogicalModel::new("m")
                .target(Target::new("a", "x").price(price()))
                .target(Target::new("b", "x").price(price())),
        )
        .policy(Policy::new("default").route(["m"]))
}

async fn send(router: &Router) -> Result<routewise::ChatResponse, Error> {
    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_account_shifts_traffic_to_the_next_until_its_window_slides() {
    let router = two_accounts(
        ProviderAccount::new("a", SimProvider::new().reply("a")).limits(RateLimits::new().rpm(2)),
        ProviderAccount::new("b", SimProvider::new().reply("b")),
    )
    .build()
    .unwrap();
    assert_eq!(send(&router).await.unwrap().content, "a");
    assert_eq!(send(&router).await.unwrap().content, "a");
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    assert!(
        matches!(
            explanation.skipped[0].reason,
            SkipReason::RateLimited {
                retry_in_ms: Some(_)
            }
        ),
        "{explanation}"
    );
    assert_eq!(send(&router).await.unwrap().content, "b");
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(send(&router).await.unwrap().content, "a");
}

#[tokio::test(start_paused = true)]
async fn when_every_account_is_limited_the_error_says_when_capacity_returns_or_the_request_waits() {
    let only = || {
        Router::builder()
            .account(ProviderAccount::new("a", SimProvider::new()).limits(RateLimits::new().rpm(1)))
            .model(LogicalModel::new("m").target(Target::new("a", "x")))
            .policy(Policy::new("default").route(["m"]))
    };
    let router = only().build().unwrap();
    send(&router).await.unwrap();
    tokio::time::advance(Duration::from_secs(20)).await;
    let err = send(&router).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    let wait = err.retry_after().unwrap();
    assert!(
        wait <= Duration::from_secs(40) && wait > Duration::from_secs(39),
        "{wait:?}"
    );

    let patient = only().queue_time(Duration::from_secs(60)).build().unwrap();
    send(&patient).await.unwrap();
    let started = tokio::time::Instant::now();
    send(&patient).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(59),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_provider_429_marks_the_account_limited_until_its_retry_after() {
    let a = SimProvider::new()
        .reply("a")
        .script([SimStep::RateLimited(Duration::from_secs(5))]);
    let router = two_accounts(
        ProviderAccount::new("a", a.clone()).limits(RateLimits::new().rpm(1_000)),
        ProviderAccount::new("b", SimProvider::new().reply("b")),
    )
    .without_breakers()
    .build()
    .unwrap();
    assert_eq!(send(&router).await.unwrap().content, "b");
    assert_eq!(send(&router).await.unwrap().content, "b");
    assert_eq!(a.calls(), 1, "the limited account is skipped, not called");
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(send(&router).await.unwrap().content, "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_rpm_of_100_lets_exactly_100_of_1000_concurrent_requests_through() {
    let sim = SimProvider::new();
    let router = Router::builder()
        .account(ProviderAccount::new("a", sim.clone()).limits(RateLimits::new().rpm(100)))
        .model(LogicalModel::new("m").target(Target::new("a", "x")))
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move { send(&router).await })
        })
        .collect();
    let mut served = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => served += 1,
            Err(Error::RateLimited { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(served, 100);
    assert_eq!(sim.calls(), 100);
}

fn budgeted(limit_usd: f64, usage: Usage) -> (Router, Arc<Mutex<Vec<Alert>>>) {
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let alerts = alerts.clone();
        CallbackSink::new(move |alert: &Alert| alerts.lock().unwrap().push(alert.clone()))
    };
    let router = Router::builder()
        .account(
            ProviderAccount::new("a", SimProvider::new().usage(usage))
                .budget(Budget::monthly_usd(limit_usd)),
        )
        .model(
            LogicalModel::new("m")
                .defaults(routewise::SamplingParams::new().max_tokens(1_000))
                .target(Target::new("a", "x").price(price())),
        )
        .policy(Policy::new("default").route(["m"]))
        .alert_sink(Arc::new(sink))
        .build()
        .unwrap();
    (router, alerts)
}

#[tokio::test]
async fn spend_is_exact_to_the_cent_and_reported_per_account() {
    // 400,000 input tokens at $1/M plus 100,000 output at $2/M: $0.60 a request.
    let (router, _) = budgeted(100.0, Usage::new(400_000, 100_000));
    let response = send(&router).await.unwrap();
    assert_eq!(response.cost_usd, Some(0.6));
    send(&router).await.unwrap();
    let accounts = router.accounts();
    let budget = accounts[0].budget.as_ref().unwrap();
    assert_eq!(budget.spent, Usd::from_cents(120));
    assert_eq!(budget.reserved, Usd::ZERO);
    assert!(accounts[0].health.healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spend_stops_at_the_budget_and_fires_each_alert_once() {
    // 1,000 output tokens at $2/M: $0.002 a request against $0.10. The worst case (the
    // prompt plus 1,000 output tokens) is reserved before each call and the actual cost
    // never exceeds it, so concurrent requests cannot commit more than the budget.
    let (router, alerts) = budgeted(0.10, Usage::new(0, 1_000));
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move { send(&router).await })
        })
        .collect();
    let mut served = 0u64;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => served += 1,
            Err(Error::BudgetExhausted { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    let budget = router.accounts()[0].budget.clone().unwrap();
    assert!(
        budget.spent <= Usd::from_cents(10),
        "spent {}",
        budget.spent
    );
    assert_eq!(budget.spent, Usd::from_micros(2_000 * served));
    assert_eq!(budget.reserved, Usd::ZERO);
    assert!(served >= 45, "only {served} served");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fired: Vec<u16> = alerts
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.threshold_percent)
        .collect();
    fired.sort_unstable();
    // Each request spends 2% of the budget.
    let crossed: Vec<u16> = [50, 80, 95, 100]
        .into_iter()
        .filter(|t| served * 2 >= u64::from(*t))
        .collect();
    assert_eq!(fired, crossed, "each crossed threshold fires exactly once");
}

#[tokio::test]
async fn an_exhausted_account_is_skipped_like_a_limited_one() {
    // $100/M input, $200/M output; 1,000 output tokens at most: about $0.20 a request.
    let dear = Price::per_million(Usd::from_cents(10_000), Usd::from_cents(20_000));
    let router = Router::builder()
        .account(
            ProviderAccount::new(
                "a",
                SimProvider::new().reply("a").usage(Usage::new(10, 1_000)),
            )
            .budget(Budget::monthly_usd(0.30)),
        )
        .account(ProviderAccount::new("b", SimProvider::new().reply("b")))
        .model(
            LogicalModel::new("m")
                .defaults(routewise::SamplingParams::new().max_tokens(1_000))
                .target(Target::new("a", "x").price(dear))
                .target(Target::new("b", "x").price(dear)),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    assert_eq!(send(&router).await.unwrap().content, "a");
    let second = send(&router).await.unwrap();
    assert_eq!(
        second.content, "b",
        "a's remaining $0.10 cannot cover the worst case"
    );
    let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    assert!(
        explanation
            .to_string()
            .contains("budget exhausted ($0.201 of $0.30 spent this window)"),
        "{explanation}"
    );
}

/// The provider received the call and bills it; the caller walked away without its
/// usage: the call keeps its rate-limit slot and is charged its reserved worst case.
#[tokio::test(start_paused = true)]
async fn a_request_dropped_mid_call_keeps_its_slot_and_is_charged_its_worst_case() {
    let router = Router::builder()
        .account(
            ProviderAccount::new("a", SimProvider::new().script([SimStep::Hang]))
                .limits(RateLimits::new().rpm(10).tpm(100_000))
                .budget(Budget::monthly_usd(10.0)),
        )
        .model(LogicalModel::new("m").target(Target::new("a", "x").price(price())))
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();
    let call = send(&router);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), call)
            .await
            .is_err()
    );
    let account = &router.accounts()[0];
    let limits = account.limits.as_ref().unwrap();
    let account_info = ProviderAccount::new("a", SimProvider::new());
    let request = ChatRequest::user("hi");
    let defaults = routewise::SamplingParams::default();
    let estimate = routewise::TokenEstimate::of(&routewise::provider::ProviderRequest::new(
        "x",
        account_info.info(),
        &request,
        &defaults,
    ));
    assert_eq!(
        (limits.account.requests, limits.account.tokens),
        (1, u64::from(estimate.prompt + estimate.max_output))
    );
    assert_eq!(limits.in_flight, 0);
    let budget = account.budget.as_ref().unwrap();
    assert_eq!(budget.reserved, Usd::ZERO);
    assert_eq!(
        budget.spent,
        price().worst_case(estimate.prompt, estimate.max_output)
    );
}

#[test]
fn a_budgeted_account_needs_a_price_for_every_target() {
    let err = Router::builder()
        .account(ProviderAccount::new("a", SimProvider::new()).budget(Budget::monthly_usd(5.0)))
        .model(LogicalModel::new("m").target(Target::new("a", "homegrown-llm")))
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap_err();
    assert_eq!(err.problems()[0].path, "models[\"m\"].targets[0].price");
    assert!(
        err.problems()[0]
            .message
            .contains("no price known for model `homegrown-llm`")
    );
}

#[tokio::test]
async fn cheapest_first_sends_classification_to_the_cheap_model() {
    let router = Router::builder()
        .account(ProviderAccount::new(
            "premium",
            SimProvider::new().reply("strong"),
        ))
        .account(ProviderAccount::new(
            "budget",
            SimProvider::new().reply("cheap"),
        ))
        .model(LogicalModel::new("strong").target(Target::new("premium", "claude-opus-4-1")))
        .model(LogicalModel::new("cheap").target(Target::new("budget", "gpt-4o-mini")))
        .policy(
            Policy::new("classify")
                .priority(10)
                .purposes([Purpose::Classification])
                .route(["strong", "cheap"])
                .cheapest_first(),
        )
        .policy(Policy::new("reason").route(["strong", "cheap"]))
        .build()
        .unwrap();
    let classify = router
        .complete(
            StepType::Inference,
            Purpose::Classification,
            ChatRequest::user("spam?"),
        )
        .await
        .unwrap();
    assert_eq!(classify.content, "cheap");
    assert!(
        classify.cost_usd.is_some(),
        "shipped prices cover both models"
    );
    let reason = router
        .complete(
            StepType::Inference,
            Purpose::Chat,
            ChatRequest::user("why?"),
        )
        .await
        .unwrap();
    assert_eq!(reason.content, "strong");
}
