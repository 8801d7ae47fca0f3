//! Every change made to a request for its target's model is emitted as a
//! `routewise::adapt` tracing event inside the attempt's span: nothing changes silently.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use routewise::{ChatRequest, Purpose, StepType};
use serde_json::json;

use support::profiles::{openai, readme_defaults, router};
use support::wire_server::{RecordingServer, Reply, fixture};

/// Keeps the fields of every event whose target is `routewise::adapt`.
#[derive(Default)]
struct AdaptEvents {
    next_span: AtomicU64,
    events: Mutex<Vec<BTreeMap<String, String>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for AdaptEvents {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "routewise::adapt" {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            self.events.lock().unwrap().push(fields);
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn each_adaptation_is_a_tracing_event_naming_model_account_and_parameter() {
    let recorder = Arc::new(AdaptEvents::default());
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let server = RecordingServer::start([
        Reply::json(200, fixture("openai/chat_text.json")),
        Reply::json(200, fixture("openai/chat_text.json")),
    ])
    .await;
    let reasoning = router(vec![(openai(&server), "o3-mini")], readme_defaults());
    reasoning
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["model"], "o3-mini");
    assert_eq!(events[0]["account"], "openai");
    assert_eq!(events[0]["parameter"], "temperature");
    assert_eq!(
        events[0]["adaptation"],
        "dropped `temperature`: `o3-mini` does not accept it"
    );

    let classic = router(vec![(openai(&server), "gpt-4o")], readme_defaults());
    classic
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(
        recorder.events.lock().unwrap().len(),
        1,
        "gpt-4o takes it as it is"
    );
    assert_eq!(server.requests()[1].body["temperature"], json!(0.2));
}
