//! Helpers shared by the scenario tests: read a simulation's trace.
#![allow(dead_code)]

use std::time::Duration;

use redial::config::Config;
use redial::core::Event;
use redial::core::{Output, StateName};
use redial::sim::Sim;

/// Virtual times of the non-probe dials.
pub fn dial_times(sim: &Sim) -> Vec<Duration> {
    sim.trace()
        .iter()
        .filter(|(_, o)| matches!(o, Output::Dial { probe: false, .. }))
        .map(|(t, _)| *t)
        .collect()
}

/// The delays of every scheduled retry.
pub fn retry_delays(sim: &Sim) -> Vec<Duration> {
    sim.events()
        .filter_map(|(_, e)| match e {
            Event::RetryScheduled { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect()
}

/// The states entered, in order.
pub fn states(sim: &Sim) -> Vec<StateName> {
    sim.events()
        .filter_map(|(_, e)| match e {
            Event::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

/// Every JSON event line of the run.
pub fn json_lines(sim: &Sim) -> Vec<serde_json::Value> {
    sim.events().map(|(t, e)| e.to_json(t)).collect()
}

/// A validated config.
pub fn policy(config: Config) -> redial::config::Policy {
    config.validate().expect("valid config")
}
