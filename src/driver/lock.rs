//! One way to take a lock in the driver. A lock poisoned by a panic elsewhere (an
//! application's callback, say) is taken all the same: what it guards (the send queue,
//! the subscriptions, the state) must still be handed back or read, never skipped.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Take `m`, poisoned or not.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
