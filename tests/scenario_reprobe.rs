//! The fallback is sticky, then a quiet probe returns to WebSockets once its connection
//! has held for its trial (`min_uptime`); failed probes double the wait up to its cap.

mod support;

use std::time::Duration;

use redial::config::{Preset, Transport};
use redial::core::Event;
use redial::core::{Failure, Output, StateName};
use redial::sim::{Connect, Scenario, Sim, Step};
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
    // The probe's upgrade says that it is on trial, and the recovery how long it held.
    let connected = sim
        .events()
        .find(|(_, e)| matches!(e, Event::Connected { probe: true, .. }))
        .map(|(_, e)| e.to_string())
        .expect("the probe's upgrade");
    assert!(connected.contains("on trial"), "{connected}");
    let recovered = sim
        .events()
        .find(|(_, e)| matches!(e, Event::Recovered { .. }))
        .map(|(_, e)| e.to_string())
        .expect("a recovery");
    assert!(recovered.contains("stayed open for 5 s"), "{recovered}");
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

/// The mission's server on every probe: 101, then 1008 after 3 ms. Each probe's
/// connection ends during its trial (`min_uptime`, 5 s): the probe fails, the client
/// never leaves FellBack (no `Recovered`, nothing written to that connection) and the
/// wait doubles.
#[test]
fn a_probe_closed_during_its_trial_fails_and_the_wait_doubles() {
    let mut c = Preset::Default.config();
    c.fallback.reprobe_after = Some(Duration::from_secs(60));
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
    let changes = sim
        .events()
        .filter(|(_, e)| matches!(e, Event::StateChanged { .. }))
        .count();
    assert_eq!(changes, 3, "Idle → Connecting → Open → FellBack, then none");
    assert!(!sim
        .events()
        .any(|(_, e)| matches!(e, Event::Recovered { .. })));
    let trials_failed = sim
        .events()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::ProbeFailed {
                    failure: Failure::Closed {
                        code: Some(1008),
                        ..
                    },
                    ..
                }
            )
        })
        .count();
    assert_eq!(trials_failed, p.len());
    assert_eq!(sim.core().state(), StateName::FellBack);
}

/// A probe's connection that holds for its trial is stable: when the server closes it
/// later with 1008, the client falls back with a fresh re-probe wait (not doubled).
#[test]
fn a_probe_that_held_its_trial_is_stable_and_a_later_fall_back_waits_afresh() {
    let mut c = Preset::Default.config();
    c.fallback.reprobe_after = Some(Duration::from_secs(60));
    let mut sim = Sim::new(policy(c), 3, |_| {
        Connect::Accept(vec![
            Step::Wait(Duration::from_secs(8)),
            Step::close(1008, ""),
        ])
    });
    sim.run_for(Duration::from_secs(400));
    let recovered: Vec<Duration> = sim
        .events()
        .filter(|(_, e)| matches!(e, Event::Recovered { .. }))
        .map(|(t, _)| t)
        .collect();
    let p = probes(&sim);
    assert!(p.len() >= 3, "{p:?}");
    // Each probe: trial of 5 s, then Open (stable) until the close at 8 s.
    for (probe, back) in p.iter().zip(&recovered) {
        let trial = *back - *probe;
        assert!(
            trial >= Duration::from_secs(5) && trial < Duration::from_secs(6),
            "{trial:?}"
        );
    }
    let gaps: Vec<u64> = p.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    // 8 s on the probe's connection, then 60 s again each time.
    assert_eq!(&gaps[..2], [68, 68], "{p:?}");
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
