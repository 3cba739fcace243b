//! `core_step`: what one input costs the sans-IO core.
//!
//! - `received_open` / `pong_open`: a steady activity input in a stable Open state
//!   (handle the input, drain the outputs: there are none);
//! - `close_to_backoff`: a server close 1001 in Open → classify → decide → Backoff, with
//!   every output (three events) drained and dropped, on warm (recycled) cores;
//! - heap allocations per input, counted by a counting global allocator
//!   (`stats_alloc`): steady state (target 0) and close → Backoff.
//!
//! Criterion's medians and the counts go to `target/redial-bench/core_step.json`.

mod common;

use std::alloc::System;
use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use redial::core::{Core, Input, StateName};
use redial::policy::Phase;
use redial::Config;
use serde_json::json;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A core with the default policy, Open and stable (a server message arrived).
fn open_core(seed: u64) -> (Core, Instant) {
    let policy = Config::default()
        .validate()
        .expect("the default config is valid");
    let mut core = Core::new(policy, seed);
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    core.handle_input(t0, Input::Start);
    core.handle_input(t0 + ms(1), Input::DialProgress(Phase::Handshake));
    core.handle_input(t0 + ms(2), Input::DialSucceeded);
    core.handle_input(t0 + ms(3), Input::Received);
    drain(&mut core);
    assert_eq!(core.state(), StateName::Open);
    (core, t0 + ms(3))
}

fn drain(core: &mut Core) -> usize {
    let mut n = 0;
    while let Some(output) = core.poll_output() {
        black_box(output);
        n += 1;
    }
    n
}

fn close_1001() -> Input {
    Input::PeerClosed {
        code: Some(1001),
        reason: Vec::new(),
    }
}

/// One steady input at `now` (1 µs after the last), outputs drained.
fn steady(core: &mut Core, now: &mut Instant, input: Input) {
    *now += Duration::from_micros(1);
    core.handle_input(*now, black_box(input));
    drain(core);
}

/// Cores reused between close measurements, so that the measured step runs on warm
/// memory (a fresh core's first outputs land on untouched pages: page faults that a
/// long-lived driver never sees).
type Pool = Rc<RefCell<Vec<Core>>>;

/// A core handed to the measured routine; back to the pool when criterion drops it.
struct Pooled {
    core: Option<Core>,
    /// When the close arrives: before the core's next deadline.
    at: Instant,
    pool: Pool,
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            self.pool.borrow_mut().push(core);
        }
    }
}

/// Take a core from the pool (or make one) and bring it to a stable Open at `now` (or
/// later: `now` moves past the stability deadline).
fn reopen(pool: &Pool, now: &mut Instant, seed: &mut u64) -> Pooled {
    let mut core = pool.borrow_mut().pop().unwrap_or_else(|| {
        *seed += 1;
        open_core(*seed).0
    });
    for _ in 0..4 {
        match core.state() {
            StateName::Open => break,
            StateName::Connecting => {
                core.handle_input(*now, Input::DialProgress(Phase::Handshake));
                core.handle_input(*now, Input::DialSucceeded);
                core.handle_input(*now, Input::Received);
            }
            _ => {
                *now = core.poll_timeout().map_or(*now, |t| t.max(*now));
                core.handle_timeout(*now);
            }
        }
        drain(&mut core);
    }
    assert_eq!(core.state(), StateName::Open);
    // A connection is stable by time (`min_uptime`), not by a message: its first
    // deadline in Open. Past it the budget is reset, so the closes measured never spend
    // it (a core that kept closing unstable connections would fall back).
    if core.attempt() != 0 {
        *now = core.poll_timeout().map_or(*now, |t| t.max(*now));
        core.handle_timeout(*now);
        drain(&mut core);
    }
    assert_eq!(core.state(), StateName::Open);
    assert_eq!(core.attempt(), 0, "stable: the budget is reset");
    let deadline = core.poll_timeout().unwrap_or(*now);
    Pooled {
        core: Some(core),
        at: deadline.max(*now + Duration::from_millis(2)) - Duration::from_millis(1),
        pool: pool.clone(),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_step");
    let (mut core, mut now) = open_core(1);
    group.bench_function("received_open", |b| {
        b.iter(|| steady(&mut core, &mut now, Input::Received))
    });
    group.bench_function("pong_open", |b| {
        b.iter(|| steady(&mut core, &mut now, Input::Pong))
    });
    let pool: Pool = Rc::default();
    let (mut now, mut seed) = (Instant::now(), 0);
    group.bench_function("close_to_backoff", |b| {
        b.iter_batched(
            || reopen(&pool, &mut now, &mut seed),
            |mut pooled| {
                if let Some(core) = pooled.core.as_mut() {
                    core.handle_input(pooled.at, black_box(close_1001()));
                    drain(core);
                }
                pooled
            },
            // 64 warm cores per batch: one clock pair per 64 steps, all in cache.
            BatchSize::NumIterations(64),
        )
    });
    group.finish();
}

/// Heap allocations (and reallocations) per input, counted over many inputs.
fn count_allocations() -> serde_json::Value {
    let (mut core, mut now) = open_core(7);
    // Warm up: the output queue and anything lazily sized reach their steady size.
    for _ in 0..1000 {
        steady(&mut core, &mut now, Input::Received);
        steady(&mut core, &mut now, Input::Pong);
    }
    let steady_inputs = 1_000_000u64;
    let region = Region::new(GLOBAL);
    for i in 0..steady_inputs {
        let input = if i % 2 == 0 {
            Input::Received
        } else {
            Input::Pong
        };
        steady(&mut core, &mut now, input);
    }
    let s = region.change();
    let steady_allocs = (s.allocations + s.reallocations) as u64;

    let closes = 10_000u64;
    let (mut allocs, mut bytes, mut outputs) = (0u64, 0u64, 0u64);
    for seed in 0..closes {
        let (mut core, now) = open_core(seed);
        let region = Region::new(GLOBAL);
        core.handle_input(now + Duration::from_millis(1), close_1001());
        outputs += drain(&mut core) as u64;
        let s = region.change();
        allocs += (s.allocations + s.reallocations) as u64;
        bytes += s.bytes_allocated as u64;
        assert_eq!(core.state(), StateName::Backoff);
    }
    json!({
        "steady_inputs": steady_inputs,
        "steady_allocations": steady_allocs,
        "steady_allocations_per_input": steady_allocs as f64 / steady_inputs as f64,
        "close_inputs": closes,
        "close_allocations_per_input": allocs as f64 / closes as f64,
        "close_bytes_per_input": bytes as f64 / closes as f64,
        "close_outputs_per_input": outputs as f64 / closes as f64,
    })
}

fn main() {
    let mut c = common::criterion(2.0, 4.0, 100);
    if common::skipped(&[
        "core_step/received_open",
        "core_step/pong_open",
        "core_step/close_to_backoff",
    ]) {
        return c.final_summary();
    }
    let load_before = common::loadavg();
    bench(&mut c);
    c.final_summary();
    let allocations = count_allocations();
    println!("core_step allocations: {allocations}");
    let result = json!({
        "received_open": common::criterion_median("core_step/received_open"),
        "pong_open": common::criterion_median("core_step/pong_open"),
        "close_to_backoff": common::criterion_median("core_step/close_to_backoff"),
        "allocations": allocations,
        "load_before": load_before,
        "load_after": common::loadavg(),
    });
    common::write_result("core_step", &result);
}
