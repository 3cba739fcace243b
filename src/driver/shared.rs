//! What the handles and the driver share: the send queue, the state as last
//! published, the event subscriptions, and what was handed back while nobody listened.

use crate::driver::lock::lock;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use super::event::{Events, Subscriber};
use super::message::Message;
use super::queue::{Queue, SendError};
use crate::core::StateName;

/// Received messages waiting for the application; past this the driver stops reading
/// the socket until the application catches up. One more slot is kept so that a message
/// held back fits when the driver ends.
pub(crate) const INBOUND_CAPACITY: usize = 256;

/// State shared between the handles and the driver.
pub(crate) struct Shared {
    pub queue: Mutex<Queue>,
    pub state: Mutex<StateName>,
    /// The subprotocol the server chose on the latest upgrade, as last published.
    pub protocol: Mutex<Option<String>>,
    pub subscribers: Mutex<Vec<Subscriber>>,
    /// Messages handed back while no event stream was open, for
    /// [`Client::take_undelivered`].
    pub unclaimed: Mutex<Vec<Message>>,
    /// The driver holds back a received message for want of room (reading paused):
    /// the streams wake it when the application takes an item.
    pub holding: AtomicBool,
}

impl Shared {
    /// Queue a message (`send`): fails at once when the queue is full or closed.
    pub(crate) fn push(&self, message: Message) -> Result<(), SendError> {
        lock(&self.queue).push(message)
    }

    /// Whether one more (small) message would be accepted now.
    pub(crate) fn has_room(&self) -> bool {
        lock(&self.queue).has_room()
    }

    /// Messages held for their acknowledgement (acknowledged delivery).
    pub(crate) fn unacknowledged(&self) -> usize {
        lock(&self.queue).acked_held()
    }

    /// Messages queued and not yet written.
    pub(crate) fn queued(&self) -> usize {
        lock(&self.queue).len()
    }

    /// A new event subscription.
    pub(crate) fn subscribe(&self) -> Events {
        // Unbounded underneath (it allocates as events wait, not up front); the driver,
        // the only sender, keeps the bound.
        let (tx, rx) = async_channel::unbounded();
        lock(&self.subscribers).push(Subscriber { tx, missed: 0 });
        Events(Box::pin(rx))
    }

    /// Messages handed back while no event stream was open, each once.
    pub(crate) fn take_unclaimed(&self) -> Vec<Message> {
        std::mem::take(&mut *lock(&self.unclaimed))
    }

    /// The core's state, as the driver last published it.
    pub(crate) fn state(&self) -> StateName {
        *lock(&self.state)
    }
}
