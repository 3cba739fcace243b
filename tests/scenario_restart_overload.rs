//! 1012 waits inside the restart window; 1013 backs off longer than 1001.

mod support;

use std::time::Duration;

use redial::config::Preset;
use redial::core::StateName;
use redial::sim::{Connect, Scenario, Sim, Step};
use support::{dial_times, policy, retry_delays};

#[test]
fn service_restart_reconnects_inside_the_window_then_stays() {
    let c = Preset::Default.config();
    for seed in 0..30 {
        let sim = Scenario::Restart.run(seed);
        let delays = retry_delays(&sim);
        assert_eq!(delays.len(), 1, "seed {seed}");
        assert!(
            (c.delays.restart_min..=c.delays.restart_max).contains(&delays[0]),
            "{:?}",
            delays[0]
        );
        assert_eq!(dial_times(&sim).len(), 2);
        assert_eq!(sim.core().state(), StateName::Open);
    }
}

fn first_delay(code: u16, seed: u64) -> Duration {
    let mut sim = Sim::new(policy(Preset::Default.config()), seed, move |d| {
        if d.index == 1 {
            Connect::Accept(vec![
                Step::Wait(Duration::from_millis(5)),
                Step::close(code, ""),
            ])
        } else {
            Connect::Accept(vec![Step::Message])
        }
    });
    sim.run_for(Duration::from_secs(60));
    retry_delays(&sim)[0]
}

#[test]
fn try_again_later_backs_off_longer_than_going_away() {
    let overload_min = Preset::Default.config().delays.overload_min;
    for seed in 0..30 {
        let (slow, normal) = (first_delay(1013, seed), first_delay(1001, seed));
        assert!(slow >= overload_min, "{slow:?}");
        assert!(slow > normal, "{slow:?} vs {normal:?}");
    }
}
