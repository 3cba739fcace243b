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

#[cfg(doc)]
use super::event::ClientEvent;
use super::event::Incoming;
use super::message::Message;
use super::shared::Shared;

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
