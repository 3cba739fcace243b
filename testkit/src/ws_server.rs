//! A scripted WebSocket server on loopback, plain or TLS.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_rustls::TlsAcceptor;

use super::cert::TestCert;
use super::lifecycle::{self, lock, Changes, Running};
use super::ws_conn;

/// What the server knows about a connection when it asks the script what to do.
///
/// The script is asked once the upgrade request has been read (after the TLS handshake
/// for [`WsServer::start_tls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// 1-based, in accept order (the same numbering as [`WsServer::received`]).
    pub index: usize,
    /// The upgrade request's headers, names in lower case, in request order.
    pub headers: Vec<(String, String)>,
    /// The request target, for example `/` or `/v1/responses?x=1`.
    pub path: String,
    /// The client's address (its local port tells its connections apart).
    pub peer: SocketAddr,
}

impl ConnInfo {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the server answers one connection.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answer `101 Switching Protocols`, then play the acts in order.
    ///
    /// When the acts run out, the connection ends: after a [`Act::Close`], once the
    /// client has answered the close (or gone); otherwise at once, with a TCP FIN and
    /// no close frame (an abnormal closure, 1006, for the client).
    Accept(Vec<Act>),
    /// Answer the upgrade with this HTTP status and headers, then close the TCP
    /// connection. A `Content-Length: 0` header is added unless one is given.
    ///
    /// Use a status of 300 or more: tungstenite refuses to send a 2xx here (the client
    /// then sees the connection closed without an answer).
    Reject {
        /// The HTTP status, for example 401, 404, 426 or 429.
        status: u16,
        /// Extra response headers, for example `("Retry-After", "1")`.
        headers: Vec<(String, String)>,
    },
    /// Read the request and never answer; keep the TCP connection open until the
    /// client goes or the server stops.
    StallHandshake,
    /// Reset the TCP connection (RST: `SO_LINGER` 0, then close) as soon as the
    /// request has been read, without answering it.
    ResetBeforeUpgrade,
}

/// One step of an accepted connection's script.
#[derive(Clone)]
pub enum Act {
    /// Do nothing for this long (nothing is read meanwhile, so pings wait).
    Wait(Duration),
    /// Keep reading for this long (pings answered, messages recorded, nothing sent),
    /// then go on with the next act. Ends the connection if the client closes first.
    HoldFor(Duration),
    /// Keep reading (pings answered) until one data message arrives, record it, then
    /// go on with the next act. Ends the connection if the client closes first.
    AwaitMessage,
    /// Send a text message.
    Text(String),
    /// Send a binary message.
    Binary(Vec<u8>),
    /// Send a close frame. `Some(code)`: with that raw code (any u16, also ones that must
    /// never be on the wire, like 1005, 1014 or 999) and `reason`; `None`: a close frame
    /// without status code (empty payload; `reason` is ignored).
    Close {
        /// The raw close code, or `None` for an empty close frame.
        code: Option<u16>,
        /// The close reason (UTF-8, at most 123 bytes to fit a control frame).
        reason: String,
    },
    /// Reset the TCP connection now (RST, no close frame). Ends the connection.
    Reset,
    /// Echo every text and binary message until the client closes; pings are answered.
    /// Ends the script.
    Echo,
    /// For each text message received, send these text messages back; until the client
    /// closes. Binary messages are recorded and not answered. Ends the script.
    #[allow(clippy::type_complexity)]
    Respond(Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>),
    /// Keep reading (so pings are answered and messages recorded), send nothing, until
    /// the client closes. Ends the script.
    Hold,
    /// Never read or write again (pings go unanswered); keep the TCP connection open
    /// until the server stops. Ends the script.
    Mute,
}

impl fmt::Debug for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Act::Wait(d) => f.debug_tuple("Wait").field(d).finish(),
            Act::HoldFor(d) => f.debug_tuple("HoldFor").field(d).finish(),
            Act::AwaitMessage => f.write_str("AwaitMessage"),
            Act::Text(s) => f.debug_tuple("Text").field(s).finish(),
            Act::Binary(b) => f.debug_tuple("Binary").field(b).finish(),
            Act::Close { code, reason } => f
                .debug_struct("Close")
                .field("code", code)
                .field("reason", reason)
                .finish(),
            Act::Reset => f.write_str("Reset"),
            Act::Echo => f.write_str("Echo"),
            Act::Respond(_) => f.write_str("Respond(..)"),
            Act::Hold => f.write_str("Hold"),
            Act::Mute => f.write_str("Mute"),
        }
    }
}

/// A data message the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// The script: a behavior for each connection.
pub(crate) type Script = Arc<dyn Fn(&ConnInfo) -> Behavior + Send + Sync>;

/// A received close frame: `Some((code, reason))`, or `None` without status code.
pub(crate) type CloseSeen = Option<(u16, String)>;

/// What the server records, shared with its tasks.
#[derive(Default)]
pub(crate) struct Record {
    pub(crate) connections: AtomicUsize,
    pub(crate) upgrades: AtomicUsize,
    pub(crate) ended: AtomicUsize,
    pub(crate) received: Mutex<Vec<(usize, Received)>>,
    pub(crate) closes: Mutex<Vec<(usize, CloseSeen)>>,
    /// Connections on which the server sent a close frame of its own ([`Act::Close`]).
    pub(crate) closes_sent: Mutex<Vec<usize>>,
    pub(crate) accept_times: Mutex<Vec<Instant>>,
    pub(crate) changes: Changes,
}

/// Counts a connection as ended when its task ends or is dropped (server stopping).
struct EndGuard(Arc<Record>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::SeqCst);
        self.0.changes.notify();
    }
}

/// A scripted WebSocket server on `127.0.0.1`, port chosen by the system.
///
/// Dropping it (or [`WsServer::stop`]) stops it: the listener closes and every
/// connection is closed, whatever it was doing. [`WsServer::shutdown`] also waits for
/// that to be done.
pub struct WsServer {
    addr: SocketAddr,
    tls: bool,
    record: Arc<Record>,
    running: Running,
}

impl fmt::Debug for WsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsServer")
            .field("url", &self.url())
            .field("connections", &self.connections())
            .field("upgrades", &self.upgrades())
            .finish()
    }
}

impl WsServer {
    /// Starts a plain (`ws://`) server; `script` picks each connection's behavior.
    pub async fn start(
        script: impl Fn(&ConnInfo) -> Behavior + Send + Sync + 'static,
    ) -> std::io::Result<WsServer> {
        Self::start_inner(None, Arc::new(script)).await
    }

    /// Starts a TLS (`wss://`) server with `cert`; `script` picks each connection's
    /// behavior. A failed TLS handshake counts as a connection, not as an upgrade.
    pub async fn start_tls(
        cert: &TestCert,
        script: impl Fn(&ConnInfo) -> Behavior + Send + Sync + 'static,
    ) -> std::io::Result<WsServer> {
        let acceptor = TlsAcceptor::from(cert.server_config());
        Self::start_inner(Some(acceptor), Arc::new(script)).await
    }

    async fn start_inner(tls: Option<TlsAcceptor>, script: Script) -> std::io::Result<WsServer> {
        let (listener, addr) = lifecycle::bind_loopback().await?;
        let record = Arc::new(Record::default());
        let is_tls = tls.is_some();
        let task_record = record.clone();
        let running = lifecycle::spawn_accept_loop(listener, move |tcp| {
            let record = task_record.clone();
            let index = record.connections.fetch_add(1, Ordering::SeqCst) + 1;
            lock(&record.accept_times).push(Instant::now());
            record.changes.notify();
            let conn = ws_conn::Conn {
                index,
                peer: tcp
                    .peer_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0))),
                raw: tcp.clone(),
                script: script.clone(),
                record: record.clone(),
            };
            let tls = tls.clone();
            async move {
                let _ended = EndGuard(record);
                match tls {
                    None => conn.serve(tcp).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            conn.serve(stream).await;
                        }
                    }
                }
            }
        });
        Ok(WsServer {
            addr,
            tls: is_tls,
            record,
            running,
        })
    }

    /// The listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/`, or `wss://localhost:PORT/` for TLS (the certificate's
    /// name; the server listens on 127.0.0.1 only, so connect to [`WsServer::addr`]).
    pub fn url(&self) -> String {
        if self.tls {
            format!("wss://localhost:{}/", self.addr.port())
        } else {
            format!("ws://127.0.0.1:{}/", self.addr.port())
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.record.connections.load(Ordering::SeqCst)
    }

    /// `101 Switching Protocols` answers sent so far (counted just before the answer is
    /// written, so a client that saw its 101 always finds it counted).
    pub fn upgrades(&self) -> usize {
        self.record.upgrades.load(Ordering::SeqCst)
    }

    /// Connections whose handling has ended (closed, reset, failed or done).
    pub fn ended(&self) -> usize {
        self.record.ended.load(Ordering::SeqCst)
    }

    /// Every data message the server received, in order, with the connection index.
    /// A message is recorded before any answer to it is sent.
    pub fn received(&self) -> Vec<(usize, Received)> {
        lock(&self.record.received).clone()
    }

    /// Takes the data messages received so far out of the record (what
    /// [`WsServer::received`] returns) and leaves it empty, so that a long run can keep
    /// its own compact account while the server's memory stays flat. Counting waits
    /// ([`WsServer::wait_received`]) then count from the last take.
    pub fn take_received(&self) -> Vec<(usize, Received)> {
        std::mem::take(&mut *lock(&self.record.received))
    }

    /// Every close frame the server received while reading, in order, with the
    /// connection index: `Some((code, reason))`, or `None` for a close frame without
    /// status code. The code is as tungstenite reports it: a code that must not be on
    /// the wire (1005, 1014, 1015, < 1000, 1016–2999, ≥ 5000, …) reads as 1002 with the
    /// reason "Protocol violation". Acts that do not read ([`Act::Mute`], [`Act::Wait`])
    /// see no close frame.
    pub fn closes_received(&self) -> Vec<(usize, Option<(u16, String)>)> {
        lock(&self.record.closes).clone()
    }

    /// The connections on which the server sent a close frame ([`Act::Close`] wrote it
    /// without an error), in order. Each must be answered (RFC 6455 §5.5.1): compare
    /// with [`WsServer::closes_received`].
    pub fn closes_sent(&self) -> Vec<usize> {
        lock(&self.record.closes_sent).clone()
    }

    /// When each TCP connection was accepted, in accept order.
    pub fn accept_times(&self) -> Vec<Instant> {
        lock(&self.record.accept_times).clone()
    }

    /// Waits until `check(self)` is true, re-checking after every change the server
    /// records (connection, upgrade, message, close frame, end). No timeout: wrap it in one.
    pub async fn wait_for(&self, check: impl Fn(&WsServer) -> bool) {
        self.record.changes.wait_until(|| check(self)).await;
    }

    /// Waits until at least `n` TCP connections have been accepted.
    pub async fn wait_connections(&self, n: usize) {
        self.wait_for(|s| s.connections() >= n).await;
    }

    /// Waits until at least `n` data messages have been received.
    pub async fn wait_received(&self, n: usize) {
        self.wait_for(|s| s.record_len() >= n).await;
    }

    /// Waits until at least `n` close frames have been received.
    pub async fn wait_closes(&self, n: usize) {
        self.wait_for(|s| lock(&s.record.closes).len() >= n).await;
    }

    /// Waits until at least `n` connections have ended.
    pub async fn wait_ended(&self, n: usize) {
        self.wait_for(|s| s.ended() >= n).await;
    }

    fn record_len(&self) -> usize {
        lock(&self.record.received).len()
    }

    /// Restarts the service, as a server process that crashes or is redeployed behind
    /// a kept listening socket: every live connection ends at once, whatever it was
    /// doing (no close frame; the TCP connection is closed, with a reset when unread
    /// data is left), and this returns once their tasks have ended. The listener stays
    /// open: dials wait in its backlog and are served afterwards by the same script,
    /// with the counters and records carrying on.
    pub async fn restart(&self) {
        self.running.cut_connections().await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use async_tungstenite::tungstenite::Message;
    use futures_lite::StreamExt;

    async fn dial(
        server: &WsServer,
    ) -> (
        async_tungstenite::WebSocketStream<async_net::TcpStream>,
        u16,
    ) {
        let tcp = async_net::TcpStream::connect(server.addr()).await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let (ws, _) = async_tungstenite::client_async(server.url(), tcp)
            .await
            .unwrap();
        (ws, port)
    }

    #[test]
    fn restart_cuts_live_connections_and_the_listener_serves_on() {
        async_std::task::block_on(async {
            let peers = Arc::new(Mutex::new(Vec::new()));
            let seen = peers.clone();
            let server = WsServer::start(move |c| {
                seen.lock().unwrap().push(c.peer.port());
                let hold = if c.index == 1 { 60_000 } else { 50 };
                Behavior::Accept(vec![
                    Act::HoldFor(Duration::from_millis(hold)),
                    Act::Text("after the hold".into()),
                    Act::Hold,
                ])
            })
            .await
            .unwrap();
            let (mut first, port) = dial(&server).await;
            first.send(Message::text("one")).await.unwrap();
            server.wait_received(1).await;
            assert_eq!(server.take_received(), [(1, Received::Text("one".into()))]);
            assert!(server.take_received().is_empty());
            server.restart().await;
            assert_eq!(server.ended(), 1);
            // Cut: no close frame, no "after the hold".
            assert!(!matches!(first.next().await, Some(Ok(Message::Text(_)))));
            let (mut second, port2) = dial(&server).await;
            let text = second.next().await.unwrap().unwrap();
            assert_eq!(text, Message::text("after the hold"));
            assert_eq!(*peers.lock().unwrap(), [port, port2]);
            server.shutdown().await;
        });
    }
}
