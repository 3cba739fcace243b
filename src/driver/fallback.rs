//! The fallback transport: the same request carried without WebSockets.
//!
//! [`HttpsSse`] POSTs the request body over HTTPS (hyper 1 over the same
//! futures-rustls stack) and reads the response as Server-Sent Events, yielding each
//! event's data — the same item type a WebSocket request yields. Every phase has a
//! timeout and every event a size bound ([`FallbackLimits`], from the `[fallback]`
//! config), so a stalled or oversized response fails with a clear error instead of
//! holding up the work behind it.

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_lite::{Stream, StreamExt};
use futures_rustls::rustls::ClientConfig;
use futures_util::{stream, TryStreamExt};
use http_body_util::{BodyExt, BodyStream, Full};

use super::dial::{parse_retry_after, secure, Target};
use super::network::Network;
use super::secret::{Headers, Redacted};
use super::tls::{client_config, TlsOptions};
use crate::config::FallbackConfig;
use crate::policy::{DialFailure, FallbackFailure};

mod limits;

pub use crate::policy::FallbackPhase;
pub use limits::FallbackLimits;
use limits::{bounded_events, with_timeout, Guard};

/// Why a fallback request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FallbackError {
    /// The connection (DNS, TCP, TLS) failed, or the request could not be written.
    #[error("the fallback connection failed: {0}")]
    Connect(DialFailure),
    /// A phase took longer than its timeout.
    #[error("the fallback timed out in the {0} phase")]
    Timeout(FallbackPhase),
    /// The server answered with a status other than 2xx.
    #[error("the fallback answered HTTP {status}")]
    Status {
        /// The status.
        status: u16,
        /// Its `Retry-After`, parsed.
        retry_after: Option<Duration>,
    },
    /// One event of the response was larger than its bound
    /// (`fallback.max_event_bytes`).
    #[error("the fallback sent an event larger than {limit} bytes")]
    TooLarge {
        /// The bound.
        limit: usize,
    },
    /// The response broke off.
    #[error("the fallback response broke off: {0}")]
    Stream(String),
}

impl FallbackError {
    /// Whether the request body had reached the server, which did not answer it with
    /// 2xx: no answer in time, or another status. (A request sent again after this is a
    /// replay.)
    pub fn written(&self) -> bool {
        matches!(
            self,
            FallbackError::Timeout(FallbackPhase::Headers) | FallbackError::Status { .. }
        )
    }

    /// The failure as the core classifies it.
    pub fn failure(&self) -> FallbackFailure {
        match self {
            FallbackError::Connect(d) => match d {
                DialFailure::Dns(d) => FallbackFailure::Dns(d.clone()),
                DialFailure::Refused => FallbackFailure::Refused,
                DialFailure::Reset => FallbackFailure::Reset,
                DialFailure::Timeout(_) => FallbackFailure::Timeout(FallbackPhase::Connect),
                DialFailure::Certificate(d) => FallbackFailure::Certificate(d.clone()),
                DialFailure::Tls(d) => FallbackFailure::Tls(d.clone()),
                DialFailure::Status {
                    status,
                    retry_after,
                } => FallbackFailure::Status {
                    status: *status,
                    retry_after: *retry_after,
                },
                DialFailure::Redirect { status, .. } => FallbackFailure::Status {
                    status: *status,
                    retry_after: None,
                },
                DialFailure::Proxy { proxy, failure } => FallbackFailure::Proxy {
                    proxy: proxy.clone(),
                    failure: failure.clone(),
                },
                DialFailure::Io(d) => FallbackFailure::Io(d.clone()),
            },
            FallbackError::Timeout(phase) => FallbackFailure::Timeout(*phase),
            FallbackError::Status {
                status,
                retry_after,
            } => FallbackFailure::Status {
                status: *status,
                retry_after: *retry_after,
            },
            FallbackError::TooLarge { limit } => FallbackFailure::TooLarge { limit: *limit },
            FallbackError::Stream(d) => FallbackFailure::Io(format!("the response broke off: {d}")),
        }
    }

    /// Whether the server had answered with 2xx when this happened (the request body
    /// reached it): an idle timeout, an oversized event, a broken-off response.
    pub fn after_answer(&self) -> bool {
        matches!(
            self,
            FallbackError::Timeout(FallbackPhase::Idle)
                | FallbackError::TooLarge { .. }
                | FallbackError::Stream(_)
        )
    }
}

/// The items of one fallback response.
pub type FallbackStream = Pin<Box<dyn Stream<Item = Result<String, FallbackError>> + Send>>;

/// A transport that carries one request when WebSockets can't.
///
/// The driver bounds every response it reads, for transports of your own too: no item
/// within the sum of the [`FallbackLimits`] timeouts after the request ends it with
/// [`FallbackError::Timeout`] in the headers phase (not answered: what it carried goes
/// back in line), and no item within `idle` after the previous one with an idle timeout.
///
/// An item of the stream means the server answered (2xx): the body was delivered.
/// Errors that mean it was not ([`FallbackError::after_answer`] false) put the message
/// or request back in line.
pub trait Fallback: Send + Sync + 'static {
    /// Send `body` with `headers`; the stream yields the response's messages in order
    /// and ends with the response.
    fn request(&self, body: String, headers: &Headers) -> FallbackStream;

    /// A description without secrets, for diagnostics.
    fn describe(&self) -> String;
}

/// HTTPS POST with a Server-Sent-Events response.
#[derive(Clone)]
pub struct HttpsSse {
    target: Target,
    tls: Arc<ClientConfig>,
    limits: FallbackLimits,
    network: Network,
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
            tls,
            limits: FallbackLimits::default(),
            network: Network::new(),
        })
    }

    /// The same, reaching the server this way (a proxy, the Happy Eyeballs delay, a
    /// resolver of your own). [`ClientBuilder::fallback_url`](super::ClientBuilder)
    /// gives the client's.
    pub fn with_network(mut self, network: Network) -> HttpsSse {
        self.network = network;
        self
    }

    /// The same, with these timeouts and bounds.
    pub fn with_limits(mut self, limits: FallbackLimits) -> HttpsSse {
        self.limits = limits;
        self
    }

    async fn post(self, body: String, headers: Headers) -> Result<FallbackStream, FallbackError> {
        let limits = self.limits;
        let tcp = with_timeout(
            limits.connect,
            FallbackPhase::Connect,
            self.network.open(&self.target),
        )
        .await?
        .map_err(FallbackError::Connect)?;
        let tls = self.target.tls.then(|| self.tls.clone());
        let io = with_timeout(
            limits.tls,
            FallbackPhase::Tls,
            secure(&self.target, tcp, tls),
        )
        .await?
        .map_err(FallbackError::Connect)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(smol_hyper::rt::FuturesIo::new(io))
                .await
                .map_err(|e| FallbackError::Connect(DialFailure::Io(e.to_string())))?;
        let url = &self.target.url;
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
        let mut request = hyper::Request::post(path);
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            request = request.header(hyper::header::HOST, authority);
        }
        request = request
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "text/event-stream")
            .header(hyper::header::CONNECTION, "close");
        for (name, value) in headers.iter() {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| {
            FallbackError::Connect(DialFailure::Io(format!("invalid request: {e}")))
        })?;
        // The connection task runs beside the response stream and ends with it.
        let driving = stream::once(async move {
            let _ = conn.await;
            None
        });
        let mut driving = Box::pin(driving);
        let send = async {
            let send = sender.send_request(request);
            futures_lite::pin!(send);
            let mut conn_done = false;
            futures_lite::future::poll_fn(|cx| {
                if !conn_done && driving.as_mut().poll_next(cx).is_ready() {
                    conn_done = true;
                }
                send.as_mut().poll(cx)
            })
            .await
        };
        let response = with_timeout(limits.headers, FallbackPhase::Headers, send)
            .await?
            .map_err(|e| FallbackError::Connect(DialFailure::Io(e.to_string())))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = response
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            // The body is not needed; it is neither read nor kept (the connection
            // closes with the response).
            return Err(FallbackError::Status {
                status,
                retry_after,
            });
        }
        let bytes = BodyStream::new(response.into_body().map_err(|e| e.to_string()))
            .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) });
        let events = bounded_events(bytes, limits.max_event_bytes)
            .eventsource()
            .map(move |r| {
                r.map(|e| e.data).map_err(|e| match e {
                    eventsource_stream::EventStreamError::Transport(limits::Error::TooLarge) => {
                        FallbackError::TooLarge {
                            limit: limits.max_event_bytes,
                        }
                    }
                    e => FallbackError::Stream(e.to_string()),
                })
            });
        let merged = futures_util::stream::select(events.map(Some), driving).filter_map(|x| x);
        // Idle between events; the stream ends after its first error.
        Ok(Box::pin(Guard::new(
            Box::pin(merged),
            limits.idle,
            FallbackPhase::Idle,
            limits.idle,
        )))
    }
}

impl Fallback for HttpsSse {
    fn request(&self, body: String, headers: &Headers) -> FallbackStream {
        let this = self.clone();
        let headers = headers.clone();
        Box::pin(stream::once(this.post(body, headers)).try_flatten())
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
    pub(crate) fn guard(&self, stream: FallbackStream) -> FallbackStream {
        let first = self.connect + self.tls + self.headers + self.idle;
        Box::pin(Guard::new(stream, first, FallbackPhase::Headers, self.idle))
    }
}
