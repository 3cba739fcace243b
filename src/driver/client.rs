//! The application's side: a cloneable [`Client`] handle to the [`Driver`](super::Driver)
//! future that owns the socket.

use crate::driver::lock::lock;
use std::fmt;
use std::sync::Arc;

#[cfg(doc)]
use super::event::{ClientEvent, EVENTS_CAPACITY};
use super::event::{Events, Incoming};
use super::message::Message;
use super::queue::SendError;
use super::request::{PendingRequest, RequestError, RequestStream};
use super::shared::Shared;
use super::streams::{DriverWake, Inbox, Messages};
use super::task::Command;
use crate::core::StateName;

pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) commands: async_channel::Sender<Command>,
    pub(crate) wake: async_channel::Sender<()>,
    pub(crate) messages: async_channel::Receiver<Incoming>,
    pub(crate) done: async_channel::Receiver<()>,
}

/// A handle to a reconnecting WebSocket client. Cheap to clone; every clone talks to the
/// same driver. The client closes when [`close`](Client::close) is called or when every
/// handle is dropped.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state())
            .finish()
    }
}

impl Client {
    /// Queue a message, waiting for room when the queue is full (as a bounded
    /// channel's `send` does); it is written as soon as a connection is open, or carried
    /// by the fallback. Fails, handing the message back, when the client has stopped or
    /// the message alone is larger than the queue's byte bound. Cancel-safe: dropped
    /// before it returns, the message was not queued.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        let mut message = message.into();
        loop {
            let room = {
                let mut queue = lock(&self.inner.shared.queue);
                match queue.push(message) {
                    Ok(()) => break,
                    Err(SendError::Full { message: m, .. }) => {
                        message = m;
                        queue.room()
                    }
                    Err(e) => return Err(e),
                }
            };
            room.await;
        }
        let _ = self.inner.wake.try_send(());
        Ok(())
    }

    /// Queue a message without waiting: fails at once when the queue is full or the
    /// client stopped, handing the message back.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.inner.shared.push(message.into())?;
        let _ = self.inner.wake.try_send(());
        Ok(())
    }

    /// Send one request and read its response until the terminal message. Requests go
    /// one at a time, in order; until written, each holds room in the send queue (so it
    /// is refused, body handed back, when the queue is full). Dropping the stream
    /// cancels the request.
    pub async fn request(&self, body: impl Into<Message>) -> Result<RequestStream, RequestError> {
        let reserved = lock(&self.inner.shared.queue).reserve(body.into());
        let (pending, stream) = PendingRequest::new(reserved?, self.driver_wake());
        if let Err(e) = self.inner.commands.send(Command::Request(pending)).await {
            if let Command::Request(mut pending) = e.into_inner() {
                pending.release(&self.inner.shared.queue);
            }
            return Err(RequestError::Stopped("the driver has ended".into()));
        }
        Ok(stream)
    }

    /// Messages received outside requests, in order. Meant for one reader: clones of
    /// the stream share the messages between them.
    ///
    /// Hold one from the start if the server sends messages of its own: while none is
    /// held, such messages are counted ([`ClientEvent::Discarded`]) and not kept. A
    /// held stream that is not read fills (256 messages), and the driver then stops
    /// reading the socket until it is read ([`ClientEvent::ReadingPaused`]).
    pub fn messages(&self) -> Messages {
        Messages(Inbox::new(self.inner.messages.clone(), self.driver_wake()))
    }

    fn driver_wake(&self) -> DriverWake {
        DriverWake::new(self.inner.wake.clone(), self.inner.shared.clone())
    }

    /// Subscribe to events from now on. A subscriber that falls more than
    /// [`EVENTS_CAPACITY`] core events behind misses the newest ones and is told how many
    /// with [`ClientEvent::Lagged`]; undelivered messages are never skipped.
    pub fn events(&self) -> Events {
        self.inner.shared.subscribe()
    }

    /// Messages accepted by `send` and not yet written (or carried by the fallback).
    pub fn queued(&self) -> usize {
        self.inner.shared.queued()
    }

    /// Messages handed back (undelivered) while no [`events`](Client::events) stream
    /// was open to receive them; each is returned once. With a stream open, they arrive
    /// there as [`ClientEvent::Undelivered`] instead.
    pub fn take_undelivered(&self) -> Vec<Message> {
        self.inner.shared.take_unclaimed()
    }

    /// With acknowledged delivery ([`ClientBuilder::acknowledged`](super::ClientBuilder::acknowledged)):
    /// messages held for their acknowledgement, waiting to be written or written and
    /// not yet acknowledged. Without it, 0.
    pub fn unacknowledged(&self) -> usize {
        self.inner.shared.unacknowledged()
    }

    /// Wait until every message given to `send` so far has left the queue and, with
    /// acknowledged delivery, been acknowledged by the peer: true then; false if the
    /// client stopped first (what was left is handed back as events).
    pub async fn settled(&self) -> bool {
        loop {
            let change = {
                let queue = lock(&self.inner.shared.queue);
                if queue.is_closed() {
                    return false;
                }
                if queue.is_empty() && queue.acked_held() == 0 {
                    return true;
                }
                queue.room()
            };
            change.await;
        }
    }

    /// The core's current state.
    pub fn state(&self) -> StateName {
        self.inner.shared.state()
    }

    /// The WebSocket subprotocol the server chose on the latest upgrade (see
    /// [`ClientBuilder::protocols`](super::ClientBuilder::protocols)); `None` before
    /// the first, or when it chose none.
    pub fn protocol(&self) -> Option<String> {
        lock(&self.inner.shared.protocol).clone()
    }

    /// Close gracefully (close frame, or stop the fallback) and wait until the driver
    /// has ended. Unsent messages are handed back as [`ClientEvent::Undelivered`].
    pub async fn close(&self) {
        let _ = self.inner.commands.send(Command::Close).await;
        let _ = self.inner.done.recv().await;
    }

    /// Wait until the driver has ended (closed or given up).
    pub async fn closed(&self) {
        let _ = self.inner.done.recv().await;
    }
}
