//! The driver's end: once the core has stopped, what is left is handed back, every
//! request ends with an error item, and the socket and the channels are let go.

use super::socket::close_quietly;
use super::Command;
use super::{Driver, Io};
use crate::driver::event::ClientEvent;
use crate::driver::lock::lock;
use crate::driver::request::RequestError;
use crate::driver::runtime::BoxFuture;

impl Driver {
    /// The core stopped: the open socket (if any) says goodbye, 200 ms at most. The
    /// future owns the socket and gives whether everything it held was written.
    pub(super) fn last_close(&mut self) -> BoxFuture<bool> {
        match self.io.ws.take() {
            Some(mut conn) => {
                let rt = self.rt.clone();
                Box::pin(async move { close_quietly(&*rt, &mut conn.0).await })
            }
            None => Box::pin(std::future::ready(false)),
        }
    }

    /// After the last close (`flushed`: the socket took everything): hand back what is
    /// left, end requests, let go of the streams. Also what a dropped driver does, with
    /// `flushed` false.
    pub(super) fn finish(&mut self, flushed: bool) {
        let cause = self
            .core
            .last_cause()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "the client was dropped".into());
        self.reset_writer(flushed);
        self.flush_held();
        self.finish_job(&cause);
        self.io = Io::default();
        // Closed first, so that no `settled` waiter takes the outbox's hand-back for
        // an acknowledgement; the outbox's messages left the queue before the queue's
        // did, so they are handed back first.
        let leftovers = lock(&self.shared.queue).close();
        self.hand_back_acked();
        for m in leftovers {
            self.broadcast(ClientEvent::Undelivered(m));
        }
        for mut r in self.requests.drain(..) {
            // Written once and waiting to be replayed: the server may have it.
            let e = if r.sent || r.written_before {
                RequestError::Interrupted {
                    sent: true,
                    response_started: r.started,
                    cause: cause.clone(),
                }
            } else {
                RequestError::Stopped(cause.clone())
            };
            r.push(Err(e));
            r.release(&self.shared.queue);
        }
        // Requests sent before the close but not yet taken: their streams end too (the
        // channel would keep them, and their streams open, while any handle lives).
        for command in self.front.close() {
            if let Command::Request(mut r) = command {
                r.push(Err(RequestError::Stopped(cause.clone())));
                r.release(&self.shared.queue);
            }
        }
        lock(&self.shared.subscribers).clear();
        *lock(&self.shared.state) = crate::core::StateName::Stopped;
    }
}
