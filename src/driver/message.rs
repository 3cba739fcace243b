//! The messages an application sends and receives.

use std::fmt;

/// A WebSocket data message (or, over the fallback, one request body / SSE event).
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Binary(Vec<u8>),
}

impl Message {
    /// The payload size in bytes (what the queue's byte bound counts).
    pub fn len(&self) -> usize {
        match self {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text, if it is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t),
            Message::Binary(_) => None,
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Message {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Message {
        Message::Text(s.to_string())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Message {
        Message::Binary(b)
    }
}

impl fmt::Debug for Message {
    /// Payloads may carry secrets: `Debug` shows the kind and size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Message::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}
