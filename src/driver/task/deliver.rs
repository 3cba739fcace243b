//! Handing received messages to the application without ever waiting for it.
//!
//! A message goes to the request it answers, or to the [`Messages`](crate::driver::Messages)
//! stream. When that stream has no room, the message is held back and the driver stops
//! reading the socket (and the fallback's response) until the application reads:
//! backpressure instead of an `.await` that would freeze timers, heartbeats and
//! `close()`. With no message stream held at all, messages outside requests are counted
//! and reported, not kept. Dropped request streams are noticed here too.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Driver;
use crate::core::{Input, StateName};
use crate::driver::event::{CancelSettled, ClientEvent, Incoming, TransportKind};
use crate::driver::message::Message;
use crate::driver::request::{RequestError, REQUEST_BUFFER};
use crate::driver::shared::INBOUND_CAPACITY;
use crate::driver::writer::to_ws;

/// The close reason of a connection recycled for an abandoned request (invariant 14).
pub(super) const RECYCLE_REASON: &str = "a cancelled request's response did not end in time";

/// A received message waiting for room in its stream.
pub(super) enum Held {
    /// For the message stream.
    Inbound(Incoming),
    /// For the request in flight: over the fallback (`via_job`) or the WebSocket.
    Request { via_job: bool, message: Message },
}

/// The delivery side's state.
#[derive(Default)]
pub(crate) struct Delivery {
    pub(super) held: Option<Held>,
    /// `ReadingPaused` was reported (and `ReadingResumed` not yet).
    paused: bool,
    /// Messages discarded for want of a message stream.
    discarded: u64,
    /// How many of them were reported, and when last.
    reported: u64,
    reported_at: Option<Instant>,
}

/// `ClientEvent::Discarded` comes at most this often (and once more when the driver
/// ends), so that a flood does not push the core's events out of a subscriber's buffer.
const DISCARDED_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Driver {
    /// Whether the driver may read the socket and the fallback's response now.
    pub(super) fn reading(&self) -> bool {
        self.inbox.held.is_none()
    }

    /// Route a message received over `transport`: to the request it answers, or to the
    /// message stream; hold it back when that has no room.
    pub(super) fn route(&mut self, message: Message, transport: TransportKind) {
        let via_job = transport == TransportKind::Https;
        let to_request = match via_job {
            true => self.io.job.as_ref().is_some_and(|j| j.request.is_some()),
            false => self.requests.front().is_some_and(|r| r.sent),
        };
        let held = match to_request {
            true => Held::Request { via_job, message },
            false => Held::Inbound(Incoming { message, transport }),
        };
        if let Some(back) = self.offer(held) {
            let stream = match back {
                Held::Inbound(_) => "messages",
                Held::Request { .. } => "request",
            };
            self.inbox.held = Some(back);
            self.shared.holding.store(true, Ordering::Release);
            if !std::mem::replace(&mut self.inbox.paused, true) {
                tracing::info!(stream, "the application is not reading: reading paused");
                self.broadcast(ClientEvent::ReadingPaused { stream });
            }
        }
    }

    /// Deliver `held` if there is room; hands it back otherwise.
    fn offer(&mut self, held: Held) -> Option<Held> {
        match held {
            Held::Inbound(incoming) => {
                if !self.front.has_reader() {
                    self.inbox.discarded += 1;
                    let due = self
                        .inbox
                        .reported_at
                        .is_none_or(|t| t.elapsed() >= DISCARDED_EVERY);
                    if due {
                        self.report_discarded();
                    }
                    return None;
                }
                if self.front.waiting() >= INBOUND_CAPACITY {
                    return Some(Held::Inbound(incoming));
                }
                self.front.deliver(incoming);
                None
            }
            Held::Request { via_job, message } => {
                let done = self.terminal.is_terminal(&message);
                let idle = self.request_idle;
                let r = match via_job {
                    true => self.io.job.as_mut().and_then(|j| j.request.as_mut()),
                    false => self.requests.front_mut().filter(|r| r.sent),
                };
                // The request ended meanwhile: nothing waits for the rest.
                let r = r?;
                if !r.abandoned {
                    if !r.has_room() {
                        return Some(Held::Request { via_job, message });
                    }
                    r.push(Ok(message));
                }
                r.idle_at = Some(Instant::now() + idle);
                if done {
                    if r.abandoned {
                        let cancel_message = r.cancel_sent;
                        self.settled(CancelSettled::Ended, cancel_message);
                    }
                    self.end_request(via_job);
                }
                None
            }
        }
    }

    /// The request in flight is over (its terminal message, an error item, or given
    /// up on): free its line.
    pub(super) fn end_request(&mut self, via_job: bool) {
        if matches!(self.inbox.held, Some(Held::Request { via_job: v, .. }) if v == via_job) {
            self.inbox.held = None;
        }
        match via_job {
            true => {
                if let Some(job) = self.io.job.take() {
                    self.io.finishing = Some(job.stream.into());
                }
            }
            false => {
                if let Some(mut r) = self.requests.pop_front() {
                    r.release(&self.shared.queue);
                }
            }
        }
    }

    /// A request is about to get its final error item: the response item held for it
    /// goes first (a spare slot takes it).
    pub(super) fn flush_held_request(&mut self, via_job: bool) {
        if !matches!(self.inbox.held, Some(Held::Request { via_job: v, .. }) if v == via_job) {
            return;
        }
        let Some(Held::Request { message, .. }) = self.inbox.held.take() else {
            return;
        };
        let r = match via_job {
            true => self.io.job.as_mut().and_then(|j| j.request.as_mut()),
            false => self.requests.front_mut().filter(|r| r.sent),
        };
        if let Some(r) = r.filter(|r| !r.abandoned) {
            r.push(Ok(message));
        }
    }

    /// Report the messages discarded so far, if any are unreported.
    pub(super) fn report_discarded(&mut self) {
        let total = self.inbox.discarded;
        if total > self.inbox.reported {
            self.inbox.reported = total;
            self.inbox.reported_at = Some(Instant::now());
            self.broadcast(ClientEvent::Discarded { total });
        }
    }

    /// The driver ends: what is held goes into the spare slot of its stream.
    pub(super) fn flush_held(&mut self) {
        self.report_discarded();
        match self.inbox.held.take() {
            Some(Held::Inbound(incoming)) => self.front.deliver(incoming),
            Some(held @ Held::Request { .. }) => {
                let via_job = matches!(held, Held::Request { via_job: true, .. });
                self.inbox.held = Some(held);
                self.flush_held_request(via_job);
            }
            None => {}
        }
    }

    /// Progress on the application's side, checked at every wake-up: a held message
    /// delivered, a dropped request stream. True when something changed.
    pub(super) fn poll_application(&mut self) -> bool {
        let mut changed = self.cancel_dropped();
        if let Some(held) = self.inbox.held.take() {
            self.inbox.held = self.offer(held);
            changed |= self.inbox.held.is_none();
        }
        if self.inbox.held.is_none() {
            self.shared.holding.store(false, Ordering::Release);
        }
        if self.inbox.paused && self.inbox.held.is_none() && self.caught_up() {
            self.inbox.paused = false;
            tracing::info!("the application caught up: reading again");
            self.broadcast(ClientEvent::ReadingResumed);
        }
        changed
    }

    /// Whether every stream the driver fills is at most half full.
    fn caught_up(&self) -> bool {
        let request = self.requests.front().map_or(0, |r| r.tx.len());
        let job = self
            .io
            .job
            .as_ref()
            .and_then(|j| j.request.as_ref())
            .map_or(0, |r| r.tx.len());
        self.front.waiting() <= INBOUND_CAPACITY / 2 && request.max(job) <= REQUEST_BUFFER / 2
    }

    /// Requests whose stream was dropped: one not yet written leaves the line (its room
    /// in the queue is freed); the one in flight is no longer waited for.
    fn cancel_dropped(&mut self) -> bool {
        let mut changed = false;
        if self
            .io
            .job
            .as_ref()
            .and_then(|j| j.request.as_ref())
            .is_some_and(|r| r.cancelled())
        {
            // Dropping the fallback's response stream cancels the HTTP request.
            self.end_request(true);
            self.settled(CancelSettled::Released, false);
            changed = true;
        }
        let queue = &self.shared.queue;
        let before = self.requests.len();
        let mut index = 0;
        let mut abandoned = false;
        self.requests.retain_mut(|r| {
            let front = index == 0;
            index += 1;
            if !r.cancelled() {
                return true;
            }
            if front && r.sent {
                // Written: its response may still come, and must not reach the next
                // request. It is discarded until its end, for `cancel_grace` at most.
                abandoned = !r.abandoned;
                return true;
            }
            r.release(queue);
            false
        });
        if abandoned {
            self.abandon_front(Instant::now());
            changed = true;
        }
        if self.requests.len() != before {
            changed = true;
            if matches!(self.inbox.held, Some(Held::Request { via_job: false, .. }))
                && !self.requests.front().is_some_and(|r| r.sent)
            {
                self.inbox.held = None;
            }
        }
        changed
    }

    /// The earliest idle deadline of the requests in flight.
    pub(super) fn request_deadline(&self) -> Option<Instant> {
        let ws = self
            .requests
            .front()
            .filter(|r| r.sent)
            .and_then(|r| r.idle_at);
        let job = self
            .io
            .job
            .as_ref()
            .and_then(|j| j.request.as_ref())
            .and_then(|r| r.idle_at);
        match (ws, job) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A request's idle deadline may have passed: its stream ends with
    /// [`RequestError::TimedOut`]. Over WebSockets the rest of its response is then
    /// discarded until its end, for `cancel_grace` at most (then the connection is
    /// recycled).
    pub(super) fn on_request_idle(&mut self) {
        let now = Instant::now();
        let idle = self.request_idle;
        if self.request_expired(true, now) {
            self.flush_held_request(true);
            if let Some(r) = self.io.job.as_mut().and_then(|j| j.request.as_mut()) {
                r.push(Err(timed_out(idle, r.sent, r.started)));
            }
            self.end_request(true);
            self.settled(CancelSettled::Released, false);
        }
        if self.request_expired(false, now) {
            self.flush_held_request(false);
            let Some(r) = self.requests.front_mut() else {
                return;
            };
            if r.abandoned {
                // Its response did not end within `cancel_grace`.
                return self.recycle();
            }
            r.push(Err(timed_out(idle, r.sent, r.started)));
            self.abandon_front(now);
        }
    }

    /// The written request at the front was abandoned (its stream dropped, or it timed
    /// out): the next request waits for its response's end, `cancel_grace` at most. A
    /// cancel message, if the application has one, goes out at once.
    fn abandon_front(&mut self, now: Instant) {
        let grace = self.cancel.grace;
        let cancel = self.cancel.message.clone();
        let open = self.io.ws.is_some();
        let Some(r) = self.requests.front_mut().filter(|r| r.sent) else {
            return;
        };
        r.abandoned = true;
        r.idle_at = Some(now + grace);
        if let Some(message) = cancel.filter(|_| open).and_then(|f| f(&r.body)) {
            r.cancel_sent = true;
            self.io.writer.control(to_ws(message));
        }
    }

    /// The abandoned request's response did not end within `cancel_grace`: the
    /// connection is recycled (the core closes it with 1000 and dials again), so that
    /// the rest of that response cannot reach the next request. The request leaves the
    /// line when the connection ends.
    fn recycle(&mut self) {
        let Some(r) = self.requests.front_mut() else {
            return;
        };
        r.idle_at = None;
        let cancel_message = r.cancel_sent;
        if self.core.state() != StateName::Open || self.io.ws.is_none() {
            return self.end_request(false);
        }
        tracing::info!("an abandoned request's response did not end in time: recycling");
        self.input(Input::Recycle {
            reason: RECYCLE_REASON.into(),
        });
        self.settled(CancelSettled::Recycled, cancel_message);
    }

    /// An abandoned request no longer holds the line.
    pub(super) fn settled(&self, how: CancelSettled, cancel_message: bool) {
        self.broadcast(ClientEvent::CancelSettled {
            how,
            cancel_message,
        });
    }

    fn request_expired(&self, via_job: bool, now: Instant) -> bool {
        let r = match via_job {
            true => self.io.job.as_ref().and_then(|j| j.request.as_ref()),
            false => self.requests.front().filter(|r| r.sent),
        };
        r.and_then(|r| r.idle_at).is_some_and(|at| now >= at)
    }

    /// The core's deadline passed. While reading is paused the server's pongs sit
    /// unread in the socket, so the heartbeat's silence is the application's doing,
    /// not the server's: it is not counted.
    pub(super) fn on_timer(&mut self) {
        let now = Instant::now();
        if !self.reading() && self.core.state() == StateName::Open {
            self.core.handle_input(now, Input::Pong);
        }
        self.core.handle_timeout(now);
    }
}

fn timed_out(idle: std::time::Duration, sent: bool, response_started: bool) -> RequestError {
    RequestError::TimedOut {
        idle,
        sent,
        response_started,
    }
}
