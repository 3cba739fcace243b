//! A scripted WebSocket server on loopback, plain or TLS.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures_rustls::TlsAcceptor;

use super::cert::TestCert;
use super::lifecycle::{self, lock, Running};
use super::ws_conn;
use super::ws_script::{Behavior, ConnInfo, Received};
use super::ws_script::{Record, Script};

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
    /// reason "Protocol violation". Acts that do not read ([`Act::Mute`](crate::Act::Mute), [`Act::Wait`](crate::Act::Wait))
    /// see no close frame.
    pub fn closes_received(&self) -> Vec<(usize, Option<(u16, String)>)> {
        lock(&self.record.closes).clone()
    }

    /// The connections on which the server sent a close frame ([`Act::Close`](crate::Act::Close) wrote it
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
    use crate::Act;
    use async_tungstenite::tungstenite::Message;
    use futures_lite::StreamExt;
    use std::sync::Mutex;
    use std::time::Duration;

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
