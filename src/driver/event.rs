//! What a client's observers receive ([`ClientEvent`] through [`Events`]), a received
//! message with its transport ([`Incoming`]), and the driver's side of a subscription.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::fallback::FallbackCarrier;
use super::message::Message;
#[cfg(doc)]
use super::{Client, Messages};
use crate::core::Event;

/// What a client's observers receive.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// An event of the core (state changes with causes, retries, fall-backs, …).
    Core(Event),
    /// A message accepted by `send` that could not be delivered, handed back. Never
    /// skipped, however far behind the subscriber is.
    Undelivered(Message),
    /// A message whose fallback POST reached the server, which left it unanswered (no
    /// 2xx answer: the connection failed, no headers in time, or another status), and
    /// which the [`Replay`](super::Replay) policy does not send again: handed back,
    /// *maybe delivered* (the server may have it). Never skipped, like `Undelivered`.
    Unanswered {
        /// The message.
        message: Message,
        /// Why it went unanswered.
        cause: String,
    },
    /// A written request was abandoned (its stream dropped, or it timed out), and the
    /// line is free again for the next request: how (invariant 14).
    CancelSettled {
        /// How the line was freed.
        how: super::CancelSettled,
        /// Whether a cancel message was sent for it
        /// ([`ClientBuilder::cancel_message`](super::ClientBuilder::cancel_message)).
        cancel_message: bool,
    },
    /// The subscriber fell [`EVENTS_CAPACITY`] events behind, and this many core events
    /// were skipped before this one.
    Lagged {
        /// Core events skipped.
        missed: u64,
    },
    /// Messages arrived outside any request while no [`Client::messages`] stream was
    /// held: they were not kept. `total` counts every such message since the start;
    /// reported at most every 100 ms during a flood, and once more when the client
    /// ends.
    Discarded {
        /// Messages discarded so far.
        total: u64,
    },
    /// The application is not reading: a received message waits for room in its stream
    /// (a [`Messages`] stream or a request's), and the driver stopped reading the socket
    /// until then. Timers, commands and `close()` go on; the heartbeat does not count
    /// the server's silence against it meanwhile (the driver is not reading its pongs).
    ReadingPaused {
        /// Whose stream is full: `messages` or `request`.
        stream: &'static str,
    },
    /// The application caught up (its stream is at most half full): reading again.
    ReadingResumed,
    /// A written request is sent again on a new connection or over the fallback (the
    /// [`Replay`](super::Replay) policy allowed it): the server may execute it twice.
    Replayed {
        /// Why the first attempt ended.
        cause: String,
        /// Whether part of its response had arrived (now repeated in its stream).
        response_started: bool,
    },
    /// The server answered a fallback request (its first response item, or a clean
    /// end) on this connection: a new one, or one kept open (reused). Reported by
    /// transports that note their connections (see
    /// [`Fallback::request_noted`](super::Fallback::request_noted)), such as
    /// [`HttpsSse`](super::HttpsSse).
    FallbackCarrier(FallbackCarrier),
    /// Acknowledged delivery ([`ClientBuilder::acknowledged`](super::ClientBuilder::acknowledged)):
    /// written messages that had no acknowledgement when their carrier ended or
    /// changed are written again, in order, starting now (the peer drops what it
    /// already had by sequence number).
    Resent {
        /// How many are written again.
        messages: usize,
        /// Why: how the carrier ended, or that an acknowledgement was late.
        cause: String,
    },
    /// Acknowledged delivery: written messages waited their whole `ack_timeout` on one
    /// carrier without an acknowledgement.
    AckOverdue {
        /// How many.
        messages: usize,
        /// The timeout.
        waited: std::time::Duration,
        /// What the client does about it.
        action: super::AckTimeoutAction,
    },
    /// Acknowledged delivery: an inbound message whose id was seen before (a resend
    /// after a reconnect, a replayed stream) was dropped.
    DuplicateDropped {
        /// Its id.
        id: u64,
        /// Duplicates dropped so far.
        total: u64,
    },
    /// Acknowledged delivery: a message written at least once and never acknowledged,
    /// handed back when the client stopped. *Maybe delivered*: the peer may have it.
    /// Never skipped, like `Undelivered` (which hands back what was never written).
    Unacknowledged {
        /// Its sequence number.
        seq: u64,
        /// The message, as the application gave it.
        message: Message,
    },
}

/// Which transport carried a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// The WebSocket.
    Websocket,
    /// The HTTPS fallback.
    Https,
}

impl TransportKind {
    /// `websocket` or `https`, as in the event lines.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Websocket => "websocket",
            TransportKind::Https => "https",
        }
    }
}

/// A received message with the transport that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The message.
    pub message: Message,
    /// Where it came from.
    pub transport: TransportKind,
}

/// How the line was freed after a written request was abandoned (its stream dropped,
/// or it timed out), so that the next request could go: within
/// [`cancel_grace`](super::ClientBuilder::cancel_grace) in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelSettled {
    /// Its response ended (its terminal message arrived) within `cancel_grace`.
    Ended,
    /// It had not ended after `cancel_grace`: the connection was recycled (closed with
    /// 1000 and dialed again, spending no retry budget), so that the rest of its
    /// response cannot reach the next request, which goes on the new connection.
    Recycled,
    /// Its connection ended first; the next request goes on the next connection.
    ConnectionEnded,
    /// Over the fallback: its HTTP response was let go at once.
    Released,
}

impl CancelSettled {
    /// `ended`, `recycled` or `released`, as in event lines.
    pub fn name(self) -> &'static str {
        match self {
            CancelSettled::Ended => "ended",
            CancelSettled::Recycled => "recycled",
            CancelSettled::ConnectionEnded => "connection_ended",
            CancelSettled::Released => "released",
        }
    }
}

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
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Hand on `event`, or count it as missed when the subscriber is too far behind
    /// (undelivered messages are always handed on).
    pub(crate) fn offer(&mut self, event: &ClientEvent) {
        let undelivered = matches!(
            event,
            ClientEvent::Undelivered(_)
                | ClientEvent::Unanswered { .. }
                | ClientEvent::Unacknowledged { .. }
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
    use crate::core::Event;
    use crate::driver::ClientEvent;

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
