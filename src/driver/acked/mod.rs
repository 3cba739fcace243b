//! Acknowledged delivery, carried out by the driver: the [`delivery`](crate::delivery)
//! bookkeeping (an outbox of numbered messages, an inbox of seen ids) between the send
//! queue and the carriers.
//!
//! With it on, a text message taken from the send queue gets the next sequence number
//! and enters the outbox; what is written comes from the outbox, wrapped by the
//! protocol, and stays there until an acknowledgement frees it. When a carrier ends
//! (the WebSocket closes or drops, a fallback request fails after it was written) or
//! the carrier changes (a WebSocket opens), every written, unacknowledged message is
//! written again, in order, announced once per batch ([`ClientEvent::Resent`]). What
//! arrives is read by the protocol: its acknowledgements free outbox messages, its id
//! drops duplicates, its payload goes to the application. Binary messages are not
//! numbered (a text protocol carries them): they go as they are.

mod options;

use std::sync::Mutex;
use std::time::Instant;

pub use options::{AckOptions, AckTimeoutAction};

use super::event::ClientEvent;
use super::lock::lock;
use super::message::Message;
use super::queue::Queue;
use crate::delivery::{HandedBack, Inbox, Outbox, OutboxLimits, PushError, Receipt, Seq};

/// The driver's acknowledged-delivery state.
pub(crate) struct Acked {
    pub(crate) outbox: Outbox<Message>,
    inbox: Inbox,
    options: AckOptions,
    /// An acknowledgement of what was received is owed to the peer.
    ack_due: bool,
    /// Messages about to be written again, and why (announced with the first).
    resend: Option<(usize, String)>,
    /// Events for the driver to publish.
    events: Vec<ClientEvent>,
}

impl Acked {
    pub(crate) fn new(options: AckOptions) -> Acked {
        Acked {
            outbox: Outbox::new(OutboxLimits {
                max_messages: options.max_messages,
                max_bytes: options.max_bytes,
                ack_timeout: options.ack_timeout,
            }),
            inbox: Inbox::new(options.inbox_window),
            options,
            ack_due: false,
            resend: None,
            events: Vec::new(),
        }
    }

    /// What happens when an acknowledgement is late.
    pub(crate) fn on_ack_timeout(&self) -> AckTimeoutAction {
        self.options.on_ack_timeout
    }

    /// The acknowledgement timeout.
    pub(crate) fn ack_timeout(&self) -> std::time::Duration {
        self.options.ack_timeout
    }

    /// The carrier ended or changed: every written, unacknowledged message is written
    /// again, in order, on the next one.
    pub(crate) fn rewind(&mut self, cause: &str) {
        let n = self.outbox.reconnected();
        if n > 0 {
            self.resend = Some((n, cause.to_string()));
        }
    }

    /// The next frame to write: a message waiting in the outbox (a resend first), or
    /// the next one from the send queue (numbered, unless binary). `None` when nothing
    /// waits, or the outbox is full.
    pub(crate) fn next_frame(&mut self, queue: &Mutex<Queue>) -> Option<(Option<Seq>, Message)> {
        if self.outbox.next_to_write().is_none() {
            let mut queue = lock(queue);
            // A text too large ever to fit is taken too, to be handed back.
            let max_bytes = self.options.max_bytes;
            let fits = |m: &Message| {
                m.as_text().is_none() || self.outbox.has_room(m.len()) || m.len() > max_bytes
            };
            match queue.pop_if(fits)? {
                m @ Message::Binary(_) => return Some((None, m)),
                text => {
                    let len = text.len();
                    let pushed = self.outbox.push(text, len);
                    // Counted as held before the queue is let go: a waiter for
                    // `settled` never sees the message in neither place.
                    queue.set_acked_held(self.outbox.len());
                    drop(queue);
                    if let Err(PushError::TooLarge(m) | PushError::Full(m)) = pushed {
                        tracing::warn!(
                            bytes = len,
                            "a message larger than the acknowledged-delivery byte bound is handed back"
                        );
                        self.events.push(ClientEvent::Undelivered(m));
                        return None;
                    }
                }
            }
        }
        let (seq, message, resend) = self.outbox.next_to_write()?;
        let Message::Text(text) = message else {
            unreachable!("only text messages are numbered")
        };
        let wrapped = Message::Text(self.options.protocol.wrap(seq, text));
        if resend {
            if let Some((messages, cause)) = self.resend.take() {
                tracing::info!(messages, cause, "unacknowledged messages are written again");
                self.events.push(ClientEvent::Resent { messages, cause });
            }
        }
        Some((Some(seq), wrapped))
    }

    /// The message numbered `seq` (the one [`next_frame`](Acked::next_frame) gave) was
    /// written in full.
    pub(crate) fn written(&mut self, seq: Seq, now: Instant) {
        if self.outbox.next_to_write().map(|(s, ..)| s) == Some(seq) {
            self.outbox.written(now);
        }
    }

    /// Read an inbound text message: apply its acknowledgements, drop it if its id was
    /// seen, and give what goes to the application (`None`: nothing, it only carried
    /// acknowledgements or was a duplicate).
    pub(crate) fn read(&mut self, text: &str) -> Option<String> {
        let inbound = self.options.protocol.read(text);
        for ack in inbound.acks {
            let outcome = self.outbox.ack(ack);
            if outcome.unknown {
                tracing::debug!(?ack, "an acknowledgement of a message not written: ignored");
            }
        }
        if inbound.truncated {
            tracing::warn!(
                "an inbound message carried too many acknowledgements: the rest were ignored"
            );
        }
        if let Some(id) = inbound.id {
            self.ack_due = true;
            match self.inbox.receive(id) {
                Receipt::Fresh => {}
                Receipt::Duplicate | Receipt::TooOld => {
                    self.events.push(ClientEvent::DuplicateDropped {
                        id,
                        total: self.inbox.duplicates(),
                    });
                    return None;
                }
            }
        }
        inbound.payload
    }

    /// The acknowledgement owed to the peer, if one is (cumulative: every id up to the
    /// contiguous mark).
    pub(crate) fn ack_frame(&mut self) -> Option<Message> {
        if !std::mem::take(&mut self.ack_due) {
            return None;
        }
        let upto = self.inbox.contiguous();
        (upto > 0)
            .then(|| self.options.protocol.ack(upto))
            .flatten()
            .map(Message::Text)
    }

    /// An acknowledgement is owed again (a new WebSocket opened: it tells the peer
    /// where the client stands).
    pub(crate) fn owe_ack(&mut self) {
        self.ack_due = self.inbox.contiguous() > 0;
    }

    /// Where a resumed stream starts: the highest inbound id up to which every id was
    /// seen (`None`: none yet).
    pub(crate) fn resume_from(&self) -> Option<u64> {
        Some(self.inbox.contiguous()).filter(|&n| n > 0)
    }

    /// Events to publish.
    pub(crate) fn take_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.events)
    }

    /// Whether a message waits in the outbox to be written (or written again).
    pub(crate) fn waiting(&self) -> bool {
        self.outbox.next_to_write().is_some()
    }

    /// The client stops: every held message, in order.
    pub(crate) fn close(&mut self) -> Vec<HandedBack<Message>> {
        self.outbox.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::JsonEnvelope;

    fn queue(messages: &[&str]) -> Mutex<Queue> {
        let mut q = Queue::new(16, 1 << 16);
        for m in messages {
            q.push((*m).into()).unwrap();
        }
        Mutex::new(q)
    }

    #[test]
    fn messages_are_numbered_wrapped_kept_until_acknowledged_and_resent_after_a_rewind() {
        let mut a = Acked::new(AckOptions::new(JsonEnvelope).limits(2, 1 << 10));
        let q = queue(&["a", "b", "c"]);
        let now = Instant::now();
        let (seq, m) = a.next_frame(&q).unwrap();
        assert_eq!(
            (seq, m),
            (Some(Seq(1)), Message::from(r#"{"seq":1,"text":"a"}"#))
        );
        a.written(Seq(1), now);
        let (seq, _) = a.next_frame(&q).unwrap();
        a.written(seq.unwrap(), now);
        // Two unacknowledged: the third waits in the queue.
        assert_eq!(a.next_frame(&q), None);
        assert_eq!(lock(&q).len(), 1);
        assert_eq!(a.read(r#"{"ack": 1}"#), None);
        a.rewind("closed with 1012");
        let (seq, m) = a.next_frame(&q).unwrap();
        assert_eq!(seq, Some(Seq(2)));
        assert_eq!(m, Message::from(r#"{"seq":2,"text":"b"}"#));
        assert_eq!(
            a.take_events(),
            [ClientEvent::Resent {
                messages: 1,
                cause: "closed with 1012".into()
            }]
        );
        a.written(Seq(2), now);
        assert_eq!(a.next_frame(&q).unwrap().0, Some(Seq(3)));
    }

    #[test]
    fn inbound_ids_drop_duplicates_and_owe_one_cumulative_acknowledgement() {
        let mut a = Acked::new(AckOptions::json_envelope());
        assert_eq!(a.ack_frame(), None);
        assert_eq!(a.read(r#"{"seq": 1, "text": "x"}"#).as_deref(), Some("x"));
        assert_eq!(a.read(r#"{"seq": 2, "text": "y"}"#).as_deref(), Some("y"));
        assert_eq!(a.read(r#"{"seq": 1, "text": "x"}"#), None);
        assert!(matches!(
            a.take_events()[..],
            [ClientEvent::DuplicateDropped { id: 1, total: 1 }]
        ));
        assert_eq!(a.ack_frame(), Some(Message::from(r#"{"ack":2}"#)));
        assert_eq!(a.ack_frame(), None);
        assert_eq!(a.resume_from(), Some(2));
        assert_eq!(a.read("plain").as_deref(), Some("plain"));
    }

    #[test]
    fn binary_goes_unnumbered_and_an_oversized_text_is_handed_back() {
        let mut a = Acked::new(AckOptions::json_envelope().limits(4, 8));
        let q = Mutex::new(Queue::new(4, 1 << 10));
        lock(&q).push(Message::Binary(vec![1, 2])).unwrap();
        lock(&q).push("0123456789".into()).unwrap();
        assert_eq!(a.next_frame(&q), Some((None, Message::Binary(vec![1, 2]))));
        assert_eq!(a.next_frame(&q), None);
        assert_eq!(
            a.take_events(),
            [ClientEvent::Undelivered("0123456789".into())]
        );
        assert!(a.close().is_empty());
    }
}
