//! The streams a [`Client`](super::Client) hands out: received messages and events,
//! and the driver's side of an event subscription.
//!
//! Reading a message stream (or dropping it) wakes the driver: it may be holding back a
//! received message for lack of room, with the socket's reads paused.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::client::{ClientEvent, Incoming, Shared};
use super::message::Message;

/// Core events a subscriber may fall behind before it misses some (it then receives
/// [`ClientEvent::Lagged`]). The buffer grows with what is waiting, so an idle
/// subscription costs a few hundred bytes.
pub const EVENTS_CAPACITY: usize = 1024;

/// One [`Client::events`](super::Client::events) stream, as the driver sees it.
pub(crate) struct Subscriber {
    pub(crate) tx: async_channel::Sender<ClientEvent>,
    pub(crate) missed: u64,
}

impl Subscriber {
    /// Whether the stream was dropped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Hand on `event`, or count it as missed when the subscriber is too far behind
    /// (undelivered messages are always handed on).
    pub fn offer(&mut self, event: &ClientEvent) {
        let undelivered = matches!(
            event,
            ClientEvent::Undelivered(_) | ClientEvent::Unanswered { .. }
        );
        if !undelivered && self.tx.len() >= EVENTS_CAPACITY {
            self.missed += 1;
            return;
        }
        if self.missed > 0 && !undelivered {
            let missed = std::mem::take(&mut self.missed);
            let _ = self.tx.try_send(ClientEvent::Lagged { missed });
        }
        let _ = self.tx.try_send(event.clone());
    }
}

/// How a stream the driver fills wakes it: when the application takes an item while
/// the driver holds one back (reading paused), and when the stream is dropped.
#[derive(Clone)]
pub(crate) struct DriverWake {
    tx: async_channel::Sender<()>,
    shared: Arc<Shared>,
}

impl DriverWake {
    pub(crate) fn new(tx: async_channel::Sender<()>, shared: Arc<Shared>) -> DriverWake {
        DriverWake { tx, shared }
    }

    /// An item was taken: room again, which matters only while the driver holds one.
    pub(crate) fn taken(&self) {
        if self.shared.holding.load(Ordering::Acquire) {
            let _ = self.tx.try_send(());
        }
    }

    /// Wake the driver now (a stream was dropped).
    pub(crate) fn now(&self) {
        let _ = self.tx.try_send(());
    }
}

/// The receiving end of the received messages.
pub(crate) struct Inbox {
    rx: Pin<Box<async_channel::Receiver<Incoming>>>,
    wake: DriverWake,
}

impl Inbox {
    pub(crate) fn new(rx: async_channel::Receiver<Incoming>, wake: DriverWake) -> Inbox {
        Inbox {
            rx: Box::pin(rx),
            wake,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        let item = self.rx.as_mut().poll_next(cx);
        if item.is_ready() {
            self.wake.taken();
        }
        item
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.wake.now();
    }
}

/// The stream of received messages (those that are not part of a request's response).
///
/// While no such stream is held, the driver does not keep received messages: it counts
/// them and reports [`ClientEvent::Discarded`]. While one is held and not read, up to
/// 256 messages wait in it; then the driver stops reading the socket (reported as
/// [`ClientEvent::ReadingPaused`]) until the reader catches up.
pub struct Messages(pub(crate) Inbox);

impl Messages {
    /// The same stream, with the transport of each message.
    pub fn tagged(self) -> Tagged {
        Tagged(self.0)
    }
}

impl Stream for Messages {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.0.poll(cx).map(|i| i.map(|i| i.message))
    }
}

/// Received messages with their transport.
pub struct Tagged(Inbox);

impl Stream for Tagged {
    type Item = Incoming;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        self.0.poll(cx)
    }
}

/// The stream of events.
pub struct Events(pub(crate) Pin<Box<async_channel::Receiver<ClientEvent>>>);

impl Stream for Events {
    type Item = ClientEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        self.0.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::ClientEvent;
    use crate::event::Event;

    fn core_event(i: u32) -> ClientEvent {
        ClientEvent::Core(Event::Dial {
            attempt: i,
            max_attempts: 0,
            probe: false,
        })
    }

    #[test]
    fn a_lagging_subscriber_misses_core_events_is_told_how_many_and_keeps_every_hand_back() {
        let (tx, rx) = async_channel::unbounded();
        let mut s = Subscriber { tx, missed: 0 };
        for i in 0..EVENTS_CAPACITY as u32 + 3 {
            s.offer(&core_event(i));
        }
        s.offer(&ClientEvent::Undelivered("kept".into()));
        assert_eq!(rx.len(), EVENTS_CAPACITY + 1);
        // The reader catches up.
        let first: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(first[0], core_event(0));
        assert_eq!(
            first[EVENTS_CAPACITY - 1],
            core_event(EVENTS_CAPACITY as u32 - 1)
        );
        assert_eq!(
            first[EVENTS_CAPACITY],
            ClientEvent::Undelivered("kept".into())
        );
        s.offer(&core_event(7));
        assert_eq!(rx.try_recv(), Ok(ClientEvent::Lagged { missed: 3 }));
        assert_eq!(rx.try_recv(), Ok(core_event(7)));
        assert!(rx.try_recv().is_err());
    }
}
