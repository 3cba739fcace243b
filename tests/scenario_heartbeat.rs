//! A server that never answers pings is dead after ping interval + pong timeout; one
//! that answers, or keeps sending, is not.

mod support;

use std::time::Duration;

use redial::config::Preset;
use redial::core::Event;
use redial::core::Output;
use redial::sim::{Connect, Scenario, Sim, Step};
use support::policy;

#[test]
fn silence_after_a_ping_is_a_dead_connection() {
    let c = Preset::Default.config();
    let interval = c.heartbeat.ping_interval.unwrap();
    let pong = c.heartbeat.pong_timeout;
    let sim = Scenario::Silent.run(1);
    let (t, cause) = sim
        .events()
        .find_map(|(t, e)| match e {
            Event::Closed { failure } => Some((t, failure.to_string())),
            _ => None,
        })
        .unwrap();
    let connected = Duration::from_millis(2);
    assert_eq!(t, connected + interval + pong);
    assert!(cause.contains("no pong"), "{cause}");
    assert!(sim
        .trace()
        .iter()
        .any(|(_, o)| *o == Output::DropConnection));
}

#[test]
fn answered_pings_keep_the_connection() {
    let mut sim = Sim::new(policy(Preset::Default.config()), 1, |_| {
        Connect::Accept(vec![Step::Message])
    });
    sim.run_for(Duration::from_secs(600));
    let pings = sim
        .trace()
        .iter()
        .filter(|(_, o)| *o == Output::SendPing)
        .count();
    assert!(pings >= 25, "{pings}");
    assert!(!sim.events().any(|(_, e)| matches!(e, Event::Closed { .. })));
}

#[test]
fn no_pings_when_the_heartbeat_is_off() {
    let mut c = Preset::Default.config();
    c.heartbeat.ping_interval = None;
    let sim = Scenario::Silent.run_with(c, 1);
    assert!(!sim.trace().iter().any(|(_, o)| *o == Output::SendPing));
    assert!(!sim.events().any(|(_, e)| matches!(e, Event::Closed { .. })));
}
