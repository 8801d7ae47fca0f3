//! Test helpers: a `tracing` subscriber that keeps every event as text.

use std::fmt;
use std::sync::{Arc, Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// Keeps each event as `field=value` pairs joined by spaces, the message included; one
/// without a store (the global interest keeper) drops them.
#[derive(Clone)]
pub(crate) struct EventLog(Option<Arc<Mutex<Vec<String>>>>);

impl EventLog {
    /// Installs a capturing subscriber on this thread until the guard drops.
    pub(crate) fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        keep_every_callsite_enabled();
        let log = Self(Some(Arc::default()));
        let guard = tracing::subscriber::set_default(log.clone());
        // A callsite registered before the keeper existed may still hold `never`.
        tracing::callsite::rebuild_interest_cache();
        (log, guard)
    }

    /// The events so far.
    pub(crate) fn events(&self) -> Vec<String> {
        self.0
            .as_ref()
            .map_or_else(Vec::new, |events| events.lock().unwrap().clone())
    }

    /// The events so far that contain `needle`.
    pub(crate) fn matching(&self, needle: &str) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e.contains(needle))
            .collect()
    }
}

/// Makes every callsite's cached interest `always`, once per test binary.
///
/// `tracing` decides once per process whether a callsite is enabled, on whichever thread
/// reaches it first. A test without a subscriber that reaches a breaker's state-change event
/// before a capturing test would otherwise disable that event for the capturing test too.
/// A global subscriber that is interested in everything (and drops what it gets) keeps that
/// decision `always`; events still reach each thread's own capturing subscriber.
fn keep_every_callsite_enabled() {
    static KEEPER: Once = Once::new();
    KEEPER.call_once(|| {
        tracing::subscriber::set_global_default(EventLog(None))
            .expect("no other global subscriber in the library's test binary");
    });
}

struct Line(String);

impl Line {
    fn push(&mut self, field: &Field, value: impl fmt::Display) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(&format!("{}={value}", field.name()));
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format_args!("{value:?}"));
    }
}

impl Subscriber for EventLog {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(events) = &self.0 else {
            return;
        };
        let mut line = Line(String::new());
        event.record(&mut line);
        events.lock().unwrap().push(line.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
