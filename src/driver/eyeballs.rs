//! Happy Eyeballs (RFC 8305) for both transports: every resolved address, the two
//! families interleaved, connection attempts started `stagger` apart (or at once when
//! the one before fails), the first to connect wins and the others are dropped. A
//! black-holed address costs one stagger, not the connect timeout; every failure is
//! kept for the cause.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::runtime::{Runtime, Sleep};

/// The addresses in the order they are tried: the first address's family first, then
/// alternating with the other family (RFC 8305 §4), each family in the resolver's order.
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let v6_first = first.is_ipv6();
    let (mut lead, mut other): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == v6_first);
    let mut out = Vec::with_capacity(lead.len() + other.len());
    lead.reverse();
    other.reverse();
    loop {
        match (lead.pop(), other.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

type Attempt<'a, T> = Pin<Box<dyn Future<Output = (SocketAddr, io::Result<T>)> + Send + 'a>>;

/// Race `connect` over `addrs` (already in order): start the first, then the next one
/// `stagger` later, or as soon as an attempt fails, until one connects. Returns the winner, or every address's failure in the order they ended.
/// Without a runtime (no timers), each attempt waits for the one before to fail.
pub(crate) async fn race<'a, T, F, Fut>(
    rt: Option<&dyn Runtime>,
    addrs: Vec<SocketAddr>,
    stagger: Duration,
    connect: F,
) -> Result<T, Vec<(SocketAddr, io::Error)>>
where
    T: Send + 'a,
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>> + Send + 'a,
{
    let mut waiting = addrs.into_iter();
    let mut running: FuturesUnordered<Attempt<'a, T>> = FuturesUnordered::new();
    let mut failures = Vec::new();
    let mut timer: Option<Sleep> = None;
    let arm = |timer: &mut Option<Sleep>| match (timer.as_mut(), rt) {
        (Some(t), _) => t.set_after(stagger),
        (None, Some(rt)) => *timer = Some(rt.sleep(stagger)),
        (None, None) => {}
    };
    let start = |addr: SocketAddr, running: &mut FuturesUnordered<Attempt<'a, T>>| {
        let attempt = connect(addr);
        running.push(Box::pin(async move { (addr, attempt.await) }));
    };
    futures_lite::future::poll_fn(|cx| loop {
        if running.is_empty() {
            // Nothing in flight (the start, or every attempt failed): the next address
            // now, or the end.
            match waiting.next() {
                Some(addr) => {
                    start(addr, &mut running);
                    // A single address (the usual case) arms no timer.
                    if waiting.len() > 0 {
                        arm(&mut timer);
                    }
                }
                None => return Poll::Ready(Err(std::mem::take(&mut failures))),
            }
        }
        match running.poll_next_unpin(cx) {
            Poll::Ready(Some((_, Ok(stream)))) => return Poll::Ready(Ok(stream)),
            Poll::Ready(Some((addr, Err(e)))) => {
                failures.push((addr, e));
                // A failure starts the next attempt at once.
                if let Some(next) = waiting.next() {
                    start(next, &mut running);
                    if waiting.len() > 0 {
                        arm(&mut timer);
                    }
                }
                continue;
            }
            Poll::Ready(None) | Poll::Pending => {}
        }
        let fired = timer
            .as_mut()
            .is_some_and(|t| Pin::new(t).poll(cx).is_ready());
        if waiting.len() > 0 && fired {
            if let Some(addr) = waiting.next() {
                start(addr, &mut running);
                if waiting.len() > 0 {
                    arm(&mut timer);
                }
                continue;
            }
        }
        return Poll::Pending;
    })
    .await
}

#[cfg(all(test, feature = "async-io"))]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Instant;

    use super::*;

    fn v4(last: u8) -> SocketAddr {
        (Ipv4Addr::new(192, 0, 2, last), 443).into()
    }

    fn v6(last: u16) -> SocketAddr {
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last), 443).into()
    }

    #[test]
    fn families_alternate_from_the_first_ones() {
        assert_eq!(
            interleave(vec![v6(1), v6(2), v6(3), v4(1), v4(2)]),
            [v6(1), v4(1), v6(2), v4(2), v6(3)]
        );
        assert_eq!(interleave(vec![v4(1), v4(2), v6(1)]), [v4(1), v6(1), v4(2)]);
        assert_eq!(interleave(vec![]), []);
    }

    /// What each address does: never answer (a black hole), fail after a while, or
    /// connect after a while.
    #[derive(Clone, Copy)]
    enum Fate {
        Hole,
        Fail(u64),
        Connect(u64),
    }

    async fn dial(fate: Fate, addr: SocketAddr) -> io::Result<SocketAddr> {
        match fate {
            Fate::Hole => std::future::pending().await,
            Fate::Fail(ms) => {
                async_io::Timer::after(Duration::from_millis(ms)).await;
                Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))
            }
            Fate::Connect(ms) => {
                async_io::Timer::after(Duration::from_millis(ms)).await;
                Ok(addr)
            }
        }
    }

    fn run(
        fates: &[(SocketAddr, Fate)],
        stagger: u64,
    ) -> (Result<SocketAddr, Vec<(SocketAddr, io::Error)>>, Duration) {
        let fates = fates.to_vec();
        let addrs = fates.iter().map(|(a, _)| *a).collect();
        let t0 = Instant::now();
        let r = futures_lite::future::block_on(race(
            Some(&crate::driver::AsyncIoRuntime),
            addrs,
            Duration::from_millis(stagger),
            |addr| {
                let fate = fates.iter().find(|(a, _)| *a == addr).unwrap().1;
                dial(fate, addr)
            },
        ));
        (r, t0.elapsed())
    }

    #[test]
    fn a_black_hole_first_costs_one_stagger() {
        let (r, took) = run(&[(v6(1), Fate::Hole), (v4(1), Fate::Connect(0))], 50);
        assert_eq!(r.unwrap(), v4(1));
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert!(took < Duration::from_millis(50 + 150), "{took:?}");
    }

    #[test]
    fn a_failure_starts_the_next_at_once_and_every_failure_is_kept() {
        let (r, took) = run(
            &[
                (v6(1), Fate::Fail(0)),
                (v4(1), Fate::Fail(0)),
                (v6(2), Fate::Fail(0)),
            ],
            5_000,
        );
        let failures = r.unwrap_err();
        assert_eq!(
            failures.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            [v6(1), v4(1), v6(2)]
        );
        assert!(took < Duration::from_millis(1_000), "{took:?}");
    }

    #[test]
    fn the_first_to_connect_wins_even_if_started_later() {
        // The first is slow (connects after 400 ms); the second connects 10 ms after
        // its start at 30 ms.
        let (r, took) = run(
            &[(v6(1), Fate::Connect(400)), (v4(1), Fate::Connect(10))],
            30,
        );
        assert_eq!(r.unwrap(), v4(1));
        assert!(took < Duration::from_millis(300), "{took:?}");
    }
}
