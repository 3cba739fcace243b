//! The fallback's timeouts and size bounds: a timeout per phase, a guard on the gaps
//! between response items, and a bound on the bytes of one SSE event.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Timer;
use bytes::Bytes;
use futures_lite::Stream;

use super::FallbackStream;
use crate::policy::{FallbackError, Phase, ReachFailure};

/// Timeouts and bounds of one fallback request (the `[fallback]` config's
/// `*_timeout` and `max_*_bytes` fields; see [`FallbackLimits::from_config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackLimits {
    /// DNS and TCP connect.
    pub connect: Duration,
    /// The TLS handshake.
    pub tls: Duration,
    /// From the request written to the response's headers.
    pub headers: Duration,
    /// Between two response items (and from the headers to the first).
    pub idle: Duration,
    /// The bytes of one SSE event, and of a response body that is not SSE.
    pub max_event_bytes: usize,
}

impl Default for FallbackLimits {
    fn default() -> Self {
        FallbackLimits::from_config(&crate::config::FallbackConfig::default())
    }
}

/// Run `fut` for at most `limit`; past it, the phase's timeout error.
pub(super) async fn with_timeout<T>(
    limit: Duration,
    phase: Phase,
    fut: impl Future<Output = T>,
) -> Result<T, FallbackError> {
    futures_lite::future::or(async { Ok(fut.await) }, async {
        Timer::after(limit).await;
        Err(ReachFailure::Timeout(phase).into())
    })
    .await
}

/// Why the byte stream under the SSE parser ended.
#[derive(Debug)]
pub(super) enum Error {
    /// An event grew past its bound.
    TooLarge,
    /// The body failed.
    Body(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::TooLarge => f.write_str("an event is larger than its bound"),
            Error::Body(e) => f.write_str(e),
        }
    }
}

/// The body's bytes, failing once more than `limit` bytes (line ends included) arrive
/// without an event's end (a blank line; lines end with `\n`, `\r\n` or `\r`, as SSE
/// has it). The complete events before the oversized one still go through. The SSE
/// parser keeps one event's bytes at most, so this bounds its memory.
pub(super) fn bounded_events<S>(bytes: S, limit: usize) -> impl Stream<Item = Result<Bytes, Error>>
where
    S: Stream<Item = Result<Bytes, String>>,
{
    let (mut since_end, mut line_len, mut last_cr, mut failed) = (0usize, 0usize, false, false);
    let chunks = futures_lite::StreamExt::map(bytes, move |chunk| {
        let mut out = Vec::new();
        if failed {
            return out;
        }
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                out.push(Err(Error::Body(e)));
                return out;
            }
        };
        // Where the last complete event in this chunk ends.
        let mut complete = 0;
        for (i, &b) in chunk.iter().enumerate() {
            let skip = b == b'\n' && last_cr;
            last_cr = b == b'\r';
            if skip {
                // The `\n` of `\r\n`: the `\r` ended the line already.
                if since_end == 0 {
                    complete = i + 1;
                }
                continue;
            }
            if matches!(b, b'\n' | b'\r') {
                // An empty line ends the event.
                since_end = if line_len == 0 { 0 } else { since_end + 1 };
                line_len = 0;
                if since_end == 0 {
                    complete = i + 1;
                }
            } else {
                line_len += 1;
                since_end += 1;
            }
            if since_end > limit {
                failed = true;
                // The events that ended before the oversized one still count.
                if complete > 0 {
                    out.push(Ok(chunk.slice(..complete)));
                }
                out.push(Err(Error::TooLarge));
                return out;
            }
        }
        out.push(Ok(chunk));
        out
    });
    futures_lite::StreamExt::flat_map(chunks, futures_lite::stream::iter)
}

/// A response stream that fails with a [`ReachFailure::Timeout`] when no item comes
/// within `first` of the start (reported as the `first_phase`), or within `idle` of the
/// previous item (reported as idle).
pub(super) struct Guard {
    inner: FallbackStream,
    timer: Timer,
    idle: Duration,
    /// The phase a timeout before the first item is reported as.
    phase: Phase,
    done: bool,
}

impl Guard {
    pub(super) fn new(
        inner: FallbackStream,
        first: Duration,
        first_phase: Phase,
        idle: Duration,
    ) -> Guard {
        Guard {
            inner,
            timer: Timer::at(Instant::now() + first),
            idle,
            phase: first_phase,
            done: false,
        }
    }
}

impl Stream for Guard {
    type Item = Result<String, FallbackError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        // The response first: what already arrived wins over an elapsed timer (the
        // driver does not poll while the application is behind).
        if let Poll::Ready(item) = self.inner.as_mut().poll_next(cx) {
            let idle = self.idle;
            self.timer.set_after(idle);
            self.phase = Phase::Idle;
            self.done = item.is_none() || matches!(item, Some(Err(_)));
            return Poll::Ready(item);
        }
        if Pin::new(&mut self.timer).poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(ReachFailure::Timeout(self.phase).into())));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::StreamExt;

    /// The chunks `bounded_events` lets through for `chunks`, and whether it failed.
    fn run(chunks: &[&str], limit: usize) -> (String, bool) {
        let input: Vec<Result<Bytes, String>> = chunks
            .iter()
            .map(|c| Ok(Bytes::from(c.to_string())))
            .collect();
        let out: Vec<Result<Bytes, Error>> = futures_lite::future::block_on(
            bounded_events(futures_lite::stream::iter(input), limit).collect(),
        );
        let mut passed = String::new();
        let mut failed = false;
        for item in out {
            match item {
                Ok(b) => passed.push_str(std::str::from_utf8(&b).unwrap()),
                Err(Error::TooLarge) => failed = true,
                Err(Error::Body(e)) => panic!("{e}"),
            }
        }
        (passed, failed)
    }

    #[test]
    fn events_under_the_bound_pass_whatever_their_line_ends() {
        let body = "data: 0123456789\n\ndata: abc\r\n\r\ndata: x\r\rdata: y\n\n";
        // The longest event is 16 bytes and its line end.
        assert_eq!(run(&[body], 17), (body.to_string(), false));
        assert!(run(&[body], 16).1);
        // Split anywhere, even inside a `\r\n`.
        assert_eq!(
            run(&["data: 0123", "456789\r", "\n\r", "\n"], 17),
            ("data: 0123456789\r\n\r\n".to_string(), false)
        );
    }

    #[test]
    fn an_event_over_the_bound_fails_after_the_complete_ones_before_it() {
        let (passed, failed) = run(&["data: ok\n\ndata: 0123456789ABCDEF"], 16);
        assert_eq!((passed.as_str(), failed), ("data: ok\n\n", true));
        // Several lines of one event add up.
        let (passed, failed) = run(&["data: 01234\n", "data: 56789\n", "data: x\n\n"], 16);
        assert_eq!((passed.as_str(), failed), ("data: 01234\n", true));
        // A body without any event break (not SSE) is bounded the same way.
        assert!(run(&["{\"error\": \"", &"x".repeat(64), "\"}"], 32).1);
    }
}
