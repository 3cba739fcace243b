//! The fallback is sticky, then a quiet probe returns to WebSockets; failed probes
//! double the wait up to its cap.

mod support;

use std::time::Duration;

use redial::core::{Output, StateName};
use redial::sim::{Connect, Scenario, Sim, Step};
use redial::{Event, Preset, Transport};
use support::policy;

fn probes(sim: &Sim) -> Vec<Duration> {
    sim.trace()
        .iter()
        .filter(|(_, o)| matches!(o, Output::Dial { probe: true, .. }))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn a_quiet_probe_after_the_cooldown_recovers() {
    let sim = Scenario::Reprobe.run(1);
    let p = probes(&sim);
    assert_eq!(p.len(), 1);
    assert!(p[0] >= Duration::from_secs(300) && p[0] < Duration::from_secs(301));
    assert!(sim
        .events()
        .any(|(_, e)| matches!(e, Event::Recovered { .. })));
    assert!(sim.trace().iter().any(|(_, o)| *o == Output::StopFallback));
    assert_eq!(sim.core().state(), StateName::Open);
}

#[test]
fn failed_probes_double_the_wait_up_to_the_cap() {
    let mut c = Preset::Default.config();
    c.fallback.reprobe_after = Some(Duration::from_secs(60));
    c.fallback.reprobe_max = Duration::from_secs(300);
    let mut sim = Sim::new(policy(c), 2, |_| Connect::Status {
        status: 426,
        retry_after: None,
    });
    sim.run_for(Duration::from_secs(3600));
    let p = probes(&sim);
    let gaps: Vec<u64> = p.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(&gaps[..4], [120, 240, 300, 300], "{p:?}");
    assert_eq!(sim.core().state(), StateName::FellBack);
}

#[test]
fn a_relapse_after_recovery_doubles_the_wait() {
    let mut c = Preset::Default.config();
    c.fallback.reprobe_after = Some(Duration::from_secs(60));
    // Probes connect, then are closed with 1008 before becoming stable.
    let mut sim = Sim::new(policy(c), 3, |_| {
        Connect::Accept(vec![
            Step::Wait(Duration::from_millis(3)),
            Step::close(1008, ""),
        ])
    });
    sim.run_for(Duration::from_secs(1000));
    let p = probes(&sim);
    let gaps: Vec<u64> = p.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(&gaps[..3], [120, 240, 480], "{p:?}");
}

#[test]
fn forced_websocket_never_falls_back_and_forced_https_never_dials() {
    let mut c = Preset::Default.config();
    c.transport = Transport::Websocket;
    let sim = Scenario::Seed.run_with(c, 1);
    assert_eq!(sim.core().state(), StateName::Stopped);
    assert!(!sim.trace().iter().any(|(_, o)| *o == Output::StartFallback));

    let mut c = Preset::Default.config();
    c.transport = Transport::Https;
    let sim = Scenario::Seed.run_with(c, 1);
    assert_eq!(sim.core().state(), StateName::FellBack);
    assert!(sim
        .trace()
        .iter()
        .all(|(_, o)| !matches!(o, Output::Dial { .. })));
}
