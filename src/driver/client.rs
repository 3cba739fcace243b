//! The application's side: a cloneable [`Client`] handle, what it shares with the
//! [`Driver`] future that owns the socket, and what its observers receive.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use super::builder::ClientBuilder;
use super::fallback::FallbackConnection;
use super::message::Message;
use super::queue::{Queue, SendError};
use super::request::{PendingRequest, RequestError, RequestStream};
use super::secret::Headers;
use super::streams::{DriverWake, Inbox, Subscriber};
pub use super::streams::{Events, Messages, Tagged, EVENTS_CAPACITY};
use crate::config::ConfigError;
use crate::core::StateName;
use crate::event::Event;

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
    FallbackConnection(FallbackConnection),
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

/// Async re-authentication: returns fresh headers (e.g. `Authorization`), or `None`
/// when it could not.
pub type ReauthFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<Headers>> + Send>> + Send + Sync>;

/// Why a client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The URL is invalid.
    #[error("{0}")]
    Url(String),
    /// The TLS setup failed.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The proxy setting (explicit, or from the environment) is unusable.
    #[error("proxy: {0}")]
    Proxy(String),
}

/// Received messages waiting for the application; past this the driver stops reading
/// the socket until the application catches up. One more slot is kept so that a message
/// held back fits when the driver ends.
pub(crate) const INBOUND_CAPACITY: usize = 256;

/// How long a written request may wait for its next response item, by default.
pub const REQUEST_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// tungstenite's read chunk (its default, 128 KiB, stays resident per connection).
pub(crate) const READ_BUFFER: usize = 16 * 1024;

/// State shared between the handles and the driver.
pub(crate) struct Shared {
    pub queue: Mutex<Queue>,
    pub state: Mutex<StateName>,
    pub subscribers: Mutex<Vec<Subscriber>>,
    /// Messages handed back while no event stream was open, for
    /// [`Client::take_undelivered`].
    pub unclaimed: Mutex<Vec<Message>>,
    /// The driver holds back a received message for want of room (reading paused):
    /// the streams wake it when the application takes an item.
    pub holding: AtomicBool,
}

impl Shared {
    /// Queue a message (`send`): fails at once when the queue is full or closed.
    pub fn push(&self, message: Message) -> Result<(), SendError> {
        match self.queue.lock() {
            Ok(mut q) => q.push(message),
            Err(poisoned) => poisoned.into_inner().push(message),
        }
    }

    /// Whether one more (small) message would be accepted now.
    pub fn has_room(&self) -> bool {
        match self.queue.lock() {
            Ok(q) => q.has_room(),
            Err(poisoned) => poisoned.into_inner().has_room(),
        }
    }

    /// Messages queued and not yet written.
    pub fn queued(&self) -> usize {
        match self.queue.lock() {
            Ok(q) => q.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    /// A new event subscription.
    pub fn subscribe(&self) -> Events {
        // Unbounded underneath (it allocates as events wait, not up front); the driver,
        // the only sender, keeps the bound.
        let (tx, rx) = async_channel::unbounded();
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.push(Subscriber { tx, missed: 0 });
        }
        Events(Box::pin(rx))
    }

    /// Messages handed back while no event stream was open, each once.
    pub fn take_unclaimed(&self) -> Vec<Message> {
        match self.unclaimed.lock() {
            Ok(mut u) => std::mem::take(&mut *u),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// The core's state, as the driver last published it.
    pub fn state(&self) -> StateName {
        self.state.lock().map(|s| *s).unwrap_or(StateName::Stopped)
    }
}

/// Commands from handles to the driver.
pub(crate) enum Command {
    Request(PendingRequest),
    Close,
}

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
    /// A builder for a client of `url`.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// Queue a message; it is written as soon as a connection is open, or carried by
    /// the fallback. Fails at once when the queue is full or the client stopped, handing
    /// the message back.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.inner.shared.push(message.into())?;
        let _ = self.inner.wake.try_send(());
        Ok(())
    }

    /// Send one request and read its response until the terminal message. Requests go
    /// one at a time, in order; until written, each holds room in the send queue (so it
    /// is refused, body handed back, when the queue is full). Dropping the stream
    /// cancels the request.
    pub async fn request(&self, body: impl Into<Message>) -> Result<RequestStream, RequestError> {
        let reserved = match self.inner.shared.queue.lock() {
            Ok(mut q) => q.reserve(body.into()),
            Err(poisoned) => poisoned.into_inner().reserve(body.into()),
        };
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

    /// The core's current state.
    pub fn state(&self) -> StateName {
        self.inner.shared.state()
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
