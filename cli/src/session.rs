//! Following one client: which transport carries traffic now, how many dials, the last
//! cause, and every event with its time; and draining the events after a close.

use std::time::Duration;

use futures_lite::{FutureExt, StreamExt};
use redial::core::Event;
use redial::driver::{ClientEvent, Events, FallbackCarrier, Message, TransportKind};

use crate::output::Printer;

/// How long to wait for the last events after a close.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// What a command knows about its client, from the events.
#[derive(Debug)]
pub struct Tracker {
    /// The transport carrying traffic: the fallback from `fell_back` on, WebSockets
    /// again from `recovered` (or a new connection) on. The driver does not tag request
    /// responses, so this is how they are tagged.
    pub transport: TransportKind,
    /// Dials made, quiet re-probes included.
    pub dials: u32,
    /// The cause of the last state change, as a sentence.
    pub last_cause: Option<String>,
    /// The cause of giving up, if the client gave up.
    pub gave_up: Option<String>,
    /// Messages handed back: never written (`undelivered`), written and unanswered
    /// over the fallback (`unanswered`), or written and never acknowledged
    /// (`unacknowledged`).
    pub undelivered: usize,
    /// Of those, the ones handed back written and not acknowledged.
    pub unacknowledged: usize,
    /// Every message handed back, in order.
    pub handed_back: Vec<Message>,
    /// Messages written again after their carrier ended or an acknowledgement was late
    /// (the sum of `resent` events).
    pub resent: usize,
    /// Inbound duplicates dropped (the last `duplicate_dropped` total).
    pub duplicates: u64,
    /// Every core event with its time since the start.
    pub log: Vec<(Duration, Event)>,
    /// The connection of each fallback request the server answered, in order.
    pub fallback_connections: Vec<FallbackCarrier>,
}

impl Default for Tracker {
    fn default() -> Tracker {
        Tracker {
            transport: TransportKind::Websocket,
            dials: 0,
            last_cause: None,
            gave_up: None,
            undelivered: 0,
            unacknowledged: 0,
            handed_back: Vec::new(),
            resent: 0,
            duplicates: 0,
            log: Vec::new(),
            fallback_connections: Vec::new(),
        }
    }
}

impl Tracker {
    /// Takes one event into account.
    pub fn observe(&mut self, t: Duration, event: &ClientEvent) {
        let event = match event {
            ClientEvent::Core(e) => e,
            ClientEvent::Undelivered(message) | ClientEvent::Unanswered { message, .. } => {
                self.undelivered += 1;
                self.handed_back.push(message.clone());
                return;
            }
            ClientEvent::Unacknowledged { message, .. } => {
                self.undelivered += 1;
                self.unacknowledged += 1;
                self.handed_back.push(message.clone());
                return;
            }
            ClientEvent::Resent { messages, .. } => {
                self.resent += messages;
                return;
            }
            ClientEvent::DuplicateDropped { total, .. } => {
                self.duplicates = *total;
                return;
            }
            ClientEvent::FallbackCarrier(c) => {
                self.fallback_connections.push(*c);
                return;
            }
            _ => return,
        };
        match event {
            Event::Dial { .. } => self.dials += 1,
            Event::Connected { probe: false, .. } | Event::Recovered { .. } => {
                self.transport = TransportKind::Websocket;
            }
            Event::FellBack { .. } => self.transport = TransportKind::Https,
            Event::StateChanged { cause, .. } => self.last_cause = Some(cause.to_string()),
            Event::GaveUp { cause } => self.gave_up = Some(cause.to_string()),
            _ => {}
        }
        self.log.push((t, event.clone()));
    }

    /// Prints and takes in an event.
    pub fn take(&mut self, printer: &Printer, event: &ClientEvent) {
        printer.client_event(event);
        self.observe(printer.elapsed(), event);
    }
}

/// Prints the events left after a close, until the driver has ended (the stream ends)
/// or [`DRAIN_LIMIT`] has passed.
pub async fn drain(events: &mut Events, printer: &Printer, tracker: &mut Tracker) {
    let deadline = std::time::Instant::now() + DRAIN_LIMIT;
    loop {
        let next = async { Some(events.next().await) }
            .or(async {
                async_io::Timer::at(deadline).await;
                None
            })
            .await;
        match next {
            Some(Some(event)) => tracker.take(printer, &event),
            _ => break,
        }
    }
    printer.stop_countdown();
}
