//! The open socket's side of the driver: what it reads (a message, a ping's answer, the
//! server's close frame, its end or an error), how the connection ends (the write in
//! flight and the request in flight settled, acknowledged delivery rewound), and the
//! bounded close handshake.

use std::time::Duration;

use async_tungstenite::tungstenite::Message as WsMessage;

use super::{writable, Driver, Step};
use crate::core::Input;
use crate::driver::dial::Ws;
use crate::driver::event::{ClientEvent, TransportKind};
use crate::driver::lock::lock;
use crate::driver::message::Message;
use crate::driver::runtime::Runtime;

impl Driver {
    pub(super) fn on_ws(
        &mut self,
        item: Option<Result<WsMessage, async_tungstenite::tungstenite::Error>>,
    ) {
        let message = match item {
            Some(Ok(WsMessage::Text(t))) => Message::Text(t.as_str().to_string()),
            Some(Ok(WsMessage::Binary(b))) => Message::Binary(b.to_vec()),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => return self.input(Input::Pong),
            Some(Ok(WsMessage::Frame(_))) => return,
            Some(Ok(WsMessage::Close(frame))) => {
                let raw = self
                    .io
                    .ws
                    .as_ref()
                    .and_then(|c| lock(&c.1).close_frame().cloned());
                let (code, reason) = match (raw, frame) {
                    (Some(raw), _) => (raw.code, raw.reason),
                    (None, Some(f)) => (Some(u16::from(f.code)), f.reason.as_bytes().to_vec()),
                    (None, None) => (None, Vec::new()),
                };
                // tungstenite queued the close reply; send it, briefly (the next poll
                // waits for it, then tells the core).
                if let Some(mut conn) = self.io.ws.take() {
                    let rt = self.rt.clone();
                    let close = Box::pin(async move { close_quietly(&*rt, &mut conn.0).await });
                    self.step = Step::Closing {
                        close,
                        code,
                        reason,
                    };
                    return;
                }
                self.end_connection(false, &format!("closed with {}", code.unwrap_or(1005)));
                return self.input(Input::PeerClosed { code, reason });
            }
            None => {
                let detail =
                    "the server ended the TCP connection without a close frame".to_string();
                self.end_connection(false, &detail);
                return self.input(Input::Dropped { detail });
            }
            Some(Err(e)) => {
                // tungstenite refuses a close frame whose reason is not UTF-8, and with
                // it the server's code; the raw frame still has both.
                let raw = match &e {
                    async_tungstenite::tungstenite::Error::Utf8(_) => self
                        .io
                        .ws
                        .as_ref()
                        .and_then(|c| lock(&c.1).close_frame().cloned())
                        .filter(|c| std::str::from_utf8(&c.reason).is_err()),
                    _ => None,
                };
                // An I/O error in its own words, without tungstenite's "IO error: ".
                let detail = match &e {
                    async_tungstenite::tungstenite::Error::Io(io) => io.to_string(),
                    other => other.to_string(),
                };
                self.end_connection(false, &detail);
                return match raw {
                    Some(raw) => self.input(Input::PeerClosed {
                        code: raw.code,
                        reason: raw.reason,
                    }),
                    None => self.input(Input::Dropped { detail }),
                };
            }
        };
        self.input(Input::Received);
        // Observers hear of what the message caused (a stable connection) before the
        // message itself is handed on.
        self.carry_out();
        if let Some(message) = self.unwrap_acked(message) {
            self.route(message, TransportKind::Websocket);
        }
    }

    /// The socket is gone: settle the frame in flight (`flushed`: the socket was
    /// flushed on the way out) and start afresh for the next connection.
    pub(super) fn reset_writer(&mut self, flushed: bool) {
        let data = writable(
            false,
            &mut self.requests,
            &self.shared,
            self.request_idle,
            self.acked.as_mut(),
        );
        self.io.writer.reset(flushed, data);
    }

    /// The connection is gone: drop it, settle the write in flight (`flushed`: the
    /// socket was flushed on the way out) and the request in flight.
    pub(super) fn end_connection(&mut self, flushed: bool, cause: &str) {
        self.io.ws = None;
        self.reset_writer(flushed);
        if let Some(acked) = self.acked.as_mut() {
            acked.rewind(&format!("the connection ended: {cause}"));
        }
        self.flush_held_request(false);
        let Some(r) = self.requests.front_mut().filter(|r| r.sent) else {
            return;
        };
        if r.abandoned {
            let cancel_message = r.cancel_sent;
            // Unless the connection was recycled for it (already announced).
            if r.idle_at.is_some() {
                self.settled(
                    crate::driver::event::CancelSettled::ConnectionEnded,
                    cancel_message,
                );
            }
            self.end_request(false);
        } else if self.replay.replays(r.started) {
            let response_started = r.started;
            r.unsend(&self.shared.queue);
            r.written_before = true;
            tracing::info!(cause, response_started, "a written request is sent again");
            self.broadcast(ClientEvent::Replayed {
                cause: cause.to_string(),
                response_started,
            });
        } else {
            let error = r.interrupted(cause);
            r.push(Err(error));
            self.end_request(false);
        }
    }
}

/// Send a close frame (or the reply to the server's), waiting 200 ms at most. True
/// when everything tungstenite held was written.
///
/// The sink's close, not `WebSocketStream::close`: once the server's close frame has
/// been read, tungstenite has queued the reply and refuses any further message
/// (`SendAfterClosing`), so sending a close frame would never flush that reply, and the
/// server would see the TCP connection end without an answer (1006). The sink's close
/// sends a close frame only if none was sent yet, then flushes whatever is queued.
pub(super) async fn close_quietly(rt: &dyn Runtime, ws: &mut Ws) -> bool {
    let closing = async {
        use async_tungstenite::tungstenite::Error;
        matches!(
            futures_util::SinkExt::close(ws).await,
            Ok(()) | Err(Error::ConnectionClosed | Error::AlreadyClosed)
        )
    };
    futures_lite::future::or(closing, async {
        rt.sleep(Duration::from_millis(200)).await;
        false
    })
    .await
}
