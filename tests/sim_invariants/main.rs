//! `redial::sim::invariants` on its own: a real run passes, and runs tampered with the
//! way a broken core would behave fail with the right invariant and step. The rules of
//! each check, forged at their edges, are in `edges.rs`.

use std::time::{Duration, Instant};

use redial::config::Config;
use redial::core::{is_documented, Core, Input, Output, StableBy, StateName, Trigger};
use redial::policy::{Class, FallbackError, ReachFailure};
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
fn dead_fallback(policy: &Policy, failure: FallbackError, n: usize) -> Vec<Record> {
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

/// Invariant 14's recycle: the application's `Recycle` of an open connection counts it
/// as stable (its replacement is no retry), and the dial-rate bound counts it like a
/// `Start`. A `Stable` by recycle without that input is a budget violation.
#[test]
fn a_stable_event_by_recycle_needs_the_applications_recycle() {
    let recycle = Input::Recycle {
        reason: "cancelled".into(),
    };
    let one = {
        let mut c = Config::default();
        c.budget.max_attempts = 1;
        c.validate().expect("valid")
    };
    // Three recycles in 9 ms with one dial per budget: honest, and within the bound.
    let mut steps = vec![(Some(0), Input::Start)];
    for _ in 0..3 {
        steps.extend([
            (Some(1), Input::DialSucceeded),
            (Some(1), recycle.clone()),
            (
                Some(1),
                Input::PeerClosed {
                    code: Some(1000),
                    reason: vec![],
                },
            ),
        ]);
    }
    let run = recorded(&one, &steps);
    let dials = run
        .iter()
        .flat_map(|r| &r.outputs)
        .filter(|o| matches!(o, Output::Dial { .. }))
        .count();
    assert_eq!(dials, 4);
    check_run(&one, &run).unwrap_or_else(|v| panic!("{v}"));
    // The same event on a message instead of a recycle.
    let plain = recorded(
        &policy(),
        &[
            (Some(0), Input::Start),
            (Some(1), Input::DialSucceeded),
            (Some(1), Input::Received),
        ],
    );
    let mut forged = plain.clone();
    forged[2].outputs.push(Output::Event(Event::Stable {
        after_upgrade: Duration::from_millis(1),
        by: StableBy::Recycled,
    }));
    forged[2].attempt = 0;
    let v = check_run(&policy(), &forged).expect_err("stable by a recycle that never came");
    assert_eq!((v.invariant, v.step), (Invariant::RetryBudget, 2));
    assert!(v.to_string().contains("Stable by Recycled"), "{v}");
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
    let run = dead_fallback(&p, FallbackError::Reach(ReachFailure::Refused), 5);
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
    let stop_early = dead_fallback(&p, FallbackError::Reach(ReachFailure::Refused), 1);
    let mut forged = stop_early.clone();
    forged[3].outputs = dead_fallback(
        &p,
        FallbackError::Reach(ReachFailure::Status {
            status: 403,
            retry_after: None,
        }),
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
                failure: FallbackError::Reach(ReachFailure::Refused),
                class: Class::Transient,
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
                let mut run = dead_fallback(&p, FallbackError::Reach(ReachFailure::Refused), 2);
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
    let mut unpaused = dead_fallback(&p, FallbackError::Reach(ReachFailure::Refused), 0);
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
    let run = dead_fallback(&two, FallbackError::Reach(ReachFailure::Refused), 2);
    assert_eq!(run[5].state, StateName::Stopped, "the 2nd failure stops");
    let mut paused = run.clone();
    paused[5].outputs = run[3]
        .outputs
        .iter()
        .map(|o| match o {
            Output::Event(Event::FallbackFailed {
                failure,
                class,
                max_failures,
                retry_in,
                basis,
                ..
            }) => Output::Event(Event::FallbackFailed {
                failure: failure.clone(),
                class: *class,
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

    let mut long = dead_fallback(&p, FallbackError::Reach(ReachFailure::Refused), 1);
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

// The rules of each check, forged at their edges.
mod edges;
