//! [`Sleep`]: a runtime's timer as a future that can be moved.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use super::AsyncTimer;

/// A runtime's timer as a future: ready once its deadline has passed. Moving it
/// ([`set_at`](Sleep::set_at)) re-arms it, whether or not it fired.
#[derive(Debug)]
pub struct Sleep(Pin<Box<dyn AsyncTimer>>);

impl Sleep {
    /// Wrap a runtime's timer.
    pub fn new(timer: Pin<Box<dyn AsyncTimer>>) -> Sleep {
        Sleep(timer)
    }

    /// Fire at `at` instead.
    pub fn set_at(&mut self, at: Instant) {
        self.0.as_mut().reset(at);
    }

    /// Fire `d` from now instead.
    pub fn set_after(&mut self, d: std::time::Duration) {
        self.set_at(Instant::now() + d);
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
