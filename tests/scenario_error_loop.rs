//! A server that accepts, sends one error message and closes with 1011, forever: a
//! message is not stability (docs/design.md, "Default policy"), so the budget stops the
//! loop at `max_attempts` dials. Before turn 2 a first message reset the budget, and such
//! a server was redialed 257 times in 6 s.

mod support;

use std::time::Duration;

use redial::core::{Output, StateName};
use redial::sim::{Connect, Sim, Step};
use redial::{Config, Event, Preset};
use support::{dial_times, policy};

fn error_loop(config: Config, seed: u64) -> Sim {
    let mut sim = Sim::new(policy(config), seed, |_| {
        Connect::Accept(vec![
            Step::Message,
            Step::Wait(Duration::from_millis(3)),
            Step::close(1011, "internal error"),
        ])
    });
    sim.run_for(Duration::from_secs(600));
    sim
}

fn stable_events(sim: &Sim) -> usize {
    sim.events()
        .filter(|(_, e)| matches!(e, Event::Stable { .. }))
        .count()
}

#[test]
fn message_then_1011_forever_stops_at_max_attempts() {
    for max in 1..=6 {
        for seed in 0..4 {
            let mut c = Preset::Default.config();
            c.budget.max_attempts = max;
            c.fallback.enabled = false;
            let sim = error_loop(c, seed);
            assert_eq!(dial_times(&sim).len() as u32, max, "max {max} seed {seed}");
            assert_eq!(stable_events(&sim), 0, "a message is not stability");
            assert_eq!(sim.core().state(), StateName::Stopped);
            let cause = sim.core().last_cause().expect("a cause").to_string();
            assert!(cause.contains("1011 (internal error)"), "{cause}");
            assert!(
                cause.contains(&format!("{max} of {max} dials failed")),
                "{cause}"
            );
            assert!(
                cause.contains("after server messages had arrived"),
                "{cause}"
            );
        }
    }
}

#[test]
fn with_a_fallback_the_loop_falls_back_after_the_budget() {
    let sim = error_loop(Preset::Default.config(), 7);
    assert_eq!(dial_times(&sim).len(), 5);
    assert_eq!(sim.core().state(), StateName::FellBack);
    assert!(sim
        .trace()
        .iter()
        .any(|(_, o)| matches!(o, Output::StartFallback)));
}

/// The old rule, kept by the codex-compat preset to measure the old client: each first
/// message resets the budget, so the loop never ends (this is what redial fixes).
#[test]
fn the_old_rule_redials_for_ever_as_the_old_client_did() {
    let c = Preset::CodexCompat.config();
    assert!(c.budget.stable_on_first_message);
    let mut sim = Sim::new(policy(c), 3, |_| {
        Connect::Accept(vec![
            Step::Message,
            Step::Wait(Duration::from_millis(3)),
            Step::close(1011, "internal error"),
        ])
    });
    sim.run_for(Duration::from_secs(60));
    let dials = dial_times(&sim).len();
    assert!(dials > 50, "{dials} dials in 60 s");
    assert_eq!(stable_events(&sim), dials);
    assert!(sim
        .events()
        .any(|(_, e)| e.to_string().contains("first server message")));
    assert_ne!(sim.core().state(), StateName::Stopped);
}
