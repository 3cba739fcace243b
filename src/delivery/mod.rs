//! Acknowledged delivery, sans-IO: the bookkeeping that lets nothing be lost end to end
//! across reconnects and the fallback, for any application protocol that acknowledges
//! what it received.
//!
//! A transport cannot know that the peer's application got a message: TCP acknowledges
//! bytes to the peer's kernel, and a server may drop what it read when it resets or
//! restarts. With acknowledgements from the application's protocol, an [`Outbox`] keeps
//! every written message until an acknowledgement names it, resends the unacknowledged
//! in order after a reconnect, and hands back what is left when the client stops; an
//! [`Inbox`] drops inbound duplicates by id and says where to resume. A [`Protocol`]
//! says how numbers and acknowledgements appear on the wire; [`JsonEnvelope`] is a ready
//! one for servers that have none.
//!
//! The rule (the design's invariant 15): every message accepted by an acknowledged send
//! is, at any moment, in exactly one place: waiting to be written, written and awaiting
//! its acknowledgement, freed by an acknowledgement after it was written, or handed back
//! (saying whether it was ever written). Nothing the peer says frees a message that was
//! never written, and an acknowledgement of a number never assigned frees nothing.
//!
//! No I/O, no clock, no randomness: the driver carries it out, and the property tests
//! and the fuzz target run it alone.

mod inbox;
mod outbox;
mod protocol;

pub use inbox::{Inbox, Receipt};
pub use outbox::{AckOutcome, HandedBack, Outbox, OutboxLimits, PushError};
pub use protocol::{Inbound, JsonEnvelope, Protocol, MAX_ACKS_PER_MESSAGE};

/// The sequence number of an outbound message: 1 for the first, then one more for each
/// message accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

/// An acknowledgement from the peer's application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Every message up to this sequence number, inclusive (cumulative).
    UpTo(Seq),
    /// This message alone (selective).
    One(Seq),
}
