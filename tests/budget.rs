//! Budgets: exact spend, worst-case reservations, month rollover, alerts once per
//! threshold, restart survival, webhook delivery.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use proptest::prelude::*;
use routewise::Usage;
use routewise::budget::{
    Alert, AlertError, AlertSink, Budget, BudgetLedger, BudgetWindow, CallbackSink, PricingTable,
    TracingSink, Usd, WebhookSink,
};
use routewise::state::{FileStore, MemoryStore, StateKey, StateStore};
use serde_json::{Value, json};

fn mid_january() -> SystemTime {
    utc("2025-01-15T12:00:00Z")
}

/// A UTC time, for the few these tests need.
fn utc(date: &str) -> SystemTime {
    let known = [
        ("2024-12-31T23:59:59Z", 1_735_689_599),
        ("2025-01-01T00:00:00Z", 1_735_689_600),
        ("2025-01-15T12:00:00Z", 1_736_942_400),
        ("2025-02-01T00:00:00Z", 1_738_368_000),
        ("2025-02-28T23:59:59Z", 1_740_787_199),
        ("2025-03-01T00:00:00Z", 1_740_787_200),
    ];
    let secs = known
        .iter()
        .find(|(d, _)| *d == date)
        .expect("a known date")
        .1;
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn ledger(dollars: f64) -> BudgetLedger {
    BudgetLedger::new("main", Budget::monthly_usd(dollars), mid_january()).unwrap()
}

#[test]
fn spend_is_correct_to_the_cent_for_known_usage_and_prices() {
    let prices = PricingTable::defaults();
    let ledger = ledger(100.0);
    let now = mid_january();
    // gpt-4o: 120k prompt (20k cached), 8k output:
    // 100k × $2.50 + 20k × $1.25 + 8k × $10 per million = $0.25 + $0.025 + $0.08 = $0.355
    let usage = Usage {
        input_tokens: 120_000,
        cached_input_tokens: 20_000,
        output_tokens: 8_000,
        ..Usage::default()
    };
    let gpt4o = prices.get("gpt-4o").unwrap();
    for _ in 0..100 {
        let held = ledger
            .reserve(gpt4o.worst_case(120_000, 8_000), now)
            .unwrap();
        held.settle(prices.cost("gpt-4o", &usage).unwrap(), now);
    }
    // claude-haiku-4-5: 1M prompt, 200k output: $1 + $1.
    let usage = Usage::new(1_000_000, 200_000);
    let haiku = prices.cost("claude-haiku-4-5-20251001", &usage).unwrap();
    ledger.reserve(haiku, now).unwrap().settle(haiku, now);

    let snapshot = ledger.snapshot(now);
    assert_eq!(snapshot.spent, Usd::from_cents(100 * 35 + 50 + 200));
    assert_eq!(snapshot.reserved, Usd::ZERO);
    assert_eq!(snapshot.spent.to_string(), "$37.50");
}

#[test]
fn an_unknown_price_is_an_error_naming_the_model() {
    let err = PricingTable::defaults()
        .cost("acme-llm-9000", &Usage::new(1, 1))
        .unwrap_err();
    assert_eq!(err.model, "acme-llm-9000");
}

#[test]
fn a_reservation_that_would_pass_the_budget_is_refused_with_details() {
    let ledger = ledger(10.0);
    let now = mid_january();
    ledger
        .reserve(Usd::from_cents(400), now)
        .unwrap()
        .settle(Usd::from_cents(400), now);
    let _in_flight = ledger.reserve(Usd::from_cents(500), now).unwrap();
    let refused = ledger.reserve(Usd::from_cents(200), now).unwrap_err();
    assert_eq!(refused.spent, Usd::from_cents(400));
    assert_eq!(refused.reserved, Usd::from_cents(500));
    assert_eq!(refused.renews_at, utc("2025-02-01T00:00:00Z"));
    assert_eq!(
        refused.to_string(),
        "budget of account `main` for 2025-01 is exhausted: $4.00 spent and $5.00 reserved of $10.00, $2.00 more requested"
    );
    assert!(ledger.check(Usd::from_cents(100), now).is_ok());
    assert!(ledger.check(Usd::from_cents(101), now).is_err());
}

#[test]
fn a_dropped_reservation_gives_its_amount_back() {
    let ledger = ledger(1.0);
    let now = mid_january();
    let held = ledger.reserve(Usd::from_cents(100), now).unwrap();
    assert!(ledger.check(Usd::from_nanos(1), now).is_err());
    drop(held);
    assert_eq!(ledger.snapshot(now).reserved, Usd::ZERO);
    ledger.reserve(Usd::from_cents(100), now).unwrap().release();
    assert!(ledger.check(Usd::from_cents(100), now).is_ok());
}

#[test]
fn december_spend_does_not_count_against_january() {
    let ledger = BudgetLedger::new(
        "main",
        Budget::monthly_usd(10.0),
        utc("2024-12-31T23:59:59Z"),
    )
    .unwrap();
    let december = utc("2024-12-31T23:59:59Z");
    ledger
        .reserve(Usd::from_cents(900), december)
        .unwrap()
        .settle(Usd::from_cents(900), december);
    assert!(ledger.reserve(Usd::from_cents(200), december).is_err());
    // A call reserved in December that answers in January is charged to January.
    let straddling = ledger.reserve(Usd::from_cents(100), december).unwrap();

    let january = utc("2025-01-01T00:00:00Z");
    let snapshot = ledger.snapshot(january);
    assert_eq!(
        (snapshot.window.as_str(), snapshot.spent),
        ("2025-01", Usd::ZERO)
    );
    straddling.settle(Usd::from_cents(60), january);
    ledger
        .reserve(Usd::from_cents(940), january)
        .unwrap()
        .settle(Usd::from_cents(940), january);
    let snapshot = ledger.snapshot(january);
    assert_eq!(
        (snapshot.spent, snapshot.reserved),
        (Usd::from_cents(1_000), Usd::ZERO)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_straddling_new_year_lose_no_spend() {
    let december = utc("2024-12-31T23:59:59Z");
    let january = utc("2025-01-01T00:00:00Z");
    let ledger = BudgetLedger::new("main", Budget::monthly_usd(100.0), december).unwrap();
    let tasks: Vec<_> = (0..1_000)
        .map(|i| {
            let ledger = ledger.clone();
            let reserved_at = if i % 2 == 0 { december } else { january };
            tokio::spawn(async move {
                let held = ledger.reserve(Usd::from_cents(1), reserved_at).unwrap();
                tokio::task::yield_now().await;
                held.settle(Usd::from_cents(1), january);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let snapshot = ledger.snapshot(january);
    assert_eq!(snapshot.window, "2025-01");
    assert_eq!(
        (snapshot.spent, snapshot.reserved),
        (Usd::from_cents(1_000), Usd::ZERO)
    );
    let store = MemoryStore::new();
    ledger.sync(&store, january).await.unwrap();
    let spend = |month| StateKey::spend("main", month);
    assert_eq!(
        store.get(&spend("2025-01")).await.unwrap(),
        Usd::from_cents(1_000).nanos()
    );
    assert_eq!(store.get(&spend("2024-12")).await.unwrap(), 0);
}

#[test]
fn february_spend_rolls_over_on_the_first_of_march() {
    let feb_end = utc("2025-02-28T23:59:59Z");
    let ledger = BudgetLedger::new("main", Budget::monthly_usd(1.0), feb_end).unwrap();
    ledger
        .reserve(Usd::from_cents(100), feb_end)
        .unwrap()
        .settle(Usd::from_cents(100), feb_end);
    assert!(ledger.check(Usd::from_nanos(1), feb_end).is_err());
    let march = utc("2025-03-01T00:00:00Z");
    assert!(ledger.check(Usd::from_cents(100), march).is_ok());
    assert_eq!(ledger.snapshot(march).window, "2025-03");
}

#[test]
fn a_fixed_window_budget_renews_after_its_length() {
    let start = mid_january();
    let budget = Budget::monthly_usd(1.0).window(BudgetWindow::Fixed {
        start,
        length: Duration::from_secs(3_600),
    });
    let ledger = BudgetLedger::new("main", budget, start).unwrap();
    ledger
        .reserve(Usd::from_cents(100), start)
        .unwrap()
        .settle(Usd::from_cents(100), start);
    let refused = ledger.check(Usd::from_nanos(1), start).unwrap_err();
    assert_eq!(refused.renews_at, start + Duration::from_secs(3_600));
    assert!(
        ledger
            .check(Usd::from_cents(100), refused.renews_at)
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_threshold_alerts_exactly_once_under_concurrent_settles() {
    let ledger = ledger(10.0);
    let now = mid_january();
    let tasks: Vec<_> = (0..2_000)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                match ledger.reserve(Usd::from_cents(1), now) {
                    Ok(held) => held.settle(Usd::from_cents(1), now),
                    Err(_) => Vec::new(),
                }
            })
        })
        .collect();
    let mut alerts: Vec<Alert> = Vec::new();
    for task in tasks {
        alerts.extend(task.await.unwrap());
    }
    let mut fired: Vec<u16> = alerts.iter().map(|a| a.threshold_percent).collect();
    fired.sort_unstable();
    assert_eq!(fired, [50, 80, 95, 100]);
    assert_eq!(ledger.snapshot(now).spent, Usd::from_cents(1_000));
    let at_100 = alerts.iter().find(|a| a.threshold_percent == 100).unwrap();
    assert_eq!(at_100.spend, Usd::from_cents(1_000));
    assert_eq!(at_100.projected_exhaustion, Some(now));
}

#[test]
fn alerts_project_exhaustion_at_the_current_burn_rate() {
    let start = utc("2025-01-01T00:00:00Z");
    let ledger = BudgetLedger::new("main", Budget::monthly_usd(100.0), start).unwrap();
    // $50 in the first 10 days: $5 a day, so the other $50 lasts 10 more days.
    let day_10 = start + Duration::from_secs(10 * 86_400);
    let alerts = ledger
        .reserve(Usd::from_cents(5_000), day_10)
        .unwrap()
        .settle(Usd::from_cents(5_000), day_10);
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(
        (alert.threshold_percent, alert.window.as_str()),
        (50, "2025-01")
    );
    assert_eq!(
        alert.projected_exhaustion,
        Some(start + Duration::from_secs(20 * 86_400))
    );
    assert_eq!(
        alert.to_string(),
        "account `main` has spent $50.00 of its $100.00 budget for 2025-01 (50% threshold); at this rate it runs out at 2025-01-21T00:00:00Z"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spend_never_exceeds_the_budget_when_worst_cases_hold() {
    let ledger = ledger(5.0);
    let now = mid_january();
    let tasks: Vec<_> = (0..1_000_u64)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let worst = Usd::from_micros(1_000 + (i * 7_919) % 20_000);
                if let Ok(held) = ledger.reserve(worst, now) {
                    tokio::task::yield_now().await; // the call
                    let actual = Usd::from_nanos(worst.nanos() * ((i % 10) + 1) / 10);
                    held.settle(actual, now);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let snapshot = ledger.snapshot(now);
    assert!(
        snapshot.spent <= Usd::from_cents(500),
        "spent {}",
        snapshot.spent
    );
    assert_eq!(snapshot.reserved, Usd::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overshoot_is_bounded_by_what_in_flight_requests_exceeded_their_reservation_by() {
    let ledger = ledger(1.0);
    let now = mid_january();
    // Ten requests each reserve 10 cents (the whole budget) and each costs 3 cents more.
    let held: Vec<_> = (0..10)
        .map(|_| ledger.reserve(Usd::from_cents(10), now).unwrap())
        .collect();
    assert!(ledger.reserve(Usd::from_nanos(1), now).is_err());
    let settles: Vec<_> = held
        .into_iter()
        .map(|r| tokio::spawn(async move { r.settle(Usd::from_cents(13), now) }))
        .collect();
    for settle in settles {
        settle.await.unwrap();
    }
    let snapshot = ledger.snapshot(now);
    assert_eq!(snapshot.spent, Usd::from_cents(130)); // 100 + 10 × 3 excess: the bound, met exactly
    assert!(
        ledger.reserve(Usd::ZERO, now).is_err(),
        "an overspent budget refuses everything"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Interleaved reserves, settles and drops: spend never exceeds the budget by more
    /// than the settled requests' excess over their reservations.
    #[test]
    fn spend_exceeds_the_budget_by_no_more_than_the_excess_over_reservations(
        ops in prop::collection::vec((0..300_u64, 0..150_u64, 0..4_usize, any::<bool>()), 1..200)
    ) {
        let limit = Usd::from_cents(1_000);
        let ledger = BudgetLedger::new("p", Budget::monthly_usd(10.0), mid_january()).unwrap();
        let now = mid_january();
        let mut in_flight = Vec::new();
        let mut excess = 0_u64;
        for (worst_cents, actual_percent, pick, drop_it) in ops {
            if let Ok(held) = ledger.reserve(Usd::from_cents(worst_cents), now) {
                in_flight.push((held, worst_cents));
            }
            if !in_flight.is_empty() {
                let (held, worst) = in_flight.swap_remove(pick % in_flight.len());
                if drop_it {
                    drop(held);
                } else {
                    let actual = worst * actual_percent / 100;
                    excess += actual.saturating_sub(worst);
                    held.settle(Usd::from_cents(actual), now);
                }
            }
            let spent = ledger.snapshot(now).spent;
            prop_assert!(spent <= limit.saturating_add(Usd::from_cents(excess)), "spent {spent} with excess {excess}");
        }
    }
}

#[tokio::test]
async fn spend_and_fired_alerts_survive_a_restart_through_a_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let now = mid_january();
    {
        let store = FileStore::open(&path).await.unwrap();
        let ledger = ledger(10.0);
        assert!(ledger.sync(&store, now).await.unwrap().is_empty());
        let alerts = ledger
            .reserve(Usd::from_cents(600), now)
            .unwrap()
            .settle(Usd::from_cents(600), now);
        assert_eq!(alerts.len(), 1);
        ledger.sync(&store, now).await.unwrap();
        store.flush().await.unwrap();
    }
    let store = FileStore::open(&path).await.unwrap();
    let restarted = ledger(10.0);
    let alerts = restarted.sync(&store, now).await.unwrap();
    assert!(
        alerts.is_empty(),
        "the 50% alert fired before the restart: {alerts:?}"
    );
    let snapshot = restarted.snapshot(now);
    assert_eq!(snapshot.spent, Usd::from_cents(600));
    assert_eq!(snapshot.thresholds_fired, [50]);
    assert!(restarted.reserve(Usd::from_cents(401), now).is_err());
    let alerts = restarted
        .reserve(Usd::from_cents(200), now)
        .unwrap()
        .settle(Usd::from_cents(200), now);
    assert_eq!(
        alerts
            .iter()
            .map(|a| a.threshold_percent)
            .collect::<Vec<_>>(),
        [80]
    );
}

#[tokio::test]
async fn ledgers_sharing_a_store_see_each_others_spend_after_sync() {
    let store = MemoryStore::new();
    let now = mid_january();
    let (a, b) = (ledger(10.0), ledger(10.0));
    a.reserve(Usd::from_cents(300), now)
        .unwrap()
        .settle(Usd::from_cents(300), now);
    b.reserve(Usd::from_cents(400), now)
        .unwrap()
        .settle(Usd::from_cents(400), now);
    a.sync(&store, now).await.unwrap();
    let alerts = b.sync(&store, now).await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .map(|a| a.threshold_percent)
            .collect::<Vec<_>>(),
        [50]
    );
    assert_eq!(b.snapshot(now).spent, Usd::from_cents(700));
    a.sync(&store, now).await.unwrap();
    assert_eq!(a.snapshot(now).spent, Usd::from_cents(700));
    assert!(a.reserve(Usd::from_cents(301), now).is_err());
    assert_eq!(
        store
            .get(&StateKey::spend("main", "2025-01"))
            .await
            .unwrap(),
        Usd::from_cents(700).nanos()
    );
}

#[tokio::test]
async fn spend_settled_across_a_rollover_is_still_written_to_its_month() {
    let store = MemoryStore::new();
    let december = utc("2024-12-31T23:59:59Z");
    let ledger = BudgetLedger::new("main", Budget::monthly_usd(10.0), december).unwrap();
    ledger
        .reserve(Usd::from_cents(250), december)
        .unwrap()
        .settle(Usd::from_cents(250), december);
    let january = utc("2025-01-01T00:00:00Z");
    ledger
        .reserve(Usd::from_cents(100), january)
        .unwrap()
        .settle(Usd::from_cents(100), january);
    ledger.sync(&store, january).await.unwrap();
    let month = |m| StateKey::spend("main", m);
    assert_eq!(
        store.get(&month("2024-12")).await.unwrap(),
        Usd::from_cents(250).nanos()
    );
    assert_eq!(
        store.get(&month("2025-01")).await.unwrap(),
        Usd::from_cents(100).nanos()
    );
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, Value)>>>);

async fn serve_webhook(status: StatusCode) -> (String, Received) {
    let received = Received::default();
    let app =
        axum::Router::new()
            .route(
                "/hooks/T123/secret-token",
                post(
                    move |State(seen): State<Received>,
                          headers: HeaderMap,
                          Json(body): Json<Value>| async move {
                        seen.0.lock().unwrap().push((headers, body));
                        status
                    },
                ),
            )
            .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        format!("http://{address}/hooks/T123/secret-token"),
        received,
    )
}

fn alert_at_80_percent() -> Alert {
    let start = utc("2025-01-01T00:00:00Z");
    let ledger = BudgetLedger::new(
        "openai-main",
        Budget::monthly_usd(100.0).thresholds([80]),
        start,
    )
    .unwrap();
    let day_13 = start + Duration::from_secs(13 * 86_400);
    let mut alerts = ledger
        .reserve(Usd::from_cents(8_125), day_13)
        .unwrap()
        .settle(Usd::from_cents(8_125), day_13);
    alerts.pop().unwrap()
}

#[tokio::test]
async fn the_webhook_sink_posts_the_alert_as_json() {
    let (url, received) = serve_webhook(StatusCode::NO_CONTENT).await;
    let sink = WebhookSink::new(&url)
        .unwrap()
        .header("authorization", "Bearer hook-secret");
    sink.send(&alert_at_80_percent()).await.unwrap();

    let received = received.0.lock().unwrap();
    assert_eq!(received.len(), 1);
    let (headers, body) = &received[0];
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["authorization"], "Bearer hook-secret");
    // $81.25 in 13 days: $6.25 a day, so $18.75 more lasts 3 days.
    assert_eq!(
        *body,
        json!({
            "account": "openai-main",
            "window": "2025-01",
            "window_start": "2025-01-01T00:00:00Z",
            "window_end": "2025-02-01T00:00:00Z",
            "threshold_percent": 80,
            "spend_usd": 81.25,
            "budget_usd": 100.0,
            "projected_exhaustion": "2025-01-17T00:00:00Z"
        })
    );
}

#[tokio::test]
async fn a_failing_webhook_reports_its_status_without_leaking_the_url() {
    let (url, _received) = serve_webhook(StatusCode::INTERNAL_SERVER_ERROR).await;
    let sink = WebhookSink::new(&url).unwrap();
    let err = sink.send(&alert_at_80_percent()).await.unwrap_err();
    assert!(matches!(err, AlertError::Status { status: 500, .. }));
    assert_eq!(
        err.to_string(),
        "alert webhook to 127.0.0.1 answered HTTP 500"
    );

    // Nothing listens on this port once the listener is dropped.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable =
        WebhookSink::new(&format!("http://127.0.0.1:{port}/hooks/T123/secret-token")).unwrap();
    let err = unreachable.send(&alert_at_80_percent()).await.unwrap_err();
    let chain = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(!chain.contains("secret-token"), "{chain}");
    assert!(matches!(err, AlertError::Transport { .. }));
    assert!(matches!(
        WebhookSink::new("ftp://x/y"),
        Err(AlertError::InvalidUrl)
    ));
}

#[tokio::test]
async fn callback_and_tracing_sinks_take_every_alert() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let sinks: Vec<Box<dyn AlertSink>> = vec![
        Box::new(CallbackSink::new(move |alert: &Alert| {
            log.lock().unwrap().push(alert.threshold_percent)
        })),
        Box::new(TracingSink),
    ];
    let alert = alert_at_80_percent();
    for sink in &sinks {
        sink.send(&alert).await.unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), [80]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Reservations settled (at up to 150 % of their worst case), dropped or kept in any
    /// order: `reserved` is exactly the open worst cases, `spent` exactly the settled
    /// costs, a reservation is refused exactly when spend plus reservations plus it would
    /// pass the limit, and once every one is closed nothing stays reserved.
    #[test]
    fn reserved_and_spent_follow_a_reference_ledger(
        ops in prop::collection::vec((0..3_u8, 0..400_u64, 0..150_u64, 0..64_usize), 1..150)
    ) {
        let limit = Usd::from_cents(1_000);
        let now = mid_january();
        let ledger = BudgetLedger::new("p", Budget::monthly_usd(10.0), now).unwrap();
        let mut open = Vec::new();
        let mut spent = Usd::ZERO;
        for (op, cents, percent, pick) in ops {
            match op {
                0 => {
                    let worst = Usd::from_cents(cents);
                    let reserved = open.iter().fold(Usd::ZERO, |sum, (_, w)| sum.saturating_add(*w));
                    let fits = spent.saturating_add(reserved).saturating_add(worst) <= limit;
                    match ledger.reserve(worst, now) {
                        Ok(held) => {
                            prop_assert!(fits, "granted past the limit");
                            open.push((held, worst));
                        }
                        Err(_) => prop_assert!(!fits, "refused within the limit"),
                    }
                }
                _ if open.is_empty() => {}
                1 => {
                    let (held, worst) = open.swap_remove(pick % open.len());
                    let actual = Usd::from_nanos(worst.nanos() / 100 * percent);
                    held.settle(actual, now);
                    spent = spent.saturating_add(actual);
                }
                _ => drop(open.swap_remove(pick % open.len())),
            }
            let snapshot = ledger.snapshot(now);
            let reserved = open.iter().fold(Usd::ZERO, |sum, (_, w)| sum.saturating_add(*w));
            prop_assert_eq!(snapshot.reserved, reserved);
            prop_assert_eq!(snapshot.spent, spent);
        }
        drop(open);
        prop_assert_eq!(ledger.snapshot(now).reserved, Usd::ZERO);
    }
}
