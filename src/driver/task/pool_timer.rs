//! The fallback's kept connections, run from the driver's task: the pool has no task
//! of its own, so the driver polls the connections at each wake-up while the fallback
//! may hold any (whatever the application reads: an HTTP/2 connection whose only
//! response is paused still answers the server's pings), and keeps a timer for the
//! next idle connection's expiry, so that an idle connection is closed on time even
//! when no further request comes.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::{Duration, Instant};

use crate::driver::runtime::{Runtime, Sleep};

use super::Io;
use crate::driver::fallback::Fallback;

impl Io {
    /// At each wake-up, whatever the application reads: the rest of a finished
    /// response is read on (within its bounds, then dropped), and the fallback's
    /// connections run and expire. `idle`: the fallback's idle timeout.
    pub(super) fn poll_fallback_connections(
        &mut self,
        rt: &dyn Runtime,
        fallback: Option<&dyn Fallback>,
        idle: Duration,
        cx: &mut Context<'_>,
    ) {
        if self
            .finishing
            .as_mut()
            .is_some_and(|f| f.poll_drain(rt, cx, idle).is_ready())
        {
            self.finishing = None;
        }
        let busy = self.job.is_some() || self.finishing.is_some();
        self.pool.poll(rt, fallback, busy, cx);
    }
}

/// The driver's side of the fallback's connections.
#[derive(Default)]
pub(super) struct PoolTimer {
    /// The next idle connection's expiry, as the fallback last gave it.
    timer: Option<(Instant, Sleep)>,
    /// A job or a finishing response held a connection at the last wake-up.
    busy: bool,
}

impl PoolTimer {
    /// At each wake-up. `busy`: a job or a finishing response holds a connection.
    ///
    /// While one does, or while a connection is idle (the timer is armed), the
    /// fallback's connections are polled. When the last response ends, or the timer
    /// fires, the expired idle connections are closed and the timer is armed for the
    /// next expiry; when none is idle, nothing is polled until the next job. Never
    /// ready: its wakers are the timer's and the connections'.
    fn poll(
        &mut self,
        rt: &dyn Runtime,
        fallback: Option<&dyn Fallback>,
        busy: bool,
        cx: &mut Context<'_>,
    ) {
        let Some(fallback) = fallback else {
            return;
        };
        let ended = std::mem::replace(&mut self.busy, busy) && !busy;
        if !busy && !ended && self.timer.is_none() {
            return;
        }
        fallback.poll_connections(cx);
        let mut expire = ended;
        // Bounded: the deadline the fallback returns is after `now`, so the timer just
        // armed is not ready at once.
        for _ in 0..3 {
            if let Some((_, timer)) = self.timer.as_mut() {
                if Pin::new(timer).poll(cx).is_ready() {
                    self.timer = None;
                    expire = true;
                }
            }
            if !std::mem::take(&mut expire) {
                return;
            }
            match (fallback.expire_idle(Instant::now()), &mut self.timer) {
                (None, slot) => *slot = None,
                (Some(at), Some((armed, timer))) => {
                    if at != *armed {
                        timer.set_at(at);
                        *armed = at;
                    }
                }
                (Some(at), slot @ None) => *slot = Some((at, rt.sleep_until(at))),
            }
        }
        // The timer armed last was not polled: the next wake-up polls it.
        cx.waker().wake_by_ref();
    }
}
