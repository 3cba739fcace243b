//! The rules of each check, forged at their edges: a delay, a pause, a dial or a cause
//! that keeps to the rule passes, one just past it is caught as that rule, and an
//! override or a second start that the rule allows is not taken for a violation. The
//! expected bounds are docs/design.md's defaults ("Default policy") and the config's,
//! written out here, not computed by the checker's helpers.

use super::*;

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
                    Input::DialFailed(redial::policy::ReachFailure::Status {
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
    let paused = |failure: FallbackError, retry_in: Duration| {
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
    assert_eq!(
        paused(FallbackError::Reach(ReachFailure::Refused), cap),
        None
    );
    assert_eq!(
        paused(FallbackError::Reach(ReachFailure::Refused), cap + SLACK),
        None
    );
    assert_eq!(
        paused(
            FallbackError::Reach(ReachFailure::Refused),
            cap + SLACK + NS
        ),
        Some((
            Invariant::BackoffBounds,
            3,
            "a fallback pause of 30.000001001s, bound 30s, Retry-After None".into()
        ))
    );

    let unavailable = || {
        FallbackError::Reach(ReachFailure::Status {
            status: 503,
            retry_after: Some(60 * SEC),
        })
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
                Input::DialFailed(redial::policy::ReachFailure::Certificate("expired".into())),
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

/// No cause calls a code other than 1000 "normal" (docs/design.md, "Diagnosis"), in
/// redial's own words: a server's reason is quoted and may say anything, so a 1001 whose
/// reason reads "closed normally" or "(normal closure)" is an honest run, and so is a
/// 1000 that reads "(normal closure)". (The rule itself is unit-tested on forged
/// sentences in `src/sim/invariants/checker/words.rs`: the crate's causes never break it.)
#[test]
fn a_servers_reason_that_says_normal_is_not_taken_for_redials_words() {
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
        let sentence = run[2].cause.as_ref().map(ToString::to_string);
        assert!(
            sentence.as_deref().is_some_and(|s| s.contains(reason)),
            "the forged reason is in the sentence: {sentence:?}"
        );
        check_run(&p, &run).unwrap_or_else(|v| panic!("{reason}: {v}"));
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

/// The mission's bug, forged where it came from: a driver that passes tungstenite's
/// "Connection closed normally" on as the detail of a dropped connection (1006). The
/// core quotes the detail in its cause, so the cause of a 1006 reads as a normal close,
/// and the checker names it. The same words as a server's quoted reason are not
/// redial's, and pass (above).
#[test]
fn a_drop_described_as_a_normal_close_is_caught() {
    let p = policy();
    for detail in ["Connection closed normally", "dropped (normal closure)"] {
        let run = recorded(
            &p,
            &[
                (Some(0), Input::Start),
                (Some(1), Input::DialSucceeded),
                (
                    Some(2),
                    Input::Dropped {
                        detail: detail.into(),
                    },
                ),
            ],
        );
        let v = check_run(&p, &run).expect_err(detail);
        assert_eq!((v.invariant, v.step), (Invariant::Diagnosis, 2), "{v}");
        assert!(
            v.detail.starts_with("a cause of code Some(1006) reads"),
            "{v}"
        );
        assert!(v.detail.contains(detail), "{v}");
    }
    // A drop in the driver's real words passes.
    let honest = recorded(
        &p,
        &[
            (Some(0), Input::Start),
            (Some(1), Input::DialSucceeded),
            (
                Some(2),
                Input::Dropped {
                    detail: "the server ended the TCP connection without a close frame".into(),
                },
            ),
        ],
    );
    check_run(&p, &honest).unwrap_or_else(|v| panic!("{v}"));
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
