//! A user close in every state ends in Stopped, and nothing but observer events follows.

use std::time::{Duration, Instant};

use redial::core::{Core, Input, Output, StateName};
use redial::policy::{Phase, ReachFailure};
use redial::{Event, Preset};

struct Drive {
    core: Core,
    now: Instant,
    outputs: Vec<Output>,
}

impl Drive {
    fn new() -> Drive {
        let policy = Preset::Default.config().validate().unwrap();
        Drive {
            core: Core::new(policy, 1),
            now: Instant::now(),
            outputs: Vec::new(),
        }
    }

    fn input(&mut self, after: Duration, input: Input) -> &mut Drive {
        self.now += after;
        self.core.handle_input(self.now, input);
        self.outputs
            .extend(std::iter::from_fn(|| self.core.poll_output()));
        self
    }

    fn until_timeout(&mut self) -> &mut Drive {
        let at = self.core.poll_timeout().expect("a deadline");
        let wait = at.saturating_duration_since(self.now);
        self.input(wait, Input::Timeout)
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Reach each state from Idle.
fn reach(state: StateName) -> Drive {
    let mut d = Drive::new();
    let open = |d: &mut Drive| {
        d.input(ms(0), Input::Start)
            .input(ms(1), Input::DialProgress(Phase::Handshake))
            .input(ms(1), Input::DialSucceeded);
    };
    match state {
        StateName::Idle => {}
        StateName::Connecting => {
            d.input(ms(0), Input::Start);
        }
        StateName::Open => open(&mut d),
        StateName::Closing => {
            open(&mut d);
            d.input(ms(5), Input::UserClose);
        }
        StateName::Backoff => {
            d.input(ms(0), Input::Start)
                .input(ms(3), Input::DialFailed(ReachFailure::Refused));
        }
        StateName::Reauthenticating => {
            let unauthorized = ReachFailure::Status {
                status: 401,
                retry_after: None,
            };
            d.input(ms(0), Input::Start)
                .input(ms(3), Input::DialFailed(unauthorized));
        }
        StateName::FellBack => {
            open(&mut d);
            d.input(
                ms(3),
                Input::PeerClosed {
                    code: Some(1008),
                    reason: vec![],
                },
            );
        }
        StateName::Stopped => {
            d.input(ms(0), Input::UserClose);
        }
    }
    assert_eq!(d.core.state(), state);
    d
}

fn assert_stopped_for_good(d: &mut Drive) {
    assert_eq!(d.core.state(), StateName::Stopped);
    d.outputs.clear();
    let noise = [
        Input::Start,
        Input::DialSucceeded,
        Input::Received,
        Input::PeerClosed {
            code: Some(1001),
            reason: vec![],
        },
        Input::ReauthDone { ok: true },
        Input::FallbackFailed {
            failure: redial::policy::FallbackError::Reach(ReachFailure::Refused),
        },
        Input::Timeout,
    ];
    for input in noise {
        d.input(Duration::from_secs(3600), input);
    }
    assert!(d.core.poll_timeout().is_none());
    assert_eq!(d.core.state(), StateName::Stopped);
    assert!(
        d.outputs.iter().all(|o| matches!(o, Output::Event(_))),
        "{:?}",
        d.outputs
    );
}

#[test]
fn user_close_in_every_state_ends_in_stopped_with_no_further_dial() {
    for state in StateName::ALL {
        let mut d = reach(state);
        d.outputs.clear();
        d.input(ms(1), Input::UserClose);
        if state == StateName::Open {
            assert!(d.outputs.contains(&Output::SendClose {
                code: 1000,
                reason: String::new()
            }));
            assert_eq!(d.core.state(), StateName::Closing);
            d.input(
                ms(2),
                Input::PeerClosed {
                    code: Some(1000),
                    reason: vec![],
                },
            );
        }
        if state == StateName::Closing {
            // A second close while closing changes nothing; the grace timer ends it.
            assert_eq!(d.core.state(), StateName::Closing);
            d.until_timeout();
            assert!(d.outputs.contains(&Output::DropConnection));
        }
        if state == StateName::Connecting {
            assert!(d.outputs.contains(&Output::AbortDial));
        }
        if state == StateName::FellBack {
            assert!(d.outputs.contains(&Output::StopFallback));
        }
        let gave_up = d
            .outputs
            .iter()
            .any(|o| matches!(o, Output::Event(Event::GaveUp { .. })));
        assert!(!gave_up, "a user close is not giving up ({state})");
        assert_stopped_for_good(&mut d);
    }
}

#[test]
fn user_close_during_a_quiet_reprobe_aborts_the_probe() {
    let mut d = reach(StateName::FellBack);
    d.until_timeout();
    assert!(d.outputs.contains(&Output::Dial {
        attempt: 0,
        probe: true
    }));
    d.outputs.clear();
    d.input(ms(1), Input::UserClose);
    assert!(d.outputs.contains(&Output::AbortDial));
    assert!(d.outputs.contains(&Output::StopFallback));
    assert_stopped_for_good(&mut d);
}
