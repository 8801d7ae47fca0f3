//! Recording a scripted run and replaying it: the same configuration gives the recorded
//! figures back; a cheaper classification model costs less; a primary outage shifts the
//! answers to the fallback.

#![cfg(feature = "replay")]

use std::time::Duration;

use routewise::replay::{Behaviours, Comparison, Recorder, Replay, Summary, Traffic};
use routewise::sim::SimProvider;
use routewise::{
    BreakerConfig, ChatRequest, LogicalModel, Policy, Price, ProviderAccount, Purpose, Router,
    RouterBuilder, StepType, Target, Usage, Usd,
};

const PRIMARY: &str = "main/primary/large-v1";
const BACKUP: &str = "main/backup/large-v1";

/// Primary: 200 ms, 10% server errors, $2.50/$10 per million tokens. Backup: 500 ms, 20%
/// server errors, $1/$4. Every answer uses 400 input and 100 output tokens.
fn config(classify_with: &str) -> RouterBuilder {
    let usage = Usage::new(400, 100);
    let primary = SimProvider::new()
        .latency(Duration::from_millis(200))
        .failure_rate(0.1)
        .seed(7)
        .usage(usage);
    let backup = SimProvider::new()
        .latency(Duration::from_millis(500))
        .failure_rate(0.2)
        .seed(11)
        .usage(usage);
    let large = Price::per_million(Usd::from_cents(250), Usd::from_cents(1000));
    let backup_price = Price::per_million(Usd::from_cents(100), Usd::from_cents(400));
    let small = Price::per_million(Usd::from_cents(15), Usd::from_cents(60));
    Router::builder()
        .breaker_defaults(breakers())
        .account(ProviderAccount::new("primary", primary))
        .account(ProviderAccount::new("backup", backup))
        .model(
            LogicalModel::new("main")
                .target(Target::new("primary", "large-v1").price(large))
                .target(Target::new("backup", "large-v1").price(backup_price)),
        )
        .model(LogicalModel::new("small").target(Target::new("primary", "small-v1").price(small)))
        .policy(
            Policy::new("classify")
                .priority(5)
                .purposes([Purpose::Classification])
                .route([classify_with]),
        )
        .policy(Policy::new("chat").route(["main"]))
}

/// Breakers that open at half the calls failing (of at least 20 in a minute): not on
/// the targets' everyday errors, but within seconds of an outage.
fn breakers() -> BreakerConfig {
    BreakerConfig::default()
        .failure_threshold(None)
        .failure_rate(0.5, 20)
}

/// Records `requests` requests, one a second (every fourth a classification), through
/// `config("main")` on a paused clock, and reads the traffic file back.
fn record_scripted_run(requests: u32) -> Traffic {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traffic.jsonl");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let recorder = Recorder::builder(&path).start().unwrap();
        let router = config("main").recorder(recorder.clone()).build().unwrap();
        let start = tokio::time::Instant::now();
        for i in 0..requests {
            let purpose = if i % 4 == 0 {
                Purpose::Classification
            } else {
                Purpose::Chat
            };
            let _ = router
                .complete(
                    StepType::Inference,
                    purpose,
                    ChatRequest::user("a question"),
                )
                .await;
            tokio::time::sleep_until(start + Duration::from_secs(u64::from(i) + 1)).await;
        }
        recorder.flush().unwrap();
        assert_eq!(recorder.written(), u64::from(requests));
        assert_eq!(recorder.dropped(), 0);
    });
    Traffic::read(&path).unwrap()
}

fn within(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance * expected.abs()
}

/// Tolerances: success rate within 1.5 percentage points, cost within 5%, p50 and p95
/// latency within 10%. 2,000 requests: a 2% failure rate has a standard error of 0.3
/// points, and the fallback share (which drives cost) one of 0.7 points.
#[test]
fn replaying_a_recording_against_its_own_configuration_gives_its_figures_back() {
    let traffic = record_scripted_run(2_000);
    assert_eq!(traffic.len(), 2_000);
    let recorded = Summary::of(traffic.records());
    // The scripted run is what it claims to be: some failures, some fallbacks.
    assert!(recorded.fallbacks > 100, "{recorded:?}");
    assert!(recorded.answered < recorded.requests, "{recorded:?}");
    assert!((recorded.p50_ms - 200.0).abs() < 5.0, "{recorded:?}");

    let replay = Replay::new(traffic.clone(), Behaviours::fit(&traffic));
    let replayed = replay.run(config("main")).unwrap().summary();
    let report = Comparison::of_summaries(recorded.clone(), replayed.clone()).to_string();

    assert_eq!(replayed.requests, recorded.requests);
    assert!(
        (replayed.success_rate - recorded.success_rate).abs() <= 0.015,
        "{report}"
    );
    assert!(
        within(replayed.cost_usd, recorded.cost_usd, 0.05),
        "{report}"
    );
    assert!(within(replayed.p50_ms, recorded.p50_ms, 0.10), "{report}");
    assert!(within(replayed.p95_ms, recorded.p95_ms, 0.10), "{report}");
    let share = |s: &Summary| s.targets[BACKUP].share;
    assert!(
        (share(&replayed) - share(&recorded)).abs() <= 0.02,
        "{report}"
    );
}

#[test]
fn a_candidate_sending_classification_to_a_cheaper_model_reports_the_lower_cost() {
    let traffic = record_scripted_run(800);
    let replay = Replay::new(traffic.clone(), Behaviours::fit(&traffic));
    let current = replay.run(config("main")).unwrap();
    let candidate = replay.run(config("small")).unwrap();
    let comparison = Comparison::new(&current, &candidate);
    let (before, after) = (&comparison.current, &comparison.candidate);

    let classify = |s: &Summary| s.policies["classify"].cost_usd;
    assert!(classify(after) < classify(before) / 5.0, "{comparison}");
    assert!(after.cost_usd < before.cost_usd, "{comparison}");
    // Chat traffic is routed as before.
    assert!(
        within(
            after.policies["chat"].cost_usd,
            before.policies["chat"].cost_usd,
            0.05
        ),
        "{comparison}"
    );
    assert_eq!(after.targets["small/primary/small-v1"].answered, 200);
    assert_eq!(comparison.no_longer_routed, 0);
    let text = comparison.to_string();
    assert!(text.contains("policy `classify`"), "{text}");
    assert!(text.contains("target small/primary/small-v1"), "{text}");
}

#[test]
fn a_primary_outage_shows_up_as_the_fallbacks_share() {
    // One hour of traffic; the primary is down for the middle half hour.
    let traffic = record_scripted_run(3_600);
    let mut behaviours = Behaviours::fit(&traffic);
    let replay = Replay::new(traffic.clone(), behaviours.clone());
    behaviours.outage_after(
        "primary",
        Duration::from_secs(900),
        Duration::from_secs(1_800),
    );
    let outage = Replay::new(traffic, behaviours);

    let current = replay.run(config("main")).unwrap();
    let candidate = outage.run(config("main")).unwrap();
    let comparison = Comparison::new(&current, &candidate);
    let (before, after) = (&comparison.current, &comparison.candidate);

    // Outside the outage about 10% of answers come from the backup; during it, all of
    // them: 0.5 * 10% + 0.5 * 100% = 55%.
    assert!(
        (0.07..0.13).contains(&before.targets[BACKUP].share),
        "{comparison}"
    );
    assert!(
        (0.50..0.60).contains(&after.targets[BACKUP].share),
        "{comparison}"
    );
    // The breaker keeps the primary from being called for most of the outage.
    assert!(
        after.targets[PRIMARY].calls < before.targets[PRIMARY].calls * 7 / 10,
        "{comparison}"
    );
    // With its breaker open the primary is passed over, not failed over from: the
    // backup answers at its own latency.
    assert!(after.p50_ms > before.p50_ms * 2.0, "{comparison}");
}

#[test]
fn a_replay_honours_the_candidates_budget_and_reports_when_it_ran_out() {
    let traffic = record_scripted_run(400);
    let replay = Replay::new(traffic.clone(), Behaviours::fit(&traffic));
    let current = replay.run(config("main")).unwrap().summary();
    // A third of what the primary spent over the run, and no backup.
    let limit = current.targets[PRIMARY].cost_usd / 3.0;
    let price = Price::per_million(Usd::from_cents(250), Usd::from_cents(1000));
    let candidate = Router::builder()
        .breaker_defaults(breakers())
        .account(
            ProviderAccount::new("primary", SimProvider::new())
                .budget(routewise::Budget::monthly_usd(limit)),
        )
        .model(LogicalModel::new("main").target(Target::new("primary", "large-v1").price(price)))
        .policy(Policy::new("chat").route(["main"]));
    let run = replay.run(candidate).unwrap();
    let summary = run.summary();

    let budget = &summary.budgets["primary"];
    assert!(budget.spent_usd <= limit + 1e-9, "{summary:?}");
    assert!(summary.outcomes["budget_exhausted"] > 100, "{summary:?}");
    // The money ran out about a third of the way through the 400 seconds.
    let first = traffic.records()[0].unix_ms;
    let refused = run
        .records()
        .iter()
        .find(|r| r.outcome == "budget_exhausted")
        .unwrap();
    assert!(
        (first + 100_000..first + 180_000).contains(&refused.unix_ms),
        "refused {} ms in",
        refused.unix_ms - first
    );
    let exhausted_at = budget.exhausted_at.as_deref().unwrap();
    let refused_at = routewise_rfc3339(refused.unix_ms);
    assert!(
        exhausted_at <= refused_at.as_str(),
        "{exhausted_at} {refused_at}"
    );
}

/// `unix_ms` as `2026-12-03T14:05:00Z`, the report's format (whole seconds sort as text).
fn routewise_rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = secs / 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}
