//! How the application reaches the driver: through a [`Client`](crate::driver::Client)'s
//! channels when the driver runs as its own task, or directly when an in-task
//! [`Connection`](crate::driver::Connection) polls it in the caller's task.

use std::collections::VecDeque;
use std::pin::Pin;

use crate::driver::event::Incoming;
use crate::driver::request::PendingRequest;

/// Commands from handles to the driver.
pub(crate) enum Command {
    Request(PendingRequest),
    Close,
}

/// The application's side, as the driver sees it.
pub(crate) enum Front {
    /// Handles ([`Client`](crate::driver::Client) clones) talk to a spawned driver.
    Handles {
        commands: Pin<Box<async_channel::Receiver<Command>>>,
        /// A handle queued a message, or a stream was read or dropped.
        wake: Pin<Box<async_channel::Receiver<()>>>,
        /// Received messages for the client's [`Messages`](crate::driver::Messages)
        /// streams.
        inbound: async_channel::Sender<Incoming>,
        /// Dropped when the driver ends: `Client::close` and `closed` wait for it.
        _done: async_channel::Sender<()>,
    },
    /// The caller's task polls the driver: received messages wait here until its
    /// `poll_next` takes them. No channel, no second task.
    InTask {
        inbox: VecDeque<Incoming>,
        /// The application asked to close: the next poll hears it as a handle's
        /// `Close` command, so that both ways to run share one path.
        close: bool,
    },
}

impl Front {
    /// Whether anyone holds a stream of received messages (an in-task connection is
    /// one itself).
    pub(crate) fn has_reader(&self) -> bool {
        match self {
            // The client's own handle holds one receiver; any more is a stream.
            Front::Handles { inbound, .. } => inbound.receiver_count() > 1,
            Front::InTask { .. } => true,
        }
    }

    /// Received messages waiting for the application.
    pub(crate) fn waiting(&self) -> usize {
        match self {
            Front::Handles { inbound, .. } => inbound.len(),
            Front::InTask { inbox, .. } => inbox.len(),
        }
    }

    /// Hand a received message on (the caller checked the room).
    pub(crate) fn deliver(&mut self, incoming: Incoming) {
        match self {
            Front::Handles { inbound, .. } => {
                let _ = inbound.try_send(incoming);
            }
            Front::InTask { inbox, .. } => inbox.push_back(incoming),
        }
    }

    /// The next received message, for an in-task connection.
    pub(crate) fn take(&mut self) -> Option<Incoming> {
        match self {
            Front::Handles { .. } => None,
            Front::InTask { inbox, .. } => inbox.pop_front(),
        }
    }

    /// The next command from a handle, without waiting.
    pub(crate) fn poll_command(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Command>> {
        use futures_lite::Stream;
        match self {
            Front::Handles { commands, .. } => commands.as_mut().poll_next(cx),
            Front::InTask { close, .. } => match std::mem::take(close) {
                true => std::task::Poll::Ready(Some(Command::Close)),
                false => std::task::Poll::Pending,
            },
        }
    }

    /// An in-task connection's close: heard at the next poll.
    pub(crate) fn request_close(&mut self) {
        if let Front::InTask { close, .. } = self {
            *close = true;
        }
    }

    /// Whether a handle asked to be heard (a queued message, a stream read or dropped).
    pub(crate) fn poll_wake(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        use futures_lite::Stream;
        match self {
            Front::Handles { wake, .. } => {
                matches!(
                    wake.as_mut().poll_next(cx),
                    std::task::Poll::Ready(Some(()))
                )
            }
            Front::InTask { .. } => false,
        }
    }

    /// The driver ends: no more commands (those sent and not taken are returned, so
    /// that their requests end too), and the message streams end once read.
    pub(crate) fn close(&mut self) -> Vec<Command> {
        match self {
            Front::Handles {
                commands, inbound, ..
            } => {
                commands.close();
                let left = std::iter::from_fn(|| commands.try_recv().ok()).collect();
                inbound.close();
                left
            }
            Front::InTask { .. } => Vec::new(),
        }
    }
}
