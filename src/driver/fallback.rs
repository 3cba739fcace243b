//! The fallback transport: the same request carried without WebSockets.
//!
//! [`HttpsSse`] POSTs the request body over HTTPS (hyper 1 over the same
//! futures-rustls stack) and reads the response as Server-Sent Events, yielding each
//! event's data — the same item type a WebSocket request yields. Every phase has a
//! timeout and every event a size bound ([`FallbackLimits`], from the `[fallback]`
//! config), so a stalled or oversized response fails with a clear error instead of
//! holding up the work behind it.
//!
//! Connections are kept ([`FallbackPoolSettings`], from the same section): an HTTP/1.1
//! connection whose response was read to its end serves the next request; a server
//! that chooses HTTP/2 by ALPN carries every request on one connection.

use crate::driver::lock::lock;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_lite::{Stream, StreamExt};
use futures_rustls::rustls::ClientConfig;
use futures_util::{stream, TryStreamExt};
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::TrySendError;

use super::answer::{retry_after_of, shown_location};
use super::network::Network;
use super::reach::{secure, MaybeTls};
use super::runtime::Runtime;
use super::secret::{Headers, Redacted};
use super::target::Target;
use super::tls::{client_config, TlsOptions};
use crate::config::FallbackConfig;
use crate::policy::{FallbackError, Phase, ReachFailure};

mod limits;
mod pool;

pub use limits::FallbackLimits;
use limits::{bounded_events, with_timeout, Guard};
pub use pool::FallbackPoolSettings;
use pool::{Conn, Gate, Lease, Pool, ReqBody, Sender};

/// The items of one fallback response.
pub type FallbackStream = Pin<Box<dyn Stream<Item = Result<String, FallbackError>> + Send>>;

/// Which HTTP connection carried a fallback request (the carrier): a new or a reused one,
/// HTTP/1.1 or HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackCarrier {
    /// An open connection was used (kept alive from an earlier request, or the shared
    /// HTTP/2 connection), not one opened for this request.
    pub reused: bool,
    /// HTTP/2 (the server chose `h2` by ALPN); otherwise HTTP/1.1.
    pub http2: bool,
}

impl FallbackCarrier {
    /// `h2` or `http/1.1`, as ALPN names them.
    pub fn protocol(&self) -> &'static str {
        match self.http2 {
            true => "h2",
            false => "http/1.1",
        }
    }
}

/// Where a transport notes which connection carries a request, once it knows (before
/// the response's first item); see [`Fallback::request_noted`].
#[derive(Debug, Clone, Default)]
pub struct CarrierNote(Arc<Mutex<Option<FallbackCarrier>>>);

impl CarrierNote {
    /// Note the connection (the last note counts).
    pub fn set(&self, connection: FallbackCarrier) {
        *lock(&self.0) = Some(connection);
    }

    /// The connection noted, if any.
    pub fn get(&self) -> Option<FallbackCarrier> {
        *lock(&self.0)
    }
}

/// A transport that carries one request when WebSockets can't.
///
/// The driver bounds every response it reads, for transports of your own too: no item
/// within the sum of the [`FallbackLimits`] timeouts after the request ends it with
/// a [`ReachFailure::Timeout`] in the headers phase (not answered: what it carried goes
/// back in line), and no item within `idle` after the previous one with an idle timeout.
///
/// An item of the stream means the server answered (2xx): the body was delivered.
/// Errors that mean it was not ([`FallbackError::after_answer`] false) put the message
/// or request back in line.
pub trait Fallback: Send + Sync + 'static {
    /// Send `body` with `headers`; the stream yields the response's messages in order
    /// and ends with the response.
    fn request(&self, body: String, headers: &Headers) -> FallbackStream;

    /// The same, noting in `note` which connection carries the request (the driver
    /// reports it as [`ClientEvent::FallbackCarrier`](super::ClientEvent)). By
    /// default nothing is noted.
    fn request_noted(&self, body: String, headers: &Headers, note: &CarrierNote) -> FallbackStream {
        let _ = note;
        self.request(body, headers)
    }

    /// A description without secrets, for diagnostics.
    fn describe(&self) -> String;

    /// Run the background work of the connections the transport keeps open (an HTTP/2
    /// connection's pings and window updates; a pooled connection's close by the
    /// server) until it waits, arranging for `cx`'s waker to be woken when there is
    /// more. The driver calls it at each of its wake-ups while the transport may hold
    /// connections, whether or not the application reads: a response paused by
    /// backpressure must not keep its connection from answering the server. It must
    /// not wait, and must not take anything from a response (the response's own
    /// stream does). By default nothing: a transport that runs its connections
    /// elsewhere, or keeps none.
    fn poll_connections(&self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// Close every idle connection kept for reuse whose idle time is over by `now`;
    /// returns when the next idle one expires (`None`: none is idle). The driver calls
    /// it when a response ends and again at each deadline it returned, so an idle
    /// connection is closed on time even when no further request comes. By default
    /// nothing is kept: `None`.
    fn expire_idle(&self, now: Instant) -> Option<Instant> {
        let _ = now;
        None
    }
}

/// HTTPS POST with a Server-Sent-Events response.
#[derive(Clone)]
pub struct HttpsSse {
    target: Target,
    /// The TLS configuration as given (ALPN `http/1.1`).
    tls_given: Arc<ClientConfig>,
    /// The one used: ALPN `h2` too when the pool offers HTTP/2.
    tls: Arc<ClientConfig>,
    limits: FallbackLimits,
    network: Network,
    /// Shared by the clones: one pool per fallback (one origin, one route to it).
    pool: Arc<Pool>,
    /// The last event id the server gave (an SSE `id:` field), sent back as
    /// `Last-Event-ID` with every later request, as the EventSource standard does when
    /// it reconnects: the server may resume its stream after it.
    last_event_id: Arc<Mutex<Option<String>>>,
}

impl fmt::Debug for HttpsSse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpsSse({}", Redacted(&self.target.url))?;
        if let Some(proxy) = self.network.proxy_for(&self.target.url) {
            write!(f, " via {proxy}")?;
        }
        f.write_str(")")
    }
}

impl HttpsSse {
    /// A fallback that POSTs to `url` (`https://` or, for tests, `http://`), with the
    /// default [`FallbackLimits`] and [`Network`] (no proxy).
    pub fn new(url: &str, tls: &TlsOptions) -> Result<HttpsSse, String> {
        let target = Target::parse(url)?;
        let tls = client_config(tls).map_err(|e| format!("TLS configuration: {e}"))?;
        Ok(HttpsSse {
            target,
            tls: tls.clone(),
            tls_given: tls,
            limits: FallbackLimits::default(),
            network: Network::new(),
            pool: Arc::new(Pool::new(FallbackPoolSettings::default())),
            last_event_id: Arc::default(),
        }
        .with_pool(FallbackPoolSettings::default()))
    }

    /// The same, keeping connections this way (a new, empty pool).
    pub fn with_pool(mut self, pool: FallbackPoolSettings) -> HttpsSse {
        let mut tls = (*self.tls_given).clone();
        tls.alpn_protocols = match pool.http2 {
            true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            false => vec![b"http/1.1".to_vec()],
        };
        self.tls = Arc::new(tls);
        self.pool = Arc::new(Pool::new(pool));
        self
    }

    /// How this fallback keeps its connections.
    pub fn pool(&self) -> FallbackPoolSettings {
        self.pool.config()
    }

    /// The same, reaching the server this way (a proxy, the Happy Eyeballs delay, a
    /// resolver of your own). [`ClientBuilder::fallback_url`](super::ClientBuilder)
    /// gives the client's. The pool starts empty.
    pub fn with_network(mut self, network: Network) -> HttpsSse {
        self.network = network;
        self.pool = Arc::new(Pool::new(self.pool.config()));
        self
    }

    /// The same, with these timeouts and bounds.
    pub fn with_limits(mut self, limits: FallbackLimits) -> HttpsSse {
        self.limits = limits;
        self
    }

    /// The last event id the server gave (an SSE `id:` field), if any: sent as
    /// `Last-Event-ID` with each request after it.
    pub fn last_event_id(&self) -> Option<String> {
        lock(&self.last_event_id).clone()
    }

    /// The runtime this fallback's connections and timers run on.
    fn rt(&self) -> Result<Arc<dyn Runtime>, FallbackError> {
        match self.network.runtime_ref() {
            Some(rt) => Ok(rt.clone()),
            None => Err(ReachFailure::Io(Network::no_runtime().to_string()).into()),
        }
    }

    /// A connection for one request: a live one from the pool, the shared HTTP/2
    /// one, or a new one (`pooled` false: a new one).
    async fn checkout(&self, pooled: bool) -> Result<Lease, FallbackError> {
        if pooled {
            if let Some(lease) = self.pool.take() {
                return Ok(lease);
            }
        }
        // A connection being opened may turn out HTTP/2, which every request shares:
        // wait for it (within the connect timeout) rather than open another.
        let gate = match self.pool.gate() {
            Gate::Wait(opening) => {
                // At most as long as a connection may take; then one of its own.
                let most = self.limits.connect + self.limits.tls;
                let _ = with_timeout(&*self.rt()?, most, Phase::Connect, opening.recv()).await;
                if let Some(lease) = self.pool.take() {
                    return Ok(lease);
                }
                None
            }
            Gate::Lead(lead) => Some(lead),
            Gate::Open => None,
        };
        let conn = self.open().await?;
        let lease = self.pool.opened(conn);
        drop(gate);
        Ok(lease)
    }

    /// A new connection: TCP (through the proxy's tunnel, Happy Eyeballs), TLS (ALPN
    /// `h2` and `http/1.1`, or `http/1.1` only), the HTTP handshake.
    async fn open(&self) -> Result<Conn, FallbackError> {
        let limits = self.limits;
        let rt = self.rt()?;
        let tcp = with_timeout(
            &*rt,
            limits.connect,
            Phase::Connect,
            self.network.open(&self.target),
        )
        .await??;
        let tls = self.target.tls.then(|| self.tls.clone());
        let io =
            with_timeout(&*rt, limits.tls, Phase::Tls, secure(&self.target, tcp, tls)).await??;
        let h2 = match &io {
            MaybeTls::Tls(s) => s.get_ref().1.alpn_protocol() == Some(b"h2"),
            _ => false,
        };
        with_timeout(
            &*rt,
            limits.tls,
            Phase::Tls,
            Conn::handshake(smol_hyper::rt::FuturesIo::new(io), h2),
        )
        .await?
        .map_err(|e| ReachFailure::Io(e.to_string()).into())
    }

    fn build_request(
        &self,
        body: &Bytes,
        headers: &Headers,
        h2: bool,
    ) -> Result<hyper::Request<ReqBody>, FallbackError> {
        let url = &self.target.url;
        let mut request = if h2 {
            // HTTP/2 takes the scheme and authority from the URI (`:authority`).
            let mut shown = url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            shown.set_fragment(None);
            hyper::Request::post(shown.as_str())
        } else {
            let path = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            // The URL's host as written: IPv6 addresses keep their brackets.
            let host = url.host_str().unwrap_or_default();
            let authority = match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            };
            let mut r = hyper::Request::post(path);
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
                r = r.header(hyper::header::HOST, authority);
            }
            r
        };
        request = request
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "text/event-stream");
        let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if let Some(id) = self.last_event_id().filter(|_| !given("last-event-id")) {
            request = request.header("Last-Event-ID", id);
        }
        for (name, value) in headers.iter() {
            // HTTP/2 has no `Host` (the URI's authority) nor connection headers.
            if h2 && name.eq_ignore_ascii_case("host") {
                continue;
            }
            request = request.header(name, value);
        }
        request
            .body(Full::new(body.clone()))
            .map_err(|e| ReachFailure::Io(format!("invalid request: {e}")).into())
    }

    async fn post(
        self,
        body: String,
        headers: Headers,
        note: CarrierNote,
    ) -> Result<FallbackStream, FallbackError> {
        let limits = self.limits;
        let rt = self.rt()?;
        let body = Bytes::from(body);
        // A pooled connection found closed before the request was written on it (the
        // server closed it while idle): nothing was sent, so the request goes once more
        // on a new connection. Once written, a request is not sent again here: the
        // error says it was written, and the driver's replay policy decides (and
        // reports the replay).
        let mut pooled = true;
        let (response, lease) = loop {
            let mut lease = self.checkout(pooled).await?;
            let request = self.build_request(&body, &headers, lease.h2())?;
            note.set(FallbackCarrier {
                reused: lease.reused,
                http2: lease.h2(),
            });
            let sent = with_timeout(
                &*rt,
                limits.headers,
                Phase::Headers,
                send(&mut lease, request),
            )
            .await?;
            match sent {
                Sent::Answered(response) => break (response, lease),
                Sent::NotWritten(e) if lease.reused && pooled => {
                    tracing::debug!(error = %e, "a pooled fallback connection was closed before the request was written: a new connection");
                    self.pool.forget_idle();
                    pooled = false;
                }
                Sent::NotWritten(e) => return Err(ReachFailure::Io(e.to_string()).into()),
                Sent::Unanswered(e) => {
                    if lease.reused {
                        self.pool.forget_idle();
                    }
                    return Err(FallbackError::Unanswered(e.to_string()));
                }
            }
        };
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = shown_location(&self.target.url, response.headers());
            return Err(ReachFailure::Redirect { status, location }.into());
        }
        if !(200..300).contains(&status) {
            let retry_after = retry_after_of(response.headers());
            // The body is not needed; it is neither read nor kept (an HTTP/1.1
            // connection closes with the response).
            return Err(ReachFailure::Status {
                status,
                retry_after,
            }
            .into());
        }
        let bytes = ResponseBytes {
            body: response.into_body(),
            lease: Some(lease),
        };
        let last_event_id = self.last_event_id.clone();
        let events = bounded_events(bytes, limits.max_event_bytes)
            .eventsource()
            .map(move |r| {
                let keep = |e: eventsource_stream::Event| {
                    // The standard's last event id: set by an `id:` field (one that
                    // names no id leaves it), kept across responses.
                    if !e.id.is_empty() {
                        *lock(&last_event_id) = Some(e.id);
                    }
                    e.data
                };
                r.map(keep).map_err(|e| match e {
                    eventsource_stream::EventStreamError::Transport(limits::Error::TooLarge) => {
                        FallbackError::TooLarge {
                            limit: limits.max_event_bytes,
                        }
                    }
                    e => FallbackError::BrokeOff(e.to_string()),
                })
            });
        // Idle between events; the stream ends after its first error.
        Ok(Box::pin(Guard::new(
            &*rt,
            Box::pin(events),
            limits.idle,
            Phase::Idle,
            limits.idle,
        )))
    }
}

/// How a request on a connection went.
enum Sent {
    /// The response's status and headers.
    Answered(hyper::Response<Incoming>),
    /// The connection was closed before anything of the request was written.
    NotWritten(hyper::Error),
    /// The request was written; the connection failed before any answer.
    Unanswered(hyper::Error),
}

/// Send `request` on the lease's connection, running the connection meanwhile.
async fn send(lease: &mut Lease, request: hyper::Request<ReqBody>) -> Sent {
    let id = lease.id;
    let conn = lease.conn();
    let tasks = conn.tasks.clone();
    let ready = poll_fn(|cx| {
        tasks.drive(id, cx);
        match &mut conn.sender {
            Sender::H1(s) => s.poll_ready(cx),
            Sender::H2(s) => s.poll_ready(cx),
        }
    })
    .await;
    if let Err(error) = ready {
        return Sent::NotWritten(error);
    }
    type Answer = Result<hyper::Response<Incoming>, TrySendError<hyper::Request<ReqBody>>>;
    let response: Pin<Box<dyn Future<Output = Answer> + Send>> = match &mut conn.sender {
        Sender::H1(s) => Box::pin(s.try_send_request(request)),
        Sender::H2(s) => Box::pin(s.try_send_request(request)),
    };
    let mut response = response;
    let answer = poll_fn(|cx| {
        tasks.drive(id, cx);
        response.as_mut().poll(cx)
    })
    .await;
    match answer {
        Ok(r) => Sent::Answered(r),
        Err(e) if e.message().is_some() => Sent::NotWritten(e.into_error()),
        Err(e) => Sent::Unanswered(e.into_error()),
    }
}

/// The response body's bytes, running the connection meanwhile; read to its end, the
/// body gives its connection back to the pool.
struct ResponseBytes {
    body: Incoming,
    lease: Option<Lease>,
}

impl Stream for ResponseBytes {
    type Item = Result<Bytes, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(lease) = this.lease.as_mut() else {
            return Poll::Ready(None);
        };
        let (id, tasks) = (lease.id, lease.conn().tasks.clone());
        tasks.drive(id, cx);
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    // A broken response: its connection is not reused.
                    this.lease = None;
                    return Poll::Ready(Some(Err(e.to_string())));
                }
                Poll::Ready(None) => {
                    if let Some(mut lease) = this.lease.take() {
                        lease.finished();
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Fallback for HttpsSse {
    fn request(&self, body: String, headers: &Headers) -> FallbackStream {
        self.request_noted(body, headers, &CarrierNote::default())
    }

    fn request_noted(&self, body: String, headers: &Headers, note: &CarrierNote) -> FallbackStream {
        let this = self.clone();
        let headers = headers.clone();
        let note = note.clone();
        Box::pin(stream::once(this.post(body, headers, note)).try_flatten())
    }

    /// Polls every connection of its pool (idle, shared or carrying a response).
    fn poll_connections(&self, cx: &mut Context<'_>) {
        self.pool.poll_connections(cx);
    }

    /// Closes the pool's connections idle for `pool_idle_timeout`
    /// ([`FallbackPoolSettings::idle_timeout`]).
    fn expire_idle(&self, now: Instant) -> Option<Instant> {
        self.pool.expire(now)
    }

    fn describe(&self) -> String {
        match self.network.proxy_for(&self.target.url) {
            Some(proxy) => format!(
                "HTTPS+SSE at {} via the proxy {proxy}",
                Redacted(&self.target.url)
            ),
            None => format!("HTTPS+SSE at {}", Redacted(&self.target.url)),
        }
    }
}

impl FallbackLimits {
    /// The limits the `[fallback]` config section sets.
    pub fn from_config(c: &FallbackConfig) -> FallbackLimits {
        FallbackLimits {
            connect: c.connect_timeout,
            tls: c.tls_timeout,
            headers: c.headers_timeout,
            idle: c.idle_timeout,
            max_event_bytes: c.max_event_bytes,
        }
    }

    /// Bound any fallback's response stream by these timeouts. No item within all
    /// of them counts as no answer (the headers phase): what the job carried goes back
    /// in line.
    pub(crate) fn guard(&self, rt: &dyn Runtime, stream: FallbackStream) -> FallbackStream {
        let first = self.connect + self.tls + self.headers + self.idle;
        Box::pin(Guard::new(rt, stream, first, Phase::Headers, self.idle))
    }
}
