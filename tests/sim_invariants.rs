//! `redial::sim::invariants` on its own: a real run passes, and runs tampered with the
//! way a broken core would behave fail with the right invariant and step.

use std::time::{Duration, Instant};

use redial::config::Config;
use redial::core::{is_documented, Core, Input, Output, StableBy, StateName, Trigger};
use redial::policy::FallbackFailure;
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

/// Drive a real core through `steps` (ms after the previous step, or `None`: to the
/// core's deadline) and record every step.
fn recorded(policy: &Policy, steps: &[(Option<u64>, Input)]) -> Vec<Record> {
    let t0 = Instant::now();
    let mut core = Core::new(policy.clone(), 5);
    let mut now = t0;
    let mut records = Vec::new();
    for (ms, input) in steps {
        now = match ms {
            Some(ms) => now + Duration::from_millis(*ms),
            None => core.poll_timeout().unwrap_or(now),
        };
        core.handle_input(now, input.clone());
        let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
        records.push(Record::observe(&core, t0, now, input.clone(), outputs));
    }
    records
}

/// The mission's steps: a dial, 101, then 1008 3 ms later (the client falls back).
fn mission_steps() -> Vec<(Option<u64>, Input)> {
    vec![
        (Some(0), Input::Start),
        (Some(1), Input::DialSucceeded),
        (Some(3), policy_close()),
    ]
}

fn policy_close() -> Input {
    Input::PeerClosed {
        code: Some(1008),
        reason: vec![],
    }
}

/// The mission (101, then 1008), then the fallback fails with `failure` `n` times.
fn dead_fallback(policy: &Policy, failure: FallbackFailure, n: usize) -> Vec<Record> {
    let mut steps = mission_steps();
    for _ in 0..n {
        steps.push((
            Some(2),
            Input::FallbackFailed {
                failure: failure.clone(),
            },
        ));
        steps.push((None, Input::Timeout));
    }
    recorded(policy, &steps)
}

/// The old rule (the first message makes a connection stable) under a config that does
/// not ask for it: what redial did before turn 2, and what let a message-then-1011
/// server be redialed for ever.
#[test]
fn a_stable_event_on_a_first_message_is_a_budget_violation_by_default() {
    let run = recorded(
        &policy(),
        &[
            (Some(0), Input::Start),
            (Some(1), Input::DialSucceeded),
            (Some(1), Input::Received),
        ],
    );
    let mut forged = run.clone();
    forged[2].outputs.push(Output::Event(Event::Stable {
        after_upgrade: Duration::from_millis(1),
        by: StableBy::FirstMessage,
    }));
    forged[2].attempt = 0;
    let v = check_run(&policy(), &forged).expect_err("stable on a message");
    assert_eq!((v.invariant, v.step), (Invariant::RetryBudget, 2));
    assert!(v.to_string().contains("Stable by FirstMessage"), "{v}");
    // The same event is the rule under stable_on_first_message (codex-compat).
    let mut c = Config::default();
    c.budget.stable_on_first_message = true;
    let old = c.validate().expect("valid");
    let honest = recorded(
        &old,
        &[
            (Some(0), Input::Start),
            (Some(1), Input::DialSucceeded),
            (Some(1), Input::Received),
        ],
    );
    assert!(honest[2]
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::Stable { .. }))));
    check_run(&old, &honest).unwrap_or_else(|v| panic!("{v}"));
}

/// A 1000 after server data is a finished exchange; a 1000 without data is not.
#[test]
fn a_finished_exchange_needs_server_data_first() {
    let steps = |received: bool| {
        let mut s = vec![(Some(0), Input::Start), (Some(1), Input::DialSucceeded)];
        if received {
            s.push((Some(1), Input::Received));
        }
        s.push((
            Some(1),
            Input::PeerClosed {
                code: Some(1000),
                reason: vec![],
            },
        ));
        s
    };
    let run = recorded(&policy(), &steps(true));
    check_run(&policy(), &run).unwrap_or_else(|v| panic!("{v}"));
    assert!(run[3].outputs.iter().any(|o| matches!(
        o,
        Output::Event(Event::Stable {
            by: StableBy::FinishedExchange,
            ..
        })
    )));
    let mut forged = recorded(&policy(), &steps(false));
    forged[2].outputs.insert(
        0,
        Output::Event(Event::Stable {
            after_upgrade: Duration::from_millis(1),
            by: StableBy::FinishedExchange,
        }),
    );
    let v = check_run(&policy(), &forged).expect_err("no data before the 1000");
    assert_eq!((v.invariant, v.step), (Invariant::RetryBudget, 2));
}

/// One re-authentication per stable connection: a second `Reauthenticate` in a streak
/// is caught even when every event agrees with it.
#[test]
fn a_second_reauthentication_in_a_streak_is_a_budget_violation() {
    let auth_close = || Input::PeerClosed {
        code: Some(3000),
        reason: vec![],
    };
    let run = recorded(
        &policy(),
        &[
            (Some(0), Input::Start),
            (Some(1), Input::DialSucceeded),
            (Some(2), auth_close()),
            (Some(1), Input::ReauthDone { ok: true }),
            (Some(1), Input::DialSucceeded),
            (Some(2), auth_close()),
        ],
    );
    check_run(&policy(), &run).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(run[5].state, StateName::Stopped, "the second 3000 stops");
    let mut forged = run.clone();
    forged[2].outputs.push(Output::Reauthenticate);
    let v = check_run(&policy(), &forged).expect_err("a second Reauthenticate");
    assert_eq!((v.invariant, v.step), (Invariant::RetryBudget, 2));
    assert!(v.to_string().contains("second re-authentication"), "{v}");
}

/// Invariant 12: a dead fallback is paused with backoff and stops after
/// `fallback.max_failures`; a resume before the pause ends, a failure left unanswered
/// and a stop before the budget is spent are each caught.
#[test]
fn the_fallback_budget_is_checked() {
    let p = policy();
    let run = dead_fallback(&p, FallbackFailure::Refused, 5);
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(run.last().map(|r| r.state), Some(StateName::Stopped));
    assert_eq!(
        run[run.len() - 2].state,
        StateName::Stopped,
        "5th failure stops"
    );

    // A StartFallback at the failure itself: no pause.
    let mut early = run.clone();
    early[3].outputs.push(Output::StartFallback);
    let v = check_run(&p, &early).expect_err("resumed at once");
    assert_eq!((v.invariant, v.step), (Invariant::FallbackBudget, 3));

    // A failure the core ignored.
    let mut ignored = run.clone();
    ignored[5].outputs.clear();
    ignored[5].deadline = ignored[4].deadline;
    let v = check_run(&p, &ignored).expect_err("unanswered failure");
    assert_eq!((v.invariant, v.step), (Invariant::FallbackBudget, 5));
    assert_eq!(
        v.detail,
        "fallback failure 2 of 5 (retried: true) was not answered with a FallbackFailed \
         event (a pause)"
    );
    // The last one, ignored, should have stopped the client.
    let mut last = run.clone();
    let at = last.len() - 2;
    last[at].outputs.clear();
    last[at].state = StateName::FellBack;
    last[at].deadline = last[at - 1].deadline;
    let v = check_run(&p, &last).expect_err("the last failure ignored");
    assert_eq!(
        (v.invariant, v.detail.as_str()),
        (
            Invariant::FallbackBudget,
            "fallback failure 5 of 5 (retried: true) was not answered with a stop with a \
             FallbackFailed cause"
        )
    );

    // A retried failure answered by a stop, budget left.
    let stop_early = dead_fallback(&p, FallbackFailure::Refused, 1);
    let mut forged = stop_early.clone();
    forged[3].outputs = dead_fallback(
        &p,
        FallbackFailure::Status {
            status: 403,
            retry_after: None,
        },
        1,
    )[3]
    .outputs
    .iter()
    .map(|o| match o {
        Output::Event(Event::StateChanged {
            from,
            to,
            trigger,
            cause: redial::Cause::FallbackFailed { stop, .. },
        }) => Output::Event(Event::StateChanged {
            from: *from,
            to: *to,
            trigger: *trigger,
            cause: redial::Cause::FallbackFailed {
                failure: FallbackFailure::Refused,
                stop: *stop,
            },
        }),
        o => o.clone(),
    })
    .collect();
    let v = check_run(&p, &forged).expect_err("stopped with budget left");
    assert_eq!((v.invariant, v.step), (Invariant::FallbackBudget, 3));
}

/// The flapping run with the first `Closed` event's failure changed by `f`.
fn with_closed(f: impl Fn(&mut redial::core::Failure)) -> Vec<Record> {
    let mut run = flapping();
    for o in &mut run[2].outputs {
        if let Output::Event(Event::Closed { failure }) = o {
            f(failure);
        }
    }
    run
}

/// A forged run for every check of the checker, each caught as its own invariant (a new
/// `Invariant` without a forgery here fails this test).
#[test]
fn every_invariant_has_a_forged_run_that_is_caught() {
    use redial::core::Failure;
    use redial::policy::Class;
    let p = policy();
    for invariant in Invariant::ALL {
        let caught = match invariant {
            Invariant::RetryBudget => {
                let mut run = flapping();
                run[1].outputs.push(Output::Event(Event::Stable {
                    after_upgrade: Duration::ZERO,
                    by: StableBy::Uptime,
                }));
                run[1].attempt = 0;
                check_run(&p, &run)
            }
            Invariant::NoRetryAfterPolicyClose => check_run(
                &p,
                &with_closed(|f| {
                    if let Failure::Closed { code, class, .. } = f {
                        *code = Some(1008);
                        *class = Class::Policy;
                    }
                }),
            ),
            Invariant::BackoffBounds => {
                let mut run = flapping();
                for o in &mut run[2].outputs {
                    if let Output::Event(Event::RetryScheduled { delay, .. }) = o {
                        *delay = Duration::from_secs(3600);
                    }
                }
                check_run(&p, &run)
            }
            Invariant::DeadlinesAndSockets => {
                let mut run = flapping();
                run[1].deadline = Some(Duration::ZERO);
                check_run(&p, &run)
            }
            Invariant::SilentAfterStopped => {
                let mut run = recorded(&p, &[(Some(0), Input::Start), (Some(1), Input::UserClose)]);
                let mut late = run[1].clone();
                late.input = Input::Start;
                late.outputs = vec![Output::Dial {
                    attempt: 2,
                    probe: false,
                }];
                run.push(late);
                check_run(&p, &run)
            }
            Invariant::DocumentedTransitions => {
                let mut run = flapping();
                for o in &mut run[2].outputs {
                    if let Output::Event(Event::StateChanged { to, .. }) = o {
                        *to = StateName::Connecting;
                    }
                }
                check_run(&p, &run)
            }
            Invariant::Determinism => {
                let first = flapping();
                let mut again = first.clone();
                again[3].deadline = None;
                check_determinism(&first, &again).map(|()| unreachable_checker())
            }
            Invariant::FallbackBudget => {
                let mut run = dead_fallback(&p, FallbackFailure::Refused, 2);
                run[3].outputs.push(Output::StartFallback);
                check_run(&p, &run)
            }
            Invariant::Diagnosis => {
                let mut run = flapping();
                run[2]
                    .outputs
                    .retain(|o| !matches!(o, Output::Event(Event::RetryScheduled { .. })));
                check_run(&p, &run)
            }
            Invariant::Classification => check_run(
                &p,
                &with_closed(|f| {
                    if let Failure::Closed { class, .. } = f {
                        *class = Class::Protocol;
                    }
                }),
            ),
            Invariant::Consistency => {
                let mut run = flapping();
                run[1].state = StateName::Backoff;
                check_run(&p, &run)
            }
            other => panic!("no forged run for {other}: add one"),
        };
        match caught {
            Err(v) => assert_eq!(v.invariant, invariant, "{v}"),
            Ok(_) => panic!("the forged run for {invariant} passed the checker"),
        }
    }
}

/// `check_determinism` returns no checker; a forged run it accepts is a failure anyway.
fn unreachable_checker() -> redial::sim::invariants::Checker {
    panic!("the runs differ, yet check_determinism accepted them")
}

/// Invariant 12's pause, forged three ways: a `StartFallback` with neither an entry
/// nor a pause before it, a pause at the `max_failures`-th failure (which must stop),
/// and a pause longer than the backoff allows.
#[test]
fn the_fallback_pause_is_checked() {
    let p = policy();
    let mut unpaused = dead_fallback(&p, FallbackFailure::Refused, 0);
    let mut late = unpaused[2].clone();
    late.at += Duration::from_secs(1);
    late.input = Input::Timeout;
    late.outputs = vec![Output::StartFallback];
    unpaused.push(late);
    let v = check_run(&p, &unpaused).expect_err("a StartFallback out of nowhere");
    assert_eq!((v.invariant, v.step), (Invariant::FallbackBudget, 3));

    let mut c = Config::default();
    c.fallback.max_failures = 2;
    let two = c.validate().expect("valid");
    let run = dead_fallback(&two, FallbackFailure::Refused, 2);
    assert_eq!(run[5].state, StateName::Stopped, "the 2nd failure stops");
    let mut paused = run.clone();
    paused[5].outputs = run[3]
        .outputs
        .iter()
        .map(|o| match o {
            Output::Event(Event::FallbackFailed {
                failure,
                max_failures,
                retry_in,
                basis,
                ..
            }) => Output::Event(Event::FallbackFailed {
                failure: failure.clone(),
                failures: 2,
                max_failures: *max_failures,
                retry_in: *retry_in,
                basis: *basis,
            }),
            o => o.clone(),
        })
        .filter(|o| !matches!(o, Output::StopFallback))
        .collect();
    paused[5].state = StateName::FellBack;
    paused[5].cause = run[4].cause.clone();
    paused[5].deadline = Some(paused[5].at + Duration::from_secs(1));
    paused.truncate(6);
    let v = check_run(&two, &paused).expect_err("paused at the last failure");
    assert_eq!((v.invariant, v.step), (Invariant::FallbackBudget, 5));

    let mut long = dead_fallback(&p, FallbackFailure::Refused, 1);
    for o in &mut long[3].outputs {
        if let Output::Event(Event::FallbackFailed { retry_in, .. }) = o {
            *retry_in = Duration::from_secs(3 * 24 * 3600);
        }
    }
    let v = check_run(&p, &long).expect_err("a three-day pause");
    assert_eq!((v.invariant, v.step), (Invariant::BackoffBounds, 3));
}

/// (8)'s message names exactly what differs: the steps given, the outputs, the deadline,
/// the state and attempt, the last cause.
#[test]
fn determinism_names_what_differs() {
    let first = flapping();
    type Change = fn(&mut Record);
    let cases: [(&str, Change); 5] = [
        ("the runs were given different steps", |r| {
            r.at += Duration::from_millis(1)
        }),
        ("run again, the outputs were", |r| r.outputs.clear()),
        ("deadline", |r| r.deadline = None),
        ("state connecting attempt", |r| r.attempt += 7),
        ("last cause", |r| r.cause = None),
    ];
    let fragments: Vec<&str> = cases.iter().map(|(f, _)| *f).collect();
    for (fragment, change) in cases {
        let mut again = first.clone();
        change(&mut again[3]);
        let v = check_determinism(&first, &again).expect_err(fragment);
        assert_eq!(v.step, 3);
        let text = v.detail;
        assert!(text.contains(fragment), "{fragment}: {text}");
        for other in fragments.iter().filter(|f| **f != fragment) {
            assert!(
                !text.contains(other),
                "{fragment} also names {other}: {text}"
            );
        }
    }
    let mut again = first.clone();
    again[3].input = Input::Pong;
    let v = check_determinism(&first, &again).expect_err("another input");
    assert!(v.detail.contains("different steps"), "{}", v.detail);
}

/// The mission's server (101, then 1008) fell back; at the re-probe's deadline the
/// probe dials and is upgraded, then `then` happens to its connection.
fn probe_on_trial(policy: &Policy, then: &[(Option<u64>, Input)]) -> Vec<Record> {
    let mut steps = mission_steps();
    steps.extend([(None, Input::Timeout), (Some(1), Input::DialSucceeded)]);
    steps.extend_from_slice(then);
    recorded(policy, &steps)
}

/// A re-probe's connection is on trial for `min_uptime`: the client goes back to it
/// only after that (and it is stable then); a close during it fails the probe. Both
/// real runs pass the checker; four forgeries of them are caught: back on WebSockets
/// before the trial is over, a stop that keeps the probe's connection, a second probe
/// connected during a trial, and a failure that misstates when the connection ended.
#[test]
fn the_probe_trial_is_checked() {
    let p = policy();
    let passed = probe_on_trial(&p, &[(None, Input::Timeout)]);
    check_run(&p, &passed).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(passed[4].state, StateName::FellBack, "on trial");
    assert_eq!(passed[5].state, StateName::Open);
    let stable = passed[5].outputs.iter().find_map(|o| match o {
        Output::Event(Event::Stable { after_upgrade, by }) => Some((*after_upgrade, *by)),
        _ => None,
    });
    assert_eq!(
        stable,
        Some((p.config().budget.min_uptime, StableBy::Uptime))
    );

    let failed = probe_on_trial(&p, &[(Some(3), policy_close())]);
    check_run(&p, &failed).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(failed[5].state, StateName::FellBack);
    assert!(failed[5]
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::ProbeFailed { .. }))));

    // Back on WebSockets 3 ms after the probe's upgrade.
    let mut early = failed.clone();
    early[5].outputs = passed[5].outputs.clone();
    let v = check_run(&p, &early).expect_err("back before the trial is over");
    assert_eq!((v.invariant, v.step), (Invariant::RetryBudget, 5), "{v}");

    // A close by the application that keeps the probe's connection.
    let mut kept = probe_on_trial(&p, &[(Some(3), Input::UserClose)]);
    check_run(&p, &kept).unwrap_or_else(|v| panic!("{v}"));
    kept[5]
        .outputs
        .retain(|o| !matches!(o, Output::DropConnection));
    let v = check_run(&p, &kept).expect_err("stopped with the probe's connection");
    assert_eq!(
        (v.invariant, v.step),
        (Invariant::DeadlinesAndSockets, 5),
        "{v}"
    );

    // A second probe connected while one is on trial.
    let mut twice = failed.clone();
    let connected = failed[4]
        .outputs
        .iter()
        .find(|o| matches!(o, Output::Event(Event::Connected { probe: true, .. })))
        .cloned()
        .expect("the probe's Connected");
    twice[5].outputs.insert(0, connected);
    let v = check_run(&p, &twice).expect_err("two probes on trial");
    assert_eq!((v.invariant, v.step), (Invariant::Consistency, 5), "{v}");

    // The probe's failure says the connection lasted a second.
    let mut misdated = failed.clone();
    for o in &mut misdated[5].outputs {
        if let Output::Event(Event::ProbeFailed {
            failure: redial::core::Failure::Closed { after_upgrade, .. },
            ..
        }) = o
        {
            *after_upgrade = Duration::from_secs(1);
        }
    }
    let v = check_run(&p, &misdated).expect_err("a misdated probe failure");
    assert_eq!((v.invariant, v.step), (Invariant::Diagnosis, 5), "{v}");
}

/// The backoff's deadline must be the one its `RetryScheduled` event announced.
#[test]
fn a_backoff_that_ends_other_than_announced_is_caught() {
    let mut run = flapping();
    check_run(&policy(), &run).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(run[2].state, StateName::Backoff);
    let announced = run[2].deadline.expect("a backoff deadline");
    run[2].deadline = Some(announced + Duration::from_millis(1));
    let v = check_run(&policy(), &run).expect_err("a backoff longer than announced");
    assert_eq!((v.invariant, v.step), (Invariant::BackoffBounds, 2), "{v}");
    assert!(v.detail.starts_with("the backoff ends at"), "{v}");
}

// The rules of each check, forged at their edges: a delay, a pause, a dial or a cause
// that keeps to the rule passes, one just past it is caught as that rule, and an
// override or a second start that the rule allows is not taken for a violation. The
// expected bounds are ARCHITECTURE.md's defaults ("Default policy") and the config's,
// written out here, not computed by the checker's helpers.

const SEC: Duration = Duration::from_secs(1);
const NS: Duration = Duration::from_nanos(1);
/// The checker's allowance for float rounding on an upper bound (`tables::TOL`): a delay
/// this much over the bound still passes.
const SLACK: Duration = Duration::from_micros(1);

fn config(f: impl FnOnce(&mut Config)) -> Policy {
    let mut c = Config::default();
    f(&mut c);
    c.validate().expect("a valid config")
}

fn close(code: u16) -> Input {
    Input::PeerClosed {
        code: Some(code),
        reason: vec![],
    }
}

/// Start, 101 after 1 ms, then `input` 2 ms later.
fn accepted_then(policy: &Policy, input: Input) -> Vec<Record> {
    recorded(
        policy,
        &[
            (Some(0), Input::Start),
            (Some(1), Input::DialSucceeded),
            (Some(2), input),
        ],
    )
}

/// Every cause in a record: the events' and `last_cause()`.
fn causes(r: &mut Record) -> Vec<&mut redial::Cause> {
    let mut all: Vec<&mut redial::Cause> = r
        .outputs
        .iter_mut()
        .filter_map(|o| match o {
            Output::Event(
                Event::StateChanged { cause, .. }
                | Event::RetryScheduled { cause, .. }
                | Event::FellBack { cause }
                | Event::GaveUp { cause }
                | Event::Recovered { cause },
            ) => Some(cause),
            _ => None,
        })
        .collect();
    all.extend(r.cause.as_mut());
    all
}

/// Step `i`'s retry rescheduled after `delay`: its `RetryScheduled` event, the causes
/// that carry the delay and the backoff's deadline all agree, so that only the rules on
/// the delay itself can object. The run is cut after step `i`.
fn retried_after(run: &[Record], i: usize, delay: Duration) -> Vec<Record> {
    let mut run = run[..=i].to_vec();
    let r = &mut run[i];
    let mut events = 0;
    for o in &mut r.outputs {
        if let Output::Event(Event::RetryScheduled { delay: d, .. }) = o {
            *d = delay;
            events += 1;
        }
    }
    assert_eq!(events, 1, "step {i} schedules one retry");
    for cause in causes(r) {
        if let redial::Cause::Retry { delay: d, .. } = cause {
            *d = delay;
        }
    }
    r.deadline = Some(r.at + delay);
    run
}

/// The delay step `i`'s `RetryScheduled` announced.
fn retry_delay(run: &[Record], i: usize) -> Duration {
    run[i]
        .outputs
        .iter()
        .find_map(|o| match o {
            Output::Event(Event::RetryScheduled { delay, .. }) => Some(*delay),
            _ => None,
        })
        .unwrap_or_else(|| panic!("step {i} schedules no retry"))
}

/// `check_run`'s verdict as (invariant, step, detail), or `None` when the run passes.
fn verdict(policy: &Policy, run: &[Record]) -> Option<(Invariant, usize, String)> {
    check_run(policy, run)
        .err()
        .map(|v| (v.invariant, v.step, v.detail))
}

/// (4) No delay above the cap (30 s by default) and the class minima: at the cap a
/// retry passes, and so does one within the checker's 1 µs rounding slack over it; a
/// nanosecond past the slack, or a millisecond over the cap, is caught as a backoff
/// violation.
#[test]
fn a_retry_delay_above_the_cap_is_caught() {
    let p = policy();
    let run = flapping();
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    let cap = 30 * SEC;
    assert_eq!(verdict(&p, &retried_after(&run, 2, cap)), None);
    assert_eq!(verdict(&p, &retried_after(&run, 2, cap + SLACK)), None);
    assert_eq!(
        verdict(&p, &retried_after(&run, 2, cap + SLACK + NS)),
        Some((
            Invariant::BackoffBounds,
            2,
            "delay 30.000001001s above 30s".into()
        ))
    );
    assert_eq!(
        verdict(&p, &retried_after(&run, 2, cap + Duration::from_millis(1))),
        Some((
            Invariant::BackoffBounds,
            2,
            "delay 30.001s above 30s".into()
        ))
    );
}

/// (4) 1013 (overload) waits at least `overload_min` (5 s by default): 5 s passes, a
/// nanosecond less is caught; under a `close_codes` override that retries 1013 with the
/// plain backoff, the minimum does not apply.
#[test]
fn an_overload_retry_before_overload_min_is_caught() {
    let p = policy();
    let run = accepted_then(&p, close(1013));
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    let min = 5 * SEC;
    assert_eq!(verdict(&p, &retried_after(&run, 2, min)), None);
    assert_eq!(
        verdict(&p, &retried_after(&run, 2, min - NS)),
        Some((
            Invariant::BackoffBounds,
            2,
            "overload delay 4.999999999s below overload_min".into()
        ))
    );
    assert_eq!(
        verdict(&p, &retried_after(&run, 2, SEC)),
        Some((
            Invariant::BackoffBounds,
            2,
            "overload delay 1s below overload_min".into()
        ))
    );

    let overridden = config(|c| {
        c.close_codes
            .insert("1013".into(), redial::config::Action::Retry);
    });
    let run = accepted_then(&overridden, close(1013));
    check_run(&overridden, &run).unwrap_or_else(|v| panic!("{v}"));
    assert!(
        retry_delay(&run, 2) < min,
        "the plain backoff, not the minimum"
    );
    assert_eq!(verdict(&overridden, &retried_after(&run, 2, SEC)), None);
    assert_eq!(verdict(&overridden, &retried_after(&run, 2, NS)), None);
}

/// (4) 1012 (service restart) waits a delay from the restart window (1–5 s by default):
/// both ends pass, a nanosecond outside either is caught; under a `close_codes` override
/// that retries 1012 with the plain backoff, the window does not apply.
#[test]
fn a_restart_retry_outside_the_window_is_caught() {
    let p = policy();
    let run = accepted_then(&p, close(1012));
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    let (min, max) = (SEC, 5 * SEC);
    assert_eq!(verdict(&p, &retried_after(&run, 2, min)), None);
    assert_eq!(verdict(&p, &retried_after(&run, 2, max)), None);
    assert_eq!(
        verdict(&p, &retried_after(&run, 2, min - NS)),
        Some((
            Invariant::BackoffBounds,
            2,
            "restart delay 999.999999ms outside the window".into()
        ))
    );
    assert_eq!(
        verdict(&p, &retried_after(&run, 2, max + NS)),
        Some((
            Invariant::BackoffBounds,
            2,
            "restart delay 5.000000001s outside the window".into()
        ))
    );

    let overridden = config(|c| {
        c.close_codes
            .insert("1012".into(), redial::config::Action::Retry);
    });
    let run = accepted_then(&overridden, close(1012));
    check_run(&overridden, &run).unwrap_or_else(|v| panic!("{v}"));
    assert!(
        retry_delay(&run, 2) < min,
        "the plain backoff, not the window"
    );
    assert_eq!(verdict(&overridden, &retried_after(&run, 2, NS)), None);
    assert_eq!(verdict(&overridden, &retried_after(&run, 2, 6 * SEC)), None);
}

/// (4) A 429 with `Retry-After` waits at least that long, up to `max_retry_after`
/// (120 s by default): exactly `Retry-After` passes, a nanosecond less is caught; a
/// `Retry-After` of an hour is honoured as 120 s, and 120 s is then also the bound.
#[test]
fn retry_after_is_honoured_up_to_max_retry_after() {
    let p = policy();
    let refused = |retry_after: Duration| {
        recorded(
            &p,
            &[
                (Some(0), Input::Start),
                (
                    Some(1),
                    Input::DialFailed(redial::policy::DialFailure::Status {
                        status: 429,
                        retry_after: Some(retry_after),
                    }),
                ),
            ],
        )
    };
    let run = refused(10 * SEC);
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(verdict(&p, &retried_after(&run, 1, 10 * SEC)), None);
    assert_eq!(
        verdict(&p, &retried_after(&run, 1, 10 * SEC - NS)),
        Some((
            Invariant::BackoffBounds,
            1,
            "Retry-After Some(10s) not honoured: 9.999999999s".into()
        ))
    );

    let run = refused(3600 * SEC);
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    let max = 120 * SEC;
    assert_eq!(retry_delay(&run, 1), max);
    assert_eq!(verdict(&p, &retried_after(&run, 1, max)), None);
    assert_eq!(
        verdict(&p, &retried_after(&run, 1, max - NS)),
        Some((
            Invariant::BackoffBounds,
            1,
            "Retry-After Some(120s) not honoured: 119.999999999s".into()
        ))
    );
    assert_eq!(
        verdict(&p, &retried_after(&run, 1, max + Duration::from_millis(1))),
        Some((
            Invariant::BackoffBounds,
            1,
            "delay 120.001s above 120s".into()
        ))
    );
}

/// (4) Without a cap, a delay is bounded by the envelope `base × factor^n` (n failures
/// before this one) or the class minima (5 s by default), whichever is larger: with no
/// jitter, base 10 s and factor 2, the first retry waits exactly 10 s and a millisecond
/// more is caught; with ±10 % spread it may wait 11 s and no more. With base 0 the envelope is 0 at every n, even where `factor^n`
/// overflows (0 × ∞ is no delay, not a day): the third retry may wait the 5 s of the
/// class minima and no more.
#[test]
fn without_a_cap_the_envelope_bounds_the_delay() {
    let p = config(|c| {
        c.backoff.cap = None;
        c.backoff.strategy = redial::config::Strategy::None;
        c.backoff.base = 10 * SEC;
        c.backoff.factor = 2.0;
    });
    let run = accepted_then(&p, close(1001));
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(retry_delay(&run, 2), 10 * SEC, "base × 2^0, no jitter");
    assert_eq!(
        verdict(
            &p,
            &retried_after(&run, 2, 10 * SEC + Duration::from_millis(1))
        ),
        Some((
            Invariant::BackoffBounds,
            2,
            "delay 10.001s above 10s".into()
        ))
    );

    // "±10 %" jitter: the envelope times 1 ± spread, so at most 11 s.
    let p = config(|c| {
        c.backoff.cap = None;
        c.backoff.strategy = redial::config::Strategy::Spread;
        c.backoff.spread = 0.1;
        c.backoff.base = 10 * SEC;
        c.backoff.factor = 2.0;
    });
    let run = accepted_then(&p, close(1001));
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    let drawn = retry_delay(&run, 2);
    assert!((9 * SEC..=11 * SEC).contains(&drawn), "{drawn:?}");
    assert_eq!(verdict(&p, &retried_after(&run, 2, 11 * SEC)), None);
    assert_eq!(
        verdict(
            &p,
            &retried_after(&run, 2, 11 * SEC + Duration::from_millis(1))
        ),
        Some((
            Invariant::BackoffBounds,
            2,
            "delay 11.001s above 11s".into()
        ))
    );

    let p = config(|c| {
        c.backoff.cap = None;
        c.backoff.base = Duration::ZERO;
        c.backoff.factor = 1e300;
    });
    let mut steps = vec![(Some(0), Input::Start)];
    for _ in 0..3 {
        steps.extend([(Some(1), Input::DialSucceeded), (Some(2), close(1001))]);
        steps.push((None, Input::Timeout));
    }
    let run = recorded(&p, &steps);
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    // No delay: the backoff's deadline is the last `now`, which is not in the past (5).
    assert_eq!(run[2].deadline, Some(run[2].at));
    // The third retry (steps: start, then 101, close, timeout three times): n = 2.
    assert_eq!(run[8].state, StateName::Backoff);
    assert_eq!(verdict(&p, &retried_after(&run, 8, 5 * SEC)), None);
    assert_eq!(
        verdict(&p, &retried_after(&run, 8, 3600 * SEC)),
        Some((Invariant::BackoffBounds, 8, "delay 3600s above 5s".into()))
    );
}

/// (12) A fallback pause lies within the backoff's bounds (the cap, 30 s by default, or
/// the class minima) and honours the fallback's `Retry-After` up to `max_retry_after`,
/// each within the checker's 1 µs rounding slack: at the cap and 1 µs over it a pause
/// passes, a nanosecond more is caught; with a `Retry-After` of 60 s, 60 s and 60 s
/// less 1 µs pass, a nanosecond less is caught, and so is a pause past 60 s + 1 µs.
#[test]
fn a_fallback_pause_is_checked_at_its_edges() {
    let p = policy();
    let paused = |failure: FallbackFailure, retry_in: Duration| {
        let mut run = dead_fallback(&p, failure, 1);
        run.truncate(4);
        let mut events = 0;
        for o in &mut run[3].outputs {
            if let Output::Event(Event::FallbackFailed { retry_in: r, .. }) = o {
                *r = retry_in;
                events += 1;
            }
        }
        assert_eq!(events, 1, "step 3 pauses the fallback");
        verdict(&p, &run)
    };
    let cap = 30 * SEC;
    assert_eq!(paused(FallbackFailure::Refused, cap), None);
    assert_eq!(paused(FallbackFailure::Refused, cap + SLACK), None);
    assert_eq!(
        paused(FallbackFailure::Refused, cap + SLACK + NS),
        Some((
            Invariant::BackoffBounds,
            3,
            "a fallback pause of 30.000001001s, bound 30s, Retry-After None".into()
        ))
    );

    let unavailable = || FallbackFailure::Status {
        status: 503,
        retry_after: Some(60 * SEC),
    };
    let honest = dead_fallback(&p, unavailable(), 1);
    check_run(&p, &honest).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(paused(unavailable(), 60 * SEC), None);
    assert_eq!(paused(unavailable(), 60 * SEC - SLACK), None);
    assert_eq!(
        paused(unavailable(), 60 * SEC - SLACK - NS),
        Some((
            Invariant::BackoffBounds,
            3,
            "a fallback pause of 59.999998999s, bound 60s, Retry-After Some(60s)".into()
        ))
    );
    assert_eq!(
        paused(unavailable(), 60 * SEC + SLACK + NS),
        Some((
            Invariant::BackoffBounds,
            3,
            "a fallback pause of 60.000001001s, bound 60s, Retry-After Some(60s)".into()
        ))
    );
}

/// A retry, fall-back, give-up or recovery event carries the cause of its transition:
/// each, given the cause of the step before, is a diagnosis violation that names it.
#[test]
fn a_decision_event_with_another_cause_is_caught() {
    let p = policy();
    let gave_up = recorded(
        &p,
        &[
            (Some(0), Input::Start),
            (
                Some(1),
                Input::DialFailed(redial::policy::DialFailure::Certificate("expired".into())),
            ),
        ],
    );
    let recovered = probe_on_trial(&p, &[(None, Input::Timeout)]);
    let cases = [
        ("retry", flapping(), 2),
        ("fell_back", accepted_then(&p, policy_close()), 2),
        ("gave_up", gave_up, 1),
        ("recovered", recovered, 5),
    ];
    for (kind, run, i) in cases {
        check_run(&p, &run).unwrap_or_else(|v| panic!("{kind}: {v}"));
        let earlier = run[i - 1].cause.clone().expect("a cause before");
        let mut forged = run.clone();
        let mut events = 0;
        for o in &mut forged[i].outputs {
            if let Output::Event(e) = o {
                if e.kind() == kind {
                    match e {
                        Event::RetryScheduled { cause, .. }
                        | Event::FellBack { cause }
                        | Event::GaveUp { cause }
                        | Event::Recovered { cause } => *cause = earlier.clone(),
                        _ => unreachable!("{kind} is a decision event"),
                    }
                    events += 1;
                }
            }
        }
        assert_eq!(events, 1, "step {i} of the {kind} run has one {kind} event");
        let v = check_run(&p, &forged).expect_err(kind);
        assert_eq!(
            (v.invariant, v.step),
            (Invariant::Diagnosis, i),
            "{kind}: {v}"
        );
        let start = format!("a {kind} event with the cause {earlier:?}, its transition's was");
        assert!(v.detail.starts_with(&start), "{kind}: {v}");
    }
}

/// No cause calls a code other than 1000 "normal" (ARCHITECTURE.md, "Diagnosis"). The
/// causes' sentences are the crate's, which never say so for another code; what a
/// sentence quotes is the server's reason, and the checker reads the whole sentence: a
/// 1001 whose reason reads "closed normally" or "(normal closure)" is flagged, while a
/// 1000 that reads "(normal closure)" is not.
#[test]
fn a_cause_that_calls_another_code_normal_is_caught() {
    let p = policy();
    for reason in ["closed normally", "(normal closure)"] {
        let mut run = flapping();
        run.truncate(3);
        let mut failures = 0;
        let mut set = |f: &mut redial::core::Failure| {
            if let redial::core::Failure::Closed { reason: r, .. } = f {
                *r = redial::core::CloseReason::from_bytes(reason.as_bytes());
                failures += 1;
            }
        };
        for o in &mut run[2].outputs {
            if let Output::Event(Event::Closed { failure }) = o {
                set(failure);
            }
        }
        for cause in causes(&mut run[2]) {
            if let redial::Cause::Retry { failure, .. } = cause {
                set(failure);
            }
        }
        assert_eq!(failures, 4, "the Closed event and three causes");
        let v = check_run(&p, &run).expect_err(reason);
        assert_eq!((v.invariant, v.step), (Invariant::Diagnosis, 2), "{v}");
        assert!(
            v.detail.starts_with("a cause of code Some(1001) reads"),
            "{v}"
        );
        assert!(v.detail.contains(reason), "{v}");
    }
    let finished = recorded(
        &p,
        &[
            (Some(0), Input::Start),
            (Some(1), Input::DialSucceeded),
            (Some(1), Input::Received),
            (Some(1), close(1000)),
        ],
    );
    assert!(finished[3]
        .cause
        .as_ref()
        .is_some_and(|c| c.to_string().contains("(normal closure)")));
    check_run(&p, &finished).unwrap_or_else(|v| panic!("{v}"));
}

/// (5) One live dial or connection at a time: a stop during a dial that does not abort
/// it, and a second dial while connected, are caught.
#[test]
fn a_dial_or_connection_left_live_is_caught() {
    let p = policy();
    let run = recorded(&p, &[(Some(0), Input::Start), (Some(1), Input::UserClose)]);
    check_run(&p, &run).unwrap_or_else(|v| panic!("{v}"));
    let mut kept = run.clone();
    kept[1].outputs.retain(|o| !matches!(o, Output::AbortDial));
    assert_eq!(
        verdict(&p, &kept),
        Some((
            Invariant::DeadlinesAndSockets,
            1,
            "stopped with a dial or connection not released".into()
        ))
    );

    let mut twice = flapping();
    twice.truncate(2);
    twice[1].outputs.push(Output::Dial {
        attempt: 2,
        probe: false,
    });
    twice[1].attempt = 2;
    assert_eq!(
        verdict(&p, &twice),
        Some((
            Invariant::DeadlinesAndSockets,
            1,
            "a second Dial while a dial or connection is live".into()
        ))
    );
}

/// (2) The dial-rate bound, `max_attempts × (1 + ⌊T / min_uptime⌋ + S)` dials in any
/// window of length T, S the application's `Start`s from Idle after the window's first
/// dial. With `max_attempts` 1, three finished exchanges, each started by the
/// application, make three dials in 8 ms against a bound of 1 × (1 + 0 + 2) = 3: the
/// run passes at the bound (both later starts count, not only the last).
#[test]
fn each_start_from_idle_opens_a_new_streak_of_dials() {
    let one = config(|c| c.budget.max_attempts = 1);
    let mut steps = Vec::new();
    for _ in 0..3 {
        steps.extend([
            (Some(1), Input::Start),
            (Some(1), Input::DialSucceeded),
            (Some(1), Input::Received),
            (Some(1), close(1000)),
        ]);
    }
    steps.truncate(9);
    let run = recorded(&one, &steps);
    let dials = run
        .iter()
        .flat_map(|r| &r.outputs)
        .filter(|o| matches!(o, Output::Dial { probe: false, .. }))
        .count();
    assert_eq!(dials, 3);
    assert_eq!(run[8].at - run[0].at, Duration::from_millis(8));
    check_run(&one, &run).unwrap_or_else(|v| panic!("{v}"));
}

/// (2) The dial-rate bound counts only the starts after the window's first dial: the
/// `Start` that made that dial (at the same instant) opens no second streak. A forged
/// run with `max_attempts` 1: a finished exchange (a 1000 after server data, which is
/// stable), then a retry instead of a wait for the application, is 2 dials within
/// 5 s (one `min_uptime`) against 1 × (1 + 0 + 0) = 1.
#[test]
fn a_retry_after_a_finished_exchange_breaks_the_dial_rate() {
    // A core that retries a 1000 after server data: what the forgery starts from.
    let retrying = config(|c| {
        c.budget.max_attempts = 2;
        c.close_codes
            .insert("1000".into(), redial::config::Action::Retry);
    });
    let run = recorded(
        &retrying,
        &[
            (Some(0), Input::Start),
            (Some(1), Input::DialSucceeded),
            (Some(1), Input::Received),
            (Some(1), close(1000)),
            (None, Input::Timeout),
        ],
    );
    check_run(&retrying, &run).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(run[4].state, StateName::Connecting);
    // The 1000 ends a finished exchange (stable: the streak starts again at dial 1).
    let mut forged = run.clone();
    forged[3].outputs.insert(
        0,
        Output::Event(Event::Stable {
            after_upgrade: Duration::from_millis(2),
            by: StableBy::FinishedExchange,
        }),
    );
    forged[3].attempt = 0;
    for o in &mut forged[3].outputs {
        if let Output::Event(Event::RetryScheduled { attempt, .. }) = o {
            *attempt = 1;
        }
    }
    for cause in causes(&mut forged[3]) {
        if let redial::Cause::Retry { next_attempt, .. } = cause {
            *next_attempt = 1;
        }
    }
    for o in &mut forged[4].outputs {
        if let Output::Dial { attempt, .. } = o {
            *attempt = 1;
        }
    }
    forged[4].attempt = 1;
    let one = config(|c| c.budget.max_attempts = 1);
    check_run(&one, &forged[..4]).unwrap_or_else(|v| panic!("{v}"));
    let window = forged[4].at;
    assert!(window < 5 * SEC);
    assert_eq!(
        verdict(&one, &forged),
        Some((
            Invariant::RetryBudget,
            4,
            format!(
                "2 dials in {window:?} (from 0ns), more than max_attempts 1 × (1 + 0 \
                 min_uptime periods + 0 starts) = 1"
            )
        ))
    );
}

/// (3) and the `close_codes` overrides: the narrowest covering entry decides (a single
/// code before a range), and only an override that keeps retrying lifts the no-retry
/// rule. Under `"1008" = retry` beside `"1000-1010" = fall_back` a 1008 is retried and
/// the run passes; a 1008 retried under `fall_back` or `stop` is caught as (3).
#[test]
fn close_code_overrides_decide_whether_a_policy_close_may_be_retried() {
    use redial::config::Action;
    let narrow = config(|c| {
        c.close_codes.insert("1008".into(), Action::Retry);
        c.close_codes.insert("1000-1010".into(), Action::FallBack);
    });
    let retried = accepted_then(&narrow, policy_close());
    assert_eq!(retried[2].state, StateName::Backoff, "1008 is retried");
    check_run(&narrow, &retried).unwrap_or_else(|v| panic!("{v}"));

    for action in [Action::FallBack, Action::Stop] {
        let p = config(|c| {
            c.close_codes.insert("1008".into(), action);
        });
        let v = check_run(&p, &retried).expect_err("a retried 1008");
        assert_eq!(
            (v.invariant, v.step),
            (Invariant::NoRetryAfterPolicyClose, 2),
            "{action:?}: {v}"
        );
        assert_eq!(
            v.detail, "close Some(1008) of class Policy, then open --recv_close--> backoff",
            "{action:?}"
        );
    }
}

/// (5) `poll_timeout()` is never before the last `now`: a deadline at `now` is due and
/// passes, one 400 µs before it is caught, and the message says by how much.
#[test]
fn a_deadline_before_the_last_now_is_caught() {
    let p = policy();
    let mut run = flapping();
    run.truncate(2);
    let now = run[1].at;
    assert_eq!(now, Duration::from_millis(1));
    run[1].deadline = Some(now);
    assert_eq!(verdict(&p, &run), None);
    run[1].deadline = Some(Duration::from_micros(600));
    assert_eq!(
        verdict(&p, &run),
        Some((
            Invariant::DeadlinesAndSockets,
            1,
            "poll_timeout 400µs before the last now".into()
        ))
    );
}
