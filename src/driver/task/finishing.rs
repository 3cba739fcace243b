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

#[cfg(all(test, feature = "async-io"))]
mod tests {
    use super::*;
    use crate::driver::AsyncIoRuntime;
    use crate::policy::FallbackError;
    use futures_lite::Stream;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    /// The rest of a response: `left` events of `size` bytes, always ready, then its
    /// end. `read` counts the events taken, `ended` says whether the end was reached.
    struct Rest {
        left: usize,
        size: usize,
        read: Arc<AtomicUsize>,
        ended: Arc<AtomicBool>,
    }

    impl Stream for Rest {
        type Item = Result<String, FallbackError>;

        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            if self.left == 0 {
                self.ended.store(true, Ordering::SeqCst);
                return Poll::Ready(None);
            }
            self.left -= 1;
            self.read.fetch_add(1, Ordering::SeqCst);
            Poll::Ready(Some(Ok("x".repeat(self.size))))
        }
    }

    /// Counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A `Finishing` over `events` events of `size` bytes; what it read, and whether
    /// it reached the end.
    fn finishing(events: usize, size: usize) -> (Finishing, Arc<AtomicUsize>, Arc<AtomicBool>) {
        let (read, ended) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let rest = Rest {
            left: events,
            size,
            read: read.clone(),
            ended: ended.clone(),
        };
        (
            Finishing::from(Box::pin(rest) as FallbackStream),
            read,
            ended,
        )
    }

    /// Poll until ready (the stream is always ready, so each poll reads a full budget
    /// or gets to the end or the bound): how many polls it took.
    fn drain(f: &mut Finishing) -> usize {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        for polls in 1..=100 {
            if f.poll_drain(&AsyncIoRuntime, &mut cx, Duration::from_secs(60))
                .is_ready()
            {
                return polls;
            }
            assert_eq!(
                count.0.load(Ordering::SeqCst),
                polls,
                "a poll that stops on its budget wakes the driver for the rest"
            );
        }
        panic!("not done after 100 polls");
    }

    #[test]
    fn a_rest_of_exactly_the_byte_bound_is_read_to_its_end() {
        // 64 events of 4 KiB: 256 KiB, the bound itself.
        let (mut f, read, ended) = finishing(64, 4096);
        assert_eq!(64 * 4096, FINISH_MAX_BYTES);
        drain(&mut f);
        assert_eq!(read.load(Ordering::SeqCst), 64);
        assert!(
            ended.load(Ordering::SeqCst),
            "read to its end: its connection may serve the next request"
        );
    }

    #[test]
    fn a_rest_over_the_byte_bound_is_cut_there() {
        let (mut f, read, ended) = finishing(1000, 4096);
        drain(&mut f);
        // The 65th event goes past 256 KiB.
        assert_eq!(read.load(Ordering::SeqCst), 65);
        assert!(!ended.load(Ordering::SeqCst), "dropped before its end");
    }

    #[test]
    fn each_wake_up_reads_at_most_frames_per_poll_events() {
        // Tiny events, far below the byte bound: only the per-poll budget stops a read.
        let (mut f, read, ended) = finishing(3 * FRAMES_PER_POLL, 1);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(f
            .poll_drain(&AsyncIoRuntime, &mut cx, Duration::from_secs(60))
            .is_pending());
        assert_eq!(read.load(Ordering::SeqCst), FRAMES_PER_POLL);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken for the rest");
        assert_eq!(drain(&mut f), 3, "two more budgets, then the end");
        assert_eq!(read.load(Ordering::SeqCst), 3 * FRAMES_PER_POLL);
        assert!(ended.load(Ordering::SeqCst));
    }
}
