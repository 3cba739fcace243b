//! Accept-then-close loops cannot dodge the budget: only a stable connection resets it.

mod support;

use std::time::Duration;

use redial::config::{Config, Preset};
use redial::core::StateName;
use redial::sim::{Connect, Sim, Step};
use support::{dial_times, policy, states};

fn flapping(config: Config, seed: u64, uptime: Duration) -> Sim {
    let mut sim = Sim::new(policy(config), seed, move |_| {
        Connect::Accept(vec![Step::Wait(uptime), Step::close(1001, "going away")])
    });
    sim.run_for(Duration::from_secs(600));
    sim
}

#[test]
fn accept_then_1001_stops_at_max_attempts_then_falls_back() {
    for max in 1..=8 {
        for seed in 0..5 {
            let mut c = Preset::Default.config();
            c.budget.max_attempts = max;
            let sim = flapping(c, seed, Duration::from_millis(2));
            assert_eq!(dial_times(&sim).len() as u32, max, "max {max}");
            assert_eq!(sim.core().state(), StateName::FellBack);
            let cause = sim.core().last_cause().unwrap().to_string();
            assert!(
                cause.contains(&format!("{max} of {max} dials failed")),
                "{cause}"
            );
            assert!(cause.contains("1001 (going away)"), "{cause}");
        }
    }
}

#[test]
fn without_a_fallback_the_loop_stops_with_the_last_cause() {
    let mut c = Preset::Default.config();
    c.fallback.enabled = false;
    let sim = flapping(c, 1, Duration::from_millis(2));
    assert_eq!(dial_times(&sim).len(), 5);
    assert_eq!(sim.core().state(), StateName::Stopped);
    let cause = sim.core().last_cause().unwrap().to_string();
    assert!(
        cause.contains("no fallback is available: stopping"),
        "{cause}"
    );
}

#[test]
fn closes_just_under_min_uptime_still_count_as_failed() {
    let c = Preset::Default.config();
    let just_under = c.budget.min_uptime - Duration::from_millis(10);
    let sim = flapping(c, 2, just_under);
    assert_eq!(dial_times(&sim).len(), 5);
    assert_eq!(sim.core().state(), StateName::FellBack);
}

#[test]
fn connections_past_min_uptime_are_stable_and_reset_the_budget() {
    let c = Preset::Default.config();
    let past = c.budget.min_uptime + Duration::from_millis(10);
    let sim = flapping(c, 2, past);
    // 600 s of stable-then-1001 connections: far more dials than the budget, never a fallback.
    assert!(dial_times(&sim).len() > 20);
    assert!(!states(&sim).contains(&StateName::FellBack));
}
