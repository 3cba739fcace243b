//! The driver's work outside an open socket: reconnecting from Idle when something
//! waits to be sent, and carrying requests and messages over the HTTPS fallback.

use super::Driver;
use crate::core::{Input, StateName};
use crate::driver::client::{ClientEvent, Incoming, TransportKind};
use crate::driver::fallback::{FallbackError, FallbackStream};
use crate::driver::message::Message;
use crate::driver::request::{PendingRequest, RequestError};

/// One job on the fallback: a request, or a plain message whose response events go to
/// the message stream.
pub(super) struct FallbackJob {
    pub(super) stream: FallbackStream,
    pub(super) request: Option<PendingRequest>,
}

impl Driver {
    /// An item (or the end) of the fallback job in flight: to its request, or to the
    /// message stream.
    pub(super) async fn on_fallback(&mut self, item: Option<Result<String, FallbackError>>) {
        let Some(job) = self.io.job.as_mut() else {
            return;
        };
        match (item, job.request.as_mut()) {
            (Some(Ok(data)), Some(r)) => {
                let message = Message::Text(data);
                let done = self.terminal.is_terminal(&message);
                r.deliver(Ok(message)).await;
                if done {
                    self.io.job = None;
                }
            }
            (Some(Ok(data)), None) => {
                let incoming = Incoming {
                    message: Message::Text(data),
                    transport: TransportKind::Https,
                };
                let _ = self.inbound.send(incoming).await;
            }
            (Some(Err(e)), Some(r)) => {
                r.deliver(Err(RequestError::Fallback(e))).await;
                self.io.job = None;
            }
            (Some(Err(e)), None) => {
                tracing::warn!(error = %e, "fallback delivery failed");
                self.io.job = None;
            }
            (None, _) => self.io.job = None,
        }
    }

    fn pop_queued(&self) -> Option<Message> {
        self.shared.queue.lock().ok()?.pop()
    }

    /// Write what waits: the next request, then queued messages (over the open socket,
    /// or one at a time over the fallback).
    pub(super) async fn flush(&mut self) {
        let state = self.core.state();
        if state == StateName::Idle && self.deferred.is_empty() {
            let queued = self
                .shared
                .queue
                .lock()
                .map(|q| !q.is_empty())
                .unwrap_or(false);
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
                    r.sent = true;
                    Some(r.body.clone())
                }
                None => self.pop_queued(),
            };
            match body {
                Some(Message::Text(text)) => {
                    let stream = fallback.request(text, &self.headers);
                    self.io.job = Some(FallbackJob { stream, request });
                }
                Some(binary) => match request {
                    Some(mut r) => {
                        let e = RequestError::Unsupported(
                            "a binary body over the HTTPS fallback".into(),
                        );
                        r.deliver(Err(e)).await;
                    }
                    None => self.broadcast(ClientEvent::Undelivered(binary)),
                },
                None => {}
            }
        }
    }
}
