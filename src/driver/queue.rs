//! The bounded queue of messages waiting for an open connection. Requests waiting to be
//! written count against the same bounds (they reserve room until written or ended).

use std::collections::VecDeque;

use super::message::Message;

/// Why `send` (or `request`) refused a message; the message is handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The queue holds `max_messages` messages or `max_bytes` bytes already (requests
    /// waiting to be written included). Try again once some are written.
    #[error("the send queue is full ({messages} messages, {bytes} bytes queued)")]
    Full {
        /// The message refused.
        message: Message,
        /// Messages queued.
        messages: usize,
        /// Bytes queued.
        bytes: usize,
    },
    /// The message alone is larger than the queue's byte bound (`queue.max_bytes`): it
    /// can never be accepted, however empty the queue is.
    #[error("the message ({size} bytes) is larger than the queue's byte bound ({limit} bytes)")]
    TooLarge {
        /// The message refused.
        message: Message,
        /// Its size in bytes.
        size: usize,
        /// `queue.max_bytes`.
        limit: usize,
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
            SendError::Full { message, .. }
            | SendError::TooLarge { message, .. }
            | SendError::Stopped { message } => message,
        }
    }
}

/// A FIFO bounded in messages and bytes. Push fails at once when full; a sender that
/// wants to wait listens to [`Queue::room`], which is notified whenever room may have
/// been made (a message taken, a reservation given back, the queue closed).
#[derive(Debug)]
pub(crate) struct Queue {
    items: VecDeque<Message>,
    bytes: usize,
    /// Requests waiting to be written: how many, and their bytes.
    reserved: (usize, usize),
    max_messages: usize,
    max_bytes: usize,
    closed: bool,
    room: event_listener::Event,
    /// Acknowledged delivery: messages taken from the queue and held for their
    /// acknowledgement (as the driver last set it).
    acked_held: usize,
}

impl Queue {
    pub(crate) fn new(max_messages: usize, max_bytes: usize) -> Queue {
        Queue {
            items: VecDeque::new(),
            bytes: 0,
            reserved: (0, 0),
            max_messages,
            max_bytes,
            closed: false,
            room: event_listener::Event::new(),
            acked_held: 0,
        }
    }

    /// Whether a message of `len` bytes fits now; the error carries it back.
    fn admit(&self, message: Message) -> Result<Message, SendError> {
        if self.closed {
            return Err(SendError::Stopped { message });
        }
        let len = message.len();
        if len > self.max_bytes {
            return Err(SendError::TooLarge {
                message,
                size: len,
                limit: self.max_bytes,
            });
        }
        let (messages, bytes) = (
            self.items.len() + self.reserved.0,
            self.bytes + self.reserved.1,
        );
        if messages >= self.max_messages || bytes + len > self.max_bytes {
            return Err(SendError::Full {
                message,
                messages,
                bytes,
            });
        }
        Ok(message)
    }

    /// Whether a message of one byte would be admitted now.
    pub(crate) fn has_room(&self) -> bool {
        !self.closed
            && self.items.len() + self.reserved.0 < self.max_messages
            && self.bytes + self.reserved.1 < self.max_bytes
    }

    pub(crate) fn push(&mut self, message: Message) -> Result<(), SendError> {
        let message = self.admit(message)?;
        self.bytes += message.len();
        self.items.push_back(message);
        Ok(())
    }

    /// Reserve room for a request body until it is written or ends ([`Queue::release`]).
    /// Hands the body back when it does not fit.
    pub(crate) fn reserve(&mut self, body: Message) -> Result<Message, SendError> {
        let body = self.admit(body)?;
        self.reserved.0 += 1;
        self.reserved.1 += body.len();
        Ok(body)
    }

    /// Reserve again for a request that goes back in line (ignores the bounds: it had
    /// been accepted already).
    pub(crate) fn reserve_again(&mut self, len: usize) {
        self.reserved.0 += 1;
        self.reserved.1 += len;
    }

    /// Give back a request's reservation.
    pub(crate) fn release(&mut self, len: usize) {
        self.reserved.0 = self.reserved.0.saturating_sub(1);
        self.reserved.1 = self.reserved.1.saturating_sub(len);
        self.room.notify(usize::MAX);
    }

    /// A listener notified when room may have been made: listen before releasing the
    /// lock that saw the queue full, then try again once notified.
    pub(crate) fn room(&self) -> event_listener::EventListener {
        self.room.listen()
    }

    /// Put a message back at the front (its write failed); ignores the bounds, since the
    /// message had been accepted already.
    pub(crate) fn push_front(&mut self, message: Message) {
        self.bytes += message.len();
        self.items.push_front(message);
    }

    pub(crate) fn pop(&mut self) -> Option<Message> {
        let m = self.items.pop_front()?;
        self.bytes -= m.len();
        self.room.notify(usize::MAX);
        Some(m)
    }

    /// The front message, taken only if `take` says so.
    pub(crate) fn pop_if(&mut self, take: impl FnOnce(&Message) -> bool) -> Option<Message> {
        match self.items.front() {
            Some(m) if take(m) => self.pop(),
            _ => None,
        }
    }

    /// Set how many messages are held for their acknowledgement; a change notifies
    /// the room listeners (who may wait for everything to be acknowledged).
    pub(crate) fn set_acked_held(&mut self, n: usize) {
        if std::mem::replace(&mut self.acked_held, n) != n {
            self.room.notify(usize::MAX);
        }
    }

    /// Messages held for their acknowledgement.
    pub(crate) fn acked_held(&self) -> usize {
        self.acked_held
    }

    /// Whether the queue was closed (the client stopped).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Refuse further messages and hand back every queued one.
    pub(crate) fn close(&mut self) -> Vec<Message> {
        self.closed = true;
        self.bytes = 0;
        self.room.notify(usize::MAX);
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

    #[test]
    fn a_message_over_the_byte_bound_is_too_large_not_full() {
        let mut q = Queue::new(2, 4);
        match q.push("12345".into()) {
            Err(SendError::TooLarge {
                size: 5, limit: 4, ..
            }) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
        q.push("1234".into()).unwrap();
        assert!(matches!(q.push("1".into()), Err(SendError::Full { .. })));
    }

    #[test]
    fn requests_waiting_to_be_written_count_against_the_bounds() {
        let mut q = Queue::new(2, 10);
        let body = q.reserve("abcdef".into()).unwrap();
        assert!(matches!(
            q.push("12345".into()),
            Err(SendError::Full {
                messages: 1,
                bytes: 6,
                ..
            })
        ));
        q.push("1234".into()).unwrap();
        assert!(matches!(q.reserve("x".into()), Err(SendError::Full { .. })));
        q.release(body.len());
        q.push("x".into()).unwrap();
    }
}
