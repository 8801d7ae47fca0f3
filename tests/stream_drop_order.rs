//! A dropped stream or an abandoned completion settles its call before the request counts
//! as cancelled: whoever sees the `cancelled` count sees nothing of the request still
//! held. Its own test binary,
//! because the subscriber it installs is the thread's default, and tracing caches whether
//! a callsite is enabled across threads (another test's thread without a subscriber would
//! turn routewise's spans off for this one).

mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use routewise::sim::SimProvider;
use routewise::{ChatRequest, Purpose, StepType};
use support::one_model;
use tracing::span::{Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Reads the target's calls in flight at the moment a request's outcome is recorded on its
/// span: what an observer of the `cancelled` count could see of the request at that moment.
struct InFlightAtOutcome {
    router: Arc<OnceLock<routewise::Router>>,
    seen: Arc<Mutex<Vec<(String, u32)>>>,
}

struct Outcome(Option<String>);

impl tracing::field::Visit for Outcome {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "routewise.outcome" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> Layer<S> for InFlightAtOutcome {
    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut outcome = Outcome(None);
        values.record(&mut outcome);
        if let (Some(outcome), Some(router)) = (outcome.0, self.router.get()) {
            let in_flight = router.stats().target("m", "only").unwrap().in_flight;
            self.seen.lock().unwrap().push((outcome, in_flight));
        }
    }
}

/// Runs `scenario` with a router over one sim target (`m` on account `only`) under a
/// subscriber that notes the calls in flight whenever a request's outcome is recorded;
/// returns those notes.
fn outcomes_seen<F, Fut>(sim: SimProvider, scenario: F) -> Vec<(String, u32)>
where
    F: FnOnce(routewise::Router) -> Fut,
    Fut: Future<Output = ()>,
{
    let router_slot = Arc::new(OnceLock::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(InFlightAtOutcome {
        router: router_slot.clone(),
        seen: seen.clone(),
    });
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let router = one_model(&[("only", &sim)]).build().unwrap();
    router_slot.set(router.clone()).ok().unwrap();
    runtime.block_on(scenario(router));
    seen.lock().unwrap().clone()
}

#[test]
fn a_dropped_stream_releases_its_call_before_it_counts_as_cancelled() {
    let seen = outcomes_seen(SimProvider::new().reply("a b c"), |router| async move {
        let mut stream = router
            .stream(
                StepType::Inference,
                Purpose::Chat,
                ChatRequest::user("tell me"),
            )
            .await
            .unwrap();
        stream.next().await.unwrap().unwrap();
        assert_eq!(router.stats().target("m", "only").unwrap().in_flight, 1);
        drop(stream);
    });
    assert_eq!(
        seen,
        [("cancelled".to_owned(), 0)],
        "when the request is counted as cancelled, its call must already be released"
    );
}

#[test]
fn an_abandoned_completion_releases_its_call_before_it_counts_as_cancelled() {
    let sim = SimProvider::new().latency(Duration::from_secs(5));
    let seen = outcomes_seen(sim, |router| async move {
        let call = router.complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"));
        let gave_up = tokio::time::timeout(Duration::from_millis(20), call).await;
        assert!(gave_up.is_err(), "the sim answers after 5 s");
    });
    assert_eq!(
        seen,
        [("cancelled".to_owned(), 0)],
        "when the request is counted as cancelled, its call must already be released"
    );
}
