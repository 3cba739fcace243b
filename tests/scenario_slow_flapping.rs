//! A server that stays up 6 s, then closes with 1001, forever: each connection is stable
//! by time (`min_uptime` 5 s), so it is redialed about once every 6 s, never faster, and
//! the budget never runs out.

mod support;

use std::time::Duration;

use redial::config::Config;
use redial::core::StateName;
use redial::core::{Event, StableBy};
use redial::sim::{Connect, Sim, Step};
use support::{dial_times, policy, states};

#[test]
fn up_six_seconds_then_1001_is_redialed_once_per_six_seconds() {
    let mut sim = Sim::new(policy(Config::default()), 4, |_| {
        Connect::Accept(vec![
            Step::Wait(Duration::from_secs(6)),
            Step::close(1001, "going away"),
        ])
    });
    let run = Duration::from_secs(600);
    sim.run_for(run);
    let dials = dial_times(&sim);
    // One dial per 6 s connection plus its backoff (at most the 200 ms base of a fresh
    // streak, full jitter) and 2 ms of simulated latency: 95 to 101 in 600 s.
    assert!(
        (95..=101).contains(&dials.len()),
        "{} dials in {run:?}",
        dials.len()
    );
    for pair in dials.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_secs(6), "redialed after {gap:?}");
    }
    let by_uptime = sim
        .events()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::Stable {
                    by: StableBy::Uptime,
                    ..
                }
            )
        })
        .count();
    assert!(by_uptime + 1 >= dials.len(), "{by_uptime} stable by uptime");
    assert!(!states(&sim).contains(&StateName::FellBack));
    assert!(!states(&sim).contains(&StateName::Stopped));
}
