//! The application's side: a builder, a cloneable [`Client`] handle, and the
//! [`Driver`] future that owns the socket.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use futures_lite::Stream;

use super::dial::{Connector, Duplex, Target};
use super::fallback::{Fallback, HttpsSse};
use super::message::Message;
use super::queue::{Queue, SendError};
use super::request::{PendingRequest, RequestError, RequestStream, Terminal};
use super::secret::{Headers, Redacted};
use super::task::Driver;
use super::tls::{client_config, TlsOptions};
use crate::config::{Config, ConfigError};
use crate::core::{Core, StateName};
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
    /// The subscriber fell [`EVENTS_CAPACITY`] events behind, and this many core events
    /// were skipped before this one.
    Lagged {
        /// Core events skipped.
        missed: u64,
    },
}

/// Core events a subscriber may fall behind before it misses some (it then receives
/// [`ClientEvent::Lagged`]). The buffer grows with what is waiting, so an idle
/// subscription costs a few hundred bytes.
pub const EVENTS_CAPACITY: usize = 1024;

/// One [`Client::events`] stream, as the driver sees it.
pub(crate) struct Subscriber {
    tx: async_channel::Sender<ClientEvent>,
    missed: u64,
}

impl Subscriber {
    /// Whether the stream was dropped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Hand on `event`, or count it as missed when the subscriber is too far behind
    /// (undelivered messages are always handed on).
    pub fn offer(&mut self, event: &ClientEvent) {
        let undelivered = matches!(event, ClientEvent::Undelivered(_));
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
}

/// Received messages waiting for the application; past this the driver stops reading
/// the socket until the application catches up (the channel preallocates its slots).
const INBOUND_CAPACITY: usize = 256;

/// tungstenite's read chunk (its default, 128 KiB, stays resident per connection).
const READ_BUFFER: usize = 16 * 1024;

/// State shared between the handles and the driver.
pub(crate) struct Shared {
    pub queue: Mutex<Queue>,
    pub state: Mutex<StateName>,
    pub subscribers: Mutex<Vec<Subscriber>>,
    /// Messages handed back while no event stream was open, for
    /// [`Client::take_undelivered`].
    pub unclaimed: Mutex<Vec<Message>>,
}

/// Commands from handles to the driver.
pub(crate) enum Command {
    Request(PendingRequest),
    Close,
}

/// Builds a [`Client`] and its [`Driver`].
pub struct ClientBuilder {
    url: String,
    config: Config,
    headers: Headers,
    tls: TlsOptions,
    fallback: Option<Arc<dyn Fallback>>,
    fallback_url: Option<String>,
    connector: Option<Connector>,
    reauth: Option<ReauthFn>,
    terminal: Terminal,
    ws_config: WebSocketConfig,
    replay_unanswered: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = url::Url::parse(&self.url);
        f.debug_struct("ClientBuilder")
            .field(
                "url",
                &url.as_ref()
                    .map(|u| Redacted(u).to_string())
                    .unwrap_or_default(),
            )
            .field("headers", &self.headers)
            .field("fallback", &self.fallback.as_ref().map(|f| f.describe()))
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A client for `url` (`ws://` or `wss://`) with the default config.
    pub fn new(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            config: Config::default(),
            headers: Headers::default(),
            tls: TlsOptions::default(),
            fallback: None,
            fallback_url: None,
            connector: None,
            reauth: None,
            terminal: Terminal::default(),
            ws_config: WebSocketConfig::default().read_buffer_size(READ_BUFFER),
            replay_unanswered: true,
        }
    }

    /// The reconnect policy.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// A request header sent with every upgrade (and fallback request).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Trust this CA certificate (DER) as well as the default roots.
    pub fn root_certificate(mut self, der: Vec<u8>) -> Self {
        self.tls.extra_roots.push(der);
        self
    }

    /// All TLS options at once.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Fall back to HTTPS POST + Server-Sent Events at `url`.
    pub fn fallback_url(mut self, url: impl Into<String>) -> Self {
        self.fallback_url = Some(url.into());
        self
    }

    /// Fall back to a transport of your own.
    pub fn fallback(mut self, fallback: impl Fallback) -> Self {
        self.fallback = Some(Arc::new(fallback));
        self
    }

    /// Open the byte stream yourself instead of TCP (+ TLS): the upgrade and everything
    /// after run over what `connector` returns.
    pub fn connector<F, Fut, S>(mut self, connector: F) -> Self
    where
        F: Fn(&url::Url) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, crate::policy::DialFailure>> + Send + 'static,
        S: Duplex,
    {
        self.connector = Some(Arc::new(move |url: &url::Url| {
            let opening = connector(url);
            Box::pin(async move { opening.await.map(|s| Box::new(s) as Box<dyn Duplex>) })
        }));
        self
    }

    /// Called when the server asks for fresh credentials (401, close 3000/3003). The
    /// answer replaces request headers of the same names. A callback that takes longer
    /// than 30 s counts as `None` (the client stops with that cause).
    pub fn on_reauth<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Headers>> + Send + 'static,
    {
        self.reauth = Some(Arc::new(move || Box::pin(f())));
        self
    }

    /// Which message ends a request's response (default: JSON `type` =
    /// `response.completed`).
    pub fn terminal(mut self, terminal: Terminal) -> Self {
        self.terminal = terminal;
        self
    }

    /// Limits on received messages and frames (bounded memory against hostile peers).
    pub fn max_message_size(mut self, message: usize, frame: usize) -> Self {
        self.ws_config = self
            .ws_config
            .max_message_size(Some(message))
            .max_frame_size(Some(frame));
        self
    }

    /// Whether a request interrupted before any response arrived is sent again on the
    /// next connection or the fallback (default `true`); otherwise it ends with
    /// [`RequestError::Interrupted`].
    pub fn replay_unanswered(mut self, replay: bool) -> Self {
        self.replay_unanswered = replay;
        self
    }

    /// Check everything and give the handle and the driver future; run the driver on
    /// any executor (`async_std::task::spawn(driver.run())`, `smol::spawn(..)`).
    pub fn build(self) -> Result<(Client, Driver), BuildError> {
        let target = Target::parse(&self.url).map_err(BuildError::Url)?;
        let mut config = self.config;
        let fallback = match (self.fallback, self.fallback_url) {
            (Some(f), _) => Some(f),
            (None, Some(url)) => Some(Arc::new(
                HttpsSse::new(&url, &self.tls).map_err(BuildError::Url)?,
            ) as Arc<dyn Fallback>),
            (None, None) => None,
        };
        if fallback.is_none() {
            config.fallback.enabled = false;
            if config.transport == crate::config::Transport::Https {
                return Err(BuildError::Url(
                    "transport = \"https\" needs a fallback URL or transport".into(),
                ));
            }
        }
        let seed = config.seed.unwrap_or_else(random_seed);
        let policy = config.validate()?;
        // Only `wss://` needs a TLS configuration (≈25 KB each): none for plain `ws://`.
        let tls = match target.tls {
            true => Some(client_config(&self.tls).map_err(|e| BuildError::Tls(e.to_string()))?),
            false => None,
        };
        let q = &policy.config().queue;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(q.max_messages, q.max_bytes)),
            state: Mutex::new(StateName::Idle),
            subscribers: Mutex::new(Vec::new()),
            unclaimed: Mutex::new(Vec::new()),
        });
        let (commands_tx, commands_rx) = async_channel::bounded(64);
        let (wake_tx, wake_rx) = async_channel::bounded(1);
        let (inbound_tx, inbound_rx) = async_channel::bounded(INBOUND_CAPACITY);
        let (done_tx, done_rx) = async_channel::bounded::<()>(1);
        let driver = Driver {
            core: Core::new(policy, seed),
            target,
            headers: self.headers,
            tls,
            warn_insecure: self.tls.danger_accept_invalid_certs,
            ws_config: self.ws_config,
            fallback,
            connector: self.connector,
            reauth: self.reauth,
            terminal: self.terminal,
            replay_unanswered: self.replay_unanswered,
            shared: shared.clone(),
            commands: Box::pin(commands_rx),
            wake: Box::pin(wake_rx),
            inbound: inbound_tx,
            requests: VecDeque::new(),
            io: Default::default(),
            deferred: VecDeque::new(),
            _done: done_tx,
        };
        let client = Client {
            inner: Arc::new(Inner {
                shared,
                commands: commands_tx,
                wake: wake_tx,
                messages: inbound_rx,
                done: done_rx,
            }),
        };
        Ok((client, driver))
    }

    /// Build, and run the driver on the async-std executor.
    #[cfg(feature = "async-std")]
    pub fn spawn(self) -> Result<Client, BuildError> {
        let (client, driver) = self.build()?;
        async_std::task::spawn(driver.run());
        Ok(client)
    }
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // Without OS randomness, the clock's nanoseconds still differ between clients,
    // which is all jitter needs.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        return t.map(|d| d.as_nanos() as u64).unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

struct Inner {
    shared: Arc<Shared>,
    commands: async_channel::Sender<Command>,
    wake: async_channel::Sender<()>,
    messages: async_channel::Receiver<Incoming>,
    done: async_channel::Receiver<()>,
}

/// A handle to a reconnecting WebSocket client. Cheap to clone; every clone talks to the
/// same driver. The client closes when [`close`](Client::close) is called or when every
/// handle is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
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
        let pushed = match self.inner.shared.queue.lock() {
            Ok(mut q) => q.push(message.into()),
            Err(poisoned) => poisoned.into_inner().push(message.into()),
        };
        pushed?;
        let _ = self.inner.wake.try_send(());
        Ok(())
    }

    /// Send one request and read its response until the terminal message.
    pub async fn request(&self, body: impl Into<Message>) -> Result<RequestStream, RequestError> {
        let (pending, stream) = PendingRequest::new(body.into());
        self.inner
            .commands
            .send(Command::Request(pending))
            .await
            .map_err(|_| RequestError::Stopped("the driver has ended".into()))?;
        Ok(stream)
    }

    /// Messages received outside requests, in order. Meant for one reader: clones of
    /// the stream share the messages between them.
    pub fn messages(&self) -> Messages {
        Messages(Box::pin(self.inner.messages.clone()))
    }

    /// Subscribe to events from now on. A subscriber that falls more than
    /// [`EVENTS_CAPACITY`] core events behind misses the newest ones and is told how many
    /// with [`ClientEvent::Lagged`]; undelivered messages are never skipped.
    pub fn events(&self) -> Events {
        // Unbounded underneath (it allocates as events wait, not up front); the driver,
        // the only sender, keeps the bound.
        let (tx, rx) = async_channel::unbounded();
        if let Ok(mut subs) = self.inner.shared.subscribers.lock() {
            subs.push(Subscriber { tx, missed: 0 });
        }
        Events(Box::pin(rx))
    }

    /// Messages accepted by `send` and not yet written (or carried by the fallback).
    pub fn queued(&self) -> usize {
        match self.inner.shared.queue.lock() {
            Ok(q) => q.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    /// Messages handed back (undelivered) while no [`events`](Client::events) stream
    /// was open to receive them; each is returned once. With a stream open, they arrive
    /// there as [`ClientEvent::Undelivered`] instead.
    pub fn take_undelivered(&self) -> Vec<Message> {
        match self.inner.shared.unclaimed.lock() {
            Ok(mut u) => std::mem::take(&mut *u),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// The core's current state.
    pub fn state(&self) -> StateName {
        self.inner
            .shared
            .state
            .lock()
            .map(|s| *s)
            .unwrap_or(StateName::Stopped)
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

/// The stream of received messages.
pub struct Messages(Pin<Box<async_channel::Receiver<Incoming>>>);

impl Messages {
    /// The same stream, with the transport of each message.
    pub fn tagged(self) -> Tagged {
        Tagged(self.0)
    }
}

impl Stream for Messages {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.0.as_mut().poll_next(cx).map(|i| i.map(|i| i.message))
    }
}

/// Received messages with their transport.
pub struct Tagged(Pin<Box<async_channel::Receiver<Incoming>>>);

impl Stream for Tagged {
    type Item = Incoming;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// The stream of events.
pub struct Events(Pin<Box<async_channel::Receiver<ClientEvent>>>);

impl Stream for Events {
    type Item = ClientEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        self.0.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
