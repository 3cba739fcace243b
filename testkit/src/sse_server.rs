//! An HTTPS server that answers POSTs with Server-Sent Events, on loopback.

use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use async_channel::{Receiver, Sender};

use bytes::Bytes;
use futures_rustls::TlsAcceptor;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use smol_hyper::rt::FuturesIo;

use super::cert::TestCert;
use super::lifecycle::{self, lock, Changes, Running};

type Responder = Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Headers and body of one POST.
type Post = (Vec<(String, String)>, String);

/// One accepted connection.
struct Conn {
    h2: bool,
    /// Closed (by dropping) when the connection should close.
    close: Option<Sender<()>>,
    /// Fails once the connection's task has ended.
    ended: Receiver<()>,
}

#[derive(Default)]
struct Record {
    requests: Mutex<Vec<Post>>,
    connections: Mutex<Vec<Conn>>,
    changes: Changes,
}

/// How an [`SseServer`] speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SseOptions {
    /// Offer HTTP/2 by ALPN (`h2`, then `http/1.1`): a client that offers `h2` gets
    /// HTTP/2. Otherwise HTTP/1.1 only.
    pub http2: bool,
}

/// An HTTPS (HTTP/1.1, or HTTP/2 when [`SseOptions::http2`], over TLS) server on
/// `127.0.0.1` that answers every POST with `200 text/event-stream`.
///
/// Connections are kept alive: it counts them ([`SseServer::connections`],
/// [`SseServer::open_connections`]) and closes them on demand
/// ([`SseServer::close_idle_connections`]), so tests can see reuse and expiry.
///
/// Dropping it (or [`SseServer::stop`]) stops it: the listener and every connection
/// close. [`SseServer::shutdown`] also waits for that to be done.
pub struct SseServer {
    addr: SocketAddr,
    record: Arc<Record>,
    running: Running,
}

impl fmt::Debug for SseServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseServer")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl SseServer {
    /// HTTPS (TLS with `cert`) HTTP/1.1 server: every POST gets `200 text/event-stream`
    /// whose events are `responder(body)` — each string sent as one SSE event
    /// `data: <string>\n\n` (a string with newlines becomes several `data:` lines of
    /// one event), flushed one by one. Any path is served; other methods get `405`.
    pub async fn start(
        cert: &TestCert,
        responder: impl Fn(&str) -> Vec<String> + Send + Sync + 'static,
    ) -> std::io::Result<SseServer> {
        SseServer::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), cert, responder).await
    }

    /// The same, speaking as `options` say (HTTP/2 by ALPN).
    pub async fn start_with(
        cert: &TestCert,
        options: SseOptions,
        responder: impl Fn(&str) -> Vec<String> + Send + Sync + 'static,
    ) -> std::io::Result<SseServer> {
        SseServer::serve(IpAddr::V4(Ipv4Addr::LOCALHOST), cert, options, responder).await
    }

    /// The same on another loopback address: `::1` for an IPv6 server, whose
    /// [`url`](SseServer::url) is `https://[::1]:PORT/v1/responses` (the certificate
    /// names `::1` too).
    pub async fn start_on(
        ip: IpAddr,
        cert: &TestCert,
        responder: impl Fn(&str) -> Vec<String> + Send + Sync + 'static,
    ) -> std::io::Result<SseServer> {
        SseServer::serve(ip, cert, SseOptions::default(), responder).await
    }

    async fn serve(
        ip: IpAddr,
        cert: &TestCert,
        options: SseOptions,
        responder: impl Fn(&str) -> Vec<String> + Send + Sync + 'static,
    ) -> std::io::Result<SseServer> {
        let (listener, addr) = lifecycle::bind(ip).await?;
        let mut config = (*cert.server_config()).clone();
        config.alpn_protocols = match options.http2 {
            true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            false => vec![b"http/1.1".to_vec()],
        };
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let record = Arc::new(Record::default());
        let responder: Responder = Arc::new(responder);
        let task_record = record.clone();
        let running = lifecycle::spawn_accept_loop(listener, move |tcp| {
            let (acceptor, record) = (acceptor.clone(), task_record.clone());
            let responder = responder.clone();
            async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let (close, closing) = async_channel::bounded::<()>(1);
                let (alive, ended) = async_channel::bounded::<()>(1);
                lock(&record.connections).push(Conn {
                    h2,
                    close: Some(close),
                    ended,
                });
                record.changes.notify();
                let task_record = record.clone();
                let service = hyper::service::service_fn(move |request| {
                    handle(request, task_record.clone(), responder.clone())
                });
                let io = FuturesIo::new(tls);
                if h2 {
                    let conn = hyper::server::conn::http2::Builder::new(Spawn)
                        .serve_connection(io, service);
                    serve_until_closed!(conn, closing, true);
                } else {
                    let conn =
                        hyper::server::conn::http1::Builder::new().serve_connection(io, service);
                    serve_until_closed!(conn, closing, false);
                }
                drop(alive);
                record.changes.notify();
            }
        });
        Ok(SseServer {
            addr,
            record,
            running,
        })
    }

    /// The listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://localhost:PORT/v1/responses` (the certificate's name; the server listens
    /// on 127.0.0.1 only, so connect to [`SseServer::addr`]); for a server on `::1`,
    /// `https://[::1]:PORT/v1/responses`.
    pub fn url(&self) -> String {
        match self.addr {
            SocketAddr::V6(a) => format!("https://[{}]:{}/v1/responses", a.ip(), a.port()),
            SocketAddr::V4(a) => format!("https://localhost:{}/v1/responses", a.port()),
        }
    }

    /// Headers (names in lower case) and body of each POST, in order. A request is
    /// recorded before its response starts.
    pub fn requests(&self) -> Vec<(Vec<(String, String)>, String)> {
        lock(&self.record.requests).clone()
    }

    /// Connections accepted (TLS handshake done) so far.
    pub fn connections(&self) -> usize {
        lock(&self.record.connections).len()
    }

    /// Of those, the ones that speak HTTP/2 (the client chose `h2` by ALPN).
    pub fn h2_connections(&self) -> usize {
        lock(&self.record.connections)
            .iter()
            .filter(|c| c.h2)
            .count()
    }

    /// Connections still open.
    pub fn open_connections(&self) -> usize {
        lock(&self.record.connections)
            .iter()
            .filter(|c| !c.ended.is_closed())
            .count()
    }

    /// Waits until at least `n` connections have been accepted. No timeout: wrap it in
    /// one.
    pub async fn wait_connections(&self, n: usize) {
        self.record
            .changes
            .wait_until(|| self.connections() >= n)
            .await;
    }

    /// Waits until exactly `n` connections are open (e.g. until the client closed the
    /// ones it does not keep). No timeout: wrap it in one.
    pub async fn wait_open_connections(&self, n: usize) {
        self.record
            .changes
            .wait_until(|| self.open_connections() == n)
            .await;
    }

    /// Closes every open connection as a server whose keep-alive timeout expired does:
    /// an idle one at once, one with a response in progress after that response (HTTP/2:
    /// `GOAWAY`). Returns once they are all closed. Connections accepted later are served
    /// as usual.
    pub async fn close_idle_connections(&self) {
        let ended: Vec<Receiver<()>> = lock(&self.record.connections)
            .iter_mut()
            .map(|c| {
                c.close = None;
                c.ended.clone()
            })
            .collect();
        for e in ended {
            let _ = e.recv().await;
        }
    }

    /// Waits until at least `n` POSTs have been received. No timeout: wrap it in one.
    pub async fn wait_requests(&self, n: usize) {
        let record = &self.record;
        record
            .changes
            .wait_until(|| lock(&record.requests).len() >= n)
            .await;
    }

    /// Stops the server (the same as dropping it): the listener and every connection
    /// close promptly, in the background.
    pub fn stop(self) {
        drop(self);
    }

    /// Stops the server and waits until the listener is closed and every connection
    /// task has ended.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// Runs a hyper server connection until it ends; once `closing` fails (its sender
/// dropped), shuts it down gracefully: HTTP/1.1 after the response in progress;
/// HTTP/2 with `GOAWAY`, then the connection closes at once (a graceful HTTP/2 close
/// waits for the client's answer to a ping, which an idle client does not send).
macro_rules! serve_until_closed {
    ($conn:ident, $closing:ident, $abrupt:expr) => {{
        let mut conn = std::pin::pin!($conn);
        let mut closed = Box::pin(async move {
            let _ = $closing.recv().await;
        });
        let mut shutting = false;
        let _ = poll_fn(|cx| {
            if !shutting && closed.as_mut().poll(cx).is_ready() {
                shutting = true;
                conn.as_mut().graceful_shutdown();
                if $abrupt {
                    // Writes the GOAWAY.
                    let _ = conn.as_mut().poll(cx);
                    return std::task::Poll::Ready(Ok(()));
                }
            }
            conn.as_mut().poll(cx)
        })
        .await;
    }};
}
use serve_until_closed;

/// Runs hyper's HTTP/2 stream tasks on the async-std executor.
#[derive(Clone, Copy)]
struct Spawn;

impl<F> hyper::rt::Executor<F> for Spawn
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        async_std::task::spawn(future);
    }
}

async fn handle(
    request: Request<Incoming>,
    record: Arc<Record>,
    responder: Responder,
) -> Result<Response<Body>, Infallible> {
    if request.method() != Method::POST {
        let mut response = Response::new(Full::new(Bytes::new()).boxed_unsync());
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return Ok(response);
    }
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = match request.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => {
            let mut response = Response::new(Full::new(Bytes::new()).boxed_unsync());
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
    };
    let events = responder(&body);
    lock(&record.requests).push((headers, body));
    record.changes.notify();

    let frames = futures_lite::stream::unfold((events.into_iter(), true), |(mut rest, first)| {
        async move {
            if !first {
                // Let hyper flush the previous event before the next one is ready.
                futures_lite::future::yield_now().await;
            }
            let event = rest.next()?;
            let frame = Frame::data(Bytes::from(sse_event(&event)));
            Some((Ok::<_, Infallible>(frame), (rest, false)))
        }
    });
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// One SSE event carrying `data` (one `data:` line per line of `data`).
fn sse_event(data: &str) -> String {
    let mut event = String::with_capacity(data.len() + 8);
    for line in data.split('\n') {
        event.push_str("data: ");
        event.push_str(line.strip_suffix('\r').unwrap_or(line));
        event.push('\n');
    }
    event.push('\n');
    event
}

/// The responder the demo and tests use: for a body, a few
/// `{"type":"response.output_text.delta","delta":...}` events echoing the body, then
/// `{"type":"response.completed"}`.
///
/// The body is cut into at most three pieces on character boundaries (none for an
/// empty body); the deltas, joined, give the body back.
pub fn echo_responder(body: &str) -> Vec<String> {
    let chars: Vec<char> = body.chars().collect();
    let piece = chars.len().div_ceil(3).max(1);
    let mut events: Vec<String> = chars
        .chunks(piece)
        .map(|chunk| {
            let delta: String = chunk.iter().collect();
            serde_json::json!({ "type": "response.output_text.delta", "delta": delta }).to_string()
        })
        .collect();
    events.push(serde_json::json!({ "type": "response.completed" }).to_string());
    events
}
