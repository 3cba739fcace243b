//! Timestamps of the driver's state changes and dial phases, taken on the driver's own
//! thread: a minimal `tracing` subscriber that keeps the `state` field of the driver's
//! `redial state` events and the `phase` field of its `redial dial phase` events
//! (TCP/TLS connected, upgraded) with `Instant::now()`, and enables nothing else (no
//! spans, no other events, no formatting of other fields).

use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

static STAMPS: Mutex<Vec<(Instant, String)>> = Mutex::new(Vec::new());

struct Stamps;

struct State(Option<String>);

impl Visit for State {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "phase" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "state" || field.name() == "phase" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

fn wanted(m: &Metadata<'_>) -> bool {
    m.is_event()
        && m.target().starts_with("redial::driver")
        && (m.fields().field("state").is_some() || m.fields().field("phase").is_some())
}

impl Subscriber for Stamps {
    fn register_callsite(&self, m: &'static Metadata<'static>) -> Interest {
        if wanted(m) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, m: &Metadata<'_>) -> bool {
        wanted(m)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let at = Instant::now();
        let mut state = State(None);
        event.record(&mut state);
        if let (Some(s), Ok(mut stamps)) = (state.0, STAMPS.lock()) {
            stamps.push((at, s));
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Install the subscriber for the whole process (once, before any client runs).
pub fn install() {
    let _ = tracing::subscriber::set_global_default(Stamps);
}

/// Take the state changes recorded so far: (when, state name).
pub fn take() -> Vec<(Instant, String)> {
    STAMPS
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default()
}
