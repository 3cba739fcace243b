//! How connections reach their hosts, for the WebSocket dial and the fallback alike:
//! the proxy rules, Happy Eyeballs over every resolved address, and the resolver and
//! TCP connector (the runtime's unless replaced, e.g. by tests).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::eyeballs;
use super::proxy::socks5::{self, SocksTarget};
use super::proxy::{tunnel, ProxyRules, ProxyScheme, ProxyUrl};
use super::runtime::{default_runtime, BoxFuture, Duplex, Runtime};
use super::target::Target;
use crate::policy::{ProxyFailure, ReachFailure};

/// Resolves a host name and port to addresses.
pub type Resolver = Arc<dyn Fn(&str, u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> + Send + Sync>;

/// Opens a TCP connection (or any byte stream) to one address.
pub type TcpConnector =
    Arc<dyn Fn(SocketAddr) -> BoxFuture<io::Result<Box<dyn Duplex>>> + Send + Sync>;

/// RFC 8305's recommended Connection Attempt Delay.
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// How connections reach their hosts: through which proxy (if any), with Happy Eyeballs
/// over every address (attempts `attempt_delay` apart), resolved and connected by the
/// [`Runtime`] unless replaced.
///
/// [`ClientBuilder`](super::ClientBuilder) makes one from the config and its own
/// settings and gives it to the fallback it builds;
/// [`HttpsSse::with_network`](super::HttpsSse::with_network) takes one for a fallback
/// made by hand.
#[derive(Clone)]
pub struct Network {
    pub(crate) proxy: ProxyRules,
    pub(crate) attempt_delay: Duration,
    resolver: Option<Resolver>,
    tcp: Option<TcpConnector>,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("proxy", &self.proxy)
            .field("attempt_delay", &self.attempt_delay)
            .field("custom_resolver", &self.resolver.is_some())
            .field("custom_tcp", &self.tcp.is_some())
            .field("runtime", &self.runtime)
            .finish()
    }
}

/// Why no TCP connection was made.
enum TcpError {
    /// The name did not resolve (or to nothing).
    Dns(String),
    /// Every address failed, each with its error.
    Failed(Vec<(SocketAddr, io::Error)>),
}

impl TcpError {
    fn describe(&self) -> String {
        match self {
            TcpError::Dns(d) => format!("its name did not resolve: {d}"),
            TcpError::Failed(all) => every_failure(all),
        }
    }
}

fn every_failure(all: &[(SocketAddr, io::Error)]) -> String {
    match all {
        [(_, e)] => e.to_string(),
        _ => {
            let each: Vec<String> = all.iter().map(|(a, e)| format!("{a}: {e}")).collect();
            format!("every address failed: {}", each.join("; "))
        }
    }
}

impl Network {
    /// No proxy, RFC 8305's 250 ms between attempts, the system's resolver and TCP on
    /// the [default runtime](super::default_runtime).
    pub fn new() -> Network {
        Network {
            proxy: ProxyRules::none(),
            attempt_delay: DEFAULT_ATTEMPT_DELAY,
            resolver: None,
            tcp: None,
            runtime: default_runtime(),
        }
    }

    /// Connect, resolve and time on `runtime`.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Network {
        self.runtime = Some(runtime);
        self
    }

    /// The runtime connections are made on, if any (none without a runtime feature
    /// until one is given).
    pub fn runtime_ref(&self) -> Option<&Arc<dyn Runtime>> {
        self.runtime.as_ref()
    }

    pub(crate) fn no_runtime() -> io::Error {
        io::Error::other("no async runtime: enable feature `async-io` or `tokio`, or give one")
    }

    /// These proxy rules.
    pub fn proxy(mut self, rules: ProxyRules) -> Network {
        self.proxy = rules;
        self
    }

    /// Start the next address's attempt this long after the previous one (RFC 8305's
    /// Connection Attempt Delay; at least 1 ms).
    pub fn attempt_delay(mut self, delay: Duration) -> Network {
        self.attempt_delay = delay.max(Duration::from_millis(1));
        self
    }

    /// Resolve names with `resolver` instead of the system's (`getaddrinfo`).
    pub fn resolver<F, Fut>(mut self, resolver: F) -> Network
    where
        F: Fn(&str, u16) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'static,
    {
        self.resolver = Some(Arc::new(move |host: &str, port| {
            Box::pin(resolver(host, port))
        }));
        self
    }

    /// Open TCP connections with `connect` (one address each) instead of the runtime's.
    /// It may give any byte stream (an async-net or a compat-wrapped tokio
    /// `TcpStream`, a stream of your own); set `TCP_NODELAY` on it yourself, as the
    /// runtimes do on theirs.
    pub fn tcp_connector<F, Fut, S>(mut self, connect: F) -> Network
    where
        F: Fn(SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<S>> + Send + 'static,
        S: Duplex,
    {
        self.tcp = Some(Arc::new(move |addr| {
            let connecting = connect(addr);
            Box::pin(async move { Ok(Box::new(connecting.await?) as Box<dyn Duplex>) })
        }));
        self
    }

    /// The proxy a connection to `url` goes through, if any.
    pub fn proxy_for(&self, url: &url::Url) -> Option<&ProxyUrl> {
        self.proxy.for_url(url)
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, TcpError> {
        let found = match &self.resolver {
            Some(r) => r(host, port).await,
            None => match &self.runtime {
                Some(rt) => rt.resolve(host, port).await,
                None => Err(Network::no_runtime()),
            },
        };
        match found {
            Ok(addrs) if addrs.is_empty() => Err(TcpError::Dns(format!("{host}: no addresses"))),
            Ok(addrs) => Ok(addrs),
            Err(e) => Err(TcpError::Dns(format!("{host}: {e}"))),
        }
    }

    /// TCP to `host:port`: every address, Happy Eyeballs.
    async fn tcp(&self, host: &str, port: u16) -> Result<Box<dyn Duplex>, TcpError> {
        let addrs = eyeballs::interleave(self.resolve(host, port).await?);
        let (tcp, rt) = (self.tcp.clone(), self.runtime.clone());
        let connect = move |addr| match (&tcp, &rt) {
            (Some(connect), _) => connect(addr),
            (None, Some(rt)) => rt.connect(addr),
            (None, None) => Box::pin(async { Err(Network::no_runtime()) }),
        };
        let stream = match addrs.as_slice() {
            // One address (an IP literal, most names): nothing to race.
            [addr] => connect(*addr)
                .await
                .map_err(|e| TcpError::Failed(vec![(*addr, e)]))?,
            _ => eyeballs::race(self.runtime.as_deref(), addrs, self.attempt_delay, connect)
                .await
                .map_err(TcpError::Failed)?,
        };
        Ok(stream)
    }

    /// A TCP stream to the target: directly, or through its proxy's CONNECT tunnel.
    pub(crate) async fn open(&self, target: &Target) -> Result<Box<dyn Duplex>, ReachFailure> {
        let Some(proxy) = self.proxy.for_url(&target.url) else {
            return self
                .tcp(&target.host, target.port)
                .await
                .map_err(|e| match e {
                    TcpError::Dns(d) => ReachFailure::Dns(d),
                    TcpError::Failed(all) => match all.as_slice() {
                        [(_, e)] => io_failure(e),
                        _ => ReachFailure::Io(every_failure(&all)),
                    },
                });
        };
        let failed = |failure| ReachFailure::Proxy {
            proxy: proxy.address().into(),
            failure: Box::new(failure),
        };
        tracing::debug!(proxy = %proxy, "redial connects through a proxy");
        let (host, port) = (target.host.as_str(), target.port);
        match proxy.scheme() {
            ProxyScheme::Http => {
                let mut tcp = self.to_proxy(proxy).await.map_err(failed)?;
                tunnel(&mut tcp, proxy, host, port).await.map_err(failed)?;
                Ok(tcp)
            }
            // An IP literal goes as an address under either scheme (as curl sends it).
            ProxyScheme::Socks5h => {
                let to = match host.parse::<std::net::IpAddr>() {
                    Ok(ip) => SocksTarget::Addr(SocketAddr::new(ip, port)),
                    Err(_) => SocksTarget::Name(host, port),
                };
                self.through_socks(proxy, to).await.map_err(failed)
            }
            ProxyScheme::Socks5 => {
                // The client resolves: the name's failure is the dial's, not the proxy's.
                let addrs = self.resolve(host, port).await.map_err(|e| match e {
                    TcpError::Dns(d) => ReachFailure::Dns(d),
                    TcpError::Failed(all) => ReachFailure::Io(every_failure(&all)),
                })?;
                self.socks_by_address(proxy, addrs).await.map_err(failed)
            }
        }
    }

    /// TCP to the proxy itself (Happy Eyeballs over its addresses).
    async fn to_proxy(&self, proxy: &ProxyUrl) -> Result<Box<dyn Duplex>, ProxyFailure> {
        self.tcp(proxy.host(), proxy.port())
            .await
            .map_err(|e| ProxyFailure::Unreachable(e.describe()))
    }

    /// A new connection to the SOCKS5 proxy, asked to connect to `target`.
    async fn through_socks(
        &self,
        proxy: &ProxyUrl,
        target: SocksTarget<'_>,
    ) -> Result<Box<dyn Duplex>, ProxyFailure> {
        let mut tcp = self.to_proxy(proxy).await?;
        socks5::connect(&mut tcp, proxy, target).await?;
        Ok(tcp)
    }

    /// `socks5://`: the client has resolved the target's name to `addrs`, and races
    /// them (Happy Eyeballs), each through a connection of its own to the proxy. When
    /// every one fails, the failure that says most is reported: a refusal that stops
    /// (credentials, an unsupported command) before one that is retried.
    async fn socks_by_address(
        &self,
        proxy: &ProxyUrl,
        addrs: Vec<SocketAddr>,
    ) -> Result<Box<dyn Duplex>, ProxyFailure> {
        let addrs = eyeballs::interleave(addrs);
        if let [addr] = addrs.as_slice() {
            return self.through_socks(proxy, SocksTarget::Addr(*addr)).await;
        }
        let attempt = |addr: SocketAddr| {
            let (network, proxy) = (self.clone(), proxy.clone());
            async move {
                network
                    .through_socks(&proxy, SocksTarget::Addr(addr))
                    .await
                    .map_err(|f| io::Error::other(SocksAttemptFailed(f)))
            }
        };
        let failures =
            match eyeballs::race(self.runtime.as_deref(), addrs, self.attempt_delay, attempt).await
            {
                Ok(stream) => return Ok(stream),
                Err(failures) => failures,
            };
        let mut failures: Vec<ProxyFailure> = failures
            .into_iter()
            .map(|(_, e)| {
                match e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<SocksAttemptFailed>())
                {
                    Some(SocksAttemptFailed(f)) => f.clone(),
                    None => ProxyFailure::Unreachable(e.to_string()),
                }
            })
            .collect();
        // Those that stop first (a retry cannot change them), then the first.
        let stops = |f: &ProxyFailure| {
            crate::policy::classify_proxy_failure(f).default_action() == crate::config::Action::Stop
        };
        let pick = failures.iter().position(stops).unwrap_or(0);
        Err(failures.swap_remove(pick))
    }
}

/// One SOCKS5 attempt's failure, carried through the Happy Eyeballs race as an I/O
/// error's payload.
#[derive(Debug)]
struct SocksAttemptFailed(ProxyFailure);

impl fmt::Display for SocksAttemptFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for SocksAttemptFailed {}

/// An I/O error of a dial as the core's failure.
pub(crate) fn io_failure(e: &io::Error) -> ReachFailure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ReachFailure::Refused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => ReachFailure::Reset,
        _ => ReachFailure::Io(e.to_string()),
    }
}
