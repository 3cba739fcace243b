//! `close_frame`: arbitrary bytes as the payload of a close frame (code = the first two
//! bytes when there are two, reason = the rest) → classify → cause sentence, both
//! directly (`Failure::Closed`'s Display) and through a core that received the close 3 ms
//! after the upgrade, as in the mission. Asserts: no panic, classification as in
//! docs/design.md's table, the sentence names the code (never "normal" unless 1000),
//! the reason is kept within its limit, policy/protocol closes are not retried, the JSON
//! line carries the code, and the same payload twice gives the same result.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use redial::config::Config;
use redial::core::{CloseReason, Core, Failure, Input, Output, StateName, MAX_REASON_BYTES};
use redial::policy::{classify_close, close_code_name, Class};
use redial::sim::invariants::tables::close_class;
use redial::Event;

/// Everything the target derives from one payload, for the determinism check.
#[derive(Debug, PartialEq)]
struct Outcome {
    sentence: String,
    json: String,
    core_cause: String,
    core_state: StateName,
}

fn parse(payload: &[u8]) -> (Option<u16>, &[u8]) {
    match payload {
        [a, b, rest @ ..] => (Some(u16::from_be_bytes([*a, *b])), rest),
        _ => (None, &[]),
    }
}

fn check_reason(raw: &[u8], reason: &CloseReason) {
    let valid = std::str::from_utf8(raw).is_ok();
    assert_eq!(reason.is_valid_utf8(), valid, "UTF-8 verdict for {raw:?}");
    assert_eq!(reason.is_empty(), raw.is_empty(), "emptiness of {raw:?}");
    // At most MAX_REASON_BYTES bytes kept; each may become one U+FFFD (3 bytes).
    assert!(
        reason.as_str().len() <= 3 * MAX_REASON_BYTES,
        "reason kept too long"
    );
    let shown = reason.to_string();
    if raw.is_empty() {
        assert_eq!(shown, "empty reason");
    } else {
        assert!(shown.starts_with("reason \""), "{shown}");
        assert_eq!(shown.ends_with("(not valid UTF-8)"), !valid, "{shown}");
        if valid && raw.len() <= MAX_REASON_BYTES {
            assert_eq!(
                reason.as_str().as_bytes(),
                raw,
                "a short valid reason is kept whole"
            );
        }
    }
}

fn outcome(payload: &[u8]) -> Outcome {
    let (code, raw_reason) = parse(payload);
    let class = classify_close(code);
    assert_eq!(class, close_class(code), "class of {code:?}");
    let reason = CloseReason::from_bytes(raw_reason);
    check_reason(raw_reason, &reason);

    let failure = Failure::Closed {
        code,
        reason,
        class,
        after_upgrade: Duration::from_millis(3),
        received: false,
    };
    assert_eq!(failure.code(), Some(code.unwrap_or(1005)));
    assert_eq!(failure.class(), class);
    let sentence = failure.to_string();
    match code {
        Some(c) => {
            let named = format!("with {c} ({})", close_code_name(c));
            assert!(sentence.contains(&named), "{sentence:?} does not name {c}");
        }
        None => assert!(
            sentence.contains("without a status code (1005)"),
            "{sentence}"
        ),
    }
    // "(abnormal closure)" for 1006 is not a claim of a normal close.
    let normal = sentence.contains("closed normally") || sentence.contains("(normal closure)");
    assert!(
        !normal || code == Some(1000),
        "{code:?} called normal: {sentence}"
    );
    assert!(sentence.contains("3 ms after the upgrade"), "{sentence}");
    assert!(
        sentence.len() < 1024,
        "sentence of {} bytes",
        sentence.len()
    );

    let json = Event::Closed {
        failure: failure.clone(),
    }
    .to_json(Duration::ZERO);
    assert_eq!(json["code"], u64::from(code.unwrap_or(1005)), "{json}");
    assert_eq!(json["class"], class.name(), "{json}");

    // The mission: 101, then this close 3 ms later, under the default policy.
    let t0 = Instant::now();
    let mut core = Core::new(Config::default().validate().expect("default"), 1);
    core.handle_input(t0, Input::Start);
    core.handle_input(t0 + Duration::from_millis(2), Input::DialSucceeded);
    while core.poll_output().is_some() {}
    core.handle_input(
        t0 + Duration::from_millis(5),
        Input::PeerClosed {
            code,
            reason: raw_reason.to_vec(),
        },
    );
    let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    let core_cause = core.last_cause().expect("a cause").to_string();
    assert!(
        core_cause.starts_with(&sentence),
        "the core's cause {core_cause:?} does not start with {sentence:?}"
    );
    let retried = outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::RetryScheduled { .. })));
    if matches!(class, Class::Policy | Class::Protocol) {
        assert!(!retried, "{code:?} ({class:?}) retried: {core_cause}");
        assert_eq!(core.state(), StateName::FellBack, "{core_cause}");
    }
    Outcome {
        sentence,
        json: json.to_string(),
        core_cause,
        core_state: core.state(),
    }
}

fuzz_target!(|payload: &[u8]| {
    let first = outcome(payload);
    if redial_fuzz::debug() {
        eprintln!("{first:#?}");
    }
    assert_eq!(first, outcome(payload), "same payload, different outcome");
});
