//! The application's side: a builder, a cloneable [`Client`] handle, and the
//! [`Driver`] future that owns the socket.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::connection::Connection;
use super::dial::{Connector, Duplex, Target};
use super::fallback::{Fallback, FallbackConnection, FallbackLimits, FallbackPool, HttpsSse};
use super::message::Message;
use super::network::Network;
use super::proxy::ProxyRules;
use super::queue::{Queue, SendError};
use super::request::{PendingRequest, Replay, RequestError, RequestStream, Terminal};
use super::secret::{Headers, Redacted};
use super::streams::{DriverWake, Inbox, Subscriber};
pub use super::streams::{Events, Messages, Tagged, EVENTS_CAPACITY};
use super::task::{Driver, Front};
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
    /// [`Replay`] policy allowed it): the server may execute it twice.
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
    /// [`HttpsSse`].
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
const READ_BUFFER: usize = 16 * 1024;

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

/// Builds a [`Client`] and its [`Driver`].
pub struct ClientBuilder {
    url: String,
    config: Config,
    headers: Headers,
    tls: TlsOptions,
    fallback: Option<Arc<dyn Fallback>>,
    fallback_url: Option<String>,
    connector: Option<Connector>,
    proxy: Option<ProxyRules>,
    network: Network,
    reauth: Option<ReauthFn>,
    terminal: Terminal,
    ws_config: WebSocketConfig,
    replay: Replay,
    request_idle: std::time::Duration,
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
            .field("proxy", &self.proxy)
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
            proxy: None,
            network: Network::new(),
            reauth: None,
            terminal: Terminal::default(),
            ws_config: WebSocketConfig::default().read_buffer_size(READ_BUFFER),
            replay: Replay::default(),
            request_idle: REQUEST_IDLE_TIMEOUT,
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

    /// Open the WebSocket's byte stream yourself instead of TCP (and without the proxy):
    /// the upgrade and everything after run over what `connector` returns, with TLS on
    /// top for `wss://` (the client's roots, verifier and the URL's server name).
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

    /// Go through these proxy rules (both transports), instead of the config's
    /// `[proxy]` section (by default the environment's `HTTPS_PROXY`, `NO_PROXY`, …):
    /// [`ProxyRules::explicit`] for one proxy, [`ProxyRules::none`] for none,
    /// [`ProxyRules::from_vars`] for an environment of your own.
    pub fn proxy(mut self, rules: ProxyRules) -> Self {
        self.proxy = Some(rules);
        self
    }

    /// Resolve host names (the server's, the fallback's, the proxy's) with `resolver`
    /// instead of the system's. Every address it gives is tried, Happy Eyeballs.
    pub fn resolver<F, Fut>(mut self, resolver: F) -> Self
    where
        F: Fn(&str, u16) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::io::Result<Vec<std::net::SocketAddr>>> + Send + 'static,
    {
        self.network = self.network.resolver(resolver);
        self
    }

    /// Open each TCP connection (to one address) with `connect` instead of the
    /// system's; TLS, proxies and Happy Eyeballs still apply around it. Unlike
    /// [`connector`](Self::connector), it serves both transports.
    pub fn tcp_connector<F, Fut>(mut self, connect: F) -> Self
    where
        F: Fn(std::net::SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::io::Result<async_net::TcpStream>> + Send + 'static,
    {
        self.network = self.network.tcp_connector(connect);
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

    /// What happens to a written request whose connection ended before its terminal
    /// message (default [`Replay::IfUnanswered`]; with [`Replay::Never`] its stream ends
    /// with [`RequestError::Interrupted`]). Every replay is reported
    /// ([`ClientEvent::Replayed`]).
    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }

    /// Shorthand: `true` is [`Replay::IfUnanswered`], `false` [`Replay::Never`].
    pub fn replay_unanswered(self, replay: bool) -> Self {
        self.replay(match replay {
            true => Replay::IfUnanswered,
            false => Replay::Never,
        })
    }

    /// How long a written request may wait for its next response item before its
    /// stream ends with [`RequestError::TimedOut`] (default 5 minutes; a request that
    /// never ends must not hold up the ones behind it).
    pub fn request_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.request_idle = idle.max(std::time::Duration::from_millis(1));
        self
    }

    /// Check everything and give the handle and the driver future; run the driver on
    /// any executor (`async_std::task::spawn(driver.run())`, `smol::spawn(..)`).
    pub fn build(self) -> Result<(Client, Driver), BuildError> {
        let (commands_tx, commands_rx) = async_channel::bounded(64);
        let (wake_tx, wake_rx) = async_channel::bounded(1);
        let (inbound_tx, inbound_rx) = async_channel::bounded(INBOUND_CAPACITY + 1);
        let (done_tx, done_rx) = async_channel::bounded::<()>(1);
        let front = Front::Handles {
            commands: Box::pin(commands_rx),
            wake: Box::pin(wake_rx),
            inbound: inbound_tx,
            _done: done_tx,
        };
        let driver = self.driver(front)?;
        let client = Client {
            inner: Arc::new(Inner {
                shared: driver.shared.clone(),
                commands: commands_tx,
                wake: wake_tx,
                messages: inbound_rx,
                done: done_rx,
            }),
        };
        Ok((client, driver))
    }

    /// Check everything and give a [`Connection`]: the client driven in the task that
    /// polls it, a `Stream` of received messages and a `Sink` of messages to send.
    pub fn connection(self) -> Result<Connection, BuildError> {
        let driver = self.driver(Front::InTask {
            inbox: VecDeque::new(),
            close: false,
        })?;
        Ok(Connection::new(driver))
    }

    /// The driver, reached by the application through `front`.
    fn driver(self, front: Front) -> Result<Driver, BuildError> {
        let target = Target::parse(&self.url).map_err(BuildError::Url)?;
        let mut config = self.config;
        let proxy = match self.proxy {
            Some(rules) => rules,
            None => ProxyRules::from_config(&config.proxy).map_err(BuildError::Proxy)?,
        };
        let network = self
            .network
            .proxy(proxy)
            .attempt_delay(config.timeouts.connection_attempt_delay);
        let fallback = match (self.fallback, self.fallback_url) {
            (Some(f), _) => Some(f),
            (None, Some(url)) => Some(Arc::new(
                HttpsSse::new(&url, &self.tls)
                    .map_err(BuildError::Url)?
                    .with_limits(FallbackLimits::from_config(&config.fallback))
                    .with_pool(FallbackPool::from_config(&config.fallback))
                    .with_network(network.clone()),
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
        let fallback_limits = FallbackLimits::from_config(&policy.config().fallback);
        let q = &policy.config().queue;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(q.max_messages, q.max_bytes)),
            state: Mutex::new(StateName::Idle),
            subscribers: Mutex::new(Vec::new()),
            unclaimed: Mutex::new(Vec::new()),
            holding: AtomicBool::new(false),
        });
        Ok(Driver {
            core: Core::new(policy, seed),
            target,
            headers: self.headers,
            tls,
            warn_insecure: self.tls.danger_accept_invalid_certs,
            ws_config: self.ws_config,
            fallback,
            fallback_limits,
            connector: self.connector,
            network,
            reauth: self.reauth,
            terminal: self.terminal,
            replay: self.replay,
            request_idle: self.request_idle,
            shared,
            front,
            requests: VecDeque::new(),
            io: Default::default(),
            deferred: VecDeque::new(),
            inbox: Default::default(),
            step: Default::default(),
            wakes: 0,
        })
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
