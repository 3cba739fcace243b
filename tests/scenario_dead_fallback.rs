//! The fallback is a transport with faults of its own (docs/design.md, invariant 12): a
//! dead fallback is retried with backoff under its own budget, then the client stops
//! with a cause that names the fallback's failure; a response resets the count; a
//! failure that retrying cannot mend stops at once.

mod support;

use std::time::Duration;

use redial::core::{Output, StateName};
use redial::policy::{FallbackError, Phase, ReachFailure};
use redial::sim::{Connect, Sim, Step};
use redial::{Config, Event};
use support::policy;

/// The mission's server (101, then 1008): the client falls back at once.
fn mission(config: Config) -> Sim {
    Sim::new(policy(config), 9, |_| {
        Connect::Accept(vec![
            Step::Wait(Duration::from_millis(3)),
            Step::close(1008, ""),
        ])
    })
}

/// When the fallback was started or resumed, in virtual time.
fn uses(sim: &Sim) -> Vec<Duration> {
    sim.trace()
        .iter()
        .filter(|(_, o)| matches!(o, Output::StartFallback))
        .map(|(t, _)| *t)
        .collect()
}

fn pauses(sim: &Sim) -> Vec<Duration> {
    sim.events()
        .filter_map(|(_, e)| match e {
            Event::FallbackFailed { retry_in, .. } => Some(*retry_in),
            _ => None,
        })
        .collect()
}

#[test]
fn a_refusing_fallback_is_retried_with_backoff_then_the_client_stops() {
    let mut c = Config::default();
    c.fallback.max_failures = 4;
    let mut sim = mission(c).with_fallback(|_| Some(FallbackError::Reach(ReachFailure::Refused)));
    sim.run_for(Duration::from_secs(600));
    let starts = uses(&sim);
    assert_eq!(starts.len(), 4, "the fall-back, then 3 resumes: {starts:?}");
    let waits = pauses(&sim);
    assert_eq!(waits.len(), 3);
    for (pair, wait) in starts.windows(2).zip(&waits) {
        // Each resume comes after its pause (plus the simulated 2 ms to fail).
        assert!(pair[1] - pair[0] >= *wait, "{pair:?} paused {wait:?}");
    }
    assert_eq!(sim.core().state(), StateName::Stopped);
    let cause = sim.core().last_cause().expect("a cause").to_string();
    assert!(
        cause.contains("the HTTPS fallback refused the TCP connection"),
        "{cause}"
    );
    assert!(
        cause.contains("4 fallback failures in a row (fallback.max_failures 4)"),
        "{cause}"
    );
    assert!(sim.events().any(|(_, e)| matches!(e, Event::GaveUp { .. })));
}

#[test]
fn an_answer_resets_the_count() {
    let mut c = Config::default();
    c.fallback.max_failures = 2;
    // Fails, answers, fails, answers, ...: never two failures in a row.
    let mut sim = mission(c).with_fallback(|n| {
        (n % 2 == 1).then_some(FallbackError::Reach(ReachFailure::Timeout(Phase::Headers)))
    });
    sim.run_for(Duration::from_secs(60));
    assert_eq!(sim.core().state(), StateName::FellBack);
    let ready = sim
        .events()
        .filter(|(_, e)| matches!(e, Event::FallbackReady))
        .count();
    assert_eq!(
        ready,
        1,
        "one FallbackReady per recovery: {}",
        uses(&sim).len()
    );
}

#[test]
fn forbidden_or_a_bad_certificate_stops_at_once() {
    let failures = [
        FallbackError::Reach(ReachFailure::Status {
            status: 403,
            retry_after: None,
        }),
        FallbackError::Reach(ReachFailure::Status {
            status: 401,
            retry_after: None,
        }),
        FallbackError::Reach(ReachFailure::Certificate("unknown issuer".into())),
    ];
    for failure in failures {
        let f = failure.clone();
        let mut sim = mission(Config::default()).with_fallback(move |_| Some(f.clone()));
        sim.run_for(Duration::from_secs(60));
        assert_eq!(uses(&sim).len(), 1, "{failure:?}");
        assert!(pauses(&sim).is_empty());
        assert_eq!(sim.core().state(), StateName::Stopped);
        let cause = sim.core().last_cause().expect("a cause").to_string();
        assert!(
            cause.contains("is not retried over the fallback"),
            "{cause}"
        );
    }
}

#[test]
fn retry_after_on_the_fallback_is_honoured() {
    let mut sim = mission(Config::default()).with_fallback(|n| {
        (n == 1).then_some(FallbackError::Reach(ReachFailure::Status {
            status: 503,
            retry_after: Some(Duration::from_secs(7)),
        }))
    });
    sim.run_for(Duration::from_secs(60));
    assert_eq!(pauses(&sim), vec![Duration::from_secs(7)]);
    let starts = uses(&sim);
    assert_eq!(starts.len(), 2);
    assert!(starts[1] - starts[0] >= Duration::from_secs(7));
    assert_eq!(sim.core().state(), StateName::FellBack);
}
