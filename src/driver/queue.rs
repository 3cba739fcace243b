//! The bounded queue of messages waiting for an open connection.

use std::collections::VecDeque;

use super::message::Message;

/// Why `send` refused a message; the message is handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The queue holds `max_messages` messages or `max_bytes` bytes already.
    #[error("the send queue is full ({messages} messages, {bytes} bytes queued)")]
    Full {
        /// The message refused.
        message: Message,
        /// Messages queued.
        messages: usize,
        /// Bytes queued.
        bytes: usize,
    },
    /// The client has stopped.
    #[error("the client has stopped")]
    Stopped {
        /// The message refused.
        message: Message,
    },
}

impl SendError {
    /// The message that was not accepted.
    pub fn into_message(self) -> Message {
        match self {
            SendError::Full { message, .. } | SendError::Stopped { message } => message,
        }
    }
}

/// A FIFO bounded in messages and bytes. Push fails at once when full.
#[derive(Debug)]
pub(crate) struct Queue {
    items: VecDeque<Message>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    closed: bool,
}

impl Queue {
    pub fn new(max_messages: usize, max_bytes: usize) -> Queue {
        Queue {
            items: VecDeque::new(),
            bytes: 0,
            max_messages,
            max_bytes,
            closed: false,
        }
    }

    pub fn push(&mut self, message: Message) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Stopped { message });
        }
        let len = message.len();
        if self.items.len() >= self.max_messages || self.bytes + len > self.max_bytes {
            return Err(SendError::Full {
                message,
                messages: self.items.len(),
                bytes: self.bytes,
            });
        }
        self.bytes += len;
        self.items.push_back(message);
        Ok(())
    }

    /// Put a message back at the front (its write failed); ignores the bounds, since the
    /// message had been accepted already.
    pub fn push_front(&mut self, message: Message) {
        self.bytes += message.len();
        self.items.push_front(message);
    }

    pub fn pop(&mut self) -> Option<Message> {
        let m = self.items.pop_front()?;
        self.bytes -= m.len();
        Some(m)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Refuse further messages and hand back every queued one.
    pub fn close(&mut self) -> Vec<Message> {
        self.closed = true;
        self.bytes = 0;
        self.items.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_messages_and_bytes_and_hands_back_when_closed() {
        let mut q = Queue::new(2, 10);
        q.push("abcd".into()).unwrap();
        assert!(matches!(
            q.push("0123456".into()),
            Err(SendError::Full { bytes: 4, .. })
        ));
        q.push("ef".into()).unwrap();
        let e = q.push("g".into()).unwrap_err();
        assert_eq!(e.into_message(), Message::from("g"));
        assert_eq!(q.pop(), Some("abcd".into()));
        q.push_front("abcd".into());
        assert_eq!(q.close(), vec![Message::from("abcd"), "ef".into()]);
        assert!(matches!(q.push("x".into()), Err(SendError::Stopped { .. })));
        assert_eq!(q.len(), 0);
    }
}
