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
//!
//! Split into a reader task and a writer task ([`Connection::split`]), each half makes
//! progress from its own task (invariant 16): the driver is polled with a waker that
//! wakes both halves' tasks, and a half that changed what the other waits for (a
//! received message, room in the queue, the end) wakes it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

use futures_lite::Stream;
use futures_util::Sink;

use super::event::Events;
use super::event::Incoming;
use super::message::Message;
use super::queue::SendError;
use super::shared::Shared;
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
    /// The tasks of the two halves, as each last polled.
    halves: Arc<Halves>,
    /// The waker the driver's sockets and timers get: it wakes both halves.
    waker: Waker,
    /// The stream half returned `Pending`: it waits for a message or the end.
    read_waits: bool,
    /// What the sink half waits for, when it returned `Pending`.
    write_waits: Option<WriteWait>,
}

/// What the sink half waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteWait {
    /// Room in the send queue (`poll_ready`).
    Room,
    /// Everything written (`poll_flush`).
    Written,
    /// The end of the driver (`poll_close`).
    End,
}

/// Which half polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    Read,
    Write,
}

/// The wakers of the tasks that poll each half. Whatever wakes the driver (the
/// socket, a timer, a dial, the fallback) wakes both: each half then looks at its own
/// work. One task polling both is woken once.
#[derive(Debug, Default)]
struct Halves {
    read: AtomicWaker,
    write: AtomicWaker,
}

impl Wake for Halves {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match (self.read.take(), self.write.take()) {
            (Some(r), Some(w)) => {
                if !r.will_wake(&w) {
                    w.wake();
                }
                r.wake();
            }
            (Some(one), None) | (None, Some(one)) => one.wake(),
            (None, None) => {}
        }
    }
}

impl Connection {
    pub(crate) fn new(driver: Driver) -> Connection {
        let halves = Arc::new(Halves::default());
        Connection {
            driver,
            ended: false,
            close_asked: false,
            waker: Waker::from(halves.clone()),
            halves,
            read_waits: false,
            write_waits: None,
        }
    }

    fn shared(&self) -> &Shared {
        &self.driver.shared
    }

    /// The core's state.
    pub fn state(&self) -> StateName {
        self.driver.core.state()
    }

    /// The WebSocket subprotocol the server chose on the latest upgrade (see
    /// [`ClientBuilder::protocols`](super::ClientBuilder::protocols)); `None` before
    /// the first, or when it chose none.
    pub fn protocol(&self) -> Option<&str> {
        self.driver.core.protocol()
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

    /// With acknowledged delivery, messages held for their acknowledgement (see
    /// [`Client::unacknowledged`](super::Client::unacknowledged)); otherwise 0. The
    /// sink's flush waits until none waits to be written (or written again); this
    /// count reaches 0 once the peer acknowledged them all.
    pub fn unacknowledged(&self) -> usize {
        self.shared().unacknowledged()
    }

    /// Messages handed back while no [`events`](Connection::events) stream was open,
    /// each once.
    pub fn take_undelivered(&self) -> Vec<Message> {
        self.shared().take_unclaimed()
    }

    /// Poll the driver for `half`, whose task `cx` wakes; `Ready` once it has ended.
    /// The other half, if it waits for something this poll brought, is woken.
    fn drive(&mut self, half: Half, cx: &mut Context<'_>) -> Poll<()> {
        if self.ended {
            return Poll::Ready(());
        }
        match half {
            Half::Read => self.halves.read.register(cx.waker()),
            Half::Write => self.halves.write.register(cx.waker()),
        }
        let polled = self.driver.poll_run(&mut Context::from_waker(&self.waker));
        self.ended = polled.is_ready();
        match half {
            Half::Read if self.write_waits.is_some_and(|w| self.write_may_go(w)) => {
                self.halves.write.wake();
            }
            Half::Write if self.read_waits && (self.ended || self.driver.front.waiting() > 0) => {
                self.halves.read.wake();
            }
            _ => {}
        }
        polled
    }

    /// Whether the sink half's wait may be over.
    fn write_may_go(&self, wait: WriteWait) -> bool {
        self.ended
            || match wait {
                WriteWait::Room => {
                    self.shared().has_room() || self.driver.core.state() == StateName::Stopped
                }
                WriteWait::Written => self.driver.all_written(),
                WriteWait::End => false,
            }
    }

    /// The sink half's answer: `Pending` notes what it waits for.
    fn write_answer<T>(&mut self, wait: WriteWait, answer: Poll<T>) -> Poll<T> {
        self.write_waits = answer.is_pending().then_some(wait);
        answer
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
        let answer = this.next_incoming(cx);
        this.read_waits = answer.is_pending();
        answer
    }
}

impl Connection {
    fn next_incoming(&mut self, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        loop {
            if let Some(incoming) = self.driver.front.take() {
                return Poll::Ready(Some(incoming));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            if self.drive(Half::Read, cx).is_pending() {
                return match self.driver.front.take() {
                    Some(incoming) => Poll::Ready(Some(incoming)),
                    None => Poll::Pending,
                };
            }
        }
    }

    fn ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionError>> {
        loop {
            if self.ended || self.driver.core.state() == StateName::Stopped {
                return Poll::Ready(Err(self.stopped()));
            }
            if self.shared().has_room() {
                return Poll::Ready(Ok(()));
            }
            if self.drive(Half::Write, cx).is_pending() {
                return match self.shared().has_room() {
                    true => Poll::Ready(Ok(())),
                    false => Poll::Pending,
                };
            }
        }
    }

    fn flushed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionError>> {
        loop {
            // Ended: what was queued was handed back, and nothing more will be written.
            if self.ended {
                return Poll::Ready(Err(self.stopped()));
            }
            if self.driver.all_written() {
                return Poll::Ready(Ok(()));
            }
            if self.drive(Half::Write, cx).is_pending() {
                return match self.driver.all_written() {
                    true => Poll::Ready(Ok(())),
                    false => Poll::Pending,
                };
            }
        }
    }
}

impl Sink<Message> for Connection {
    type Error = ConnectionError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let answer = this.ready(cx);
        this.write_answer(WriteWait::Room, answer)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        Ok(self.shared().push(message)?)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let answer = this.flushed(cx);
        this.write_answer(WriteWait::Written, answer)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if !std::mem::replace(&mut this.close_asked, true) {
            this.driver.front.request_close();
        }
        // Messages that arrive during the close handshake wait in the inbox for
        // `poll_next`; the close goes on meanwhile.
        let answer = this.drive(Half::Write, cx).map(Ok);
        this.write_answer(WriteWait::End, answer)
    }
}
