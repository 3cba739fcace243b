//! Tests added to kill mutants of `src/core` that survived the rest of the suite
//! (`scripts/mutants`; each is listed in docs/mutants.md).

use std::time::{Duration, Instant};

use redial::core::{
    is_documented, Cause, CloseReason, Core, Failure, Input, Output, StateName, Trigger,
    TRANSITIONS,
};
use redial::policy::{Class, DelayBasis, FallbackError, ReachFailure};
use redial::{Config, Event};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `CloseReason::from_bytes` (`len > 123`, the boundary walk), `CloseReason::is_empty`.
#[test]
fn close_reasons_are_cut_after_123_bytes_on_a_character_boundary() {
    let exact = CloseReason::from_bytes(&[b'a'; 123]);
    assert_eq!(exact.as_str().len(), 123);
    assert_eq!(exact.to_string(), format!("reason {:?}", "a".repeat(123)));
    let long = CloseReason::from_bytes(&[b'a'; 124]);
    assert!(long.to_string().ends_with("(truncated)"), "{long}");
    // 62 two-byte characters: byte 123 is the middle of one, so 61 are kept.
    let cut = CloseReason::from_bytes("é".repeat(62).as_bytes());
    assert_eq!(cut.as_str(), "é".repeat(61));
    assert!(cut.to_string().ends_with("(truncated)"));
    assert!(CloseReason::from_bytes(b"").is_empty());
    assert!(!CloseReason::from_bytes(b"x").is_empty());
}

fn dial(attempt: u32, failure: ReachFailure) -> Failure {
    Failure::Dial {
        failure,
        class: Class::Transient,
        attempt,
        after: ms(5),
    }
}

/// `Failure::status`, `Failure::reason`, `Cause::status`, and `Display for Failure`
/// (quiet re-probe or numbered dial).
#[test]
fn failures_and_causes_expose_status_reason_and_dial() {
    let limited = dial(
        2,
        ReachFailure::Status {
            status: 429,
            retry_after: None,
        },
    );
    assert_eq!(limited.status(), Some(429));
    assert_eq!(limited.reason(), None);
    let closed = Failure::Closed {
        code: Some(4000),
        reason: CloseReason::from_bytes(b"bye"),
        class: Class::Application,
        after_upgrade: ms(1),
        received: false,
    };
    assert_eq!(closed.status(), None);
    assert_eq!(closed.reason().map(CloseReason::as_str), Some("bye"));
    let dropped = Failure::Dropped {
        detail: "reset".into(),
        after_upgrade: ms(1),
        received: true,
    };
    assert_eq!(dropped.reason(), None);
    let cause = Cause::Reauthenticate { failure: limited };
    assert_eq!(cause.status(), Some(429));
    assert_eq!(Cause::Started.status(), None);
    let probe = dial(0, ReachFailure::Refused).to_string();
    assert!(
        probe.starts_with("quiet re-probe failed after 5 ms"),
        "{probe}"
    );
    let second = dial(2, ReachFailure::Refused).to_string();
    assert!(second.starts_with("dial 2 failed after 5 ms"), "{second}");
}

/// `Core::handle_input` (`now < last`): an input stamped earlier than the last one is
/// taken at the last time seen, so deadlines never fall behind it.
#[test]
fn time_that_goes_backwards_counts_as_the_last_time_seen() {
    let mut core = Core::new(Config::default().validate().unwrap(), 1);
    let early = Instant::now();
    let late = early + Duration::from_secs(60);
    core.handle_input(late, Input::Start);
    while core.poll_output().is_some() {}
    core.handle_input(early, Input::DialFailed(ReachFailure::Refused));
    assert_eq!(core.state(), StateName::Backoff);
    let deadline = core.poll_timeout().expect("a backoff deadline");
    assert!(
        deadline >= late,
        "{:?} before the last time seen",
        late - deadline
    );
}

/// `Debug for Core`: shows the state and the attempt.
#[test]
fn a_core_debugs_as_its_state() {
    let core = Core::new(Config::default().validate().unwrap(), 1);
    let shown = format!("{core:?}");
    assert!(
        shown.starts_with("Core { state: Idle, attempt: 0"),
        "{shown}"
    );
}

/// `StateName::name`, `Trigger::name` and their `Display`: the snake_case names of the
/// event lines and the diagram, the same as serde's.
#[test]
fn state_and_trigger_names_are_snake_case_and_display_them() {
    for state in StateName::ALL {
        assert_eq!(serde_json::to_value(state).unwrap(), state.name());
        assert_eq!(state.to_string(), state.name());
    }
    assert_eq!(StateName::FellBack.name(), "fell_back");
    let triggers = [
        Trigger::Start,
        Trigger::UserClose,
        Trigger::DialOk,
        Trigger::DialFailed,
        Trigger::DialTimeout,
        Trigger::RecvClose,
        Trigger::Dropped,
        Trigger::PongTimeout,
        Trigger::BackoffElapsed,
        Trigger::ReauthDone,
        Trigger::ReauthFailed,
        Trigger::Closed,
        Trigger::CloseGraceElapsed,
        Trigger::FallbackFailed,
        Trigger::ProbeOk,
    ];
    for trigger in triggers {
        assert_eq!(serde_json::to_value(trigger).unwrap(), trigger.name());
        assert_eq!(trigger.to_string(), trigger.name());
    }
}

/// `is_documented`: a row matches only on all three of from, trigger and to.
#[test]
fn only_rows_of_the_table_are_documented() {
    for r in TRANSITIONS {
        assert!(is_documented(r.from, r.trigger, r.to));
    }
    let (s, t) = (StateName::FellBack, Trigger::UserClose);
    assert!(is_documented(s, t, StateName::Stopped));
    // Each part alone matches some row; together they match none.
    assert!(!is_documented(s, Trigger::Start, StateName::Closing));
    assert!(!is_documented(StateName::Idle, t, StateName::Open));
}

/// `Machine::fell_back` (`Input::FallbackReady`): the fallback's readiness is reported.
#[test]
fn fallback_readiness_is_reported_once_fallen_back() {
    let mut core = Core::new(Config::default().validate().unwrap(), 1);
    let t = Instant::now();
    core.handle_input(t, Input::Start);
    core.handle_input(t, Input::DialSucceeded);
    let code = Some(1008);
    core.handle_input(
        t,
        Input::PeerClosed {
            code,
            reason: Vec::new(),
        },
    );
    assert_eq!(core.state(), StateName::FellBack);
    while core.poll_output().is_some() {}
    core.handle_input(t, Input::FallbackReady);
    let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    assert_eq!(outputs, [Output::Event(Event::FallbackReady)]);
}

/// `<Event as Display>::fmt` for `FallbackFailed`: the pause says how it was chosen
/// (`Retry-After`, the overload minimum, or nothing more for the backoff). The CLI's
/// timeline prints these lines; the core's tests had not read them.
#[test]
fn a_fallback_failure_line_says_how_its_pause_was_chosen() {
    let line = |basis| {
        Event::FallbackFailed {
            failure: FallbackError::Reach(ReachFailure::Status {
                status: 503,
                retry_after: Some(ms(2_000)),
            }),
            class: Class::RateLimited,
            failures: 2,
            max_failures: 5,
            retry_in: ms(2_000),
            basis,
        }
        .to_string()
    };
    let asked = line(DelayBasis::RetryAfter {
        asked: ms(2_000),
        capped: false,
    });
    assert!(
        asked.ends_with("(failure 2 of 5, as Retry-After asked)"),
        "{asked}"
    );
    let overload = line(DelayBasis::OverloadMinimum);
    assert!(
        overload.ends_with("(failure 2 of 5, overload minimum)"),
        "{overload}"
    );
    let backoff = line(DelayBasis::Backoff);
    assert!(backoff.ends_with("(failure 2 of 5)"), "{backoff}");
    assert!(
        backoff.contains("using the fallback again in 2"),
        "{backoff}"
    );
}
