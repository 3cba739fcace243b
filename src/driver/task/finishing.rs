//! The rest of a fallback response whose request is over (its terminal message came,
//! or the application dropped its stream): read on and dropped, so that its
//! connection can serve the next request, but only within a bound. A server that goes
//! on streaming is not worth a connection: past the bound the response is dropped,
//! and with it its connection (an HTTP/1.1 connection is closed, not given back to the
//! pool; an HTTP/2 stream is reset, its connection stays shared).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::driver::runtime::{Runtime, Sleep};

use crate::driver::fallback::FallbackStream;
use crate::driver::writer::FRAMES_PER_POLL;

/// The most event data read from the rest of a response (each event counted as one
/// byte at least).
pub(crate) const FINISH_MAX_BYTES: usize = 256 * 1024;

/// The longest a response's rest is read, from the end of its request; the fallback's
/// `idle_timeout` when that is shorter.
pub(crate) const FINISH_MAX_TIME: Duration = Duration::from_secs(5);

/// A response read to its end, within [`FINISH_MAX_BYTES`] and [`FINISH_MAX_TIME`].
pub(crate) struct Finishing {
    stream: FallbackStream,
    /// When its request ended.
    since: Instant,
    /// The time bound, armed at the first poll.
    timer: Option<Sleep>,
    /// Event data read so far.
    bytes: usize,
}

impl From<FallbackStream> for Finishing {
    fn from(stream: FallbackStream) -> Finishing {
        Finishing {
            stream,
            since: Instant::now(),
            timer: None,
            bytes: 0,
        }
    }
}

impl Finishing {
    /// Read what has come, [`FRAMES_PER_POLL`] events at most per wake-up (a response
    /// that goes on does not hold the driver). Ready when it is done with: read to its
    /// end, or over a bound (`idle`: the fallback's idle timeout); then drop it.
    pub(crate) fn poll_drain(
        &mut self,
        rt: &dyn Runtime,
        cx: &mut Context<'_>,
        idle: Duration,
    ) -> Poll<()> {
        let mut budget = FRAMES_PER_POLL;
        loop {
            match self.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    let bytes = item.as_ref().map_or(0, String::len).max(1);
                    self.bytes = self.bytes.saturating_add(bytes);
                    if self.bytes > FINISH_MAX_BYTES {
                        tracing::debug!(
                            bytes = self.bytes,
                            "a finished fallback response goes on: its connection is closed"
                        );
                        return Poll::Ready(());
                    }
                    budget -= 1;
                    if budget == 0 {
                        cx.waker().wake_by_ref();
                        break;
                    }
                }
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        let since = self.since;
        let timer = self
            .timer
            .get_or_insert_with(|| rt.sleep_until(since + idle.min(FINISH_MAX_TIME)));
        if Pin::new(timer).poll(cx).is_ready() {
            tracing::debug!(
                after = ?since.elapsed(),
                "a finished fallback response did not end in time: its connection is closed"
            );
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
