//! The driver's end: once the core has stopped, what is left is handed back, every
//! request ends with an error item, and the socket and the channels are let go.

use super::{close_quietly, writable, Driver, Io};
use crate::driver::client::{ClientEvent, Command};
use crate::driver::request::RequestError;

impl Driver {
    /// The core stopped: hand back what is left, end requests, let go of the socket.
    pub(super) async fn finish(&mut self) {
        let cause = self
            .core
            .last_cause()
            .map(|c| c.to_string())
            .unwrap_or_default();
        let flushed = match self.io.ws.take() {
            Some(mut conn) => close_quietly(&mut conn.0).await,
            None => false,
        };
        let data = writable(false, &mut self.requests, &self.shared, self.request_idle);
        self.io.writer.reset(flushed, data);
        self.flush_held();
        self.finish_job(&cause);
        self.io = Io::default();
        let leftovers = match self.shared.queue.lock() {
            Ok(mut q) => q.close(),
            Err(_) => Vec::new(),
        };
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
        self.commands.close();
        // Requests sent before the close but not yet taken: their streams end too (the
        // channel would keep them, and their streams open, while any handle lives).
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Request(mut r) = command {
                r.push(Err(RequestError::Stopped(cause.clone())));
                r.release(&self.shared.queue);
            }
        }
        self.inbound.close();
        if let Ok(mut subs) = self.shared.subscribers.lock() {
            subs.clear();
        }
    }
}
