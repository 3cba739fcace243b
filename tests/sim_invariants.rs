//! `redial::sim::invariants` on its own: a real run passes, and runs tampered with the
//! way a broken core would behave fail with the right invariant and step.

use std::time::{Duration, Instant};

use redial::config::Config;
use redial::core::{is_documented, Core, Input, Output, StableBy, StateName, Trigger};
use redial::sim::invariants::{check_determinism, check_run, Invariant, Record};
use redial::{Event, Policy};

fn policy() -> Policy {
    Config::default()
        .validate()
        .expect("the default config is valid")
}

/// A flapping server under the default preset: accepted, then 1001 after 2 ms, twice.
fn flapping() -> Vec<Record> {
    let t0 = Instant::now();
    let mut core = Core::new(policy(), 3);
    let mut now = t0;
    let mut records = Vec::new();
    let close = || Input::PeerClosed {
        code: Some(1001),
        reason: vec![],
    };
    let steps = [
        (Some(0), Input::Start),
        (Some(1), Input::DialSucceeded),
        (Some(2), close()),
        (None, Input::Timeout),
        (Some(1), Input::DialSucceeded),
        (Some(2), close()),
    ];
    for (ms, input) in steps {
        now = match ms {
            Some(ms) => now + Duration::from_millis(ms),
            None => core.poll_timeout().expect("a backoff deadline"),
        };
        core.handle_input(now, input.clone());
        let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
        records.push(Record::observe(&core, t0, now, input, outputs));
    }
    records
}

#[test]
fn a_real_run_keeps_every_invariant_and_reaches_its_rows() {
    let run = flapping();
    let checker = check_run(&policy(), &run).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(checker.steps(), run.len());
    let reached = checker.transitions();
    assert!(reached.contains(&(StateName::Open, Trigger::RecvClose, StateName::Backoff)));
    assert!(reached.contains(&(
        StateName::Backoff,
        Trigger::BackoffElapsed,
        StateName::Connecting
    )));
    assert_eq!(
        run.last().map(|r| r.attempt),
        Some(2),
        "no Stable: dials add up"
    );
}

/// Accept-then-close must not reset the budget: a `Stable` 0 ms after the upgrade,
/// without a message, is a budget violation even when the getters agree with it.
#[test]
fn a_stable_event_before_min_uptime_is_a_budget_violation() {
    let mut run = flapping();
    run[1].outputs.push(Output::Event(Event::Stable {
        after_upgrade: Duration::ZERO,
        by: StableBy::Uptime,
    }));
    run[1].attempt = 0;
    let v = check_run(&policy(), &run).expect_err("a forged Stable");
    assert_eq!((v.invariant, v.step), (Invariant::RetryBudget, 1));
    assert_eq!(v.invariant.number(), Some(2));
    let text = v.to_string();
    assert!(
        text.starts_with("step 1 at t0+1ms, in connecting"),
        "{text}"
    );
    assert!(
        text.contains("(2) retry budget: Stable by Uptime 0ns after the upgrade"),
        "{text}"
    );
}

#[test]
fn an_undocumented_transition_is_named() {
    let mut run = flapping();
    for o in &mut run[2].outputs {
        if let Output::Event(Event::StateChanged { to, .. }) = o {
            *to = StateName::Connecting;
        }
    }
    let row = (StateName::Open, Trigger::RecvClose, StateName::Connecting);
    assert!(!is_documented(row.0, row.1, row.2));
    let v = check_run(&policy(), &run).expect_err("open --recv_close--> connecting");
    assert_eq!((v.invariant, v.step), (Invariant::DocumentedTransitions, 2));
}

#[test]
fn a_retry_without_its_event_is_a_diagnosis_violation() {
    let mut run = flapping();
    run[2]
        .outputs
        .retain(|o| !matches!(o, Output::Event(Event::RetryScheduled { .. })));
    let v = check_run(&policy(), &run).expect_err("Backoff without RetryScheduled");
    assert_eq!((v.invariant, v.step), (Invariant::Diagnosis, 2));
}

#[test]
fn determinism_names_the_first_step_that_differs() {
    let first = flapping();
    assert_eq!(check_determinism(&first, &flapping()), Ok(()));
    let mut again = first.clone();
    again[4].attempt += 1;
    let v = check_determinism(&first, &again).expect_err("attempt differs");
    assert_eq!((v.invariant, v.step), (Invariant::Determinism, 4));
    assert!(v.to_string().contains("(8) determinism"), "{v}");
    let v = check_determinism(&first, &first[..3]).expect_err("shorter");
    assert_eq!(v.step, 3);
}
