//! Issue 27, the core's side of subprotocols (sans-IO, virtual time): the server's
//! choice is in `Connected` and `Core::protocol`; a switch between upgrades is an
//! `Event::SubprotocolChanged` right after that upgrade's `Connected` (the same choice
//! again says nothing); a mismatch is a dial failure of class `subprotocol_mismatch`
//! that stops at once, whatever the budget and the fallback.

use std::time::{Duration, Instant};

use redial::config::Config;
use redial::core::{Core, Event, Input, Output, StateName};
use redial::policy::{Class, ReachFailure, SubprotocolMismatch};

fn events(core: &mut Core) -> Vec<Event> {
    std::iter::from_fn(|| core.poll_output())
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn with(protocol: &str) -> Input {
    Input::DialSucceededWith {
        protocol: protocol.into(),
    }
}

/// Upgrade with `input`, then the server goes away (1001) and the backoff passes.
fn upgrade_then_go_away(core: &mut Core, now: &mut Instant, input: Input) -> Vec<Event> {
    core.handle_input(*now, input);
    let seen = events(core);
    *now += Duration::from_millis(5);
    core.handle_input(
        *now,
        Input::PeerClosed {
            code: Some(1001),
            reason: Vec::new(),
        },
    );
    let _ = events(core);
    *now = core.poll_timeout().expect("a backoff deadline");
    core.handle_input(*now, Input::Timeout);
    let _ = events(core);
    seen
}

#[test]
fn the_choice_is_reported_and_a_switch_between_upgrades_too() {
    let mut core = Core::new(Config::default().validate().unwrap(), 7);
    let mut now = Instant::now();
    assert_eq!(core.protocol(), None);
    core.handle_input(now, Input::Start);
    let _ = events(&mut core);
    let first = upgrade_then_go_away(&mut core, &mut now, with("chat.v2"));
    assert!(
        matches!(
            first.as_slice(),
            [Event::Connected { protocol: Some(p), .. }, Event::StateChanged { to: StateName::Open, .. }, ..] if p == "chat.v2"
        ),
        "{first:#?}"
    );
    assert_eq!(core.protocol(), Some("chat.v2"), "kept after the close");
    let again = upgrade_then_go_away(&mut core, &mut now, with("chat.v2"));
    assert!(
        !again.iter().any(|e| e.kind() == "subprotocol_changed"),
        "{again:#?}"
    );
    let switched = upgrade_then_go_away(&mut core, &mut now, with("chat.v1"));
    assert!(
        matches!(
            switched.as_slice(),
            [Event::Connected { .. }, Event::SubprotocolChanged { from: Some(f), to: Some(t) }, ..]
                if f == "chat.v2" && t == "chat.v1"
        ),
        "{switched:#?}"
    );
    // An upgrade without one after one with: a switch to none.
    core.handle_input(now, Input::DialSucceeded);
    let none = events(&mut core);
    assert!(
        none.iter()
            .any(|e| matches!(e, Event::SubprotocolChanged { to: None, .. })),
        "{none:#?}"
    );
    assert_eq!(core.protocol(), None);
}

#[test]
fn a_mismatch_stops_at_once_with_budget_and_fallback_left() {
    let mut config = Config::default();
    config.fallback.enabled = true;
    let mut core = Core::new(config.validate().unwrap(), 7);
    let now = Instant::now();
    core.handle_input(now, Input::Start);
    let _ = events(&mut core);
    let failure = ReachFailure::Subprotocol(Box::new(SubprotocolMismatch {
        offered: vec!["chat.v2".into()],
        answered: Some("chat.v3".into()),
    }));
    core.handle_input(now + Duration::from_millis(3), Input::DialFailed(failure));
    let seen = events(&mut core);
    let failed = seen
        .iter()
        .find_map(|e| match e {
            Event::HandshakeFailed { failure } => Some(failure.class()),
            _ => None,
        })
        .expect("handshake_failed");
    assert_eq!(failed, Class::SubprotocolMismatch);
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::RetryScheduled { .. } | Event::FellBack { .. })),
        "{seen:#?}"
    );
    assert_eq!(core.state(), StateName::Stopped);
    let cause = core.last_cause().unwrap().to_string();
    assert!(
        cause.contains(
            r#"the server chose subprotocol "chat.v3", which was not offered (offered: "chat.v2")"#
        ) && cause.contains("the next dial would offer the same subprotocols"),
        "{cause}"
    );
}
