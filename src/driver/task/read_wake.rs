//! Read the socket only when it may have something: a read that finds nothing costs a
//! system call (`recvfrom` returning `EAGAIN`), and the driver polls for many reasons
//! (each `send`, each command, each timer) that say nothing about the socket.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The waker given to the socket's reads: it notes that the socket woke, then wakes
/// whoever polls the driver.
#[derive(Debug)]
struct Flag {
    woken: AtomicBool,
    outer: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.outer.wake();
    }
}

/// Whether the open socket may have something to read, and the waker its reads use.
///
/// The rule: read when the socket's waker fired since the last read that found
/// nothing, or when the last read found something (more may wait in a buffer, with no
/// wake-up to come). A read that finds nothing leaves the waker registered with the
/// reactor, so whatever arrives later sets the flag and wakes the driver.
#[derive(Debug)]
pub(super) struct ReadWake {
    flag: Arc<Flag>,
    waker: Waker,
}

impl Default for ReadWake {
    fn default() -> Self {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            outer: AtomicWaker::new(),
        });
        let waker = Waker::from(flag.clone());
        Self { flag, waker }
    }
}

impl ReadWake {
    /// Before polling a read: register `cx`'s waker as the one to wake, and say
    /// whether to read now (the flag is cleared: a wake-up from here on sets it again).
    pub(super) fn due(&self, cx: &Context<'_>) -> bool {
        self.flag.outer.register(cx.waker());
        self.flag.woken.swap(false, Ordering::SeqCst)
    }

    /// The waker for the socket's reads.
    pub(super) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Read again at the next poll: the last read found something, or the socket is new.
    pub(super) fn again(&self) {
        self.flag.woken.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn reads_when_new_when_woken_and_after_a_read_that_found_something() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let outer = Waker::from(count.clone());
        let cx = Context::from_waker(&outer);
        let read = ReadWake::default();
        assert!(read.due(&cx), "a new socket is read");
        assert!(!read.due(&cx), "nothing woke it: no read");
        // The socket's reactor wakes the read waker: the next poll reads, and whoever
        // polls the driver is woken.
        read.waker().wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(read.due(&cx));
        assert!(!read.due(&cx));
        // A read that found something: read again, with no wake-up.
        read.again();
        assert!(read.due(&cx));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_wake_up_reaches_the_latest_poller() {
        let (first, second) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let read = ReadWake::default();
        let w1 = Waker::from(first.clone());
        read.due(&Context::from_waker(&w1));
        let w2 = Waker::from(second.clone());
        read.due(&Context::from_waker(&w2));
        read.waker().wake_by_ref();
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }
}
