//! A countdown for long waits (backoff, Retry-After, the re-probe cooldown), redrawn
//! with `\r` every 100 ms — only on a terminal and never with `--json`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::term::{self, Stream};

/// Waits shorter than this get no countdown.
const MIN_WAIT: Duration = Duration::from_millis(900);
const TICK: Duration = Duration::from_millis(100);

/// One printer's countdown; a newer countdown (of any printer) replaces an older one.
#[derive(Debug)]
pub struct Countdown {
    stream: Stream,
    enabled: bool,
    id: AtomicU64,
}

impl Countdown {
    /// A countdown drawn on `stream`, disabled with `--json` or when it is not a
    /// terminal.
    pub fn new(stream: Stream, json: bool) -> Countdown {
        Countdown {
            stream,
            enabled: !json && stream.is_terminal(),
            id: AtomicU64::new(0),
        }
    }

    /// Counts down `wait` with `label` ("dial 2 of 5"), replacing any running one.
    pub fn start(&self, label: String, wait: Duration) {
        if !self.enabled || wait < MIN_WAIT {
            return;
        }
        let id = term::countdown_begin();
        self.id.store(id, Ordering::SeqCst);
        let deadline = Instant::now() + wait;
        let stream = self.stream;
        async_std::task::spawn(async move {
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    term::countdown_end(id);
                    return;
                }
                let text = format!("  ⏳ {label} in {}", remaining(left));
                if !term::countdown_draw(id, stream, &text) {
                    return;
                }
                async_io::Timer::after(TICK.min(left)).await;
            }
        });
    }

    /// Ends this printer's countdown, if it is the one shown.
    pub fn stop(&self) {
        let id = self.id.swap(0, Ordering::SeqCst);
        if id != 0 {
            term::countdown_end(id);
        }
    }
}

/// "3.4 s", or "4:59" from a minute up.
fn remaining(left: Duration) -> String {
    let tenths = left.as_millis().div_ceil(100);
    if tenths >= 600 {
        let s = tenths.div_ceil(10);
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        format!("{}.{} s", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_reads_well() {
        assert_eq!(remaining(Duration::from_millis(3_420)), "3.5 s");
        assert_eq!(remaining(Duration::from_millis(100)), "0.1 s");
        assert_eq!(remaining(Duration::from_secs(299)), "4:59");
    }
}
