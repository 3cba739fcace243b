//! One WebSocket server connection: the upgrade, then the script's acts.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_net::TcpStream;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::{header, HeaderName, HeaderValue, StatusCode};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite, StreamExt};

use super::lifecycle::lock;
use super::ws_script::{Act, Behavior, ConnInfo, Received, Record, Script};

/// A connection as the accept loop hands it over.
pub(crate) struct Conn {
    pub(crate) index: usize,
    /// The client's address.
    pub(crate) peer: std::net::SocketAddr,
    /// The TCP socket (a clone of the stream being served), for resets and stalls.
    pub(crate) raw: TcpStream,
    pub(crate) script: Script,
    pub(crate) record: Arc<Record>,
}

/// How the upgrade went.
enum Upgrade<S> {
    /// 101 sent; play these acts.
    Accepted(Box<WebSocketStream<Gated<S>>>, Vec<Act>),
    /// Rejected, or the request was not a valid upgrade: nothing more to do.
    Failed,
    /// The script asked to stall or reset: the answer was held back.
    Held(Behavior),
}

impl Conn {
    /// Serves `stream` (the TCP stream itself, or TLS over it) to the end.
    pub(crate) async fn serve<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match self.upgrade(stream).await {
            Upgrade::Accepted(ws, acts) => self.play(*ws, acts).await,
            Upgrade::Failed => {}
            Upgrade::Held(Behavior::ResetBeforeUpgrade) => reset(&self.raw),
            Upgrade::Held(_) => discard_until_eof(&self.raw).await,
        }
    }

    /// Reads the upgrade request, asks the script, answers (or holds the answer back).
    // The callback's error type is tungstenite's `ErrorResponse`, large or not.
    #[allow(clippy::result_large_err)]
    async fn upgrade<S>(&self, stream: S) -> Upgrade<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        // tungstenite writes the callback's answer at once; for "never answer" the
        // callback shuts the gate (writes stay pending) and reports here instead.
        let gate = Arc::new(AtomicBool::new(false));
        let acts: Arc<Mutex<Option<Vec<Act>>>> = Arc::default();
        let (held_tx, held_rx) = async_channel::bounded::<Behavior>(1);
        let callback = {
            let (gate, acts) = (gate.clone(), acts.clone());
            let (script, record, index, peer) = (
                self.script.clone(),
                self.record.clone(),
                self.index,
                self.peer,
            );
            move |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
                let info = conn_info(index, peer, request);
                let behavior = match script(&info) {
                    Behavior::AcceptWith { headers, acts } => {
                        for (name, value) in headers {
                            if let (Ok(name), Ok(value)) = (
                                header::HeaderName::from_bytes(name.as_bytes()),
                                header::HeaderValue::from_str(&value),
                            ) {
                                response.headers_mut().append(name, value);
                            }
                        }
                        Behavior::Accept(acts)
                    }
                    other => other,
                };
                match behavior {
                    Behavior::Accept(script_acts) => {
                        *lock(&acts) = Some(script_acts);
                        record.upgrades.fetch_add(1, Ordering::SeqCst);
                        record.changes.notify();
                        Ok(response)
                    }
                    Behavior::Reject { status, headers } => Err(reject(status, &headers)),
                    held => {
                        gate.store(true, Ordering::SeqCst);
                        let _ = held_tx.try_send(held);
                        Ok(response)
                    }
                }
            }
        };
        let gated = Gated {
            inner: stream,
            shut: gate,
        };
        let handshake = async {
            match async_tungstenite::accept_hdr_async(gated, callback).await {
                Ok(ws) => Upgrade::Accepted(Box::new(ws), lock(&acts).take().unwrap_or_default()),
                Err(_) => Upgrade::Failed,
            }
        };
        let held = async {
            match held_rx.recv().await {
                Ok(behavior) => Upgrade::Held(behavior),
                // The callback answered (or never ran): the handshake decides.
                Err(_) => future::pending().await,
            }
        };
        future::or(handshake, held).await
    }

    /// Plays the acts; see [`Behavior::Accept`] for how the connection ends.
    async fn play<S>(&self, mut ws: WebSocketStream<Gated<S>>, acts: Vec<Act>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut sent_close = false;
        for act in acts {
            let ok = match act {
                Act::Wait(duration) => {
                    async_io::Timer::after(duration).await;
                    true
                }
                Act::HoldFor(duration) => {
                    // Reading is cancel-safe: a message is recorded as soon as it is
                    // read, and nothing is sent.
                    let reading = async {
                        self.read_loop(&mut ws, |_| Vec::new()).await;
                        false
                    };
                    let timer = async {
                        async_io::Timer::after(duration).await;
                        true
                    };
                    future::or(reading, timer).await
                }
                Act::RespondFor(duration, respond) => {
                    let reading = async {
                        self.read_loop(&mut ws, |m| match m {
                            Message::Text(text) => respond(text.as_str())
                                .into_iter()
                                .map(Message::text)
                                .collect(),
                            _ => Vec::new(),
                        })
                        .await;
                        false
                    };
                    let timer = async {
                        async_io::Timer::after(duration).await;
                        true
                    };
                    future::or(reading, timer).await
                }
                Act::AwaitMessage => loop {
                    match ws.next().await {
                        Some(Ok(message)) if self.record(&message) => break true,
                        Some(Ok(_)) => {}
                        _ => break false,
                    }
                },
                Act::Text(text) => ws.send(Message::text(text)).await.is_ok(),
                Act::Binary(data) => ws.send(Message::binary(data)).await.is_ok(),
                Act::Close { code, reason } => {
                    sent_close = true;
                    let frame = code.map(|code| CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    });
                    let sent = ws.close(frame).await.is_ok();
                    if sent {
                        lock(&self.record.closes_sent).push(self.index);
                    }
                    sent
                }
                Act::Reset => {
                    reset(&self.raw);
                    return;
                }
                Act::Echo => {
                    return self.read_loop(&mut ws, |m| vec![m.clone()]).await;
                }
                Act::Respond(respond) => {
                    return self
                        .read_loop(&mut ws, |m| match m {
                            Message::Text(text) => respond(text.as_str())
                                .into_iter()
                                .map(Message::text)
                                .collect(),
                            _ => Vec::new(),
                        })
                        .await;
                }
                Act::Hold => return self.read_loop(&mut ws, |_| Vec::new()).await,
                Act::Mute => {
                    // Keeps `ws` (and so the TCP connection) until the server stops.
                    return future::pending().await;
                }
            };
            if !ok {
                return;
            }
        }
        if sent_close {
            // Wait for the client's close answer (tungstenite then ends the stream).
            self.read_loop(&mut ws, |_| Vec::new()).await;
        }
        // Otherwise: dropping `ws` closes the TCP connection without a close frame.
    }

    /// Records a data message (true) or a close frame (false); other frames: false.
    fn record(&self, message: &Message) -> bool {
        let received = match message {
            Message::Text(text) => Received::Text(text.as_str().to_owned()),
            Message::Binary(data) => Received::Binary(data.to_vec()),
            Message::Close(frame) => {
                let frame = frame.as_ref();
                let close = frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                lock(&self.record.closes).push((self.index, close));
                self.record.changes.notify();
                return false;
            }
            _ => return false,
        };
        lock(&self.record.received).push((self.index, received));
        self.record.changes.notify();
        true
    }

    /// Reads until the stream ends, recording data messages and sending `reply(message)`
    /// for each. tungstenite answers pings and close frames while reading.
    async fn read_loop<S>(
        &self,
        ws: &mut WebSocketStream<Gated<S>>,
        mut reply: impl FnMut(&Message) -> Vec<Message>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        while let Some(Ok(message)) = ws.next().await {
            if !self.record(&message) {
                continue;
            }
            for answer in reply(&message) {
                if ws.send(answer).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn conn_info(index: usize, peer: std::net::SocketAddr, request: &Request) -> ConnInfo {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    ConnInfo {
        index,
        headers,
        path: request.uri().to_string(),
        peer,
    }
}

fn reject(status: u16, headers: &[(String, String)]) -> ErrorResponse {
    let mut response = ErrorResponse::new(None);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes());
        let value = HeaderValue::from_str(value);
        if let (Ok(name), Ok(value)) = (name, value) {
            response.headers_mut().append(name, value);
        }
    }
    if !response.headers().contains_key(header::CONTENT_LENGTH) {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    response
}

/// Makes the socket's close send a TCP RST (`SO_LINGER` 0); the caller then drops it.
fn reset(raw: &TcpStream) {
    let _ = socket2::SockRef::from(raw).set_linger(Some(Duration::ZERO));
}

/// Reads and discards until the peer closes (the server never answers).
async fn discard_until_eof(raw: &TcpStream) {
    let mut raw = raw.clone();
    let mut buf = [0u8; 4096];
    while let Ok(n) = raw.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// A stream whose writes can be held back for good (see [`Conn::upgrade`]).
pub(crate) struct Gated<S> {
    inner: S,
    shut: Arc<AtomicBool>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Gated<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Gated<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.shut.load(Ordering::SeqCst) {
            // Never ready: the connection is dropped or held by the caller instead.
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
