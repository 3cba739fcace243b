//! The driver's work outside an open socket: reconnecting from Idle when something
//! waits to be sent, and carrying requests and messages over the HTTPS fallback.
//!
//! Every outcome of a fallback job is a core input: the first response item (or a
//! clean end) is `FallbackReady`; a failure is `FallbackFailed`, and the core owns the
//! retries, the backoff and the budget. A message whose POST failed before the server
//! answered goes back to the front of the queue (or is handed back when the core stops,
//! with everything else queued); a request goes back to the front of the line.

use crate::driver::lock::lock;
use std::time::Instant;

use super::Driver;
use crate::core::{Input, StateName};
use crate::delivery::Seq;
use crate::driver::event::TransportKind as Carrier;
use crate::driver::event::{ClientEvent, TransportKind};
use crate::driver::fallback::{CarrierNote, FallbackStream};
use crate::driver::message::Message;
use crate::driver::request::{PendingRequest, RequestError};
use crate::policy::FallbackError;

/// One job on the fallback: a request, or a plain message whose response events go to
/// the message stream.
pub(super) struct FallbackJob {
    pub(super) stream: FallbackStream,
    pub(super) request: Option<PendingRequest>,
    /// The plain message carried, kept until the server answers.
    pub(super) message: Option<Message>,
    /// The numbered message carried (acknowledged delivery): it stays first in the
    /// outbox until the server answers, then counts as written.
    pub(super) acked: Option<Seq>,
    /// The server answered (a response item arrived, or the response ended cleanly).
    pub(super) answered: bool,
    /// Which connection carries it, as the transport notes it.
    pub(super) note: CarrierNote,
}

impl Driver {
    /// An item (or the end) of the fallback job in flight.
    pub(super) fn on_fallback(&mut self, item: Option<Result<String, FallbackError>>) {
        let Some(job) = self.io.job.as_mut() else {
            return;
        };
        // Once answered, a job stays answered: an error after response items must not
        // put its request back in line.
        let answer = item.as_ref().is_none_or(|i| i.is_ok());
        let first = answer && !std::mem::replace(&mut job.answered, true);
        if matches!(item, Some(Ok(_))) {
            job.message = None;
        }
        // Answered: the numbered message it carried was delivered to the server (its
        // acknowledgement may come in this response or later).
        if let (true, Some(seq)) = (answer, job.acked.take()) {
            if let Some(acked) = self.acked.as_mut() {
                acked.written(seq, Instant::now());
            }
        }
        if let Some(connection) = job.note.get().filter(|_| first && answer) {
            self.broadcast(ClientEvent::FallbackCarrier(connection));
        }
        match item {
            Some(Ok(data)) => {
                if first {
                    self.input(Input::FallbackReady);
                }
                if let Some(message) = self.unwrap_acked(Message::Text(data)) {
                    self.route(message, TransportKind::Https);
                }
            }
            None => {
                if first {
                    self.input(Input::FallbackReady);
                }
                // A request still here has not had its terminal message (that ends
                // the job): the response ended early, as a connection's end would.
                let early = self.terminal_is_an_item();
                if let Some(r) = self.io.job.as_mut().and_then(|j| j.request.as_mut()) {
                    if early {
                        let cause =
                            "the HTTPS fallback's response ended before the terminal message";
                        r.push(Err(r.interrupted(cause)));
                    }
                }
                self.end_request(true);
            }
            Some(Err(e)) => self.on_fallback_error(e),
        }
    }

    /// The job failed. Before the server answered, what it carried goes back in line
    /// (the core decides whether the fallback is tried again); after, a request's
    /// stream ends with the error.
    fn on_fallback_error(&mut self, e: FallbackError) {
        tracing::info!(error = %e, "fallback job failed");
        let Some(mut job) = self.io.job.take() else {
            return;
        };
        let answered = job.answered || e.after_answer();
        // A numbered message stays in the outbox: not written, it goes again as it is;
        // written but unanswered (maybe delivered), it is resent, announced.
        if let (Some(seq), Some(acked)) = (job.acked.take(), self.acked.as_mut()) {
            if !answered && e.written() {
                acked.written(seq, Instant::now());
                acked.rewind(&format!("a fallback request was not answered: {e}"));
            }
        }
        match (job.request.take(), job.message.take()) {
            // Written (the server had the body) but not answered: sent again only as
            // the replay policy allows, and reported.
            (Some(mut r), _) if !answered && e.written() && !self.replay.replays(false) => {
                r.push(Err(r.interrupted(&e.to_string())));
            }
            (Some(mut r), _) if !answered => {
                if e.written() {
                    self.broadcast(ClientEvent::Replayed {
                        cause: e.to_string(),
                        response_started: false,
                    });
                }
                r.unsend(&self.shared.queue);
                r.written_before |= e.written();
                self.requests.push_front(r);
            }
            (Some(r), _) => {
                // A response item may be held for it: it goes first.
                job.request = Some(r);
                self.io.job = Some(job);
                self.flush_held_request(true);
                if let Some(r) = self.io.job.as_mut().and_then(|j| j.request.as_mut()) {
                    r.push(Err(r.interrupted(&e.to_string())));
                }
                self.end_request(true);
            }
            // Written, not answered: maybe delivered. Sent again only as the replay
            // policy allows, and reported; otherwise handed back as such.
            (None, Some(message)) if !answered && e.written() && !self.replay.replays(false) => {
                self.broadcast(ClientEvent::Unanswered {
                    message,
                    cause: e.to_string(),
                });
            }
            (None, Some(message)) if !answered => {
                if e.written() {
                    self.broadcast(ClientEvent::Replayed {
                        cause: e.to_string(),
                        response_started: false,
                    });
                }
                lock(&self.shared.queue).push_front(message);
            }
            (None, _) => {}
        }
        self.input(Input::FallbackFailed { failure: e });
    }

    /// The driver ends during a job: a message the server had not answered is handed
    /// back; a request's stream ends with an error item.
    pub(super) fn finish_job(&mut self, cause: &str) {
        self.flush_held_request(true);
        let Some(mut job) = self.io.job.take() else {
            return;
        };
        if let Some(mut r) = job.request.take() {
            let error = r.interrupted(cause);
            r.push(Err(error));
        }
        if let Some(message) = job.message.take() {
            self.broadcast(ClientEvent::Undelivered(message));
        }
    }

    /// Whether a request's response ends on a message (and not on the end of the
    /// stream, [`Terminal::EndOfStream`](crate::driver::Terminal::EndOfStream)).
    fn terminal_is_an_item(&self) -> bool {
        !matches!(self.terminal, crate::driver::Terminal::EndOfStream)
    }

    /// The next message for the fallback: from the outbox with acknowledged delivery
    /// (numbered, wrapped), otherwise from the queue.
    fn next_for_fallback(&mut self) -> Option<(Option<Seq>, Message)> {
        match self.acked.as_mut() {
            Some(acked) => acked.next_frame(&self.shared.queue),
            None => lock(&self.shared.queue).pop().map(|m| (None, m)),
        }
    }

    /// Write what waits: the next request, then queued messages (over the open socket,
    /// or one at a time over the fallback).
    pub(super) fn flush(&mut self) {
        let state = self.core.state();
        if state == StateName::Idle && self.deferred.is_empty() {
            let queued = !lock(&self.shared.queue).is_empty();
            if queued || !self.requests.is_empty() {
                // Idle after a normal close: reconnect now that there is something to send.
                self.deferred.push_back(Input::Start);
            }
            return;
        }
        // Over an open socket, writes happen in `poll_wake`.
        if state != StateName::Open && self.io.fallback_on && self.io.job.is_none() {
            let Some(fallback) = self.fallback.clone() else {
                return;
            };
            let mut request = self
                .requests
                .front()
                .is_some_and(|r| !r.sent)
                .then(|| self.requests.pop_front())
                .flatten();
            let body = match &mut request {
                Some(r) => {
                    r.mark_sent(&self.shared.queue, Instant::now(), self.request_idle);
                    Some((None, r.body.clone()))
                }
                None => self.next_for_fallback(),
            };
            let (acked, body) = match body {
                Some((seq, body)) => (seq, Some(body)),
                None => (None, None),
            };
            match body {
                Some(Message::Text(text)) => {
                    let note = CarrierNote::default();
                    let (_, headers) = self.dial_with(Carrier::Https);
                    let stream = fallback.request_noted(text.clone(), &headers, &note);
                    let stream = self.fallback_limits.guard(&*self.rt, stream);
                    // A numbered message stays in the outbox meanwhile.
                    let message =
                        (request.is_none() && acked.is_none()).then_some(Message::Text(text));
                    self.io.job = Some(FallbackJob {
                        stream,
                        request,
                        message,
                        acked,
                        answered: false,
                        note,
                    });
                    self.publish_acked();
                }
                Some(binary) => match request {
                    Some(mut r) => {
                        let e = RequestError::Unsupported(
                            "a binary body over the HTTPS fallback".into(),
                        );
                        r.push(Err(e));
                    }
                    None => self.broadcast(ClientEvent::Undelivered(binary)),
                },
                None => {}
            }
        }
    }
}
