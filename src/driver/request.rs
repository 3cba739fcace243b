//! Request/stream mode: send one request, read the server's messages until a terminal
//! one, over WebSockets or the fallback alike.

use crate::driver::lock::lock;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::Stream;

use super::message::Message;
use super::queue::{Queue, SendError};
use super::streams::DriverWake;
use crate::policy::FallbackError;

/// Which message ends a request's response.
#[derive(Clone)]
pub enum Terminal {
    /// A JSON text message whose top-level `field` is the string `value`.
    JsonField {
        /// The field, e.g. `type`.
        field: String,
        /// The value, e.g. `response.completed`.
        value: String,
    },
    /// Only the end of the stream (the fallback's response end; over WebSockets, the
    /// connection's end).
    EndOfStream,
    /// A predicate of your own over text messages.
    Custom(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Default for Terminal {
    /// `{"type": "response.completed"}`, as streaming model APIs send.
    fn default() -> Self {
        Terminal::JsonField {
            field: "type".into(),
            value: "response.completed".into(),
        }
    }
}

impl fmt::Debug for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Terminal::JsonField { field, value } => write!(f, "JsonField({field} = {value:?})"),
            Terminal::EndOfStream => f.write_str("EndOfStream"),
            Terminal::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Terminal {
    /// Whether `message` ends the response.
    pub fn is_terminal(&self, message: &Message) -> bool {
        let Some(text) = message.as_text() else {
            return false;
        };
        match self {
            Terminal::JsonField { field, value } => serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get(field).and_then(|f| f.as_str().map(|s| s == value)))
                .unwrap_or(false),
            Terminal::EndOfStream => false,
            Terminal::Custom(f) => f(text),
        }
    }
}

/// What happens to a request that was written when its connection ended before its
/// terminal message, or whose fallback POST reached the server without a 2xx answer (a
/// non-2xx status, or no headers in time). A request that had not been written yet is always carried on the
/// next connection (or the fallback): that is not a replay. Every replay is reported
/// ([`ClientEvent::Replayed`](super::ClientEvent::Replayed), with the cause).
///
/// The default is [`Replay::IfUnanswered`]. A request that got no response at all was
/// most often refused, not executed: the case this crate exists for is a server that
/// closes with 1008 right after the upgrade, and the request must then complete over
/// the fallback. Streaming APIs answer at once (`response.created`), so "no response"
/// is a good sign that nothing ran. It is not a proof — a server may execute a request
/// and drop before answering — so the replay is an event the application sees, and
/// [`Replay::Never`] is there for requests that must not run twice (its error item
/// says whether the request was written and whether any response had arrived).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Replay {
    /// Never send a written request again: its stream ends with
    /// [`RequestError::Interrupted`].
    Never,
    /// Send it again when no response message had arrived yet (the server may still
    /// have executed it).
    #[default]
    IfUnanswered,
    /// Send it again even when part of the response had arrived (the stream then
    /// carries the start of a second response after the first one's part).
    Always,
}

impl Replay {
    /// Whether a written request with (`started`) or without a response is sent again.
    pub fn replays(self, started: bool) -> bool {
        match self {
            Replay::Never => false,
            Replay::IfUnanswered => !started,
            Replay::Always => true,
        }
    }
}

/// How long a written request may wait for its next response item, by default.
pub const REQUEST_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// How long an abandoned request may hold the line, by default: see
/// [`ClientBuilder::cancel_grace`](super::ClientBuilder::cancel_grace).
pub const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// A cancel message for a request's body: what the application's protocol sends to
/// stop a response (for example `{"type":"response.cancel"}`), or `None`.
pub type CancelFn = Arc<dyn Fn(&Message) -> Option<Message> + Send + Sync>;

/// What happens when a written request is abandoned: its stream was dropped, or it
/// timed out (invariant 14).
#[derive(Clone)]
pub(crate) struct Cancel {
    /// How long its response may go on before the connection is recycled.
    pub grace: Duration,
    /// The cancel message sent at once over the WebSocket, if any.
    pub message: Option<CancelFn>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel {
            grace: CANCEL_GRACE,
            message: None,
        }
    }
}

/// Why a request's stream ended early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The connection ended before the terminal message.
    #[error("request interrupted ({}, {}): {cause}",
        if *sent { "sent" } else { "not sent" },
        if *response_started { "response started" } else { "no response yet" })]
    Interrupted {
        /// Whether the request had been written to the socket.
        sent: bool,
        /// Whether any response message had arrived.
        response_started: bool,
        /// What ended the connection.
        cause: String,
    },
    /// No response message arrived for the request's idle timeout
    /// ([`ClientBuilder::request_idle_timeout`](super::ClientBuilder::request_idle_timeout)).
    /// Over WebSockets, the rest of its response is discarded when it comes, until its
    /// terminal message; after [`cancel_grace`](super::ClientBuilder::cancel_grace)
    /// without it, the connection is recycled, so it cannot reach a later request.
    #[error("request timed out: nothing for {idle:?} ({}, {})",
        if *sent { "sent" } else { "not sent" },
        if *response_started { "response started" } else { "no response yet" })]
    TimedOut {
        /// The idle time allowed.
        idle: std::time::Duration,
        /// Whether the request had been written.
        sent: bool,
        /// Whether any response message had arrived.
        response_started: bool,
    },
    /// The queue had no room for the request (it counts against `queue.max_messages`
    /// and `queue.max_bytes` until written), or the client had stopped; the body is
    /// handed back inside.
    #[error(transparent)]
    Refused(#[from] SendError),
    /// The fallback request failed.
    #[error(transparent)]
    Fallback(#[from] FallbackError),
    /// The request cannot be carried (a binary body over the fallback, or no transport).
    #[error("the request cannot be carried: {0}")]
    Unsupported(String),
    /// The client stopped before the request completed (it had not been written, or
    /// the client was closed while it streamed: see the cause).
    #[error("the client stopped: {0}")]
    Stopped(String),
}

/// Response items that may wait in a request's stream; past this the driver stops
/// reading (backpressure). Two more slots are kept so that a held item and the final
/// error item always fit without waiting.
pub(crate) const REQUEST_BUFFER: usize = 256;

/// The server's messages for one request, ending after the terminal message (or an
/// error item). Dropping it cancels the request: one not yet written is removed from
/// the line and its room in the queue freed; one written is no longer waited for (the
/// rest of its response is discarded).
pub struct RequestStream {
    pub(crate) rx: Pin<Box<async_channel::Receiver<Result<Message, RequestError>>>>,
    pub(crate) wake: DriverWake,
}

impl Stream for RequestStream {
    type Item = Result<Message, RequestError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.rx.as_mut().poll_next(cx);
        if item.is_ready() {
            // Room again: a driver holding back an item for this stream goes on.
            self.wake.taken();
        }
        item
    }
}

impl Drop for RequestStream {
    fn drop(&mut self) {
        // The driver sees the cancellation at its next wake-up: make it now.
        self.rx.close();
        self.wake.now();
    }
}

/// A request the driver carries.
pub(crate) struct PendingRequest {
    pub body: Message,
    pub tx: async_channel::Sender<Result<Message, RequestError>>,
    pub sent: bool,
    pub started: bool,
    /// Holds room in the send queue (until written or ended).
    pub reserved: bool,
    /// Its stream was dropped or timed out: the rest of its response is discarded.
    pub abandoned: bool,
    /// A cancel message was sent for it.
    pub cancel_sent: bool,
    /// It was written once and waits to be replayed (the server may have it).
    pub written_before: bool,
    /// When it times out for lack of a response item (set once written).
    pub idle_at: Option<std::time::Instant>,
}

impl PendingRequest {
    /// A request whose body already holds room in the queue; `wake` is the driver's.
    pub(crate) fn new(body: Message, wake: DriverWake) -> (PendingRequest, RequestStream) {
        let (tx, rx) = async_channel::bounded(REQUEST_BUFFER + 2);
        let r = PendingRequest {
            body,
            tx,
            sent: false,
            started: false,
            reserved: true,
            abandoned: false,
            cancel_sent: false,
            written_before: false,
            idle_at: None,
        };
        (
            r,
            RequestStream {
                rx: Box::pin(rx),
                wake,
            },
        )
    }

    /// Whether the application dropped its stream.
    pub(crate) fn cancelled(&self) -> bool {
        self.tx.is_closed()
    }

    /// Written (or handed to the fallback): its room in the queue is free again.
    pub(crate) fn mark_sent(&mut self, queue: &Mutex<Queue>, now: Instant, idle: Duration) {
        self.sent = true;
        self.idle_at = Some(now + idle);
        self.release(queue);
    }

    /// Back in line, unsent (a replay, or its fallback POST failed before an answer).
    pub(crate) fn unsend(&mut self, queue: &Mutex<Queue>) {
        self.sent = false;
        self.idle_at = None;
        if !self.reserved {
            lock(queue).reserve_again(self.body.len());
            self.reserved = true;
        }
    }

    /// Give back its room in the queue (once).
    pub(crate) fn release(&mut self, queue: &Mutex<Queue>) {
        if std::mem::take(&mut self.reserved) {
            lock(queue).release(self.body.len());
        }
    }

    /// Whether a response item may go into the stream now without waiting.
    pub(crate) fn has_room(&self) -> bool {
        self.tx.len() < REQUEST_BUFFER
    }

    /// Put an item in the stream: a response item only when `has_room` (the caller
    /// holds it otherwise); a final error item always fits (two spare slots).
    pub(crate) fn push(&mut self, item: Result<Message, RequestError>) {
        if item.is_ok() {
            self.started = true;
        }
        let _ = self.tx.try_send(item);
    }

    pub(crate) fn interrupted(&self, cause: &str) -> RequestError {
        RequestError::Interrupted {
            sent: self.sent,
            response_started: self.started,
            cause: cause.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_field_terminal_matches_only_that_value() {
        let t = Terminal::default();
        assert!(t.is_terminal(&r#"{"type":"response.completed","id":1}"#.into()));
        assert!(!t.is_terminal(&r#"{"type":"response.output_text.delta"}"#.into()));
        assert!(!t.is_terminal(&"not json".into()));
        assert!(!t.is_terminal(&Message::Binary(b"{}".to_vec())));
        assert!(!Terminal::EndOfStream.is_terminal(&r#"{"type":"response.completed"}"#.into()));
        let c = Terminal::Custom(Arc::new(|s| s == "done"));
        assert!(c.is_terminal(&"done".into()));
    }

    #[test]
    fn a_terminal_says_in_debug_output_what_ends_a_response() {
        assert_eq!(
            format!("{:?}", Terminal::default()),
            r#"JsonField(type = "response.completed")"#
        );
        assert_eq!(format!("{:?}", Terminal::EndOfStream), "EndOfStream");
        assert_eq!(
            format!("{:?}", Terminal::Custom(Arc::new(|_| true))),
            "Custom(..)"
        );
    }
}
