//! Retry-After on a 429 (or 503) upgrade is honoured, at least the backoff, capped by
//! `delays.max_retry_after`.

mod support;

use std::time::Duration;

use redial::core::StateName;
use redial::sim::{Connect, Sim, Step};
use redial::Preset;
use support::{dial_times, policy};

fn rate_limited(status: u16, retry_after: Duration, max_retry_after: Duration) -> Sim {
    let mut c = Preset::Default.config();
    c.delays.max_retry_after = max_retry_after;
    let mut sim = Sim::new(policy(c), 4, move |d| {
        if d.index == 1 {
            Connect::Status {
                status,
                retry_after: Some(retry_after),
            }
        } else {
            Connect::Accept(vec![Step::Message])
        }
    });
    sim.run_for(Duration::from_secs(3600));
    sim
}

#[test]
fn the_next_dial_waits_for_retry_after() {
    for status in [429, 503] {
        let sim = rate_limited(status, Duration::from_secs(2), Duration::from_secs(120));
        let dials = dial_times(&sim);
        assert_eq!(dials.len(), 2, "{status}");
        let failed_at = Duration::from_millis(2);
        assert!(dials[1] >= failed_at + Duration::from_secs(2), "{dials:?}");
        assert!(dials[1] < Duration::from_secs(3), "{dials:?}");
        assert_eq!(sim.core().state(), StateName::Open);
    }
}

#[test]
fn a_long_retry_after_is_capped_by_max_retry_after() {
    let sim = rate_limited(429, Duration::from_secs(3000), Duration::from_secs(30));
    let dials = dial_times(&sim);
    assert_eq!(dials.len(), 2);
    let gap = dials[1] - dials[0];
    assert!(
        gap >= Duration::from_secs(30) && gap < Duration::from_secs(31),
        "{gap:?}"
    );
    let retry = sim
        .events()
        .find_map(|(_, e)| match e {
            redial::Event::RetryScheduled { cause, .. } => Some(cause.to_string()),
            _ => None,
        })
        .unwrap();
    assert!(retry.contains("Retry-After 50 min shortened"), "{retry}");
}

#[test]
fn a_short_retry_after_never_undercuts_the_backoff() {
    let mut c = Preset::Default.config();
    c.backoff.strategy = redial::config::Strategy::None;
    c.backoff.base = Duration::from_secs(3);
    let mut sim = Sim::new(policy(c), 0, |d| {
        if d.index == 1 {
            Connect::Status {
                status: 429,
                retry_after: Some(Duration::from_secs(1)),
            }
        } else {
            Connect::Accept(vec![Step::Message])
        }
    });
    sim.run_for(Duration::from_secs(60));
    let dials = dial_times(&sim);
    assert!(dials[1] - dials[0] >= Duration::from_secs(3), "{dials:?}");
}
