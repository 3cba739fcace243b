//! A client driven in the caller's task: the shape of async-tungstenite's
//! `WebSocketStream` (a `Stream` of received messages and a `Sink` of messages to send)
//! with redial's reconnects, fallback and policy underneath.
//!
//! It runs the same driver as [`Client`](super::Client) + [`Driver`]: the core, the
//! socket, the timers and the fallback are polled by whichever of `poll_next`,
//! `poll_ready`, `poll_flush` or `poll_close` the task calls, so there is no channel
//! and no second task on the message path. Like a `WebSocketStream`, it makes progress
//! only while it is polled: keep reading it (its timers and heartbeats run in those
//! polls), or poll it together with your other work (`futures::select`, `join`).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;
use futures_util::Sink;

use super::client::{Incoming, Shared};
use super::message::Message;
use super::queue::SendError;
use super::streams::Events;
use super::task::Driver;
use crate::core::StateName;

/// Why the [`Connection`]'s sink refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The send queue refused the message (its bounds, `queue.max_messages` and
    /// `queue.max_bytes`); the message is inside, handed back.
    #[error(transparent)]
    Refused(#[from] SendError),
    /// The client has stopped (closed, or gave up), and `cause` says why. Messages it
    /// held were handed back ([`ClientEvent::Undelivered`](super::ClientEvent), or
    /// [`Connection::take_undelivered`]).
    #[error("the client has stopped: {cause}")]
    Stopped {
        /// The last cause, as a sentence.
        cause: String,
    },
}

/// A reconnecting WebSocket client driven in the task that polls it: a
/// `Stream<Item = Incoming>` of received messages and a `Sink<Message>` of messages
/// to send, with the same policy, events and guarantees as a spawned
/// [`Client`](super::Client) (nothing given to the sink is lost: it is written, or
/// handed back as [`ClientEvent::Undelivered`](super::ClientEvent)). Build one with
/// [`ClientBuilder::connection`](super::ClientBuilder::connection).
///
/// `send` (the sink's) waits for room in the send queue and, like a WebSocket's, until
/// the message is written; `feed` + `flush` write several at once. Over the fallback,
/// a message is written once the server answered its request. Closing the sink closes
/// the client gracefully (the close handshake, `close_grace` at most); the stream then
/// yields what had arrived, and ends. A connection dropped without a close lets the
/// socket go at once and hands back what it held. Requests (request/response) need a
/// spawned [`Client`](super::Client).
#[derive(Debug)]
pub struct Connection {
    driver: Driver,
    /// The driver has ended; received messages may still wait in its inbox.
    ended: bool,
    /// `poll_close` asked the driver to close.
    close_asked: bool,
}

impl Connection {
    pub(crate) fn new(driver: Driver) -> Connection {
        Connection {
            driver,
            ended: false,
            close_asked: false,
        }
    }

    fn shared(&self) -> &Shared {
        &self.driver.shared
    }

    /// The core's state.
    pub fn state(&self) -> StateName {
        self.driver.core.state()
    }

    /// The cause of the latest transition, as a sentence.
    pub fn cause(&self) -> Option<String> {
        self.driver.core.last_cause().map(|c| c.to_string())
    }

    /// Subscribe to events from now on (see [`Client::events`](super::Client::events)).
    /// They are produced while the connection is polled.
    pub fn events(&self) -> Events {
        self.shared().subscribe()
    }

    /// Queue a message without waiting, as [`Client::send`](super::Client::send) does;
    /// it is written while the connection is polled.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.shared().push(message.into())
    }

    /// Messages queued and not yet written.
    pub fn queued(&self) -> usize {
        self.shared().queued()
    }

    /// Messages handed back while no [`events`](Connection::events) stream was open,
    /// each once.
    pub fn take_undelivered(&self) -> Vec<Message> {
        self.shared().take_unclaimed()
    }

    /// Poll the driver; `Ready` once it has ended.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.ended {
            return Poll::Ready(());
        }
        let polled = self.driver.poll_run(cx);
        self.ended = polled.is_ready();
        polled
    }

    fn stopped(&self) -> ConnectionError {
        ConnectionError::Stopped {
            cause: self
                .cause()
                .unwrap_or_else(|| "the client has stopped".into()),
        }
    }
}

impl Stream for Connection {
    type Item = Incoming;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        let this = self.get_mut();
        loop {
            if let Some(incoming) = this.driver.front.take() {
                return Poll::Ready(Some(incoming));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            if this.drive(cx).is_pending() {
                return match this.driver.front.take() {
                    Some(incoming) => Poll::Ready(Some(incoming)),
                    None => Poll::Pending,
                };
            }
        }
    }
}

impl Sink<Message> for Connection {
    type Error = ConnectionError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        loop {
            if this.ended || this.driver.core.state() == StateName::Stopped {
                return Poll::Ready(Err(this.stopped()));
            }
            if this.shared().has_room() {
                return Poll::Ready(Ok(()));
            }
            if this.drive(cx).is_pending() {
                return match this.shared().has_room() {
                    true => Poll::Ready(Ok(())),
                    false => Poll::Pending,
                };
            }
        }
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        Ok(self.shared().push(message)?)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        loop {
            // Ended: what was queued was handed back, and nothing more will be written.
            if this.ended {
                return Poll::Ready(Err(this.stopped()));
            }
            if this.driver.all_written() {
                return Poll::Ready(Ok(()));
            }
            if this.drive(cx).is_pending() {
                return match this.driver.all_written() {
                    true => Poll::Ready(Ok(())),
                    false => Poll::Pending,
                };
            }
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if !std::mem::replace(&mut this.close_asked, true) {
            this.driver.front.request_close();
        }
        // Messages that arrive during the close handshake wait in the inbox for
        // `poll_next`; the close goes on meanwhile.
        this.drive(cx).map(Ok)
    }
}
