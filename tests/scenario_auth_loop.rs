//! A server that accepts, sends a message and closes with 3000 (unauthorized): the one
//! re-authentication is reset only by a stable connection, so the loop asks for fresh
//! credentials once and stops at the second 3000 (before turn 2 each message reset it:
//! an endless loop of token refreshes and dials with no delay at all).

mod support;

use std::time::Duration;

use redial::config::Config;
use redial::core::Event;
use redial::core::{Output, StateName};
use redial::sim::{Connect, Sim, Step};
use support::{dial_times, policy};

fn reauths(sim: &Sim) -> usize {
    sim.trace()
        .iter()
        .filter(|(_, o)| matches!(o, Output::Reauthenticate))
        .count()
}

fn stables(sim: &Sim) -> usize {
    sim.events()
        .filter(|(_, e)| matches!(e, Event::Stable { .. }))
        .count()
}

#[test]
fn message_then_3000_reauthenticates_once_then_stops() {
    let mut sim = Sim::new(policy(Config::default()), 1, |_| {
        Connect::Accept(vec![
            Step::Message,
            Step::Wait(Duration::from_millis(2)),
            Step::close(3000, "unauthorized"),
        ])
    });
    sim.run_for(Duration::from_secs(600));
    assert_eq!(reauths(&sim), 1);
    assert_eq!(dial_times(&sim).len(), 2);
    assert_eq!(stables(&sim), 0);
    assert_eq!(sim.core().state(), StateName::Stopped);
    let cause = sim.core().last_cause().expect("a cause").to_string();
    assert!(cause.contains("3000 (unauthorized)"), "{cause}");
}

/// Connections that stay up past `min_uptime` before their 3000 are stable: each earns
/// one re-authentication, and the loop goes on at the pace of stable connections.
#[test]
fn one_reauthentication_per_stable_connection() {
    let c = Config::default();
    let up = c.budget.min_uptime + Duration::from_millis(500);
    let mut sim = Sim::new(policy(c), 2, move |_| {
        Connect::Accept(vec![
            Step::Message,
            Step::Wait(up),
            Step::close(3000, "unauthorized"),
        ])
    });
    sim.run_for(Duration::from_secs(120));
    let stable = stables(&sim);
    assert!(stable >= 18, "{stable} stable connections in 120 s");
    assert_eq!(
        reauths(&sim),
        stable,
        "one re-authentication per stable connection"
    );
    assert_ne!(sim.core().state(), StateName::Stopped);
}

/// After a stable connection's 3000 and its re-authentication, a 3000 at once on the
/// next connection is the second in the streak: stop.
#[test]
fn a_second_3000_before_a_stable_connection_stops() {
    let c = Config::default();
    let up = c.budget.min_uptime + Duration::from_millis(500);
    let mut sim = Sim::new(policy(c), 2, move |dial| {
        let wait = if dial.index == 1 {
            up
        } else {
            Duration::from_millis(2)
        };
        Connect::Accept(vec![
            Step::Message,
            Step::Wait(wait),
            Step::close(3000, "unauthorized"),
        ])
    });
    sim.run_for(Duration::from_secs(120));
    assert_eq!((stables(&sim), reauths(&sim)), (1, 1));
    assert_eq!(dial_times(&sim).len(), 2);
    assert_eq!(sim.core().state(), StateName::Stopped);
}
