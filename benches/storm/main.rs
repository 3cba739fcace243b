//! `storm`: 100,000 clients on the sans-IO core in virtual time, all dropped at once.
//!
//! Every client runs its own [`Core`] (default policy, its own jitter seed) and starts
//! Open and stable. At the drop they all receive the same close: a 1012 (service
//! restart) or a plain 1006 (the TCP connection dropped without a close frame). The
//! simulated server refuses dials for `outage` after the drop, then accepts every
//! dial (1 ms one way). The run counts dials per 100 ms window, finds the time until
//! every client is Open again, and measures how many core inputs per second the
//! simulation handles. One run per close × strategy × outage.
//!
//! The retry budget is raised (`max_attempts` 1000) so that no client falls back or
//! gives up during an outage: the storm measures the backoff, not the budget.
//!
//! A second table runs the error loop of issue 13 ([`error_loop`]): every dial accepted,
//! one error message, then 1011, forever; its peak and total dial rate under the old
//! stability rule (the first message) and under the default (time).
//!
//! Figures go to `target/redial-bench/storm.json`, the plot to `storm.png` beside it.

#[path = "../common/mod.rs"]
mod common;
mod error_loop;
mod plot;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use redial::config::Strategy;
use redial::core::{Core, Input, Output, StateName};
use redial::policy::{Phase, ReachFailure};
use redial::{Config, Event};
use serde_json::{json, Value};

const WINDOW: Duration = Duration::from_millis(100);
const LATENCY: Duration = Duration::from_millis(1);
/// Virtual time given to a storm before it is called unfinished.
const HORIZON: Duration = Duration::from_secs(600);

pub const STRATEGIES: [(Strategy, &str); 5] = [
    (Strategy::None, "none"),
    (Strategy::Full, "full jitter"),
    (Strategy::Equal, "equal jitter"),
    (Strategy::Decorrelated, "decorrelated jitter"),
    (Strategy::Spread, "±10 % spread"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    Restart1012,
    Plain1006,
}

impl Drop {
    pub fn name(self) -> &'static str {
        match self {
            Drop::Restart1012 => "1012",
            Drop::Plain1006 => "1006",
        }
    }

    fn input(self) -> Input {
        match self {
            Drop::Restart1012 => Input::PeerClosed {
                code: Some(1012),
                reason: b"restarting".to_vec(),
            },
            Drop::Plain1006 => Input::Dropped {
                detail: "connection reset by peer".into(),
            },
        }
    }
}

/// What happens to a client at a virtual time (ns since the drop).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Timer,
    Refused,
    Progress,
    Succeeded,
}

/// The result of one storm.
pub struct Storm {
    pub drop: Drop,
    pub strategy: &'static str,
    pub outage: Duration,
    /// Dials per 100 ms window since the drop.
    pub windows: Vec<u64>,
    pub attempts: u64,
    /// When the last client was Open again (`None`: not within the horizon).
    pub all_back: Option<Duration>,
    pub inputs: u64,
    pub wall: Duration,
    /// CPU time of the simulating thread, when the kernel tells it.
    pub cpu: Option<Duration>,
}

impl Storm {
    pub fn peak(&self) -> u64 {
        self.windows.iter().copied().max().unwrap_or(0)
    }

    /// Dials per window, averaged over the windows from the first dial to the last.
    pub fn mean(&self) -> f64 {
        let first = self.windows.iter().position(|&n| n > 0);
        let last = self.windows.iter().rposition(|&n| n > 0);
        match (first, last) {
            (Some(a), Some(b)) => self.attempts as f64 / (b - a + 1) as f64,
            _ => 0.0,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "close": self.drop.name(),
            "strategy": self.strategy,
            "outage_ms": self.outage.as_millis() as u64,
            "attempts": self.attempts,
            "peak_window": self.peak(),
            "mean_window": self.mean(),
            "peak_over_mean": self.peak() as f64 / self.mean().max(1e-9),
            "all_back_ms": self.all_back.map(|d| d.as_secs_f64() * 1e3),
            "inputs": self.inputs,
            "wall_s": self.wall.as_secs_f64(),
            "inputs_per_s": self.inputs as f64 / self.wall.as_secs_f64().max(1e-9),
            "cpu_s": self.cpu.map(|d| d.as_secs_f64()),
            "windows": self.windows,
        })
    }
}

struct World {
    t0: Instant,
    drop_at: Instant,
    outage: Duration,
    queue: BinaryHeap<Reverse<(u64, u32, Kind)>>,
    armed: Vec<Option<Instant>>,
    windows: Vec<u64>,
    back: Vec<bool>,
    waiting: usize,
    last_back: Duration,
    inputs: u64,
}

impl World {
    fn at(&self, ns: u64) -> Instant {
        self.drop_at + Duration::from_nanos(ns)
    }

    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.drop_at).as_nanos() as u64
    }

    fn push(&mut self, t: Instant, client: u32, kind: Kind) {
        let ns = self.ns(t);
        self.queue.push(Reverse((ns, client, kind)));
    }

    /// Feed one input, carry out the outputs, re-arm the client's timer.
    fn step(&mut self, core: &mut Core, client: u32, now: Instant, input: Input) {
        self.inputs += 1;
        core.handle_input(now, input);
        while let Some(output) = core.poll_output() {
            match output {
                Output::Dial { .. } => self.dial(client, now),
                Output::Event(Event::StateChanged { to, .. })
                    if to == StateName::Open && now >= self.drop_at =>
                {
                    let i = client as usize;
                    if !self.back[i] {
                        self.back[i] = true;
                        self.waiting -= 1;
                        self.last_back = self.last_back.max(now - self.drop_at);
                    }
                }
                _ => {}
            }
        }
        let deadline = core.poll_timeout();
        if deadline != self.armed[client as usize] {
            self.armed[client as usize] = deadline;
            if let Some(t) = deadline {
                self.push(t, client, Kind::Timer);
            }
        }
    }

    fn dial(&mut self, client: u32, now: Instant) {
        if now < self.drop_at {
            return; // the initial dials are answered directly in `open_all`
        }
        let since = now - self.drop_at;
        let w = (since.as_nanos() / WINDOW.as_nanos()) as usize;
        if self.windows.len() <= w {
            self.windows.resize(w + 1, 0);
        }
        self.windows[w] += 1;
        if since < self.outage {
            self.push(now + LATENCY, client, Kind::Refused);
        } else {
            self.push(now + LATENCY, client, Kind::Progress);
            self.push(now + 2 * LATENCY, client, Kind::Succeeded);
        }
    }
}

fn run(drop: Drop, strategy: (Strategy, &'static str), outage: Duration, n: u32) -> Storm {
    let mut config = Config::default();
    config.backoff.strategy = strategy.0;
    config.budget.max_attempts = 1000;
    let policy = config.validate().expect("a valid storm config");
    let t0 = Instant::now();
    let mut world = World {
        t0,
        drop_at: t0 + Duration::from_secs(6),
        outage,
        queue: BinaryHeap::new(),
        armed: vec![None; n as usize],
        windows: Vec::new(),
        back: vec![false; n as usize],
        waiting: n as usize,
        last_back: Duration::ZERO,
        inputs: 0,
    };
    let started = Instant::now();
    let cpu_start = common::thread_cpu();
    // Every client dials at time 0 and becomes stable by time (min_uptime, 5 s), before
    // the drop at 6 s.
    let stable_at = world.t0 + policy.config().budget.min_uptime;
    let mut cores: Vec<Core> = (0..n)
        .map(|i| {
            let mut core = Core::new(policy.clone(), 0x5eed_0000 + u64::from(i));
            for input in [
                Input::Start,
                Input::DialProgress(Phase::Handshake),
                Input::DialSucceeded,
                Input::Received,
            ] {
                world.step(&mut core, i, world.t0, input);
            }
            world.step(&mut core, i, stable_at, Input::Timeout);
            core
        })
        .collect();
    // Heartbeat timers armed at time 0 come after the drop; forget them and re-arm.
    world.queue.clear();
    let drop_at = world.drop_at;
    for (i, core) in cores.iter_mut().enumerate() {
        world.armed[i] = None;
        world.step(core, i as u32, drop_at, drop.input());
    }
    while world.waiting > 0 {
        let Some(Reverse((ns, client, kind))) = world.queue.pop() else {
            break;
        };
        if Duration::from_nanos(ns) > HORIZON {
            break;
        }
        let now = world.at(ns);
        let core = &mut cores[client as usize];
        let input = match kind {
            Kind::Timer if world.armed[client as usize] != Some(now) => continue,
            Kind::Timer => Input::Timeout,
            Kind::Refused => Input::DialFailed(ReachFailure::Refused),
            Kind::Progress => Input::DialProgress(Phase::Handshake),
            Kind::Succeeded => Input::DialSucceeded,
        };
        world.step(core, client, now, input);
    }
    let wall = started.elapsed();
    let cpu = common::thread_cpu()
        .zip(cpu_start)
        .map(|(b, a)| b.saturating_sub(a));
    Storm {
        drop,
        strategy: strategy.1,
        outage,
        attempts: world.windows.iter().sum(),
        windows: world.windows,
        all_back: (world.waiting == 0).then_some(world.last_back),
        inputs: world.inputs,
        wall,
        cpu,
    }
}

fn main() {
    if common::skipped(&["storm"]) {
        return; // `--list`, or a filter for another benchmark
    }
    let n: u32 = if common::quick() { 10_000 } else { 100_000 };
    let outages = [Duration::ZERO, Duration::from_secs(2)];
    let load_before = common::loadavg();
    let mut storms = Vec::new();
    for outage in outages {
        for drop in [Drop::Restart1012, Drop::Plain1006] {
            for strategy in STRATEGIES {
                let s = run(drop, strategy, outage, n);
                println!(
                    "storm {} {:<20} outage {:>4} ms: {:>7} dials, peak {:>6}/100ms, \
                     peak/mean {:>5.2}, all back {:>9}, {:>4.2} M inputs/s ({:>4.2} per CPU-s)",
                    s.drop.name(),
                    s.strategy,
                    outage.as_millis(),
                    s.attempts,
                    s.peak(),
                    s.peak() as f64 / s.mean().max(1e-9),
                    s.all_back.map_or("never".into(), |d| format!(
                        "{:.0} ms",
                        d.as_secs_f64() * 1e3
                    )),
                    s.inputs as f64 / s.wall.as_secs_f64() / 1e6,
                    s.cpu
                        .map_or(0.0, |c| s.inputs as f64 / c.as_secs_f64() / 1e6),
                );
                storms.push(s);
            }
        }
    }
    let loops: Vec<error_loop::Loop> = [true, false]
        .into_iter()
        .map(|old_rule| {
            let l = error_loop::run(old_rule, n);
            println!(
                "error loop (message, then 1011) {:<22} {:>9} dials in {} s: {:>9.0} dials/s, \
                 peak {:>6}/100ms ({:.1} s wall)",
                if old_rule {
                    "first-message rule:"
                } else {
                    "stable by time:"
                },
                l.dials,
                error_loop::HORIZON.as_secs(),
                l.rate(),
                l.peak(),
                l.wall.as_secs_f64(),
            );
            l
        })
        .collect();
    let inputs: u64 = storms.iter().map(|s| s.inputs).sum();
    let wall: f64 = storms.iter().map(|s| s.wall.as_secs_f64()).sum();
    let cpu: Option<f64> = storms.iter().map(|s| s.cpu.map(|c| c.as_secs_f64())).sum();
    let png = common::out_dir().join("storm.png");
    let plotted = match plot::draw(&storms, n, &png) {
        Ok(()) => {
            println!("storm: plot written to {}", png.display());
            true
        }
        Err(e) => {
            eprintln!("storm: no plot: {e}");
            false
        }
    };
    let result = json!({
        "clients": n,
        "window_ms": WINDOW.as_millis() as u64,
        "latency_ms": LATENCY.as_millis() as u64,
        "inputs": inputs,
        "wall_s": wall,
        "inputs_per_s": inputs as f64 / wall.max(1e-9),
        "cpu_s": cpu,
        "inputs_per_cpu_s": cpu.map(|c| inputs as f64 / c.max(1e-9)),
        "plotted": plotted,
        "storms": storms.iter().map(Storm::to_json).collect::<Vec<_>>(),
        "error_loop": loops.iter().map(error_loop::Loop::to_json).collect::<Vec<_>>(),
        "load_before": load_before,
        "load_after": common::loadavg(),
    });
    common::write_result("storm", &result);
}
