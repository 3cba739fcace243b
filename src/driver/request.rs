//! Request/stream mode: send one request, read the server's messages until a terminal
//! one, over WebSockets or the fallback alike.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::fallback::FallbackError;
use super::message::Message;

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
    /// The fallback request failed.
    #[error(transparent)]
    Fallback(#[from] FallbackError),
    /// The request cannot be carried (a binary body over the fallback, or no transport).
    #[error("the request cannot be carried: {0}")]
    Unsupported(String),
    /// The client stopped before the request completed.
    #[error("the client stopped: {0}")]
    Stopped(String),
}

/// The server's messages for one request, ending after the terminal message.
pub struct RequestStream {
    pub(crate) rx: Pin<Box<async_channel::Receiver<Result<Message, RequestError>>>>,
}

impl Stream for RequestStream {
    type Item = Result<Message, RequestError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.as_mut().poll_next(cx)
    }
}

/// A request the driver carries.
pub(crate) struct PendingRequest {
    pub body: Message,
    pub tx: async_channel::Sender<Result<Message, RequestError>>,
    pub sent: bool,
    pub started: bool,
}

impl PendingRequest {
    pub fn new(body: Message) -> (PendingRequest, RequestStream) {
        let (tx, rx) = async_channel::bounded(256);
        let r = PendingRequest {
            body,
            tx,
            sent: false,
            started: false,
        };
        (r, RequestStream { rx: Box::pin(rx) })
    }

    /// Deliver a response item; waits while the reader is behind.
    pub async fn deliver(&mut self, item: Result<Message, RequestError>) {
        if item.is_ok() {
            self.started = true;
        }
        let _ = self.tx.send(item).await;
    }

    pub fn interrupted(&self, cause: &str) -> RequestError {
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
}
