//! The driver's steps of acknowledged delivery: reading what arrives through the
//! protocol, the acknowledgement timeout, the events, and the hand-back at the end.

use std::time::Instant;

use super::Driver;
use crate::core::{Input, StateName};
use crate::driver::acked::AckTimeoutAction;
use crate::driver::event::ClientEvent;
use crate::driver::lock::lock;
use crate::driver::message::Message;

impl Driver {
    /// What of a received message goes on to the application: with acknowledged
    /// delivery, the protocol's payload (its acknowledgements applied, a duplicate
    /// dropped); otherwise the message itself.
    pub(super) fn unwrap_acked(&mut self, message: Message) -> Option<Message> {
        let Some(acked) = self.acked.as_mut() else {
            return Some(message);
        };
        let payload = match &message {
            Message::Text(text) => acked.read(text).map(Message::Text),
            Message::Binary(_) => Some(message),
        };
        self.publish_acked();
        payload
    }

    /// Publish what acknowledged delivery has to say.
    pub(super) fn publish_acked(&mut self) {
        let Some(acked) = self.acked.as_mut() else {
            return;
        };
        let events = acked.take_events();
        lock(&self.shared.queue).set_acked_held(acked.outbox.len());
        for event in events {
            self.broadcast(event);
        }
    }

    /// When the earliest acknowledgement is due, if one is awaited.
    pub(super) fn ack_deadline(&self) -> Option<Instant> {
        self.acked.as_ref().and_then(|a| a.outbox.poll_timeout())
    }

    /// An acknowledgement may be late: the messages that waited `ack_timeout` are
    /// reported, and the connection is recycled (all unacknowledged resent on the new
    /// one) or they are written again on this carrier.
    pub(super) fn on_ack_due(&mut self) {
        let Some(acked) = self.acked.as_mut() else {
            return;
        };
        let late = acked.outbox.overdue(Instant::now());
        if late.is_empty() {
            return;
        }
        let waited = acked.ack_timeout();
        let open = self.core.state() == StateName::Open && self.io.ws.is_some();
        let action = match acked.on_ack_timeout() {
            AckTimeoutAction::Recycle if open => AckTimeoutAction::Recycle,
            _ => AckTimeoutAction::Resend,
        };
        let cause = format!(
            "{} written message(s) had no acknowledgement within {waited:?}",
            late.len()
        );
        tracing::info!(
            messages = late.len(),
            ?waited,
            action = action.name(),
            "acknowledgements are late"
        );
        self.broadcast(ClientEvent::AckOverdue {
            messages: late.len(),
            waited,
            action,
        });
        match action {
            AckTimeoutAction::Recycle => self.input(Input::Recycle { reason: cause }),
            _ => {
                if let Some(acked) = self.acked.as_mut() {
                    acked.rewind(&cause);
                }
            }
        }
    }

    /// The client stops: every message still in the outbox is handed back, as
    /// unacknowledged (written at least once: the peer may have it) or undelivered.
    pub(super) fn hand_back_acked(&mut self) {
        let Some(acked) = self.acked.as_mut() else {
            return;
        };
        let held = acked.close();
        self.publish_acked();
        for h in held {
            self.broadcast(match h.written {
                true => ClientEvent::Unacknowledged {
                    seq: h.seq.0,
                    message: h.message,
                },
                false => ClientEvent::Undelivered(h.message),
            });
        }
    }
}
