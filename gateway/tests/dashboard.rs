//! The dashboard, loaded in headless Chromium (Debian's `chromium`): the figures on the
//! page match `/stats` and `/accounts`, and a screenshot is taken. With
//! `ROUTEWISE_UPDATE_SCREENSHOT=1` the screenshot replaces `gateway/docs/dashboard.png`,
//! the one the README shows.
//!
//! Without Chromium the test says so and passes, except in CI (`CI` set), where
//! `.ci/run` installs it and its absence is a failure.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use routewise::sim::SimProvider;
use routewise::{
    BreakerConfig, Budget, Capabilities, LogicalModel, Policy, Price, ProviderAccount, Purpose,
    RateLimits, Router, Target, Usd,
};
use serde_json::{Value, json};
use support::{KEY, Running, settings};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let found = Command::new("which").arg(name).output().ok()?;
            found
                .status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&found.stdout).trim()))
        })
}

fn busy_router() -> Router {
    let price = Price::per_million(Usd::from_cents(300), Usd::from_cents(1500));
    Router::builder()
        .account(
            ProviderAccount::new(
                "openai-main",
                SimProvider::new().reply("A considered answer from the primary."),
            )
            .limits(RateLimits::new().rpm(600).tpm(200_000))
            .budget(Budget::monthly_usd(0.02)),
        )
        .account(ProviderAccount::new(
            "anthropic-backup",
            SimProvider::new().reply("A solid answer from the backup."),
        ))
        .account(ProviderAccount::new(
            "flaky-cheap",
            SimProvider::new().failure_rate(0.5).seed(7),
        ))
        .account(ProviderAccount::new(
            "legacy",
            SimProvider::new().always_fail(),
        ))
        .model(
            LogicalModel::new("primary-llm")
                .capabilities(Capabilities::ALL)
                .target(Target::new("openai-main", "gpt-4o").price(price))
                .target(Target::new("anthropic-backup", "claude-sonnet-4-5")),
        )
        .model(
            LogicalModel::new("fast-llm")
                .target(Target::new("flaky-cheap", "small-v1"))
                .target(Target::new("anthropic-backup", "claude-haiku-4-5")),
        )
        .model(LogicalModel::new("legacy-llm").target(Target::new("legacy", "old-v1")))
        .policy(
            Policy::new("classification")
                .priority(20)
                .purposes([Purpose::Classification])
                .route(["fast-llm"]),
        )
        .policy(
            Policy::new("legacy")
                .priority(15)
                .for_models(["legacy-llm"])
                .route(["legacy-llm"])
                .breaker(
                    BreakerConfig::default()
                        .failure_threshold(2)
                        .recovery(Duration::from_secs(600)),
                ),
        )
        .policy(Policy::new("chat").priority(10).route(["primary-llm"]))
        .build()
        .unwrap()
}

/// The text of `field` in the table row carrying `row` (`data-policy="chat"`).
fn figure(dom: &str, row: &str, field: &str) -> String {
    let start = dom
        .find(row)
        .unwrap_or_else(|| panic!("no row {row} on the page"));
    let rest = &dom[start..];
    let end = rest.find("</tr>").unwrap();
    let cells = &rest[..end];
    let marker = format!("data-field=\"{field}\">");
    let at = cells
        .find(&marker)
        .unwrap_or_else(|| panic!("no {field} in {row}"))
        + marker.len();
    cells[at..].split('<').next().unwrap().to_owned()
}

fn run_chromium(chromium: &Path, args: &[String]) -> Vec<u8> {
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args([
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1280,1100",
        ])
        .args(args)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test]
async fn the_dashboard_in_headless_chromium_shows_the_figures_of_stats() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing in CI: .ci/run installs Debian's `chromium` package"
        );
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium)");
        return;
    };
    let gateway = Running::start(busy_router(), settings()).await;
    let auth = format!("Bearer {KEY}");
    let ask = |model: &'static str, purpose: &'static str| {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "Summarize the quarterly report in two sentences."}], "max_tokens": 300});
        let gateway = &gateway;
        let auth = auth.clone();
        async move {
            gateway
                .post_with(
                    "/v1/chat/completions",
                    &body,
                    &[("authorization", &auth), ("x-routewise-purpose", purpose)],
                )
                .await
                .status()
        }
    };
    for _ in 0..12 {
        ask("primary-llm", "chat").await;
    }
    for _ in 0..9 {
        ask("fast-llm", "classification").await;
    }
    for _ in 0..4 {
        ask("legacy-llm", "chat").await;
    }

    let stats: Value = gateway.get_json("/stats").await;
    let accounts: Value = gateway.get_json("/accounts").await;
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("dashboard.png");
    let url = format!("{}/", gateway.url);
    let (dom, png) = {
        let chromium = chromium.clone();
        let shot = shot.clone();
        tokio::task::spawn_blocking(move || {
            let dom = run_chromium(&chromium, &["--dump-dom".into(), url.clone()]);
            run_chromium(
                &chromium,
                &[format!("--screenshot={}", shot.display()), url],
            );
            (
                String::from_utf8(dom).unwrap(),
                std::fs::read(&shot).unwrap(),
            )
        })
        .await
        .unwrap()
    };

    for policy in stats["policies"].as_array().unwrap() {
        let row = format!("data-policy=\"{}\"", policy["name"].as_str().unwrap());
        for field in ["matched", "succeeded", "failed", "fallbacks"] {
            assert_eq!(
                figure(&dom, &row, field),
                policy[field].to_string(),
                "{row} {field}"
            );
        }
    }
    assert_eq!(
        stats["policies"][0]["matched"], 9,
        "the traffic reached the page's policies"
    );
    for account in accounts.as_array().unwrap() {
        let row = format!("data-account=\"{}\"", account["name"].as_str().unwrap());
        assert_eq!(
            figure(&dom, &row, "calls"),
            account["health"]["calls"].to_string()
        );
    }
    let breakers = stats["breakers"].as_array().unwrap();
    let open = breakers.iter().filter(|b| b["state"] == "open").count();
    assert!(
        breakers
            .iter()
            .any(|b| b["policy"] == "legacy" && b["state"] == "open"),
        "legacy's breaker opened"
    );
    assert_eq!(dom.matches("data-field=\"state\">open<").count(), open);
    assert_eq!(stats["recent_failures"].as_array().unwrap().len(), 4);
    assert!(dom.contains("Recent failures") && dom.contains("circuit breaker is open"));

    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");
    if std::env::var_os("ROUTEWISE_UPDATE_SCREENSHOT").is_some() {
        let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/dashboard.png");
        std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
        std::fs::write(kept, &png).unwrap();
    }
}
