//! `Balance::Headroom`: each request goes to the target whose account it leaves the most
//! of its tightest rate limit, so keys with different limits share traffic in proportion
//! to what they have left; `explain` shows the figure, from the same planner.

use routewise::limits::{RateLimits, TightestLimit};
use routewise::{
    Balance, ChatRequest, LogicalModel, Policy, Purpose, Router, StepType, Target, TargetRef,
};

use crate::support::upstream::{Answer, Upstream};

/// Model `m` over account `small` (at `small`) then account `large` (at `large`), one
/// tier, balanced by `balance`.
fn two_keys(
    small: (&Upstream, RateLimits),
    large: (&Upstream, RateLimits),
    balance: Balance,
) -> Router {
    Router::builder()
        .account(small.0.account("small", "sk-small").limits(small.1))
        .account(large.0.account("large", "sk-large").limits(large.1))
        .model(
            LogicalModel::new("m")
                .balance(balance)
                .target(Target::new("small", "gpt-4o"))
                .target(Target::new("large", "gpt-4o")),
        )
        .policy(Policy::new("p").route(["m"]))
        .build()
        .unwrap()
}

async fn served_by(router: &Router, request: ChatRequest) -> TargetRef {
    router
        .complete(StepType::Inference, Purpose::Chat, request)
        .await
        .unwrap()
        .served_by
}

/// Sends `n` requests one after another through `balance` over a 10-RPM and a 30-RPM
/// key; returns the calls each upstream received.
async fn split_by_rpm(balance: Balance, n: usize) -> (u64, u64) {
    let small = Upstream::start(Answer::Ok).await;
    let large = Upstream::start(Answer::Ok).await;
    let router = two_keys(
        (&small, RateLimits::new().rpm(10)),
        (&large, RateLimits::new().rpm(30)),
        balance,
    );
    for _ in 0..n {
        served_by(&router, ChatRequest::user("hi")).await;
    }
    (small.calls(), large.calls())
}

#[tokio::test]
async fn headroom_splits_requests_in_proportion_to_each_keys_rpm() {
    // Each request leaves (10 - a - 1)/10 on the small key and (30 - b - 1)/30 on the
    // large one; the larger share wins, ties go to the first declared: 5 and 15.
    assert_eq!(split_by_rpm(Balance::Headroom, 20).await, (5, 15));
    // Declaration order drains the first key until its limit refuses.
    assert_eq!(split_by_rpm(Balance::Ordered, 20).await, (10, 10));
}

#[tokio::test]
async fn headroom_follows_tokens_per_minute_and_explain_names_the_figure_complete_follows() {
    let small = Upstream::start(Answer::Using(1_000)).await;
    let large = Upstream::start(Answer::Using(1_000)).await;
    let router = two_keys(
        (&small, RateLimits::new().tpm(10_000)),
        (&large, RateLimits::new().tpm(40_000)),
        Balance::Headroom,
    );
    // Each call reserves its prompt plus 1,000 tokens and settles to 1,000.
    let request = || ChatRequest::user("hi").max_tokens(1_000);
    let first = router.explain(StepType::Inference, Purpose::Chat, &request());
    assert_eq!(first.headroom.len(), 2, "{first}");
    assert_eq!(&*first.headroom[0].target.account, "large", "{first}");
    let large_left = first.headroom[0].headroom;
    let small_left = first.headroom[1].headroom;
    assert_eq!(large_left.tightest(), Some(TightestLimit::TokensPerMinute));
    assert!(large_left > small_left, "{first}");
    assert!(first.to_string().contains("(primary, headroom "), "{first}");
    for _ in 0..10 {
        let explained = router.explain(StepType::Inference, Purpose::Chat, &request());
        let served = served_by(&router, request()).await;
        assert_eq!(served, explained.candidates[0], "{explained}");
        assert_eq!(explained.headroom[0].target, served, "{explained}");
    }
    // Shares of 10,000 and 40,000 tokens stay level: 2 and 8. In order, the small key
    // would have taken 9 before its limit refused.
    assert_eq!((small.calls(), large.calls()), (2, 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_favour_the_larger_key_and_never_pass_either_limit() {
    let slow = Answer::Slow(std::time::Duration::from_millis(50));
    let small = Upstream::start(slow.clone()).await;
    let large = Upstream::start(slow).await;
    let router = two_keys(
        (&small, RateLimits::new().rpm(10)),
        (&large, RateLimits::new().rpm(30)),
        Balance::Headroom,
    );
    let wave = |n: usize| {
        let calls: Vec<_> = (0..n)
            .map(|_| {
                let router = router.clone();
                tokio::spawn(async move {
                    router
                        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
                        .await
                })
            })
            .collect();
        futures::future::join_all(calls)
    };
    let first: Vec<_> = wave(20).await.into_iter().map(Result::unwrap).collect();
    assert!(first.iter().all(Result::is_ok), "{first:?}");
    // Calls in flight hold their reservations, so concurrent plans see each other; in
    // order the small key would take 10 of the 20.
    assert!(
        large.calls() >= 13 && small.calls() + large.calls() == 20,
        "small {} large {}",
        small.calls(),
        large.calls()
    );
    // Past both limits together: every key fills up exactly and the rest is refused.
    let second: Vec<_> = wave(25).await.into_iter().map(Result::unwrap).collect();
    let refused = second.iter().filter(|r| r.is_err()).count();
    assert_eq!((small.calls(), large.calls(), refused), (10, 30, 5));
}

#[cfg(feature = "redis")]
mod shared {
    use super::*;
    use crate::support::redis::{redis_url, unique_prefix};
    use routewise::RouteOptions;
    use routewise::shared::RedisState;

    /// One instance of a fleet sharing state under `prefix`.
    fn instance(prefix: &str, small: &Upstream, large: &Upstream) -> Router {
        let state = RedisState::builder(redis_url())
            .prefix(prefix)
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap();
        Router::builder()
            .shared_state(state)
            .account(
                small
                    .account("small", "sk-small")
                    .limits(RateLimits::new().rpm(10)),
            )
            .account(
                large
                    .account("large", "sk-large")
                    .limits(RateLimits::new().rpm(30)),
            )
            .model(
                LogicalModel::new("m")
                    .balance(Balance::Headroom)
                    .target(Target::new("small", "gpt-4o"))
                    .target(Target::new("large", "gpt-4o")),
            )
            .policy(Policy::new("p").route(["m"]))
            .build()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_instance_balances_by_the_fleets_windows_as_its_last_admission_saw_them() {
        let small = Upstream::start(Answer::Ok).await;
        let large = Upstream::start(Answer::Ok).await;
        let prefix = unique_prefix("headroom-fleet");
        let busy = instance(&prefix, &small, &large);
        let quiet = instance(&prefix, &small, &large);
        let pinned =
            || ChatRequest::user("hi").options(RouteOptions::default().pin_target("m", "large"));
        for _ in 0..24 {
            served_by(&busy, pinned()).await;
        }
        // The quiet instance has not admitted anything yet: both windows look empty to
        // it, and the large key wins. Its admission reports the fleet's 25 requests.
        let first = served_by(&quiet, ChatRequest::user("hi")).await;
        assert_eq!(&*first.account, "large");
        let explained = quiet.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
        let figures: Vec<_> = explained
            .headroom
            .iter()
            .map(|h| (h.target.account.to_string(), h.headroom.remaining_ppm()))
            .collect();
        assert_eq!(
            figures,
            [
                ("small".to_owned(), Some(900_000)),
                ("large".to_owned(), Some(133_333))
            ],
            "{explained}"
        );
        for _ in 0..4 {
            let served = served_by(&quiet, ChatRequest::user("hi")).await;
            assert_eq!(&*served.account, "small");
        }
        assert_eq!((small.calls(), large.calls()), (4, 25));
    }
}

#[cfg(feature = "toml")]
#[test]
fn a_config_file_balances_by_headroom_with_balance_headroom() {
    use routewise::config::{Format, RouterConfig};

    let text = r#"
[[accounts]]
name = "small"
provider = { kind = "sim" }
limits = { rpm = 10 }

[[accounts]]
name = "large"
provider = { kind = "sim" }
limits = { rpm = 30 }

[[models]]
name = "m"
balance = "headroom"
targets = [{ account = "small", model = "x" }, { account = "large", model = "x" }]

[[policies]]
name = "p"
route = ["m"]
"#;
    let config = RouterConfig::from_str_format(text, Format::Toml).unwrap();
    assert_eq!(config.models[0].balance, Balance::Headroom);
    let router = Router::from_config(&config).unwrap();
    let explained = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    let order: Vec<_> = explained
        .headroom
        .iter()
        .map(|h| (h.target.account.to_string(), h.headroom.remaining_ppm()))
        .collect();
    assert_eq!(
        order,
        [
            ("large".to_owned(), Some(966_666)),
            ("small".to_owned(), Some(900_000))
        ]
    );
}
