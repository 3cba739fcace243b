//! 401 (or a 3000/3003 close) asks the application to re-authenticate once; a second
//! 401 stops.

mod support;

use std::time::Duration;

use redial::config::Preset;
use redial::core::{Output, StateName};
use redial::sim::{Connect, Sim, Step};
use support::{dial_times, policy};

fn unauthorized_first(n: u32, reauth_ok: bool) -> Sim {
    let mut sim = Sim::new(policy(Preset::Default.config()), 5, move |d| {
        if d.index <= n {
            Connect::Status {
                status: 401,
                retry_after: None,
            }
        } else {
            Connect::Accept(vec![Step::Message])
        }
    })
    .with_reauth(reauth_ok);
    sim.run_for(Duration::from_secs(60));
    sim
}

fn reauth_requests(sim: &Sim) -> usize {
    sim.trace()
        .iter()
        .filter(|(_, o)| *o == Output::Reauthenticate)
        .count()
}

#[test]
fn one_401_reauthenticates_once_then_connects() {
    let sim = unauthorized_first(1, true);
    assert_eq!(reauth_requests(&sim), 1);
    assert_eq!(dial_times(&sim).len(), 2);
    assert_eq!(sim.core().state(), StateName::Open);
}

#[test]
fn two_401s_stop_without_a_third_dial() {
    let sim = unauthorized_first(2, true);
    assert_eq!(reauth_requests(&sim), 1);
    assert_eq!(dial_times(&sim).len(), 2);
    assert_eq!(sim.core().state(), StateName::Stopped);
    let cause = sim.core().last_cause().unwrap().to_string();
    assert!(cause.contains("HTTP 401"), "{cause}");
    assert!(
        cause.contains("still unauthorized after re-authenticating"),
        "{cause}"
    );
}

#[test]
fn a_failed_reauthentication_stops() {
    let sim = unauthorized_first(1, false);
    assert_eq!(dial_times(&sim).len(), 1);
    assert_eq!(sim.core().state(), StateName::Stopped);
    let cause = sim.core().last_cause().unwrap().to_string();
    assert!(cause.contains("could not re-authenticate"), "{cause}");
}

#[test]
fn close_3000_after_the_upgrade_reauthenticates_too() {
    let mut sim = Sim::new(policy(Preset::Default.config()), 5, |d| {
        if d.index == 1 {
            Connect::Accept(vec![Step::close(3000, "token expired")])
        } else {
            Connect::Accept(vec![Step::Message])
        }
    });
    sim.run_for(Duration::from_secs(60));
    assert_eq!(reauth_requests(&sim), 1);
    assert_eq!(sim.core().state(), StateName::Open);
}
