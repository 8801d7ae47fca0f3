//! Chaos runs: 10,000 requests (half of them streams, 256 at a time) through a router whose
//! three targets sit on fault-injecting upstreams (two OpenAI-format, one Anthropic-format)
//! answering by a seeded schedule: 200s, 429s with retry-after, 500s, 503s, 529s, hangs
//! past the attempt timeout, connection resets, malformed JSON and streams cut mid-way,
//! plus an outage per upstream. The accounts have rate limits and budgets (one runs out
//! of budget, one out of requests per minute), the policy has breakers, retries and
//! timeouts, and health probes run throughout.
//!
//! The tests assert invariants, not luck: every request ends in an answer or a typed
//! error, nothing panics, the router's counters add up exactly and match what the clients
//! and the upstreams saw, spend equals the priced usage of the answers, nothing stays
//! reserved or in flight, and no task or connection outlives the router.
//!
//! `ROUTEWISE_CHAOS_SEED` and `ROUTEWISE_CHAOS_REQUESTS` change the seed and the size of a
//! run; run with `--nocapture` to see its figures.

mod run;
mod schedule;
mod upstream;

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use routewise::Usd;

use run::{ACCOUNTS, Chaos, Clients, PANICS, Tally, count_panics, drive};
use schedule::Fault;

const CONCURRENCY: usize = 256;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    env_or("ROUTEWISE_CHAOS_SEED", 0x5eed_2026)
}

fn requests() -> u64 {
    env_or("ROUTEWISE_CHAOS_REQUESTS", 10_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_through_faulty_upstreams_keep_every_invariant() {
    count_panics();
    let started = Instant::now();
    let chaos = Chaos::start(seed()).await;
    let tally = drive(&chaos, requests(), CONCURRENCY, Clients::Patient).await;
    let elapsed = started.elapsed();
    report("patient clients", &chaos, &tally, elapsed);

    check_outcomes(&chaos, &tally, Clients::Patient);
    check_attempts(&chaos, &tally, Clients::Patient);
    check_nothing_held(&chaos);
    check_spend(&chaos, &tally);
    check_every_fault_was_injected(&chaos);
    // Every reservation stays in its 60-second window for a minute: while the run is
    // shorter than that, the windows must hold exactly one request per attempt and the
    // tokens the answers used.
    if elapsed < Duration::from_secs(55) {
        check_windows_hold_exactly_the_attempts(&chaos, &tally);
    }
    shut_down_cleanly(chaos).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_give_up_and_drop_streams_leave_nothing_reserved() {
    count_panics();
    let started = Instant::now();
    let chaos = Chaos::start(seed() ^ 0xcafe).await;
    let tally = drive(&chaos, requests(), CONCURRENCY, Clients::Impatient).await;
    report("impatient clients", &chaos, &tally, started.elapsed());

    check_outcomes(&chaos, &tally, Clients::Impatient);
    check_attempts(&chaos, &tally, Clients::Impatient);
    check_nothing_held(&chaos);
    check_spend_with_cancellations(&chaos, &tally);
    shut_down_cleanly(chaos).await;
}

/// Every request ended exactly once, the policy's counters add up and agree with the
/// clients, and nothing panicked.
fn check_outcomes(chaos: &Chaos, tally: &Tally, clients: Clients) {
    assert!(
        tally.violations.is_empty(),
        "{} broken promises, the first: {:?}",
        tally.violations.len(),
        &tally.violations[..tally.violations.len().min(5)]
    );
    assert_eq!(PANICS.load(SeqCst), 0, "something panicked");
    assert_eq!(
        tally.answered + tally.failed_total() + tally.cancelled,
        requests(),
        "every request ended once"
    );
    let stats = chaos.router.stats();
    let policy = stats.policy("chaos").unwrap();
    assert_eq!(
        policy.matched,
        policy.succeeded + policy.failed + policy.cancelled,
        "{policy:?}"
    );
    assert_eq!(policy.succeeded, tally.answered, "answers the clients got");
    assert_eq!(
        policy.failed,
        tally.failed_total(),
        "errors the clients got"
    );
    match clients {
        Clients::Patient => {
            assert_eq!(policy.cancelled, 0);
            assert_eq!(policy.matched, requests());
        }
        Clients::Impatient => {
            assert!(policy.cancelled > 0, "the run cancelled requests");
            // Clients that gave up before a policy matched are not the router's to count.
            assert!(policy.cancelled <= tally.cancelled);
        }
    }
}

/// The router's attempts per target agree with the attempts listed in answers and errors
/// and, when no client gives up, with the upstream's own count of requests.
fn check_attempts(chaos: &Chaos, tally: &Tally, clients: Clients) {
    let stats = chaos.router.stats();
    for (index, (name, ..)) in ACCOUNTS.iter().enumerate() {
        let target = stats.target("chaos", name).unwrap();
        let listed = tally.attempts.get(*name).copied().unwrap_or(0);
        let upstream = chaos.upstreams[index].seen.chat_requests.load(SeqCst);
        assert_eq!(
            target.attempts,
            target.succeeded + target.failed,
            "{target:?}"
        );
        assert_eq!(
            target.succeeded,
            tally.served.get(*name).copied().unwrap_or(0),
            "answers served by {name}"
        );
        match clients {
            Clients::Patient => {
                assert_eq!(
                    target.attempts, listed,
                    "attempts on {name}: router vs clients"
                );
                let unseen = reconcile(chaos, tally, index, name);
                assert_eq!(
                    target.attempts,
                    upstream + unseen,
                    "attempts on {name}: router vs upstream"
                );
            }
            // A cancelled request's attempts reach neither an answer nor an error.
            Clients::Impatient => assert!(target.attempts >= listed, "{name}"),
        }
    }
}

/// Compares, request by request, the attempts an answer or error lists on one account
/// with the times the upstream saw that request. The upstream sees every attempt, except
/// one that timed out before its bytes were written (a starved machine can delay a
/// connection task past the attempt timeout): returns how many of those there were.
fn reconcile(chaos: &Chaos, tally: &Tally, index: usize, name: &str) -> u64 {
    let seen = &chaos.upstreams[index].seen;
    let mut unseen = 0;
    for ((account, id), listed) in &tally.per_request {
        if account != name {
            continue;
        }
        let arrived = seen.arrivals(*id);
        assert!(
            arrived <= listed.attempts && listed.attempts - arrived <= listed.timeouts,
            "request {id} on {name}: {listed:?}, but the upstream saw it {arrived} times"
        );
        unseen += listed.attempts - arrived;
    }
    unseen
}

/// Once every request has ended, nothing is in flight: no target call, breaker trial,
/// limiter reservation or budget reservation.
fn check_nothing_held(chaos: &Chaos) {
    let stats = chaos.router.stats();
    for target in &stats.targets {
        assert_eq!(target.in_flight, 0, "{target:?}");
    }
    for breaker in &stats.breakers {
        assert_eq!(breaker.breaker.trials_in_flight, 0, "{breaker:?}");
    }
    for account in chaos.router.accounts() {
        let limits = account.limits.as_ref().unwrap();
        assert_eq!(limits.in_flight, 0, "limiter of {}", account.name);
        let budget = account.budget.as_ref().unwrap();
        assert_eq!(budget.reserved, Usd::ZERO, "budget of {}", account.name);
    }
}

/// Spend is exactly the priced usage of the answers each account served, and within
/// budget (the upstreams never report more than the router's worst case).
fn check_spend(chaos: &Chaos, tally: &Tally) {
    for account in chaos.router.accounts() {
        let budget = account.budget.unwrap();
        let expected = tally.spend.get(&account.name).copied().unwrap_or(Usd::ZERO);
        assert_eq!(budget.spent, expected, "spend of {}", account.name);
        assert!(budget.spent <= budget.limit, "{budget:?}");
    }
}

/// With clients that walk away: spend is the priced usage of the answers plus, for each
/// call dropped after it started, its worst case (`CancelledCharge::WorstCase`): at most
/// one call per cancelled request (no hedging here), each of at most a 100-token prompt
/// (the prompts are a few words) and the 64 output tokens the model caps. Some dropped
/// calls are charged, and every budget holds.
fn check_spend_with_cancellations(chaos: &Chaos, tally: &Tally) {
    let mut charged_for_cancellations = Usd::ZERO;
    for account in chaos.router.accounts() {
        let budget = account.budget.unwrap();
        let answered = tally.spend.get(&account.name).copied().unwrap_or(Usd::ZERO);
        assert!(
            budget.spent >= answered,
            "spend of {}: {budget:?}",
            account.name
        );
        let extra = budget.spent.saturating_sub(answered);
        let per_call = chaos.prices[account.name.as_str()].worst_case(100, 64);
        let bound = Usd::from_nanos(per_call.nanos() * tally.cancelled);
        assert!(
            extra <= bound,
            "spend of {}: {extra} over the answers",
            account.name
        );
        assert!(budget.spent <= budget.limit, "{budget:?}");
        charged_for_cancellations = charged_for_cancellations.saturating_add(extra);
    }
    assert!(
        charged_for_cancellations > Usd::ZERO,
        "calls dropped mid-way were charged"
    );
}

fn check_windows_hold_exactly_the_attempts(chaos: &Chaos, tally: &Tally) {
    let stats = chaos.router.stats();
    for account in chaos.router.accounts() {
        let window = account.limits.unwrap().account;
        let target = stats.target("chaos", &account.name).unwrap();
        assert_eq!(
            u64::from(window.requests),
            target.attempts,
            "{}",
            account.name
        );
        let tokens = tally.tokens.get(&account.name).copied().unwrap_or(0);
        assert_eq!(window.tokens, tokens, "{}", account.name);
    }
}

fn check_every_fault_was_injected(chaos: &Chaos) {
    for fault in Fault::ALL {
        let injected: u64 = chaos.upstreams.iter().map(|u| u.seen.faults(fault)).sum();
        assert!(injected > 0, "the run never injected {}", fault.name());
    }
    for upstream in &chaos.upstreams {
        let faults: u64 = Fault::ALL.iter().map(|f| upstream.seen.faults(*f)).sum();
        assert_eq!(faults, upstream.seen.chat_requests.load(SeqCst));
    }
}

/// Drops the router and waits (bounded) for every connection and task to end.
async fn shut_down_cleanly(chaos: Chaos) {
    let Chaos {
        router, upstreams, ..
    } = chaos;
    drop(router);
    for upstream in &upstreams {
        upstream.stop_accepting();
    }
    let metrics = tokio::runtime::Handle::current().metrics();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open: i64 = upstreams
            .iter()
            .map(|u| u.seen.open_connections.load(SeqCst))
            .sum();
        let tasks = metrics.num_alive_tasks();
        if open == 0 && tasks == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections and {tasks} tasks alive 10 s after the router was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn report(label: &str, chaos: &Chaos, tally: &Tally, elapsed: Duration) {
    let stats = chaos.router.stats();
    let policy = stats.policy("chaos").unwrap();
    let mut out = format!(
        "chaos run ({label}, seed {:#x}): {} requests ({} streams) in {elapsed:.1?}\n  \
         answered {}, failed {}, cancelled by clients {}; policy: matched {}, succeeded {}, failed {}, cancelled {}, fallbacks {}\n  errors: {:?}\n",
        chaos.seed,
        requests(),
        tally.streams,
        tally.answered,
        tally.failed_total(),
        tally.cancelled,
        policy.matched,
        policy.succeeded,
        policy.failed,
        policy.cancelled,
        policy.fallbacks,
        tally.failed,
    );
    let accounts = chaos.router.accounts();
    for (index, (name, ..)) in ACCOUNTS.iter().enumerate() {
        let seen = &chaos.upstreams[index].seen;
        let target = stats.target("chaos", name).unwrap();
        let opened: u64 = stats
            .breakers
            .iter()
            .filter(|b| &*b.target.account == *name)
            .map(|b| b.breaker.times_opened)
            .sum();
        let account = accounts.iter().find(|a| a.name == *name).unwrap();
        let budget = account.budget.as_ref().unwrap();
        out += &format!(
            "  {name}: upstream saw {} chat requests and {} probes; router: {} attempts, {} ok, breaker opened {opened}x; spent {} of {}; window {} requests\n    faults:",
            seen.chat_requests.load(SeqCst),
            seen.probes.load(SeqCst),
            target.attempts,
            target.succeeded,
            budget.spent,
            budget.limit,
            account.limits.as_ref().unwrap().account.requests,
        );
        for fault in Fault::ALL {
            out += &format!(" {}={}", fault.name(), seen.faults(fault));
        }
        out.push('\n');
    }
    eprintln!("{out}");
}
