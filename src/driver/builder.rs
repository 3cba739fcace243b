//! Building a client: the [`ClientBuilder`] checks the URL, the config, TLS and the
//! proxy, and gives a [`Client`] handle with its [`Driver`], or an in-task
//! [`Connection`].

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::acked::{AckOptions, Acked};
use super::client::{Client, Inner};
use super::connection::Connection;
use super::dial_hook::{DialContext, DialExtras, DialHook};
use super::fallback::{Fallback, FallbackLimits, FallbackPoolSettings, HttpsSse};
use super::message::Message;
use super::network::Network;
use super::proxy::ProxyRules;
use super::queue::Queue;
use super::reach::Connector;
use super::request::REQUEST_IDLE_TIMEOUT;
use super::request::{Cancel, Replay, Terminal};
use super::runtime::{default_runtime, Duplex, Runtime};
use super::secret::ReauthFn;
use super::secret::{Headers, Redacted};
use super::shared::{Shared, INBOUND_CAPACITY};
use super::target::Target;
use super::task::{Driver, Front};
use super::tls::{client_config, TlsOptions};
use crate::config::Config;
use crate::config::ConfigError;
use crate::core::{Core, StateName};

/// Why a client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// No runtime was given and none is built in (features `async-io` and `tokio`
    /// are both off, or `tokio` alone outside a tokio runtime).
    #[error("no async runtime: give one with ClientBuilder::runtime, or enable feature `async-io` (or `tokio`, and build inside a tokio runtime)")]
    NoRuntime,
    /// The acknowledged-delivery options are invalid (the message names the field).
    #[error("{0}")]
    Acknowledged(String),
}

/// tungstenite's read chunk (its default, 128 KiB, stays resident per connection);
/// [`ClientBuilder::read_buffer_size`] sets another.
const READ_BUFFER: usize = 16 * 1024;

impl Client {
    /// A builder for a client of `url`.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }
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
    protocols: Option<Vec<String>>,
    network: Network,
    runtime: Option<Arc<dyn Runtime>>,
    reauth: Option<ReauthFn>,
    terminal: Terminal,
    ws_config: WebSocketConfig,
    replay: Replay,
    request_idle: std::time::Duration,
    cancel: Cancel,
    acked: Option<AckOptions>,
    dial_hook: Option<DialHook>,
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
            .field("runtime", &self.runtime)
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
            protocols: None,
            network: Network::new(),
            runtime: None,
            reauth: None,
            terminal: Terminal::default(),
            ws_config: WebSocketConfig::default().read_buffer_size(READ_BUFFER),
            replay: Replay::default(),
            request_idle: REQUEST_IDLE_TIMEOUT,
            cancel: Cancel::default(),
            acked: None,
            dial_hook: None,
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

    /// Offer these WebSocket subprotocols on every dial (`Sec-WebSocket-Protocol`), in
    /// order of preference, as a browser's `new WebSocket(url, protocols)` does; wins over
    /// the config's `protocols` and over a raw `Sec-WebSocket-Protocol` header.
    ///
    /// The server must choose one of them: one it did not offer, or none, fails the dial
    /// with a cause naming both sides, class
    /// [`SubprotocolMismatch`](crate::policy::Class::SubprotocolMismatch) (the client
    /// stops). Its choice is in [`Event::Connected`](crate::core::Event::Connected)
    /// and [`Client::protocol`]; a server that chooses another one on a later
    /// connection is reported ([`Event::SubprotocolChanged`](crate::core::Event::SubprotocolChanged)).
    /// Each name must be a token (visible ASCII without separators), each once.
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = Some(protocols.into_iter().map(Into::into).collect());
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
        Fut: Future<Output = Result<S, crate::policy::ReachFailure>> + Send + 'static,
        S: Duplex,
    {
        self.connector = Some(Arc::new(move |url: &url::Url| {
            let opening = connector(url);
            Box::pin(async move { opening.await.map(|s| Box::new(s) as Box<dyn Duplex>) })
        }));
        self
    }

    /// Run on `runtime`: its TCP, resolver, timers and spawner, for both transports.
    /// Without it, the [default](super::default_runtime) when the client is built: the
    /// tokio runtime it is built in (feature `tokio`), or else async-io (feature
    /// `async-io`, on by default).
    pub fn runtime(mut self, runtime: impl Runtime) -> Self {
        self.runtime = Some(Arc::new(runtime));
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
    /// runtime's; TLS, proxies and Happy Eyeballs still apply around it. Unlike
    /// [`connector`](Self::connector), it serves both transports.
    pub fn tcp_connector<F, Fut, S>(mut self, connect: F) -> Self
    where
        F: Fn(std::net::SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::io::Result<S>> + Send + 'static,
        S: Duplex,
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

    /// How many bytes each read of the socket takes at most (tungstenite's read buffer,
    /// resident for as long as a connection is open). The default, 16 KiB, keeps an idle
    /// connection small; a client that streams large bursts reads with fewer wake-ups
    /// with more (128 KiB is tungstenite's own default). At least 1 KiB.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.ws_config = self.ws_config.read_buffer_size(bytes.max(1024));
        self
    }

    /// What happens to a written request whose connection ended before its terminal
    /// message (default [`Replay::IfUnanswered`]; with [`Replay::Never`] its stream ends
    /// with [`RequestError::Interrupted`](super::RequestError::Interrupted)). Every replay is reported
    /// ([`ClientEvent::Replayed`](super::ClientEvent::Replayed)).
    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }

    /// How long a written request may wait for its next response item before its
    /// stream ends with [`RequestError::TimedOut`](super::RequestError::TimedOut) (default 5 minutes; a request that
    /// never ends must not hold up the ones behind it).
    pub fn request_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.request_idle = idle.max(std::time::Duration::from_millis(1));
        self
    }

    /// How long a written request that was abandoned (its stream dropped, or it timed
    /// out) may hold up the next one, waiting for the end of its response (default
    /// [`CANCEL_GRACE`](super::CANCEL_GRACE), 2 s). Over WebSockets its response goes
    /// on arriving and must not reach the next request: if its terminal message has not
    /// come by then, the connection is recycled (closed with 1000 and dialed again,
    /// spending no retry budget) and the next request goes on the new one. Over the
    /// fallback the next request goes at once. A
    /// [`ClientEvent::CancelSettled`](super::ClientEvent::CancelSettled) says which.
    pub fn cancel_grace(mut self, grace: std::time::Duration) -> Self {
        self.cancel.grace = grace;
        self
    }

    /// A cancel message for an abandoned request, sent at once over the WebSocket its
    /// request went on: `cancel(body)` gives the message your protocol uses to stop a
    /// response (for example `{"type":"response.cancel"}`), or `None`. A server that
    /// answers it with the terminal message frees the line without a recycle.
    pub fn cancel_message(
        mut self,
        cancel: impl Fn(&Message) -> Option<Message> + Send + Sync + 'static,
    ) -> Self {
        self.cancel.message = Some(Arc::new(cancel));
        self
    }

    /// Acknowledged delivery: every text message given to `send` is numbered by the
    /// options' protocol, kept after it is written until the peer's application
    /// acknowledges it, written again (in order) when its carrier ends or changes
    /// ([`ClientEvent::Resent`](super::ClientEvent::Resent)), and handed back as
    /// [`ClientEvent::Unacknowledged`](super::ClientEvent::Unacknowledged) if the
    /// client stops first. Inbound messages with an id already seen are dropped
    /// ([`ClientEvent::DuplicateDropped`](super::ClientEvent::DuplicateDropped)), and
    /// the client acknowledges what it received. Across reconnects and the fallback.
    pub fn acknowledged(mut self, options: AckOptions) -> Self {
        self.acked = Some(options);
        self
    }

    /// Compute headers and WebSocket query parameters before every dial (and headers
    /// before every fallback request): a token that may have expired since the last
    /// dial, or where to resume an inbound stream
    /// ([`DialContext::resume_from`](super::DialContext)). Called on the driver's task;
    /// it must not block.
    pub fn before_dial(
        mut self,
        hook: impl Fn(&DialContext) -> DialExtras + Send + Sync + 'static,
    ) -> Self {
        self.dial_hook = Some(std::sync::Arc::new(hook));
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
        if let Some(protocols) = self.protocols {
            config.protocols = protocols;
        }
        let proxy = match self.proxy {
            Some(rules) => rules,
            None => ProxyRules::from_config(&config.proxy).map_err(BuildError::Proxy)?,
        };
        let rt = self
            .runtime
            .or_else(default_runtime)
            .ok_or(BuildError::NoRuntime)?;
        let network = self
            .network
            .proxy(proxy)
            .attempt_delay(config.timeouts.connection_attempt_delay)
            .runtime(rt.clone());
        let fallback = match (self.fallback, self.fallback_url) {
            (Some(f), _) => Some(f),
            (None, Some(url)) => Some(Arc::new(
                HttpsSse::new(&url, &self.tls)
                    .map_err(BuildError::Url)?
                    .with_limits(FallbackLimits::from_config(&config.fallback))
                    .with_pool(FallbackPoolSettings::from_config(&config.fallback))
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
        if let Some(options) = &self.acked {
            options.check().map_err(BuildError::Acknowledged)?;
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
            protocol: Mutex::new(None),
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
            rt,
            reauth: self.reauth,
            terminal: self.terminal,
            replay: self.replay,
            request_idle: self.request_idle,
            cancel: self.cancel,
            shared,
            front,
            requests: VecDeque::new(),
            io: Default::default(),
            deferred: VecDeque::new(),
            inbox: Default::default(),
            acked: self.acked.map(Acked::new),
            dial_hook: self.dial_hook,
            step: Default::default(),
            wakes: 0,
        })
    }

    /// Build, and run the driver as a task of its runtime: on tokio, a tokio task; on
    /// async-io, an async-std task (feature `async-std`) or else a thread of its own.
    pub fn spawn(self) -> Result<Client, BuildError> {
        let (client, driver) = self.build()?;
        let rt = driver.rt.clone();
        rt.spawn(Box::pin(async move {
            driver.run().await;
        }));
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
