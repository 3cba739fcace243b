//! Writes to the open socket, polled together with every other source of wake-ups.
//!
//! A peer that stops reading fills the socket's buffers, and a write then waits for
//! room. Were the driver to await that write, nothing else would run: no pong timeout,
//! no close, no command. Instead the writer makes progress inside the driver's poll, so
//! the core's deadlines still fire and end the connection.
//!
//! One message is written and flushed at a time. A message counts as written once the
//! transport accepted its last byte; one whose write had not completed when the
//! connection ended goes back to the front of the queue (the peer cannot have received
//! all of it), so nothing is lost and nothing is written twice.

use crate::driver::lock::lock;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message as WsMessage;
use futures_util::Sink;

use super::acked::Acked;
use super::dial::Ws;
use super::message::Message;
use super::queue::Queue;
use super::request::PendingRequest;
use crate::delivery::Seq;

/// Frames written in one poll before the driver looks at its other sources again.
pub(crate) const FRAMES_PER_POLL: usize = 64;

/// Frames written, as far as the socket takes them at once, before a close the
/// application asked for (what it queued before the close goes out first).
pub(crate) const FRAMES_BEFORE_CLOSE: usize = 4096;

/// What the frame in flight carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A ping or a close frame.
    Control,
    /// The body of the request at the front.
    Request,
    /// A message taken from the send queue.
    Queued,
    /// A numbered message of acknowledged delivery (it stays in the outbox).
    Acked(Seq),
}

/// A frame being written.
struct InFlight {
    kind: Kind,
    frame: WsMessage,
    /// Handed to tungstenite; only the flush is left.
    started: bool,
}

/// The write side of one connection.
#[derive(Default)]
pub(crate) struct Writer {
    control: VecDeque<WsMessage>,
    in_flight: Option<InFlight>,
    /// A write failed: write nothing more on this connection (reading will end it).
    failed: bool,
}

/// Where the data to write comes from.
pub(crate) struct Data<'a> {
    /// Whether data may be written (the core is Open); control frames always may.
    pub open: bool,
    /// The request at the front of the line, if it has not been sent yet.
    pub request: Option<&'a mut PendingRequest>,
    /// The send queue.
    pub queue: &'a Mutex<Queue>,
    /// A written request's idle timeout.
    pub idle: Duration,
    /// Acknowledged delivery, when on: messages come through its outbox.
    pub acked: Option<&'a mut Acked>,
}

impl Writer {
    /// Write a control frame (ping, close) as soon as the frame in flight is out.
    pub(super) fn control(&mut self, frame: WsMessage) {
        self.control.push_back(frame);
    }

    /// Whether a message or a request body is being written.
    pub(super) fn carrying(&self) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|f| f.kind != Kind::Control)
    }

    /// Make progress, writing at most `budget` frames. Returns when nothing is left to
    /// write, when the socket has no room (the task is woken when it has), after a
    /// failed write, or once the budget is spent (the task is woken again, so that other
    /// wake-ups get their turn).
    pub(super) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Ws,
        mut data: Data<'_>,
        budget: usize,
    ) {
        if self.failed {
            return;
        }
        let mut budget = budget;
        loop {
            if budget == 0 {
                cx.waker().wake_by_ref();
                return;
            }
            if self.in_flight.is_none() {
                self.in_flight = self.next(&mut data);
            }
            let Some(f) = self.in_flight.as_mut() else {
                return;
            };
            let mut ws = Pin::new(&mut *ws);
            if !f.started {
                match ws.as_mut().poll_ready(cx) {
                    Poll::Pending => return,
                    Poll::Ready(Err(e)) => return self.fail(&e, data.queue),
                    Poll::Ready(Ok(())) => {}
                }
                if let Err(e) = ws.as_mut().start_send(f.frame.clone()) {
                    return self.fail(&e, data.queue);
                }
                f.started = true;
            }
            match ws.poll_flush(cx) {
                Poll::Pending => return,
                Poll::Ready(Err(e)) => return self.fail(&e, data.queue),
                Poll::Ready(Ok(())) => {}
            }
            written(f.kind, &mut data);
            self.in_flight = None;
            budget -= 1;
        }
    }

    /// The connection is gone. `flushed`: the socket was flushed on the way out (the
    /// close handshake's reply went out), so a frame already handed to tungstenite was
    /// written in full. Otherwise a queued message whose write had not completed goes
    /// back to the front of the queue (a request stays unsent); control frames are
    /// dropped.
    pub(super) fn reset(&mut self, flushed: bool, mut data: Data<'_>) {
        if let Some(f) = self.in_flight.take() {
            match flushed && f.started {
                true => written(f.kind, &mut data),
                false => requeue(f, data.queue),
            }
        }
        *self = Writer::default();
    }

    /// Control frames first, then the request, then the queue.
    fn next(&mut self, data: &mut Data<'_>) -> Option<InFlight> {
        let (kind, frame) = match self.control.pop_front() {
            Some(frame) => (Kind::Control, frame),
            None if !data.open => return None,
            None => match (data.request.as_deref(), data.acked.as_deref_mut()) {
                (Some(r), _) => (Kind::Request, to_ws(r.body.clone())),
                (None, Some(acked)) => match acked.next_frame(data.queue)? {
                    (Some(seq), m) => (Kind::Acked(seq), to_ws(m)),
                    (None, m) => (Kind::Queued, to_ws(m)),
                },
                (None, None) => (Kind::Queued, to_ws(lock(data.queue).pop()?)),
            },
        };
        Some(InFlight {
            kind,
            frame,
            started: false,
        })
    }

    fn fail(&mut self, e: &async_tungstenite::tungstenite::Error, queue: &Mutex<Queue>) {
        tracing::debug!(error = %e, "write failed; nothing more is written on this connection");
        self.failed = true;
        if let Some(f) = self.in_flight.take() {
            requeue(f, queue);
        }
    }
}

/// The frame of this kind was written in full.
fn written(kind: Kind, data: &mut Data<'_>) {
    match kind {
        // Sent: the request is no longer the one to write.
        Kind::Request => {
            if let Some(r) = data.request.take() {
                r.mark_sent(data.queue, Instant::now(), data.idle);
            }
        }
        Kind::Acked(seq) => {
            if let Some(acked) = data.acked.as_deref_mut() {
                acked.written(seq, Instant::now());
            }
        }
        Kind::Control | Kind::Queued => {}
    }
}

/// A queued message whose write did not complete goes back to the front of the queue
/// (a numbered one is still first in the outbox; a request is still unsent).
fn requeue(f: InFlight, queue: &Mutex<Queue>) {
    if f.kind != Kind::Queued {
        return;
    }
    let message = match f.frame {
        WsMessage::Text(t) => Message::Text(t.as_str().to_owned()),
        WsMessage::Binary(b) => Message::Binary(b.to_vec()),
        _ => return,
    };
    lock(queue).push_front(message);
}

/// The frame for a message; moves the payload, copies nothing.
pub(crate) fn to_ws(m: Message) -> WsMessage {
    match m {
        Message::Text(t) => WsMessage::text(t),
        Message::Binary(b) => WsMessage::binary(b),
    }
}
