//! Per-target breaker settings, in code and in config files, override the policy's.

use std::time::Duration;

use routewise::{BreakerConfig, BreakerState, ChatRequest, LogicalModel, Policy, Router, Target};

use crate::support::upstream::{Answer, Upstream};

#[tokio::test]
async fn a_target_trips_on_its_own_threshold_while_its_sibling_keeps_the_policys() {
    let flaky = Upstream::start(Answer::Status(500)).await;
    let steady = Upstream::start(Answer::Status(500)).await;
    let spare = Upstream::start(Answer::Ok).await;
    let own = BreakerConfig::default()
        .failure_threshold(1)
        .recovery(Duration::from_secs(30));
    let router = Router::builder()
        .account(flaky.account("flaky", "sk-1"))
        .account(steady.account("steady", "sk-2"))
        .account(spare.account("spare", "sk-3"))
        .model(
            LogicalModel::new("m")
                .target(Target::new("flaky", "gpt-4o").breaker(own))
                .target(Target::new("steady", "gpt-4o"))
                .target(Target::new("spare", "gpt-4o")),
        )
        .policy(
            Policy::new("p")
                .route(["m"])
                .breaker(BreakerConfig::default().failure_threshold(5)),
        )
        .build()
        .unwrap();
    for _ in 0..4 {
        let response = router
            .complete_default(ChatRequest::user("hi"))
            .await
            .unwrap();
        assert_eq!(&*response.served_by.account, "spare");
    }
    assert_eq!(
        flaky.calls(),
        1,
        "its own threshold of one opened its breaker"
    );
    assert_eq!(
        steady.calls(),
        4,
        "the policy's threshold of five is not reached"
    );
    let stats = router.stats();
    let state = |account: &str| {
        let breaker = stats
            .breakers
            .iter()
            .find(|b| &*b.target.account == account);
        breaker.unwrap().breaker.state
    };
    assert!(state("flaky").is_open());
    assert_eq!(state("steady"), BreakerState::Closed);
}

#[cfg(feature = "toml")]
#[test]
fn a_config_file_gives_a_target_its_own_breaker() {
    use routewise::config::{Format, RouterConfig};

    let text = r#"
[[accounts]]
name = "down"
provider = { kind = "sim", failure_rate = 1.0 }

[[accounts]]
name = "up"
provider = { kind = "sim" }

[[models]]
name = "m"
targets = [
  { account = "down", model = "x", breaker = { failure_threshold = 1, recovery = "30s" } },
  { account = "up", model = "x" },
]

[[policies]]
name = "p"
route = ["m"]
"#;
    let config = RouterConfig::from_str_format(text, Format::Toml).unwrap();
    let router = Router::from_config(&config).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = router
            .complete_default(ChatRequest::user("hi"))
            .await
            .unwrap();
        assert_eq!(&*response.served_by.account, "up");
    });
    let stats = router.stats();
    let down = stats
        .breakers
        .iter()
        .find(|b| &*b.target.account == "down")
        .unwrap();
    assert!(down.breaker.state.is_open(), "one fault opened it");
    assert_eq!(
        down.breaker.recovers_in_ms.map(|ms| ms > 25_000),
        Some(true)
    );

    let bad = text.replace(
        "failure_threshold = 1,",
        "failure_threshold = 1, half_open_trials = 0,",
    );
    let config = RouterConfig::from_str_format(&bad, Format::Toml).unwrap();
    let error = Router::from_config(&config).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("models[0].targets[0].breaker.half_open_trials"),
        "{error}"
    );
}
