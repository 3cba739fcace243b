//! How a client carries acknowledged delivery ([`AckOptions`]) and what it does when
//! an acknowledgement is late ([`AckTimeoutAction`]).

use std::sync::Arc;
use std::time::Duration;

use crate::delivery::{JsonEnvelope, Protocol};

/// What the client does when a written message has waited `ack_timeout` for its
/// acknowledgement on one carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AckTimeoutAction {
    /// Close the WebSocket (1000, spending no retry budget) and dial again; every
    /// unacknowledged message is resent on the new connection. A connection whose peer
    /// reads but does not answer is suspect. Over the fallback, the same as `Resend`.
    #[default]
    Recycle,
    /// Write every unacknowledged message again on the same carrier.
    Resend,
}

impl AckTimeoutAction {
    /// `recycle` or `resend`, as in event lines.
    pub fn name(self) -> &'static str {
        match self {
            AckTimeoutAction::Recycle => "recycle",
            AckTimeoutAction::Resend => "resend",
        }
    }
}

/// Acknowledged delivery, for [`ClientBuilder::acknowledged`](crate::driver::ClientBuilder::acknowledged):
/// the application protocol that numbers and acknowledges messages, and the bounds of
/// what waits for an acknowledgement.
#[derive(Debug, Clone)]
pub struct AckOptions {
    /// How numbers and acknowledgements appear on the wire.
    pub protocol: Arc<dyn Protocol>,
    /// Messages written and not yet acknowledged, at most; past it nothing more is
    /// written until acknowledgements come (the send queue fills, and an awaited
    /// `send` waits).
    pub max_messages: usize,
    /// Bytes of those messages, at most (a single larger message is refused by
    /// `send` as too large).
    pub max_bytes: usize,
    /// How long a written message may wait for its acknowledgement on one carrier.
    pub ack_timeout: Duration,
    /// What happens then.
    pub on_ack_timeout: AckTimeoutAction,
    /// Inbound ids kept out of order for duplicate detection.
    pub inbox_window: usize,
}

impl AckOptions {
    /// `protocol` with the default bounds: 256 messages, 1 MiB, a 10 s
    /// acknowledgement timeout that recycles the connection, and a window of 1024
    /// inbound ids.
    pub fn new(protocol: impl Protocol) -> AckOptions {
        AckOptions {
            protocol: Arc::new(protocol),
            max_messages: 256,
            max_bytes: 1 << 20,
            ack_timeout: Duration::from_secs(10),
            on_ack_timeout: AckTimeoutAction::default(),
            inbox_window: 1024,
        }
    }

    /// The ready protocol ([`JsonEnvelope`]) with the default bounds.
    pub fn json_envelope() -> AckOptions {
        AckOptions::new(JsonEnvelope)
    }

    /// The same, with this acknowledgement timeout.
    pub fn ack_timeout(mut self, timeout: Duration) -> AckOptions {
        self.ack_timeout = timeout;
        self
    }

    /// The same, doing this when an acknowledgement is late.
    pub fn on_ack_timeout(mut self, action: AckTimeoutAction) -> AckOptions {
        self.on_ack_timeout = action;
        self
    }

    /// The same, holding at most this many unacknowledged messages and bytes.
    pub fn limits(mut self, max_messages: usize, max_bytes: usize) -> AckOptions {
        self.max_messages = max_messages;
        self.max_bytes = max_bytes;
        self
    }

    /// Check the bounds: each names the bad field.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_messages == 0 {
            return Err("acknowledged.max_messages must be at least 1".into());
        }
        if self.max_bytes == 0 {
            return Err("acknowledged.max_bytes must be at least 1".into());
        }
        if self.ack_timeout.is_zero() {
            return Err("acknowledged.ack_timeout must be more than zero".into());
        }
        Ok(())
    }
}
