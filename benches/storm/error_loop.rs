//! The error loop of issue 13: every dial is accepted, the server sends one error
//! message and closes with 1011 3 ms later, forever. Under the old rule (the first
//! message made a connection stable: `budget.stable_on_first_message`) each message reset
//! the budget and the clients redialed for ever; under the default policy a message is
//! not stability, so each client dials `max_attempts` times and falls back.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use redial::core::{Core, Input, Output};
use redial::policy::Phase;
use redial::Config;
use serde_json::{json, Value};

const WINDOW: Duration = Duration::from_millis(100);
const LATENCY: Duration = Duration::from_millis(1);
/// Virtual time each run lasts: the old rule never stops, so the run is cut here.
pub const HORIZON: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Timer,
    Progress,
    Succeeded,
    Message,
    Close,
}

/// One run of the loop.
pub struct Loop {
    pub old_rule: bool,
    pub dials: u64,
    pub windows: Vec<u64>,
    pub wall: Duration,
}

impl Loop {
    pub fn peak(&self) -> u64 {
        self.windows.iter().copied().max().unwrap_or(0)
    }

    /// Dials per second over the whole run.
    pub fn rate(&self) -> f64 {
        self.dials as f64 / HORIZON.as_secs_f64()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "rule": if self.old_rule { "first message (before)" } else { "time (after)" },
            "horizon_s": HORIZON.as_secs(),
            "dials": self.dials,
            "dials_per_s": self.rate(),
            "peak_window": self.peak(),
            "wall_s": self.wall.as_secs_f64(),
        })
    }
}

pub fn run(old_rule: bool, n: u32) -> Loop {
    let mut config = Config::default();
    config.budget.stable_on_first_message = old_rule;
    let policy = config.validate().expect("a valid config");
    let t0 = Instant::now();
    let at = |ns: u64| t0 + Duration::from_nanos(ns);
    let ns = |t: Instant| t.saturating_duration_since(t0).as_nanos() as u64;
    let mut queue: BinaryHeap<Reverse<(u64, u32, Kind)>> = BinaryHeap::new();
    let mut armed: Vec<Option<Instant>> = vec![None; n as usize];
    let mut windows: Vec<u64> = Vec::new();
    let mut dials = 0u64;
    let started = Instant::now();
    let mut cores: Vec<Core> = (0..n)
        .map(|i| Core::new(policy.clone(), 0x10_0911 + u64::from(i)))
        .collect();
    for i in 0..n {
        queue.push(Reverse((0, i, Kind::Timer)));
    }
    let mut first = vec![true; n as usize];
    while let Some(Reverse((t, client, kind))) = queue.pop() {
        if Duration::from_nanos(t) > HORIZON {
            break;
        }
        let i = client as usize;
        let now = at(t);
        let input = match kind {
            Kind::Timer if first[i] => {
                first[i] = false;
                Input::Start
            }
            Kind::Timer if armed[i] != Some(now) => continue,
            Kind::Timer => Input::Timeout,
            Kind::Progress => Input::DialProgress(Phase::Handshake),
            Kind::Succeeded => Input::DialSucceeded,
            Kind::Message => Input::Received,
            Kind::Close => Input::PeerClosed {
                code: Some(1011),
                reason: b"internal error".to_vec(),
            },
        };
        let core = &mut cores[i];
        core.handle_input(now, input);
        while let Some(output) = core.poll_output() {
            if let Output::Dial { .. } = output {
                dials += 1;
                let w = (Duration::from_nanos(t).as_nanos() / WINDOW.as_nanos()) as usize;
                if windows.len() <= w {
                    windows.resize(w + 1, 0);
                }
                windows[w] += 1;
                let l = LATENCY.as_nanos() as u64;
                queue.push(Reverse((t + l, client, Kind::Progress)));
                queue.push(Reverse((t + 2 * l, client, Kind::Succeeded)));
                queue.push(Reverse((t + 3 * l, client, Kind::Message)));
                queue.push(Reverse((t + 6 * l, client, Kind::Close)));
            }
        }
        let deadline = core.poll_timeout();
        if deadline != armed[i] {
            armed[i] = deadline;
            if let Some(d) = deadline {
                queue.push(Reverse((ns(d), client, Kind::Timer)));
            }
        }
    }
    Loop {
        old_rule,
        dials,
        windows,
        wall: started.elapsed(),
    }
}
