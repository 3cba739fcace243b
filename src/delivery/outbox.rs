//! [`Outbox`]: the messages of acknowledged sends, from accepted to acknowledged (or
//! handed back), with their sequence numbers, in order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Ack, Seq};

/// The bounds of an [`Outbox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Messages held at most (waiting and unacknowledged together).
    pub max_messages: usize,
    /// Bytes held at most.
    pub max_bytes: usize,
    /// How long a written message may wait for its acknowledgement on one connection
    /// before [`Outbox::overdue`] reports it.
    pub ack_timeout: Duration,
}

/// Why [`Outbox::push`] refused a message; the message is handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError<M> {
    /// The outbox holds `max_messages` messages or `max_bytes` bytes: wait until some
    /// are acknowledged.
    Full(M),
    /// The message alone is larger than `max_bytes`: it can never fit.
    TooLarge(M),
}

/// Where a held message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not yet written on the current connection (never written, or written on an
    /// earlier one and waiting to be resent).
    Waiting,
    /// Written on the current connection at this time, not acknowledged yet.
    Written { at: Instant, overdue: bool },
}

#[derive(Debug)]
struct Entry<M> {
    seq: Seq,
    message: M,
    len: usize,
    stage: Stage,
    /// Times written, on any connection. Only a message written at least once can have
    /// reached the peer, so only such a message can be acknowledged.
    writes: u32,
}

impl<M> Entry<M> {
    fn ever_written(&self) -> bool {
        self.writes > 0
    }
}

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckOutcome {
    /// Messages freed by it.
    pub freed: usize,
    /// Bytes freed by it.
    pub freed_bytes: usize,
    /// It named a sequence number never assigned (then nothing is freed), or one of a
    /// message never written (which the peer cannot have; that message stays).
    pub unknown: bool,
    /// It freed nothing it named that was still held: a repeat of an earlier one.
    pub duplicate: bool,
}

/// A message handed back when the outbox closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedBack<M> {
    /// Its sequence number.
    pub seq: Seq,
    /// The message.
    pub message: M,
    /// It was written at least once and never acknowledged: the peer may have it.
    pub written: bool,
}

/// The messages of acknowledged sends: each gets the next sequence number when
/// accepted, is written in order, stays held (bounded in count and bytes) until an
/// acknowledgement names it, is resent in order after a reconnect, and is handed back if
/// the outbox closes first. Sans-IO: time comes in with each call.
///
/// Every accepted message is, at any moment, in exactly one place: waiting, written and
/// unacknowledged, freed by an acknowledgement of a write, or handed back. Nothing is
/// freed that was never written, whatever the peer's acknowledgements say.
#[derive(Debug)]
pub struct Outbox<M> {
    limits: OutboxLimits,
    next: u64,
    /// Held messages, in sequence order.
    held: VecDeque<Entry<M>>,
    bytes: usize,
    /// Index in `held` of the first message waiting to be written (all before it are
    /// written on the current connection).
    cursor: usize,
    closed: bool,
}

impl<M> Outbox<M> {
    /// An empty outbox; the first message gets sequence number 1.
    pub fn new(limits: OutboxLimits) -> Outbox<M> {
        Outbox {
            limits,
            next: 1,
            held: VecDeque::new(),
            bytes: 0,
            cursor: 0,
            closed: false,
        }
    }

    /// Its bounds.
    pub fn limits(&self) -> OutboxLimits {
        self.limits
    }

    /// Messages held (waiting and unacknowledged).
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a message of `len` bytes would be accepted now.
    pub fn has_room(&self, len: usize) -> bool {
        !self.closed
            && self.held.len() < self.limits.max_messages
            && self.bytes.saturating_add(len) <= self.limits.max_bytes
    }

    /// Accept `message` (`len` bytes) and give it the next sequence number.
    pub fn push(&mut self, message: M, len: usize) -> Result<Seq, PushError<M>> {
        if len > self.limits.max_bytes {
            return Err(PushError::TooLarge(message));
        }
        if !self.has_room(len) {
            return Err(PushError::Full(message));
        }
        let seq = Seq(self.next);
        self.next += 1;
        self.bytes += len;
        self.held.push_back(Entry {
            seq,
            message,
            len,
            stage: Stage::Waiting,
            writes: 0,
        });
        Ok(seq)
    }

    /// The next message to write on the current connection, in sequence order, and
    /// whether it is a resend (written before, on an earlier connection).
    pub fn next_to_write(&self) -> Option<(Seq, &M, bool)> {
        let e = self.held.get(self.cursor)?;
        Some((e.seq, &e.message, e.ever_written()))
    }

    /// The message [`next_to_write`](Outbox::next_to_write) gave was written at `now`.
    pub fn written(&mut self, now: Instant) {
        if let Some(e) = self.held.get_mut(self.cursor) {
            e.stage = Stage::Written {
                at: now,
                overdue: false,
            };
            e.writes = e.writes.saturating_add(1);
            self.cursor += 1;
        }
    }

    /// The message `seq`, waiting to be written, was written all the same: its write
    /// was under way when [`reconnected`](Outbox::reconnected) (or a resend) moved the
    /// cursor back before it. It stays waiting (it is written again in its turn, as a
    /// resend), and counts as written: the peer may have it now. False when no waiting
    /// message has that number.
    pub fn written_behind(&mut self, seq: Seq) -> bool {
        let waiting = self.held.iter_mut().skip(self.cursor);
        match waiting.into_iter().find(|e| e.seq == seq) {
            Some(e) => {
                e.writes = e.writes.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// Apply an acknowledgement from the peer.
    pub fn ack(&mut self, ack: Ack) -> AckOutcome {
        let mut out = AckOutcome::default();
        let (lo, hi) = match ack {
            Ack::UpTo(Seq(n)) => (1, n),
            Ack::One(Seq(n)) => (n, n),
        };
        // A number never assigned: the peer cannot have it, and a cumulative
        // acknowledgement past what was sent says nothing trustworthy about the rest.
        if hi == 0 || hi >= self.next {
            out.unknown = true;
            return out;
        }
        let before = self.held.len();
        let mut named_unwritten = false;
        let mut i = 0;
        while i < self.held.len() {
            let e = &self.held[i];
            if e.seq.0 > hi {
                break;
            }
            if e.seq.0 >= lo {
                if e.ever_written() {
                    let e = self.held.remove(i).expect("in range");
                    self.bytes -= e.len;
                    out.freed += 1;
                    out.freed_bytes += e.len;
                    if i < self.cursor {
                        self.cursor -= 1;
                    }
                    continue;
                }
                named_unwritten = true;
            }
            i += 1;
        }
        if named_unwritten {
            out.unknown = true;
        }
        out.duplicate = self.held.len() == before && !out.unknown;
        out
    }

    /// The connection ended: every written, unacknowledged message waits to be resent,
    /// in order, on the next one. Gives how many will be resent.
    pub fn reconnected(&mut self) -> usize {
        let resend = self.cursor;
        for e in self.held.iter_mut().take(self.cursor) {
            e.stage = Stage::Waiting;
        }
        self.cursor = 0;
        resend
    }

    /// When the earliest written message's acknowledgement is due, if any is awaited
    /// and not already reported overdue. The messages before the cursor were written on
    /// this connection in order, at times that do not go back (the clock's), so the first
    /// one not reported has the earliest deadline: found without looking at the rest.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.held
            .iter()
            .take(self.cursor)
            .find_map(|e| match e.stage {
                Stage::Written { at, overdue: false } => Some(at),
                _ => None,
            })
            .and_then(|at| at.checked_add(self.limits.ack_timeout))
    }

    /// The written messages whose acknowledgement is overdue at `now` and was not
    /// reported before (each write is reported at most once): their sequence numbers.
    pub fn overdue(&mut self, now: Instant) -> Vec<Seq> {
        let timeout = self.limits.ack_timeout;
        let mut late = Vec::new();
        for e in self.held.iter_mut().take(self.cursor) {
            if let Stage::Written { at, overdue } = &mut e.stage {
                let due = at.checked_add(timeout);
                if !*overdue && due.is_some_and(|due| now >= due) {
                    *overdue = true;
                    late.push(e.seq);
                }
            }
        }
        late
    }

    /// Times the message `seq` was written, if it is held.
    pub fn writes(&self, seq: Seq) -> Option<u32> {
        self.held.iter().find(|e| e.seq == seq).map(|e| e.writes)
    }

    /// Refuse further messages and hand back every held one, in order, saying which
    /// were written (the peer may have them) and which never left.
    pub fn close(&mut self) -> Vec<HandedBack<M>> {
        self.closed = true;
        self.bytes = 0;
        self.cursor = 0;
        self.held
            .drain(..)
            .map(|e| HandedBack {
                seq: e.seq,
                written: e.ever_written(),
                message: e.message,
            })
            .collect()
    }
}
